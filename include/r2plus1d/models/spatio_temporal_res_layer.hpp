#pragma once
/// \file
/// SpatioTemporalResLayer: `layer_size` residual blocks stacked.

#include <string>

#include "r2plus1d/models/spatio_temporal_res_block.hpp"
#include "r2plus1d/nn/sequential.hpp"

namespace r2plus1d {

/// `block1` = Block(in, out, kernel_size, downsample), then `layer_size - 1`
/// blocks Block(out, out, kernel_size) in `blocks` (keys `blocks.0.*`, ...).
/// `Block` is the block type, as the seed's `block_type` argument: any module
/// template constructible as Block<T>(in, out, kernel_size, downsample, gen).
template <class T, template <class> class Block = SpatioTemporalResBlock>
class SpatioTemporalResLayer : public nn::Module<SpatioTemporalResLayer<T, Block>> {
 public:
  /// The type of every block, Block<T>.
  using block_type = Block<T>;

  /// `layer_size` blocks; throws OptionError for layer_size < 1 (and as Block does).
  SpatioTemporalResLayer(index_t in_channels, index_t out_channels, Triple kernel_size, index_t layer_size,
                         bool downsample = false, Generator& gen = default_generator())
      : block1_(in_channels, out_channels, kernel_size, downsample, gen) {
    if (layer_size < 1)
      throw OptionError("SpatioTemporalResLayer: expected layer_size >= 1, got " + std::to_string(layer_size));
    blocks_.reserve(static_cast<std::size_t>(layer_size - 1));
    for (index_t i = 0; i + 1 < layer_size; ++i) blocks_.emplace_back(out_channels, out_channels, kernel_size, false, gen);
  }

  /// The blocks run in order on x (N, in_channels, T, H, W).
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    Tensor<T, 5> y = block1_(x);
    return blocks_.empty() ? y : blocks_.forward(std::move(y));
  }
  /// forward that releases x once the first block has read it.
  Tensor<T, 5> forward(Tensor<T, 5>&& x) {
    Tensor<T, 5> y = block1_(x.cview());
    x = Tensor<T, 5>();
    return blocks_.empty() ? y : blocks_.forward(std::move(y));
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) { return forward(x); }
  /// forward(std::move(x)), releasing x once the first block has read it.
  Tensor<T, 5> operator()(Tensor<T, 5>&& x) { return forward(std::move(x)); }

  /// The blocks' forward_train in order (see SpatioTemporalResBlock).
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    Tensor<T, 5> y = block1_.forward_train(x);
    return blocks_.empty() ? y : blocks_.forward_train(y.cview());
  }
  /// The blocks' backward in reverse order; returns the input's gradient
  /// (empty when `need_input_grad` is false).
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    if (blocks_.empty()) return block1_.backward(grad_output, need_input_grad);
    const Tensor<T, 5> g = blocks_.backward(grad_output);
    return block1_.backward(g.cview(), need_input_grad);
  }
  /// The number of blocks, block1 included.
  index_t layer_size() const { return 1 + static_cast<index_t>(blocks_.size()); }
  /// The first block, the one that may downsample.
  block_type& block1() { return block1_; }
  /// The other layer_size() - 1 blocks.
  nn::ModuleList<block_type>& blocks() { return blocks_; }

  /// Lists the children for the Module base (see module.hpp): block1, blocks.
  template <class V>
  void visit(V& v) {
    v.child("block1", block1_);
    v.child("blocks", blocks_);
  }

 private:
  block_type block1_;
  nn::ModuleList<block_type> blocks_;
};

}  // namespace r2plus1d

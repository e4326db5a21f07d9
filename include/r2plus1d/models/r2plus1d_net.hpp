#pragma once
/// \file
/// R2Plus1DNet: the R(2+1)D feature extractor, a (2+1)D stem, four residual
/// layers and global average pooling to one 512-d vector per clip.

#include <algorithm>
#include <array>
#include <string>

#include "r2plus1d/models/per_clip.hpp"
#include "r2plus1d/models/spatio_temporal_res_layer.hpp"
#include "r2plus1d/nn/checkpoint.hpp"
#include "r2plus1d/nn/adaptive_avg_pool3d.hpp"
#include "r2plus1d/nn/train_chain.hpp"

namespace r2plus1d {

/// Input (N, 3, T, H, W), output (N, 512). In eval mode a batch runs clip by
/// clip (see per_clip.hpp): the same result, one clip's activations in memory.
/// - conv1: SpatioTemporalConv(3, 64, (1, 7, 7), stride (1, 2, 2), padding (0, 3, 3), first_conv)
/// - conv2: SpatioTemporalResLayer(64, 64, 3, layer_sizes[0])
/// - conv3..conv5: SpatioTemporalResLayer to 128, 256, 512 channels with downsample
/// - pool: AdaptiveAvgPool3d(1)
/// layer_sizes (2, 2, 2, 2) gives R(2+1)D-18. Any N, T, H, W >= 1 work (every conv
/// is padded); an empty input or one without 3 channels raises ShapeError.
template <class T, template <class> class Block = SpatioTemporalResBlock>
class R2Plus1DNet : public nn::Module<R2Plus1DNet<T, Block>> {
 public:
  /// The type of conv2 to conv5.
  using Layer = SpatioTemporalResLayer<T, Block>;
  /// The size of the output features, conv5's channels.
  static constexpr index_t kFeatures = 512;

  /// The network with the given blocks per layer (conv2 to conv5); throws
  /// OptionError for a layer size < 1.
  explicit R2Plus1DNet(const std::array<index_t, 4>& layer_sizes, Generator& gen = default_generator())
      : conv1_(3, 64, Triple{1, 7, 7}, Triple{1, 2, 2}, Triple{0, 3, 3}, false, true, gen),
        conv2_(64, 64, 3, layer_sizes[0], false, gen),
        conv3_(64, 128, 3, layer_sizes[1], true, gen),
        conv4_(128, 256, 3, layer_sizes[2], true, gen),
        conv5_(256, 512, 3, layer_sizes[3], true, gen),
        pool_(Triple{1, 1, 1}),
        layer_sizes_(layer_sizes) {}

  /// Pooled features (N, 512).
  Tensor<T, 2> forward(TensorView<const T, 5> x) {
    check_clips("R2Plus1DNet", x.shape());
    if (!this->is_training() && x.size(0) > 1)
      return forward_per_clip<T>(x, [this](TensorView<const T, 5> clip) { return forward(clip); });
    // One statement per layer, each consuming the previous activation, so that
    // no more than a layer's own tensors are alive at once.
    Tensor<T, 5> y = conv1_(x);
    y = conv2_(std::move(y));
    y = conv3_(std::move(y));
    y = conv4_(std::move(y));
    y = conv5_(std::move(y));
    y = pool_(y.cview());
    return std::move(y).template reshape<2>({y.size(0), kFeatures});
  }
  /// The features (N, 512) for training, in the current mode (training:
  /// batch statistics, running ones updated as torch; eval: frozen BatchNorm).
  /// conv1 to conv5 before the first that holds a trainable parameter run the
  /// ordinary forward and keep nothing; the rest keep what backward needs.
  Tensor<T, 2> forward_train(TensorView<const T, 5> x) {
    check_clips("R2Plus1DNet", x.shape());
    first_trained_ = nn::first_trainable(conv1_, conv2_, conv3_, conv4_, conv5_);
    nn::Checkpointed<SpatioTemporalConv<T>, T> conv1{conv1_, conv1_checkpoint_};
    Tensor<T, 5> y = nn::chain_forward_train<T>(x, first_trained_, conv1, conv2_, conv3_, conv4_, conv5_);
    y = pool_.forward_train(y.cview());
    return std::move(y).template reshape<2>({y.size(0), kFeatures});
  }
  /// The backward of the last forward_train from the features' gradient (N,
  /// 512): adds the gradients of the parameters whose requires_grad is set
  /// (torch's `.grad +=`), down to the first trained layer, and frees the
  /// activations forward_train kept.
  void backward(TensorView<const T, 2> grad_output) {
    const TensorView<const T, 5> g(grad_output.data(), {grad_output.size(0), grad_output.size(1), 1, 1, 1});
    if (first_trained_ >= 5) return;
    const Tensor<T, 5> gp = pool_.backward(g);
    nn::Checkpointed<SpatioTemporalConv<T>, T> conv1{conv1_, conv1_checkpoint_};
    nn::chain_backward<T>(gp.cview(), first_trained_, conv1, conv2_, conv3_, conv4_, conv5_);
  }
  /// forward(x).
  Tensor<T, 2> operator()(TensorView<const T, 5> x) { return forward(x); }

  /// The blocks per layer it was built with.
  const std::array<index_t, 4>& layer_sizes() const { return layer_sizes_; }
  /// The first layer, a SpatioTemporalConv.
  SpatioTemporalConv<T>& conv1() { return conv1_; }
  ///@{
  /// The residual layers, to 64, 128, 256 and 512 channels.
  Layer& conv2() { return conv2_; }
  Layer& conv3() { return conv3_; }
  Layer& conv4() { return conv4_; }
  Layer& conv5() { return conv5_; }
  ///@}

  /// Turns conv1's checkpointing on or off (nn::Module::set_checkpointing).
  void set_own_checkpointing(bool on) { conv1_checkpoint_.set(on); }
  /// What drop_saved() drops of the network's own: conv1's kept input.
  void drop_own_saved() { conv1_checkpoint_.drop(); }

  /// Lists the children for the Module base (see module.hpp): conv1 to conv5, pool.
  template <class V>
  void visit(V& v) {
    v.child("conv1", conv1_);
    v.child("conv2", conv2_);
    v.child("conv3", conv3_);
    v.child("conv4", conv4_);
    v.child("conv5", conv5_);
    v.child("pool", pool_);
  }

 private:
  SpatioTemporalConv<T> conv1_;
  Layer conv2_, conv3_, conv4_, conv5_;
  nn::AdaptiveAvgPool3d<T> pool_;
  std::array<index_t, 4> layer_sizes_;
  std::size_t first_trained_ = 0;
  nn::Checkpoint<T> conv1_checkpoint_;  // conv1's (the stem's), as the blocks' (set_checkpointing)  // the first of conv1..conv5 that forward_train trained
};

}  // namespace r2plus1d

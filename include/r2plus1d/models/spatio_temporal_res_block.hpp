#pragma once
/// \file
/// SpatioTemporalResBlock: the ResNet basic block built from SpatioTemporalConv.

#include <optional>
#include <string>

#include "r2plus1d/models/spatio_temporal_conv.hpp"
#include "r2plus1d/nn/checkpoint.hpp"
#include "r2plus1d/ops/relu_backward.hpp"

namespace r2plus1d {

/// out = relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x)))))), input and output
/// (N, C, T, H, W). Both convs are SpatioTemporalConv with `kernel_size` and
/// padding kernel_size / 2 ("same"). With `downsample`, conv1 has stride 2 and
/// the shortcut is downsamplebn(downsampleconv(x)), downsampleconv being
/// SpatioTemporalConv(in, out, 1, stride 2); without it the shortcut is x, so
/// in_channels must equal out_channels.
template <class T>
class SpatioTemporalResBlock : public nn::Module<SpatioTemporalResBlock<T>> {
 public:
  /// Throws OptionError when in_channels differs from out_channels without
  /// `downsample` (and as SpatioTemporalConv does).
  SpatioTemporalResBlock(index_t in_channels, index_t out_channels, Triple kernel_size, bool downsample = false,
                         Generator& gen = default_generator())
      : downsample_(downsample),
        conv1_(in_channels, out_channels, kernel_size, downsample ? 2 : 1, same_padding(kernel_size), false, false,
               gen),
        bn1_(nn::BatchNorm3dOptions(out_channels)),
        conv2_(out_channels, out_channels, kernel_size, 1, same_padding(kernel_size), false, false, gen),
        bn2_(nn::BatchNorm3dOptions(out_channels)) {
    if (!downsample && in_channels != out_channels)
      throw OptionError("SpatioTemporalResBlock: without downsample the shortcut is the identity, so in_channels (" +
                        std::to_string(in_channels) + ") must equal out_channels (" + std::to_string(out_channels) +
                        ")");
    if (downsample) {
      downsampleconv_.emplace(in_channels, out_channels, 1, 2, 0, false, false, gen);
      downsamplebn_.emplace(nn::BatchNorm3dOptions(out_channels));
    }
  }

  /// The block's output, (N, out_channels, T', H', W'): x's T, H, W, or with
  /// downsample each halved, rounded up.
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    Tensor<T, 5> res = bn1_.forward_relu(conv1_(x), true);
    res = bn2_.forward_relu(conv2_(std::move(res)), false);  // conv2 may work in place
    if (downsample_) {
      const Tensor<T, 5> shortcut = downsamplebn_->forward_relu((*downsampleconv_)(x), false);
      ops::add_relu_(res.view(), shortcut.cview());
    } else {
      ops::add_relu_(res.view(), x);
    }
    return res;
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) { return forward(x); }

  /// The plain forward for training, in the current mode, keeping what
  /// backward needs (the block's output for its final ReLU); with
  /// checkpointing (nn::Module::set_checkpointing), only x.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    return checkpoint_.forward_train(
        x, [this](TensorView<const T, 5> v) { return forward_keeping(v); }, [this] { this->drop_saved(); });
  }
  /// The backward of the last forward_train from grad_output: through the
  /// final ReLU, then the residual branch and the shortcut, whose input
  /// gradients add up (empty when `need_input_grad` is false). Adds the
  /// gradients of the parameters whose requires_grad is set. A checkpointed
  /// forward_train is run again first, from the input it kept.
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    checkpoint_.recompute([this](TensorView<const T, 5> v) { forward_keeping(v); });
    if (!output_mask_.recorded())
      throw OptionError("SpatioTemporalResBlock: backward without a forward_train before it");
    const Tensor<T, 5> g = ops::relu_backward<T, 5>(grad_output, output_mask_);
    output_mask_.reset();
    Tensor<T, 5> gx = bn2_.backward(g.cview());
    gx = conv2_.backward(gx.cview());
    gx = relu_.backward(gx.cview());
    gx = bn1_.backward(gx.cview());
    gx = conv1_.backward(gx.cview(), need_input_grad);
    if (downsample_) {
      const Tensor<T, 5> gs = downsamplebn_->backward(g.cview());
      const Tensor<T, 5> gsx = downsampleconv_->backward(gs.cview(), need_input_grad);
      if (need_input_grad) ops::add_(gx.view(), gsx.cview());
    } else if (need_input_grad) {
      ops::add_(gx.view(), g.cview());
    }
    return gx;
  }
  /// What drop_saved() drops of the block's own: the output's mask and a checkpoint's input.
  void drop_own_saved() {
    output_mask_.reset();
    checkpoint_.drop();
  }
  /// Turns checkpointing on or off for this block (nn::Module::set_checkpointing).
  void set_own_checkpointing(bool on) { checkpoint_.set(on); }
  /// Whether forward_train keeps only the block's input.
  bool checkpointing() const { return checkpoint_.on(); }

  /// Whether the block downsamples (stride 2, and the shortcut conv).
  bool downsample() const { return downsample_; }
  ///@{
  /// The residual branch's two convs.
  SpatioTemporalConv<T>& conv1() { return conv1_; }
  SpatioTemporalConv<T>& conv2() { return conv2_; }
  ///@}
  /// The shortcut's conv; throws OptionError when the block does not downsample.
  SpatioTemporalConv<T>& downsampleconv() {
    if (!downsampleconv_) throw OptionError("SpatioTemporalResBlock: this block has no downsampleconv");
    return *downsampleconv_;
  }

  /// Lists the children for the Module base (see module.hpp), in torch's order.
  template <class V>
  void visit(V& v) {
    if (downsample_) {
      v.child("downsampleconv", *downsampleconv_);
      v.child("downsamplebn", *downsamplebn_);
    }
    v.child("conv1", conv1_);
    v.child("bn1", bn1_);
    v.child("relu", relu_);
    v.child("conv2", conv2_);
    v.child("bn2", bn2_);
  }

 private:
  /// forward_train's computation, keeping all that backward needs.
  Tensor<T, 5> forward_keeping(TensorView<const T, 5> x) {
    Tensor<T, 5> res = conv1_.forward_train(x);
    res = bn1_.forward_train(res.cview());
    res = relu_.forward_train(res.cview());
    res = conv2_.forward_train(res.cview());
    res = bn2_.forward_train(res.cview());
    if (downsample_) {
      const Tensor<T, 5> s = downsampleconv_->forward_train(x);
      const Tensor<T, 5> shortcut = downsamplebn_->forward_train(s.cview());
      ops::add_relu_(res.view(), shortcut.cview());
    } else {
      ops::add_relu_(res.view(), x);
    }
    output_mask_ = ops::ReluMask::of<T, 5>(res.cview());
    return res;
  }

  static Triple same_padding(Triple k) { return {k.d / 2, k.h / 2, k.w / 2}; }

  bool downsample_;
  std::optional<SpatioTemporalConv<T>> downsampleconv_;  // registered first, as in torch
  std::optional<nn::BatchNorm3d<T>> downsamplebn_;
  SpatioTemporalConv<T> conv1_;
  nn::BatchNorm3d<T> bn1_;
  nn::ReLU<T> relu_;
  SpatioTemporalConv<T> conv2_;
  nn::BatchNorm3d<T> bn2_;
  ops::ReluMask output_mask_;  // where forward_train's output is positive, for the final ReLU's backward
  nn::Checkpoint<T> checkpoint_;  // on: forward_train keeps only the input, until backward
};

}  // namespace r2plus1d

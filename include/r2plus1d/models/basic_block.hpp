#pragma once
/// \file
/// torchvision's video BasicBlock, over any convolution builder.

#include <optional>
#include <string>

#include "r2plus1d/models/video_convs.hpp"
#include "r2plus1d/nn/checkpoint.hpp"
#include "r2plus1d/ops/relu.hpp"
#include "r2plus1d/ops/relu_backward.hpp"

namespace r2plus1d::video {

/// What a BasicBlock builds beyond its planes and stride.
struct BasicBlockOptions {
  /// Every BatchNorm3d's settings (the convs' own included).
  VideoNorm norm;
  /// conv2's midplanes from (planes, planes) rather than conv1's.
  bool conv2_midplanes_of_planes = false;
};

/// out = relu(conv2(conv1(x)) + shortcut(x)) with
/// conv1 = Sequential(Conv(in, planes, mid, stride), BatchNorm3d, ReLU),
/// conv2 = Sequential(Conv(planes, planes, mid), BatchNorm3d), and the shortcut
/// x itself or, with `downsample`, Sequential(Conv3d(in, planes, 1,
/// stride = Conv::downsample_stride(stride)), BatchNorm3d). midplanes =
/// (in*planes*27) // (in*9 + 3*planes), computed once for both convs, as
/// torchvision does; with BasicBlockOptions::conv2_midplanes_of_planes conv2's
/// is midplanes(planes, planes) instead, as in the Caffe2-trained R(2+1)D-34
/// (which differs from torchvision only there, in each layer's first block).
/// Keys: `conv1.0.*`, `conv1.1.*`, `conv2.0.*`, `conv2.1.*`, `downsample.0.weight`,
/// `downsample.1.*`.
template <class T, template <class> class Conv>
class BasicBlock : public nn::Module<BasicBlock<T, Conv>> {
 public:
  /// The shortcut's type: a 1x1x1 Conv3d and a BatchNorm3d.
  using Downsample = nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>>;

  /// (inplanes*planes*27) // (inplanes*9 + 3*planes), as torchvision; throws
  /// OptionError for a non-positive count.
  static index_t midplanes(index_t inplanes, index_t planes) {
    if (inplanes <= 0 || planes <= 0)
      throw OptionError("BasicBlock: expected positive plane counts, got inplanes " + std::to_string(inplanes) +
                        ", planes " + std::to_string(planes));
    return (inplanes * planes * 3 * 3 * 3) / (inplanes * 3 * 3 + 3 * planes);
  }

  /// A block from `inplanes` to `planes` channels. Throws OptionError when the
  /// channels or the stride change without `downsample`.
  BasicBlock(index_t inplanes, index_t planes, index_t stride = 1, bool downsample = false,
             Generator& gen = default_generator(), const BasicBlockOptions& options = {})
      : midplanes_(midplanes(inplanes, planes)),
        conv2_midplanes_(options.conv2_midplanes_of_planes ? midplanes(planes, planes) : midplanes_),
        conv1_(Conv<T>(inplanes, planes, midplanes_, stride, 1, gen, options.norm),
               nn::BatchNorm3d<T>(options.norm(planes)), nn::ReLU<T>()),
        conv2_(Conv<T>(planes, planes, conv2_midplanes_, 1, 1, gen, options.norm),
               nn::BatchNorm3d<T>(options.norm(planes))) {
    if (downsample)
      downsample_.emplace(
          nn::Conv3d<T>(
              nn::Conv3dOptions(inplanes, planes, 1).stride(Conv<T>::downsample_stride(stride)).bias(false), gen),
          nn::BatchNorm3d<T>(options.norm(planes)));
    else if (inplanes != planes || stride != 1)
      throw OptionError("BasicBlock: a block from " + std::to_string(inplanes) + " to " + std::to_string(planes) +
                        " planes with stride " + std::to_string(stride) + " needs a downsample shortcut");
  }

  /// The block's output, (N, planes, T', H', W') (T', H', W' divided by the stride).
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    Tensor<T, 5> out = conv2_(conv1_(x));  // conv2 may reuse conv1's output storage
    if (downsample_) {
      const Tensor<T, 5> residual = (*downsample_)(x);
      ops::add_relu_(out.view(), residual.cview());
    } else {
      ops::add_relu_(out.view(), x);
    }
    return out;
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
  /// final ReLU, then conv2, conv1 and the shortcut, whose input gradients add
  /// up (empty when `need_input_grad` is false). Adds the gradients of the
  /// parameters whose requires_grad is set. A checkpointed forward_train is
  /// run again first, from the input it kept.
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    checkpoint_.recompute([this](TensorView<const T, 5> v) { forward_keeping(v); });
    if (!output_mask_.recorded())
      throw OptionError("BasicBlock: backward without a forward_train before it");
    const Tensor<T, 5> g = ops::relu_backward<T, 5>(grad_output, output_mask_);
    output_mask_.reset();
    Tensor<T, 5> gx = conv2_.backward(g.cview());
    gx = conv1_.backward(gx.cview(), need_input_grad);
    if (downsample_) {
      const Tensor<T, 5> gs = downsample_->backward(g.cview(), need_input_grad);
      if (need_input_grad) ops::add_(gx.view(), gs.cview());
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
  /// The intermediate channel count conv1 was built with (and conv2, unless
  /// BasicBlockOptions::conv2_midplanes_of_planes).
  index_t midplanes() const { return midplanes_; }
  /// The intermediate channel count conv2 was built with.
  index_t conv2_midplanes() const { return conv2_midplanes_; }
  /// conv1: Sequential(Conv, BatchNorm3d, ReLU).
  nn::Sequential<T, Conv<T>, nn::BatchNorm3d<T>, nn::ReLU<T>>& conv1() { return conv1_; }
  /// conv2: Sequential(Conv, BatchNorm3d).
  nn::Sequential<T, Conv<T>, nn::BatchNorm3d<T>>& conv2() { return conv2_; }
  /// Whether the shortcut is the downsample (rather than x itself).
  bool has_downsample() const { return downsample_.has_value(); }

  /// Lists the children for the Module base (see module.hpp), in torchvision's order.
  template <class V>
  void visit(V& v) {
    v.child("conv1", conv1_);
    v.child("conv2", conv2_);
    v.child("relu", relu_);
    if (downsample_) v.child("downsample", *downsample_);
  }

 private:
  /// forward_train's computation, keeping all that backward needs.
  Tensor<T, 5> forward_keeping(TensorView<const T, 5> x) {
    Tensor<T, 5> out = conv1_.forward_train(x);
    out = conv2_.forward_train(out.cview());
    if (downsample_) {
      const Tensor<T, 5> residual = downsample_->forward_train(x);
      ops::add_relu_(out.view(), residual.cview());
    } else {
      ops::add_relu_(out.view(), x);
    }
    output_mask_ = ops::ReluMask::of<T, 5>(out.cview());
    return out;
  }

  index_t midplanes_;
  index_t conv2_midplanes_;
  nn::Sequential<T, Conv<T>, nn::BatchNorm3d<T>, nn::ReLU<T>> conv1_;
  nn::Sequential<T, Conv<T>, nn::BatchNorm3d<T>> conv2_;
  nn::ReLU<T> relu_;
  std::optional<Downsample> downsample_;
  ops::ReluMask output_mask_;  // where forward_train's output is positive, for the final ReLU's backward
  nn::Checkpoint<T> checkpoint_;  // on: forward_train keeps only the input, until backward
};

}  // namespace r2plus1d::video

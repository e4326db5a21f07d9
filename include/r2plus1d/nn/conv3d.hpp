#pragma once
/// \file
/// Conv3d: torch.nn.Conv3d with libtorch-style options.

#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/random.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/init.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/ops/conv3d.hpp"
#include "r2plus1d/ops/conv3d_backward.hpp"
#include "r2plus1d/ops/winograd_weight_cache.hpp"

namespace r2plus1d::nn {

/// Options of Conv3d, as torch::nn::Conv3dOptions:
/// `Conv3dOptions(3, 64, {1, 7, 7}).stride({1, 2, 2}).padding({0, 3, 3})`.
class Conv3dOptions {
 public:
  /// The required options; the kernel size is (d, h, w) or one size for all three.
  Conv3dOptions(index_t in_channels, index_t out_channels, Triple kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  ///@{
  /// Chainable setters, torch's defaults otherwise: stride 1, padding 0 (zeros),
  /// dilation 1, groups 1, bias true. Conv3d checks the values when it is built.
  Conv3dOptions& in_channels(index_t v) {
    in_channels_ = v;
    return *this;
  }
  Conv3dOptions& out_channels(index_t v) {
    out_channels_ = v;
    return *this;
  }
  Conv3dOptions& kernel_size(Triple v) {
    kernel_size_ = v;
    return *this;
  }
  Conv3dOptions& stride(Triple v) {
    stride_ = v;
    return *this;
  }
  Conv3dOptions& padding(Triple v) {
    padding_ = v;
    return *this;
  }
  Conv3dOptions& dilation(Triple v) {
    dilation_ = v;
    return *this;
  }
  Conv3dOptions& groups(index_t v) {
    groups_ = v;
    return *this;
  }
  Conv3dOptions& bias(bool v) {
    bias_ = v;
    return *this;
  }
  ///@}

  ///@{
  /// The options as set (or defaulted).
  index_t in_channels() const { return in_channels_; }
  index_t out_channels() const { return out_channels_; }
  const Triple& kernel_size() const { return kernel_size_; }
  const Triple& stride() const { return stride_; }
  const Triple& padding() const { return padding_; }
  const Triple& dilation() const { return dilation_; }
  index_t groups() const { return groups_; }
  bool bias() const { return bias_; }
  ///@}

 private:
  index_t in_channels_;
  index_t out_channels_;
  Triple kernel_size_;
  Triple stride_ = 1;
  Triple padding_ = 0;
  Triple dilation_ = 1;
  index_t groups_ = 1;
  bool bias_ = true;
};

/// A 3-D convolution over (N, C, D, H, W) inputs, as torch.nn.Conv3d (zero padding).
/// Weight (out_channels, in_channels / groups, kd, kh, kw), bias (out_channels),
/// initialised as torch's reset_parameters from `gen`. state_dict keys "weight",
/// then "bias" when present.
template <class T>
class Conv3d : public Module<Conv3d<T>> {
 public:
  /// Throws OptionError for non-positive channels, kernel, stride, dilation or groups,
  /// negative padding, or groups that do not divide both channel counts.
  explicit Conv3d(const Conv3dOptions& options, Generator& gen = default_generator())
      : options_(checked(options)),
        weight_(Tensor<T, 5>({options.out_channels(), options.in_channels() / options.groups(),
                              options.kernel_size().d, options.kernel_size().h, options.kernel_size().w})),
        bias_(Tensor<T, 1>(Shape<1>{options.bias() ? options.out_channels() : 0})) {
    reset_parameters(gen);
  }

  /// Re-draws weight and bias from `gen` as torch's reset_parameters.
  void reset_parameters(Generator& gen = default_generator()) {
    reset_weight_and_bias(weight_.value(), bias_.value(), fan_in(), gen);
  }

  /// Output (N, out_channels, D', H', W'); see ops::conv3d_output_shape.
  Tensor<T, 5> forward(TensorView<const T, 5> x) const {
    return ops::conv3d<T>(x, weight_.value().cview(), has_bias() ? bias_.value().data() : nullptr, params());
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) const { return forward(x); }

  /// relu(bn(forward(x))) (without relu when `relu` is false). When bn is in eval
  /// mode with running statistics it folds into this conv's output pass (one
  /// kernel, no intermediate tensor); otherwise it runs the three steps.
  template <class BN>
  Tensor<T, 5> forward_bn(TensorView<const T, 5> x, BN& bn, bool relu) const {
    if (!bn.foldable() || bn.options().num_features() != options_.out_channels())
      return bn.forward_relu(forward(x), relu);
    Tensor<T, 1> scale, shift;
    bn.inference_scale_shift(has_bias() ? bias_.value().data() : nullptr, scale, shift);
    return ops::conv3d_fused<T>(x, weight_.value().cview(), params(), scale.data(), shift.data(), relu);
  }

  /// forward(x) for training: keeps x for the weight gradient (only while the
  /// weight requires_grad), for backward to use and free.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    Tensor<T, 5> y = forward(x);
    saved_input_ = weight_.requires_grad() ? Tensor<T, 5>::from(x) : Tensor<T, 5>();
    input_shape_ = x.shape();
    trained_ = true;
    return y;
  }
  /// What drop_saved() drops of this module's own: the kept input.
  void drop_own_saved() {
    saved_input_ = Tensor<T, 5>();
    trained_ = false;
  }
  /// The backward of the last forward_train from grad_output (its output's
  /// shape): adds the weight and bias gradients (those whose requires_grad is
  /// set) to weight_grad() and bias_grad(), as torch's `.grad +=`, and returns
  /// the input's gradient (empty when `need_input_grad` is false). Frees what
  /// forward_train kept; OptionError without a forward_train before.
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    if (!trained_) throw OptionError("Conv3d: backward without a forward_train before it");
    trained_ = false;
    if (saved_input_.numel() > 0 && weight_.requires_grad())
      ops::conv3d_backward_weight<T>(saved_input_.cview(), grad_output, params(), weight_.grad().view(),
                                     ops::GradMode::kAccumulate);
    saved_input_ = Tensor<T, 5>();
    if (has_bias() && bias_.requires_grad())
      ops::conv3d_backward_bias<T>(grad_output, bias_.grad().view(), ops::GradMode::kAccumulate);
    if (!need_input_grad) return Tensor<T, 5>();
    Tensor<T, 5> grad = Tensor<T, 5>::empty(input_shape_);
    ops::conv3d_backward_input<T>(grad_output, weight_.value().cview(), params(), grad.view());
    return grad;
  }

  ///@{
  /// The weight, (out_channels, in_channels / groups, kd, kh, kw).
  Tensor<T, 5>& weight() { return weight_.value(); }
  const Tensor<T, 5>& weight() const { return weight_.value(); }
  ///@}
  ///@{
  /// The bias, empty (shape [0]) when the options say bias(false).
  Tensor<T, 1>& bias() { return bias_.value(); }
  const Tensor<T, 1>& bias() const { return bias_.value(); }
  ///@}
  ///@{
  /// The gradient of the weight, its shape, allocated zero-filled on first use
  /// (see nn::Parameter); the const one is empty while there is none.
  Tensor<T, 5>& weight_grad() { return weight_.grad(); }
  const Tensor<T, 5>& weight_grad() const { return weight_.grad(); }
  ///@}
  ///@{
  /// The gradient of the bias, as weight_grad().
  Tensor<T, 1>& bias_grad() { return bias_.grad(); }
  const Tensor<T, 1>& bias_grad() const { return bias_.grad(); }
  ///@}
  ///@{
  /// The weight and bias with their gradients and requires_grad flags.
  Parameter<T, 5>& weight_parameter() { return weight_; }
  const Parameter<T, 5>& weight_parameter() const { return weight_; }
  Parameter<T, 1>& bias_parameter() { return bias_; }
  const Parameter<T, 1>& bias_parameter() const { return bias_; }
  ///@}
  /// What set_weight_cache() does to this module's own cache of its
  /// transformed weights (ops::WinogradWeightCache): turns it on or off, and
  /// clears it.
  void set_own_weight_cache(bool on) {
    weight_cache_.clear();
    weight_cache_on_ = on;
  }
  /// What clear_weight_cache(), train() and load_state_dict() do to this
  /// module's own cache: clear it (it stays on or off).
  void clear_own_weight_cache() { weight_cache_.clear(); }
  /// The cache of this conv's transformed weights for the ops that take one
  /// (ops::conv2plus1d_fused), or null when set_weight_cache is off or the
  /// module is training.
  ops::WinogradWeightCache<T>* weight_cache() {
    return weight_cache_on_ && !this->is_training() ? &weight_cache_ : nullptr;
  }
  /// Whether set_weight_cache is on.
  bool weight_cache_enabled() const { return weight_cache_on_; }

  /// Whether there is a bias (options().bias()).
  bool has_bias() const { return options_.bias(); }
  /// The options it was built with.
  const Conv3dOptions& options() const { return options_; }
  /// The kernel parameters ops::conv3d receives.
  ops::Conv3dParams params() const {
    return {options_.stride(), options_.padding(), options_.dilation(), options_.groups()};
  }

  /// Lists the parameters for the Module base (see module.hpp): "weight", "bias".
  template <class V>
  void visit(V& v) {
    v.parameter("weight", weight_);
    if (has_bias()) v.parameter("bias", bias_);
  }

 private:
  index_t fan_in() const { return weight_.value().size(1) * options_.kernel_size().product(); }

  static const Conv3dOptions& checked(const Conv3dOptions& o) {
    auto positive = [](const Triple& t) { return t.d > 0 && t.h > 0 && t.w > 0; };
    if (o.in_channels() <= 0 || o.out_channels() <= 0)
      throw OptionError("Conv3d: expected positive in_channels and out_channels, got " +
                        std::to_string(o.in_channels()) + " and " + std::to_string(o.out_channels()));
    if (!positive(o.kernel_size()))
      throw OptionError("Conv3d: expected a positive kernel_size, got " + format_triple(o.kernel_size()));
    if (!positive(o.stride())) throw OptionError("Conv3d: expected a positive stride, got " + format_triple(o.stride()));
    if (o.padding().d < 0 || o.padding().h < 0 || o.padding().w < 0)
      throw OptionError("Conv3d: expected a non-negative padding, got " + format_triple(o.padding()));
    if (!positive(o.dilation()))
      throw OptionError("Conv3d: expected a positive dilation, got " + format_triple(o.dilation()));
    if (o.groups() <= 0) throw OptionError("Conv3d: expected positive groups, got " + std::to_string(o.groups()));
    if (o.in_channels() % o.groups() != 0 || o.out_channels() % o.groups() != 0)
      throw OptionError("Conv3d: expected in_channels and out_channels divisible by groups, got in_channels " +
                        std::to_string(o.in_channels()) + ", out_channels " + std::to_string(o.out_channels()) +
                        ", groups " + std::to_string(o.groups()));
    return o;
  }

  Conv3dOptions options_;
  Parameter<T, 5> weight_;
  Parameter<T, 1> bias_;
  Tensor<T, 5> saved_input_;  // forward_train's input, while backward needs it
  Shape<5> input_shape_{};
  bool trained_ = false;
  ops::WinogradWeightCache<T> weight_cache_;  // see set_own_weight_cache
  bool weight_cache_on_ = false;
};

}  // namespace r2plus1d::nn

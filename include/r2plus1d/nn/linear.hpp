#pragma once
/// \file
/// Linear: torch.nn.Linear with libtorch-style options.

#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/random.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/init.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/ops/linear.hpp"
#include "r2plus1d/ops/linear_backward.hpp"

namespace r2plus1d::nn {

/// Options of Linear, as torch::nn::LinearOptions: `LinearOptions(512, 400).bias(false)`.
class LinearOptions {
 public:
  /// Options for (N, in_features) inputs and (N, out_features) outputs.
  LinearOptions(index_t in_features, index_t out_features) : in_features_(in_features), out_features_(out_features) {}

  ///@{
  /// Chainable setters; bias is true by default. Linear checks the values when it is built.
  LinearOptions& in_features(index_t v) {
    in_features_ = v;
    return *this;
  }
  LinearOptions& out_features(index_t v) {
    out_features_ = v;
    return *this;
  }
  LinearOptions& bias(bool v) {
    bias_ = v;
    return *this;
  }
  ///@}

  ///@{
  /// The options as set (or defaulted).
  index_t in_features() const { return in_features_; }
  index_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }
  ///@}

 private:
  index_t in_features_;
  index_t out_features_;
  bool bias_ = true;
};

/// y = x w^T + b on (N, in_features) inputs, as torch.nn.Linear. Weight
/// (out_features, in_features), bias (out_features), initialised as torch's
/// reset_parameters from `gen`. state_dict keys "weight", then "bias" when present.
template <class T>
class Linear : public Module<Linear<T>> {
 public:
  /// Throws OptionError for non-positive feature counts.
  explicit Linear(const LinearOptions& options, Generator& gen = default_generator())
      : options_(checked(options)),
        weight_(Tensor<T, 2>({options.out_features(), options.in_features()})),
        bias_(Tensor<T, 1>(Shape<1>{options.bias() ? options.out_features() : 0})) {
    reset_parameters(gen);
  }

  /// Re-draws weight and bias from `gen` as torch's reset_parameters.
  void reset_parameters(Generator& gen = default_generator()) {
    reset_weight_and_bias(weight_.value(), bias_.value(), options_.in_features(), gen);
  }

  /// Output (N, out_features). Throws ShapeError when the input has another feature count.
  Tensor<T, 2> forward(TensorView<const T, 2> x) const {
    return ops::linear<T>(x, weight_.value().cview(), has_bias() ? bias_.value().data() : nullptr);
  }
  /// forward(x).
  Tensor<T, 2> operator()(TensorView<const T, 2> x) const { return forward(x); }

  /// forward(x) for training: keeps x for the weight gradient (only while the
  /// weight requires_grad), for backward to use and free.
  Tensor<T, 2> forward_train(TensorView<const T, 2> x) {
    Tensor<T, 2> y = forward(x);
    saved_input_ = weight_.requires_grad() ? Tensor<T, 2>::from(x) : Tensor<T, 2>();
    input_shape_ = x.shape();
    trained_ = true;
    return y;
  }
  /// What drop_saved() drops of this module's own: the kept input.
  void drop_own_saved() {
    saved_input_ = Tensor<T, 2>();
    trained_ = false;
  }
  /// The backward of the last forward_train from grad_output (N,
  /// out_features): adds the weight and bias gradients (those whose
  /// requires_grad is set) to weight_grad() and bias_grad() and returns the
  /// input's gradient (empty when `need_input_grad` is false). Frees what
  /// forward_train kept; OptionError without a forward_train before.
  Tensor<T, 2> backward(TensorView<const T, 2> grad_output, bool need_input_grad = true) {
    if (!trained_) throw OptionError("Linear: backward without a forward_train before it");
    trained_ = false;
    if (saved_input_.numel() > 0 && weight_.requires_grad())
      ops::linear_backward_weight<T>(saved_input_.cview(), grad_output, weight_.grad().view(),
                                     ops::GradMode::kAccumulate);
    saved_input_ = Tensor<T, 2>();
    if (has_bias() && bias_.requires_grad())
      ops::linear_backward_bias<T>(grad_output, bias_.grad().view(), ops::GradMode::kAccumulate);
    if (!need_input_grad) return Tensor<T, 2>();
    Tensor<T, 2> grad = Tensor<T, 2>::empty(input_shape_);
    ops::linear_backward_input<T>(grad_output, weight_.value().cview(), grad.view());
    return grad;
  }

  ///@{
  /// The weight, (out_features, in_features).
  Tensor<T, 2>& weight() { return weight_.value(); }
  const Tensor<T, 2>& weight() const { return weight_.value(); }
  ///@}
  ///@{
  /// The bias, empty (shape [0]) when the options say bias(false).
  Tensor<T, 1>& bias() { return bias_.value(); }
  const Tensor<T, 1>& bias() const { return bias_.value(); }
  ///@}
  ///@{
  /// The gradient of the weight, its shape, allocated zero-filled on first use
  /// (see nn::Parameter); the const one is empty while there is none.
  Tensor<T, 2>& weight_grad() { return weight_.grad(); }
  const Tensor<T, 2>& weight_grad() const { return weight_.grad(); }
  ///@}
  ///@{
  /// The gradient of the bias, as weight_grad().
  Tensor<T, 1>& bias_grad() { return bias_.grad(); }
  const Tensor<T, 1>& bias_grad() const { return bias_.grad(); }
  ///@}
  ///@{
  /// The weight and bias with their gradients and requires_grad flags.
  Parameter<T, 2>& weight_parameter() { return weight_; }
  const Parameter<T, 2>& weight_parameter() const { return weight_; }
  Parameter<T, 1>& bias_parameter() { return bias_; }
  const Parameter<T, 1>& bias_parameter() const { return bias_; }
  ///@}
  /// Whether there is a bias (options().bias()).
  bool has_bias() const { return options_.bias(); }
  /// The options it was built with.
  const LinearOptions& options() const { return options_; }

  /// Lists the parameters for the Module base (see module.hpp): "weight", "bias".
  template <class V>
  void visit(V& v) {
    v.parameter("weight", weight_);
    if (has_bias()) v.parameter("bias", bias_);
  }

 private:
  static const LinearOptions& checked(const LinearOptions& o) {
    if (o.in_features() < 1 || o.out_features() < 1)
      throw OptionError("Linear: expected positive in_features and out_features, got " +
                        std::to_string(o.in_features()) + " and " + std::to_string(o.out_features()));
    return o;
  }

  LinearOptions options_;
  Parameter<T, 2> weight_;
  Parameter<T, 1> bias_;
  Tensor<T, 2> saved_input_;  // forward_train's input, while backward needs it
  Shape<2> input_shape_{};
  bool trained_ = false;
};

}  // namespace r2plus1d::nn

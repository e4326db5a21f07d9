#pragma once
/// \file
/// ReLU: torch.nn.ReLU as a module (no parameters).

#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/ops/relu.hpp"
#include "r2plus1d/ops/relu_backward.hpp"

namespace r2plus1d::nn {

/// max(x, 0) element-wise on tensors of any rank; NaN stays NaN, as torch.nn.ReLU.
/// No parameters or buffers.
template <class T>
class ReLU : public Module<ReLU<T>> {
 public:
  ReLU() = default;

  /// A new tensor max(x, 0), x's shape; x is left as it is.
  template <int R>
  Tensor<T, R> forward(TensorView<const T, R> x) const {
    return ops::relu<T, R>(x);
  }
  /// forward(x.cview()).
  template <int R>
  Tensor<T, R> forward(const Tensor<T, R>& x) const {
    return ops::relu<T, R>(x.cview());
  }
  /// forward(x).
  template <int R>
  Tensor<T, R> operator()(TensorView<const T, R> x) const {
    return forward(x);
  }
  /// forward(x).
  template <int R>
  Tensor<T, R> operator()(const Tensor<T, R>& x) const {
    return forward(x.cview());
  }

  /// forward(x) on an (N, C, D, H, W) tensor for training: keeps where the
  /// output is positive (one bit per element), which is all backward needs.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    Tensor<T, 5> y = ops::relu<T, 5>(x);
    mask_ = ops::ReluMask::of<T, 5>(y.cview());
    return y;
  }
  /// What drop_saved() drops of this module's own: the output's mask.
  void drop_own_saved() { mask_.reset(); }
  /// The gradient of the last forward_train's input from grad_output: grad
  /// where the output is positive, else 0 (empty when `need_input_grad` is
  /// false). Frees the kept output; OptionError without a forward_train before.
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    if (!mask_.recorded()) throw OptionError("ReLU: backward without a forward_train before it");
    Tensor<T, 5> grad;
    if (need_input_grad) grad = ops::relu_backward<T, 5>(grad_output, mask_);
    mask_.reset();
    return grad;
  }
  /// Lists nothing: ReLU has no parameters, buffers or children.
  template <class V>
  void visit(V&) {}

 private:
  ops::ReluMask mask_;  // where forward_train's output is positive, while backward needs it
};

}  // namespace r2plus1d::nn

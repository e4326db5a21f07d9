#pragma once
/// \file
/// ReLU: torch.nn.ReLU as a module (no parameters).

#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/ops/relu.hpp"

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

  /// Lists nothing: ReLU has no parameters, buffers or children.
  template <class V>
  void visit(V&) {}
};

}  // namespace r2plus1d::nn

#pragma once
/// \file
/// The gradient of the rectified linear unit, as torch's threshold_backward
/// for relu: grad where the output is positive, 0 elsewhere.

#include <algorithm>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/gradient.hpp"
#include "r2plus1d/ops/relu.hpp"

namespace r2plus1d::ops {

/// The gradient of y = relu(x) from grad_output and the output y (or the input
/// x: both are positive at the same places), written or added (`mode`) into
/// grad_input: grad_output where y > 0, else 0. As torch, a NaN y passes the
/// gradient (only y <= 0 stops it). Throws ShapeError when the shapes differ.
template <class T, int R>
void relu_backward(TensorView<const T, R> grad_output, TensorView<const T, R> output, TensorView<T, R> grad_input,
                   GradMode mode = GradMode::kOverwrite) {
  if (grad_output.shape() != output.shape() || grad_input.shape() != output.shape())
    throw ShapeError("relu_backward: grad_output " + format_shape<R>(grad_output.shape()) + ", output " +
                     format_shape<R>(output.shape()) + " and grad_input " + format_shape<R>(grad_input.shape()) +
                     " differ in shape");
  const T* g = grad_output.data();
  const T* y = output.data();
  T* dx = grad_input.data();
  const index_t n = output.numel();
  const index_t blocks = (n + detail::kEltwiseBlock - 1) / detail::kEltwiseBlock;
  parallel_for(0, blocks, [&](index_t b) {
    const index_t end = std::min(n, (b + 1) * detail::kEltwiseBlock);
    for (index_t i = b * detail::kEltwiseBlock; i < end; ++i) detail::store_grad(mode, dx[i], y[i] <= T(0) ? T(0) : g[i]);
  });
}

/// relu_backward into a new tensor.
template <class T, int R>
Tensor<T, R> relu_backward(TensorView<const T, R> grad_output, TensorView<const T, R> output) {
  Tensor<T, R> grad = Tensor<T, R>::empty(output.shape());
  relu_backward<T, R>(grad_output, output, grad.view());
  return grad;
}

}  // namespace r2plus1d::ops

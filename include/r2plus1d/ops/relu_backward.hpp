#pragma once
/// \file
/// The gradient of the rectified linear unit, as torch's threshold_backward
/// for relu: grad where the output is positive, 0 elsewhere.

#include <algorithm>
#include <cstdint>
#include <vector>

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

/// Where a ReLU's output passes the gradient (y > 0, or NaN: all that
/// relu_backward reads of it), one bit per element: what training keeps of a
/// ReLU's output instead of the output itself (1/32 of its size in float).
class ReluMask {
 public:
  /// No mask: recorded() is false.
  ReluMask() = default;
  /// The mask of y (a ReLU's output, or its input).
  template <class T, int R>
  static ReluMask of(TensorView<const T, R> y) {
    static_assert(detail::kEltwiseBlock % 64 == 0, "ReluMask: a block must fill whole words");
    ReluMask m;
    m.numel_ = y.numel();
    m.recorded_ = true;
    m.bits_.assign(static_cast<std::size_t>((m.numel_ + 63) / 64), 0);
    const T* p = y.data();
    std::uint64_t* w = m.bits_.data();
    const index_t n = m.numel_, blocks = (n + detail::kEltwiseBlock - 1) / detail::kEltwiseBlock;
    parallel_for(0, blocks, [&](index_t b) {
      const index_t end = std::min(n, (b + 1) * detail::kEltwiseBlock);
      for (index_t i0 = b * detail::kEltwiseBlock; i0 < end; i0 += 64) {
        std::uint64_t bits = 0;
        const index_t len = std::min<index_t>(64, end - i0);
        for (index_t j = 0; j < len; ++j) bits |= std::uint64_t(!(p[i0 + j] <= T(0))) << j;
        w[i0 / 64] = bits;
      }
    });
    return m;
  }
  /// Whether a mask was taken (of() and not reset()).
  bool recorded() const { return recorded_; }
  /// The number of elements it covers.
  index_t numel() const { return numel_; }
  /// Whether element i passes the gradient.
  bool passes(index_t i) const { return (bits_[static_cast<std::size_t>(i / 64)] >> (i % 64)) & 1u; }
  /// Frees the bits; recorded() becomes false.
  void reset() { *this = ReluMask(); }

 private:
  std::vector<std::uint64_t> bits_;
  index_t numel_ = 0;
  bool recorded_ = false;
};

/// relu_backward from a ReluMask of the output: the same values as from the
/// output itself. Throws ShapeError when the sizes differ.
template <class T, int R>
void relu_backward(TensorView<const T, R> grad_output, const ReluMask& mask, TensorView<T, R> grad_input,
                   GradMode mode = GradMode::kOverwrite) {
  if (grad_output.shape() != grad_input.shape() || grad_output.numel() != mask.numel())
    throw ShapeError("relu_backward: grad_output " + format_shape<R>(grad_output.shape()) + " and grad_input " +
                     format_shape<R>(grad_input.shape()) + " for a mask of " + std::to_string(mask.numel()) +
                     " elements");
  const T* g = grad_output.data();
  T* dx = grad_input.data();
  const index_t n = mask.numel();
  const index_t blocks = (n + detail::kEltwiseBlock - 1) / detail::kEltwiseBlock;
  parallel_for(0, blocks, [&](index_t b) {
    const index_t end = std::min(n, (b + 1) * detail::kEltwiseBlock);
    for (index_t i = b * detail::kEltwiseBlock; i < end; ++i)
      detail::store_grad(mode, dx[i], mask.passes(i) ? g[i] : T(0));
  });
}

/// relu_backward from a mask into a new tensor of grad_output's shape.
template <class T, int R>
Tensor<T, R> relu_backward(TensorView<const T, R> grad_output, const ReluMask& mask) {
  Tensor<T, R> grad = Tensor<T, R>::empty(grad_output.shape());
  relu_backward<T, R>(grad_output, mask, grad.view());
  return grad;
}

/// relu_backward into a new tensor.
template <class T, int R>
Tensor<T, R> relu_backward(TensorView<const T, R> grad_output, TensorView<const T, R> output) {
  Tensor<T, R> grad = Tensor<T, R>::empty(output.shape());
  relu_backward<T, R>(grad_output, output, grad.view());
  return grad;
}

}  // namespace r2plus1d::ops

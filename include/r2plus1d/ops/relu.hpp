#pragma once
/// \file
/// Rectified linear unit, as torch.relu: max(x, 0) with NaN kept as NaN.

#include <algorithm>

#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops {

namespace detail {

template <class T>
void relu_range(const T* src, T* dst, index_t n) {
  // `v < 0 ? 0 : v` keeps NaN (the comparison is false), as torch.relu does.
  for (index_t i = 0; i < n; ++i) dst[i] = src[i] < T(0) ? T(0) : src[i];
}

template <class T>
void relu_blocks(const T* src, T* dst, index_t n) {
  const index_t blocks = (n + kEltwiseBlock - 1) / kEltwiseBlock;
  parallel_for(0, blocks, [&](index_t b) {
    const index_t begin = b * kEltwiseBlock;
    relu_range(src + begin, dst + begin, std::min(kEltwiseBlock, n - begin));
  });
}
}  // namespace detail

/// Replaces every element of `x` by max(x, 0) in place (NaN stays NaN), as torch.relu_.
template <class T, int R>
void relu_(TensorView<T, R> x) {
  detail::relu_blocks(x.data(), x.data(), x.numel());
}

/// max(x, 0) element-wise in a new tensor (NaN stays NaN), as torch.relu.
template <class T, int R>
Tensor<T, R> relu(TensorView<const T, R> x) {
  Tensor<T, R> y = Tensor<T, R>::empty(x.shape());
  detail::relu_blocks(x.data(), y.data(), x.numel());
  return y;
}

/// y = max(y + x, 0) in place (NaN stays NaN): the residual sum and ReLU that
/// end a ResNet block, as `out += residual; relu(out)`. Shapes must be equal.
template <class T, int R>
void add_relu_(TensorView<T, R> y, TensorView<const T, R> x) {
  if (y.shape() != x.shape())
    throw ShapeError("add_relu_: residual " + format_shape<R>(y.shape()) + " and shortcut " +
                     format_shape<R>(x.shape()) + " differ in shape");
  T* py = y.data();
  const T* px = x.data();
  const index_t n = y.numel();
  const index_t blocks = (n + detail::kEltwiseBlock - 1) / detail::kEltwiseBlock;
  parallel_for(0, blocks, [&](index_t b) {
    const index_t end = std::min(n, (b + 1) * detail::kEltwiseBlock);
    for (index_t i = b * detail::kEltwiseBlock; i < end; ++i) {
      const T v = py[i] + px[i];
      py[i] = v < T(0) ? T(0) : v;
    }
  });
}

/// y = y + x in place, element-wise (shapes must be equal): e.g. the two
/// gradients of a tensor that feeds both branches of a residual block.
template <class T, int R>
void add_(TensorView<T, R> y, TensorView<const T, R> x) {
  if (y.shape() != x.shape())
    throw ShapeError("add_: " + format_shape<R>(y.shape()) + " and " + format_shape<R>(x.shape()) +
                     " differ in shape");
  T* py = y.data();
  const T* px = x.data();
  const index_t n = y.numel();
  const index_t blocks = (n + detail::kEltwiseBlock - 1) / detail::kEltwiseBlock;
  parallel_for(0, blocks, [&](index_t b) {
    const index_t end = std::min(n, (b + 1) * detail::kEltwiseBlock);
    for (index_t i = b * detail::kEltwiseBlock; i < end; ++i) py[i] += px[i];
  });
}

}  // namespace r2plus1d::ops

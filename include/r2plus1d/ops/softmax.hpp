#pragma once
/// \file
/// Softmax along one dimension, as torch.softmax: exp(x - max) / sum(exp(x - max)).

#include <cmath>
#include <type_traits>

#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::ops {

/// softmax(x) along `dim` (negative counts from the end), as torch.softmax(x, dim):
/// each line is shifted by its maximum before exp, so large scores do not
/// overflow. A line holding NaN or +Inf is NaN throughout, one of only -Inf is
/// NaN, as in torch. Equal to torch's result within rounding (torch's
/// vectorised exp is not the C library's).
template <class T, int R>
Tensor<T, R> softmax(TensorView<const T, R> x, int dim = -1) {
  static_assert(std::is_floating_point_v<T>, "softmax: expected a floating-point tensor");
  static_assert(R >= 1, "softmax: expected a tensor of rank 1 or more");
  const int d = r2plus1d::detail::wrap_dim("softmax", dim, R);
  const index_t n = x.size(d);
  index_t inner = 1;
  for (int i = d + 1; i < R; ++i) inner *= x.size(i);
  const index_t outer = n * inner == 0 ? 0 : x.numel() / (n * inner);
  Tensor<T, R> y = Tensor<T, R>::empty(x.shape());
  for (index_t o = 0; o < outer; ++o) {
    for (index_t i = 0; i < inner; ++i) {
      const T* src = x.data() + o * n * inner + i;
      T* dst = y.data() + o * n * inner + i;
      T max = src[0];
      for (index_t k = 1; k < n; ++k) {
        const T v = src[k * inner];
        if (std::isnan(v) || v > max) max = v;
        if (std::isnan(max)) break;
      }
      T sum = 0;
      for (index_t k = 0; k < n; ++k) sum += dst[k * inner] = std::exp(src[k * inner] - max);
      for (index_t k = 0; k < n; ++k) dst[k * inner] /= sum;
    }
  }
  return y;
}
/// The same on a view of mutable elements.
template <class T, int R, class = std::enable_if_t<!std::is_const_v<T>>>
Tensor<T, R> softmax(TensorView<T, R> x, int dim = -1) {
  return softmax<T, R>(TensorView<const T, R>(x), dim);
}
/// The same on a tensor.
template <class T, int R>
Tensor<T, R> softmax(const Tensor<T, R>& x, int dim = -1) {
  return softmax<T, R>(x.cview(), dim);
}

}  // namespace r2plus1d::ops

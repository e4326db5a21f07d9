#pragma once
/// \file
/// The k largest (or smallest) elements along one dimension and their indices, as torch.topk.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::ops {

/// What topk returns, as torch.topk's (values, indices): both of the input's
/// shape with `k` in place of the reduced dimension; `indices` index that dimension.
template <class T, int R>
struct TopK {
  Tensor<T, R> values;              ///< The selected elements.
  Tensor<std::int64_t, R> indices;  ///< Their indices along the reduced dimension.
};

/// The `k` largest elements along `dim` (negative counts from the end), or the
/// smallest with `largest` false, as torch.topk(x, k, dim, largest, sorted).
/// NaN counts as larger than every number, as in torch. Sorted: best first,
/// equal values in index order (torch leaves their order unspecified); not
/// sorted: the selected elements in index order. Throws ShapeError unless
/// 0 <= k <= size of `dim`.
template <class T, int R>
TopK<T, R> topk(TensorView<const T, R> x, index_t k, int dim = -1, bool largest = true, bool sorted = true) {
  static_assert(R >= 1, "topk: expected a tensor of rank 1 or more");
  const int d = r2plus1d::detail::wrap_dim("topk", dim, R);
  const index_t n = x.size(d);
  if (k < 0 || k > n)
    throw ShapeError("topk: k " + std::to_string(k) + " is out of range for dimension " + std::to_string(dim) +
                     " of size " + std::to_string(n) + " (shape " + format_shape<R>(x.shape()) + ")");
  index_t inner = 1;
  for (int i = d + 1; i < R; ++i) inner *= x.size(i);
  const index_t outer = n * inner == 0 ? 0 : x.numel() / (n * inner);
  Shape<R> s = x.shape();
  s[static_cast<std::size_t>(d)] = k;
  TopK<T, R> out{Tensor<T, R>::empty(s), Tensor<std::int64_t, R>::empty(s)};
  auto is_nan = [](T v) {
    if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
    return false;
  };
  std::vector<index_t> order(static_cast<std::size_t>(n));
  for (index_t o = 0; o < outer; ++o) {
    for (index_t i = 0; i < inner; ++i) {
      const T* src = x.data() + o * n * inner + i;
      auto before = [&](index_t a, index_t b) {  // a is taken before b
        const T va = src[a * inner], vb = src[b * inner];
        const bool na = is_nan(va), nb = is_nan(vb);
        if (na != nb) return largest ? na : nb;
        if (!na && va != vb) return largest ? va > vb : va < vb;
        return a < b;
      };
      for (index_t j = 0; j < n; ++j) order[static_cast<std::size_t>(j)] = j;
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      if (!sorted) std::sort(order.begin(), order.begin() + k);
      const index_t base = o * k * inner + i;
      for (index_t j = 0; j < k; ++j) {
        const index_t c = order[static_cast<std::size_t>(j)];
        out.values.data()[base + j * inner] = src[c * inner];
        out.indices.data()[base + j * inner] = c;
      }
    }
  }
  return out;
}
/// The same on a view of mutable elements.
template <class T, int R, class = std::enable_if_t<!std::is_const_v<T>>>
TopK<T, R> topk(TensorView<T, R> x, index_t k, int dim = -1, bool largest = true, bool sorted = true) {
  return topk<T, R>(TensorView<const T, R>(x), k, dim, largest, sorted);
}
/// The same on a tensor.
template <class T, int R>
TopK<T, R> topk(const Tensor<T, R>& x, index_t k, int dim = -1, bool largest = true, bool sorted = true) {
  return topk<T, R>(x.cview(), k, dim, largest, sorted);
}

}  // namespace r2plus1d::ops

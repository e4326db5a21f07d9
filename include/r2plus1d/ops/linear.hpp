#pragma once
/// \file
/// Fully connected layer, as torch.nn.functional.linear: y = x w^T + b.

#include <algorithm>
#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/gemm.hpp"

namespace r2plus1d::ops {

/// y = x w^T + bias for an (N, in_features) input and an (out_features, in_features)
/// weight; `bias` is nullptr or out_features values. Rows are computed in fixed
/// blocks, so results do not depend on the thread count. Throws ShapeError when
/// the feature counts differ.
template <class T>
Tensor<T, 2> linear(TensorView<const T, 2> x, TensorView<const T, 2> w, const T* bias) {
  if (x.size(1) != w.size(1))
    throw ShapeError("linear: input has " + std::to_string(x.size(1)) + " features, expected " +
                     std::to_string(w.size(1)) + " (input " + format_shape<2>(x.shape()) + ", weight " +
                     format_shape<2>(w.shape()) + ")");
  const index_t rows = x.size(0), in = w.size(1), out = w.size(0);
  Tensor<T, 2> y = Tensor<T, 2>::empty({rows, out});
  constexpr index_t kRowBlock = 64;
  parallel_for(0, (rows + kRowBlock - 1) / kRowBlock, [&](index_t blk) {
    const index_t r0 = blk * kRowBlock, m = std::min(kRowBlock, rows - r0);
    T* yb = y.data() + r0 * out;
    for (index_t r = 0; r < m; ++r)
      for (index_t o = 0; o < out; ++o) yb[r * out + o] = bias != nullptr ? bias[o] : T(0);
    // w stored (out, in) row-major is w^T (in, out) column-major.
    detail::gemm_accumulate<Eigen::RowMajor, Eigen::ColMajor>(m, out, in, x.data() + r0 * in, in, w.data(), in, yb,
                                                              out);
  });
  return y;
}

}  // namespace r2plus1d::ops

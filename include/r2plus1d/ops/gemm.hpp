#pragma once
/// \file
/// The one matrix product every kernel uses: C += A * B through Eigen's blocked
/// GEMM, always on the calling thread. Eigen's own OpenMP split would re-block
/// the depth with the thread count and change the rounding, so kernels
/// parallelise outside (over batch, groups and chunks) and call this.

#include <Eigen/Core>

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops::detail {

/// C(m, n) += A(m, k) * B(k, n), C row-major with leading dimension ldc.
/// A and B are row-major (`ALayout`/`BLayout` = Eigen::RowMajor) or column-major
/// with leading dimensions lda and ldb. Single-threaded; the rounding depends
/// only on (m, n, k), never on the thread count.
template <int ALayout, int BLayout, class T>
void gemm_accumulate(index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, T* c,
                     index_t ldc) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  using Index = Eigen::Index;
  // What Eigen's `dst.noalias() += A * B` runs for a row-major destination when it does
  // not split the work over threads (the blocking is computed for one thread).
  Eigen::internal::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1, false>
      blocking(static_cast<Index>(m), static_cast<Index>(n), static_cast<Index>(k), 1, true);
  Eigen::internal::general_matrix_matrix_product<Index, T, ALayout, false, T, BLayout, false, Eigen::RowMajor, 1>::run(
      static_cast<Index>(m), static_cast<Index>(n), static_cast<Index>(k), a, static_cast<Index>(lda), b,
      static_cast<Index>(ldb), c, 1, static_cast<Index>(ldc), T(1), blocking, nullptr);
}

}  // namespace r2plus1d::ops::detail

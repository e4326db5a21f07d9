#pragma once
/// \file
/// C = A * B for a thin B (few columns, such as the 98 positions of two 7x7
/// frames) and a large A read as it lies, with nothing packed: the product of
/// a convolution whose weights are far larger than its input, where packing
/// the weights on every call would cost as much as using them.
///
/// The columns go in whole packets through the rows kernel's register tile
/// (rows_tile<T> rows of A by up to cols_tile<T> columns), each step
/// broadcasting one weight from each of the tile's rows of A, which the tile
/// reads as streams. The depth goes in blocks that keep B's block in the L2
/// cache while every row block of A passes over it; C carries the sums from
/// one depth block to the next, stored and loaded exactly. The columns past
/// the last whole packet (fewer than a packet) are dot products along the
/// depth, over a transposed copy of them.
///
/// Outputs in whole packets are one in-order sum over the depth, whatever the
/// blocks; the last columns sum each depth block in packet lanes. Either way
/// the bits depend only on the sizes, not on how rows are shared out.

#include <algorithm>
#include <vector>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/ops/gemm_rows.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {


/// The epilogue of one value of row r.
template <class T>
T thin_epilogue(T v, index_t r, const RowsEpilogue<T>& e) {
  if (e.scale != nullptr) v = v * e.scale[r] + (e.shift != nullptr ? e.shift[r] : T(0));
  else if (e.shift != nullptr) v += e.shift[r];
  if (e.relu && v < T(0)) v = T(0);
  return v;
}

/// C(rows, cols) at c (+)= A(rows, kk) at a (lda) times the columns whose
/// transposed copies are bt (ldbt apart, kk values each): per (row, column),
/// the kernels' dot product along the depth.
template <class T>
void thin_tail(const RowsKernelSet<T>& kernels, index_t rows, index_t cols, index_t kk, const T* a, index_t lda,
               const T* bt, index_t ldbt, T* c, index_t ldc, index_t r0, bool accumulate, const RowsEpilogue<T>* e) {
  for (index_t i = 0; i < rows; ++i) {
    for (index_t t = 0; t < cols; ++t) {
      const T sum = kernels.dot(kk, a + i * lda, bt + t * ldbt);
      T& out = c[i * ldc + t];
      out = accumulate ? out + sum : sum;
      if (e != nullptr) out = thin_epilogue(out, r0 + i, *e);
    }
  }
}

/// epilogue(C(m, n) = A(m, k) * B(k, n)) for rows [r_begin, r_end) of C: A
/// row-major with leading dimension lda, B row-major with ldb, C with ldc.
/// `bt` holds B's columns from n / packet * packet on, transposed (k values
/// each, ldbt apart; unused when n is whole packets). Depth blocks of
/// kThinDepthBlock (or `depth_block`), each over every row block of the range.
/// Single-threaded; threads may take disjoint row ranges.
template <class T>
void gemm_thin(index_t r_begin, index_t r_end, index_t n, index_t k, const T* a, index_t lda, const T* b,
               index_t ldb, const T* bt, index_t ldbt, T* c, index_t ldc, const RowsEpilogue<T>& epilogue = {},
               index_t depth_block = kThinDepthBlock) {
  const RowsKernelSet<T>& kernels = rows_kernels<T>();
  const index_t mr = kernels.mr, nr = kernels.cols(), L = kernels.lanes;
  if (r_end <= r_begin || n <= 0) return;
  const index_t whole = n / L * L;
  if (k <= 0) {  // an empty sum: the epilogue of 0
    for (index_t r = r_begin; r < r_end; ++r)
      for (index_t q = 0; q < n; ++q) c[r * ldc + q] = thin_epilogue(T(0), r, epilogue);
    return;
  }
  const index_t kc = std::max<index_t>(1, depth_block);
  for (index_t k0 = 0; k0 < k; k0 += kc) {
    const index_t kk = std::min(kc, k - k0);
    const bool accumulate = k0 > 0;
    const RowsEpilogue<T>* e = k0 + kk == k ? &epilogue : nullptr;
    for (index_t r0 = r_begin; r0 < r_end; r0 += mr) {
      const index_t rows = std::min(mr, r_end - r0);
      const T* ar = a + r0 * lda + k0;
      T* cr = c + r0 * ldc;
      for (index_t c0 = 0; c0 < whole; c0 += nr) {
        const index_t vectors = std::min(nr, whole - c0) / L;
        const T* bb = b + k0 * ldb + c0;
        kernels.thin_tile(rows, vectors, kk, ar, lda, bb, ldb, cr + c0, ldc, r0, accumulate, e);
      }
      if (whole < n) thin_tail(kernels, rows, n - whole, kk, ar, lda, bt + k0, ldbt, cr + whole, ldc, r0, accumulate, e);
    }
  }
}

}  // namespace r2plus1d::ops::detail

#pragma once
/// \file
/// What every instruction set's rows microkernels provide (kernels/*.hpp),
/// and the epilogue they apply: one table of entry points per ISA and element
/// type, chosen once by rows_kernels<T>() (kernels/rows_kernels.hpp).

#include <cstdint>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/ops/kernels/isa.hpp"
#include "r2plus1d/ops/winograd.hpp"

namespace r2plus1d::ops::detail {

/// What every convolution kernel applies to output channel (row of C) r as
/// it stores it: c = c * scale[r] + shift[r] (either may be null: 1 and 0),
/// then max(c, 0) if relu (NaN stays NaN). A bias is shift; an inference
/// BatchNorm folds into scale and shift.
template <class T>
struct Epilogue {
  const T* scale = nullptr;
  const T* shift = nullptr;
  bool relu = false;
};
template <class T>
using RowsEpilogue = Epilogue<T>;

/// p + k computed on the address, for a masked load whose lanes that fall
/// outside an array are never read (a frame's zero padding): p + k itself
/// may lie before the array, where pointer arithmetic would be undefined.
template <class T>
const T* masked_load_address(const T* p, index_t k) {
  return reinterpret_cast<const T*>(reinterpret_cast<std::uintptr_t>(p) +
                                    static_cast<std::uintptr_t>(k) * sizeof(T));
}

/// How the rows kernels read A(r, s), nothing packed: rows `ld` apart, the
/// depth in runs of `run` steps `step` apart, each run `run_stride` after the
/// one before: A(r, s) = data[r * ld + (s / run) * run_stride + (s % run) *
/// step]. A row-major A(m, k) is plain(a, lda, k); a convolution's weights
/// (out, channel, tap) with their depth taken tap-major, (tap, channel), are
/// {w, channels * taps, channels, taps, 1}. A product's depth is whole runs.
template <class T>
struct RowsA {
  const T* data = nullptr;
  index_t ld = 0, run = 1, step = 1, run_stride = 0;

  static RowsA plain(const T* a, index_t lda, index_t k) { return {a, lda, k > 0 ? k : 1, 1, 0}; }
  /// The same matrix from row r0 on.
  RowsA from_row(index_t r0) const { return {data + r0 * ld, ld, run, step, run_stride}; }
  /// The same matrix from run j on (its depth step j * run).
  RowsA from_run(index_t j) const { return {data + j * run_stride, ld, run, step, run_stride}; }
};

/// One instruction set's Winograd transforms for one F(m, 3)
/// (kernels/winograd_microkernels.inl): the weights' transform of 3x3
/// kernels (winograd_weights); for 3x3 kernels, by tile rows,
/// winograd_tile_row_input and winograd_tile_row_output; for 3-tap kernels
/// along rows of values, winograd_rows_input and winograd_rows_output.
template <class T>
struct WinogradKernels {
  void (*weights)(index_t, const T*, T*, index_t) = nullptr;
  void (*tile_row_input)(index_t, const T* const*, index_t, index_t, T*, index_t) = nullptr;
  void (*tile_row_output)(index_t, index_t, const T*, index_t, index_t, T*, index_t, index_t, index_t, index_t,
                          const RowsEpilogue<T>&, index_t) = nullptr;
  void (*rows_input)(index_t, const T* const*, T* const*) = nullptr;
  void (*rows_output)(index_t, const T*, index_t, T* const*, const RowsEpilogue<T>&, index_t) = nullptr;
};

/// One instruction set's microkernels for T: a register tile of `mr` output
/// channels by up to `nv` vectors of `lanes` positions.
///
/// - rows_tile(rows, vectors, k, a, b, offsets, c, ldc, r0, cols, e): C's
///   rows [r0, r0 + rows) (rows <= mr, at c) and `cols` columns (at most
///   `vectors` vectors) = e(A * B), A read as `a` says (RowsA, from its first
///   row), row s of B at b + offsets[s], read for whole vectors.
/// - thin_tile(rows, vectors, kk, a, lda, b, ldb, c, ldc, r0, accumulate, e):
///   C (+)= A * B over kk steps, A's rows lda apart as they lie, `vectors`
///   whole vectors of B's rows (ldb apart); e applied when not null.
/// - dot(n, a, b): the sum of a[s] * b[s] in vector lanes, then across them.
/// - f2, f4, f6, f8: the Winograd transforms of F(2, 3), F(4, 3), F(6, 3)
///   and, along rows only (rows_input, rows_output), F(8, 3).
template <class T>
struct RowsKernelSet {
  Isa isa = Isa::kGeneric;
  index_t mr = 1, nv = 1, lanes = 1;
  void (*rows_tile)(index_t, index_t, index_t, const RowsA<T>&, const T*, const index_t*, T*, index_t, index_t,
                    index_t, const RowsEpilogue<T>&) = nullptr;
  void (*thin_tile)(index_t, index_t, index_t, const T*, index_t, const T*, index_t, T*, index_t, index_t, bool,
                    const RowsEpilogue<T>*) = nullptr;
  T (*dot)(index_t, const T*, const T*) = nullptr;
  WinogradKernels<T> f2, f4, f6, f8;

  index_t cols() const { return nv * lanes; }
  /// The Winograd transforms of F (WinogradF2, WinogradF4, WinogradF6 or WinogradF8).
  template <class F>
  const WinogradKernels<T>& winograd() const {
    if constexpr (F::m == 2) return f2;
    else if constexpr (F::m == 4) return f4;
    else if constexpr (F::m == 6) return f6;
    else return f8;
  }
};

}  // namespace r2plus1d::ops::detail

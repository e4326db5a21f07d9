#pragma once
/// \file
/// C = A * B with neither operand packed: A's rows are read as they lie (a
/// convolution's weights, (out_channels, depth) as torch stores them), and
/// each row of B is a contiguous run of n values found through a table of
/// offsets, so a convolution can hand its input rows over as they lie (see
/// conv3d_phase_rows). Nothing is prepared per call, and nothing needs to be
/// kept between calls. The kernel holds
/// a tile of rows_tile<T> output channels by cols_tile<T> output positions in
/// registers, vectorised along the positions: for each step of the depth it
/// loads the tile's run of every B row once and broadcasts one weight per
/// channel. It suits thin products (few output channels, where packing B
/// would cost as much as using it). The microkernels are those of the
/// instruction set chosen at run time (kernels/rows_kernels.hpp).
///
/// Every output is one sum over the depth in order, one fused multiply-add
/// per step, whatever the tile it falls in: its bits do not depend on how the
/// columns or rows are cut.

#include <algorithm>
#include <vector>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/ops/kernels/rows_kernels.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {

/// The register tile of the kernels in use (rows_kernels): rows_tile<T>()
/// output channels by cols_tile<T>() output positions, in vectors of
/// rows_packet_size<T>() values. Fixed for the process once the ISA is.
template <class T>
index_t rows_tile() {
  return rows_kernels<T>().mr;
}
template <class T>
index_t cols_tile() {
  return rows_kernels<T>().cols();
}
template <class T>
index_t rows_packet_size() {
  return rows_kernels<T>().lanes;
}


/// How gemm_rows reads B beyond the plain case.
struct RowsOptions {
  /// Each B row readable up to n rounded up to a whole packet (the values past
  /// n are read but do not reach C); otherwise the last partial packet of
  /// every row is copied out first, and nothing past n is read.
  bool b_padded = true;
  /// `segments` runs of n columns: row s of run q is at b + q * b_step +
  /// offsets[s], and its columns of C start at c + q * c_step.
  index_t segments = 1, b_step = 0, c_step = 0;
};

/// epilogue(C(m, n) = A(m, k) * B(k, n)), C row-major with leading dimension
/// ldc. A is read where it lies, as `a` says (RowsA; k is whole runs of it);
/// row s of B is the n values at b + offsets[s] (see RowsOptions for unpadded
/// rows and several runs of columns). The columns go in blocks of whole tiles holding about
/// kRowsBlockBytes of B, each through every row block of A, tile by tile.
/// Every output is one in-order sum over the depth, whatever the tiles.
/// Single-threaded.
template <class T>
void gemm_rows(index_t m, index_t n, index_t k, const RowsA<T>& a, const T* b, const index_t* offsets, T* c,
               index_t ldc, const RowsEpilogue<T>& epilogue = {}, const RowsOptions& opt = {}) {
  const RowsKernelSet<T>& kernels = rows_kernels<T>();
  const index_t mr = kernels.mr, nr = kernels.cols(), L = kernels.lanes;
  if (m <= 0 || n <= 0) return;
  // Every register tile's columns: where its B rows start, their offsets, its C.
  struct Tile {
    const T* b;
    const index_t* offsets;
    T* c;
    index_t cols;
  };
  std::vector<Tile> tiles;
  const index_t whole = opt.b_padded ? n : n / L * L;
  std::vector<T> tail;
  std::vector<index_t> tail_offsets;
  if (whole < n) {
    tail.assign(static_cast<std::size_t>(opt.segments * k * L), T(0));
    tail_offsets.resize(static_cast<std::size_t>(k));
    for (index_t s = 0; s < k; ++s) tail_offsets[static_cast<std::size_t>(s)] = s * L;
  }
  for (index_t q = 0; q < opt.segments; ++q) {
    const T* bq = b + q * opt.b_step;
    T* cq = c + q * opt.c_step;
    for (index_t c0 = 0; c0 < whole; c0 += nr) tiles.push_back({bq + c0, offsets, cq + c0, std::min(nr, whole - c0)});
    if (whole < n) {  // the last partial packet of each row, copied out with zeros after it
      T* t = tail.data() + q * k * L;
      for (index_t s = 0; s < k; ++s) std::copy(bq + offsets[s] + whole, bq + offsets[s] + n, t + s * L);
      tiles.push_back({t, tail_offsets.data(), cq + whole, n - whole});
    }
  }
  // Blocks of whole tiles holding about kRowsBlockBytes of B. The rows go in
  // as few register tiles as mr allows, of even heights (64 rows as 8 tiles
  // of 8, not 7 of 9 and one of 1, which loads B for a single row).
  const index_t per_block = std::max<index_t>(1, kRowsBlockBytes / (std::max<index_t>(1, k) * nr * index_t(sizeof(T))));
  const index_t row_tiles = (m + mr - 1) / mr, short_rows = m / row_tiles, taller = m % row_tiles;
  for (std::size_t t0 = 0; t0 < tiles.size(); t0 += static_cast<std::size_t>(per_block)) {
    const std::size_t t1 = std::min(tiles.size(), t0 + static_cast<std::size_t>(per_block));
    for (index_t rt = 0, r0 = 0; rt < row_tiles; ++rt) {
      const index_t rows = short_rows + (rt < taller ? 1 : 0);
      const RowsA<T> ar = a.from_row(r0);
      for (std::size_t t = t0; t < t1; ++t) {
        const Tile& tile = tiles[t];
        const index_t vectors = (tile.cols + L - 1) / L;
        T* out = tile.c + r0 * ldc;
        kernels.rows_tile(rows, vectors, k, ar, tile.b, tile.offsets, out, ldc, r0, tile.cols, epilogue);
      }
      r0 += rows;
    }
  }
}

}  // namespace r2plus1d::ops::detail

#pragma once
/// \file
/// C = A * B for a B that is never packed: each of its rows is a contiguous
/// run of n values found through a table of offsets, so a convolution can hand
/// its input rows over as they lie (see conv3d_phase_rows). The kernel holds
/// a tile of rows_tile<T> output channels by cols_tile<T> output positions in
/// registers, vectorised along the positions: for each step of the depth it
/// loads the tile's run of every B row once and broadcasts one weight per
/// channel. It suits thin products (few output channels, where packing B
/// would cost as much as using it) and stays in Eigen's packet primitives,
/// so it runs on every instruction set Eigen vectorises for.
///
/// Every output is one sum over the depth in order, one fused multiply-add
/// per step, whatever the tile it falls in: its bits do not depend on how the
/// columns or rows are cut.

#include <Eigen/Core>

#include <algorithm>
#include <vector>

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops::detail {

/// The packet the rows kernel computes with, its width, and the tile: as
/// many channel rows as leave registers for the tile's B values and one
/// broadcast weight (27 accumulators of 32 registers, 12 of 16).
template <class T>
using RowsPacket = typename Eigen::internal::packet_traits<T>::type;
template <class T>
inline constexpr index_t rows_packet_size = Eigen::internal::unpacket_traits<RowsPacket<T>>::size;
inline constexpr int kRowsTileVectors = 3;
inline constexpr int kRowsTileRows = (EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS) >= 32 ? 9 : 4;
/// Output channels and positions of one register tile.
template <class T>
constexpr index_t rows_tile() {
  return kRowsTileRows;
}
template <class T>
constexpr index_t cols_tile() {
  return kRowsTileVectors * rows_packet_size<T>;
}

/// Values A takes packed for gemm_rows: m rounded up to rows_tile, times k.
template <class T>
index_t rows_packed_a_size(index_t m, index_t k) {
  return (m + rows_tile<T>() - 1) / rows_tile<T>() * rows_tile<T>() * k;
}

/// Packs rows [i0, i0 + rows_tile) (cut at m) of A(m, k) for gemm_rows, into
/// their block of the packed storage `dst`: the k steps of the depth one
/// after another, each holding the block's rows_tile weights (zero past m).
/// A's element (r, c) is at(r, c). Blocks are independent, so threads may
/// pack different ones.
template <class T, class At>
void pack_rows_a_block(index_t m, index_t k, index_t i0, At&& at, T* dst) {
  constexpr index_t mr = rows_tile<T>();
  const index_t rows = std::min(mr, m - i0);
  dst += i0 * k;
  for (index_t c = 0; c < k; ++c, dst += mr) {
    for (index_t r = 0; r < rows; ++r) dst[r] = at(i0 + r, c);
    for (index_t r = rows; r < mr; ++r) dst[r] = T(0);
  }
}

/// Packs A(m, k), element (r, c) at a[r * lda + c], for gemm_rows
/// (rows_packed_a_size(m, k) values).
template <class T>
void pack_rows_a(index_t m, index_t k, const T* a, index_t lda, T* dst) {
  for (index_t i0 = 0; i0 < m; i0 += rows_tile<T>())
    pack_rows_a_block(m, k, i0, [&](index_t r, index_t c) { return a[r * lda + c]; }, dst);
}

/// What gemm_rows applies to row r of C as it stores it: c = c * scale[r] +
/// shift[r] (either may be null: 1 and 0), then max(c, 0) if relu (NaN stays NaN).
template <class T>
struct RowsEpilogue {
  const T* scale = nullptr;
  const T* shift = nullptr;
  bool relu = false;
};

/// One register tile: MR (at most rows_tile) rows of C from r0 and `cols`
/// (at most NV packets) columns, from the first MR rows of one block of packed
/// A and B's rows at b + offsets[s]; each B row is read for NV whole packets.
/// The epilogue is applied before the store. `rows` is MR.
template <class T, int NV, int MR = kRowsTileRows>
void rows_tile_kernel(index_t k, const T* a, const T* b, const index_t* offsets, T* c, index_t ldc, index_t r0,
                      index_t rows, index_t cols, const RowsEpilogue<T>& e) {
  using Packet = RowsPacket<T>;
  using namespace Eigen::internal;
  static_assert(MR >= 1 && MR <= kRowsTileRows, "a tile holds at most rows_tile rows");
  constexpr int block = kRowsTileRows;  // A's packed blocks keep their full height
  constexpr index_t L = rows_packet_size<T>;
  Packet acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = pset1<Packet>(T(0));
  for (index_t s = 0; s < k; ++s, a += block) {
    const T* row = b + offsets[s];
    Packet bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = ploadu<Packet>(row + v * L);
    for (int i = 0; i < MR; ++i) {
      const Packet w = pset1<Packet>(a[i]);
      for (int v = 0; v < NV; ++v) acc[i][v] = pmadd(w, bv[v], acc[i][v]);
    }
  }
  const Packet zero = pset1<Packet>(T(0));
  alignas(64) T tail[NV * L];
  for (int i = 0; i < MR; ++i) {
    if (i >= rows) break;
    if (e.scale != nullptr) {
      const Packet m = pset1<Packet>(e.scale[r0 + i]);
      const Packet add = pset1<Packet>(e.shift != nullptr ? e.shift[r0 + i] : T(0));
      for (int v = 0; v < NV; ++v) acc[i][v] = pmadd(acc[i][v], m, add);
    } else if (e.shift != nullptr) {
      const Packet add = pset1<Packet>(e.shift[r0 + i]);
      for (int v = 0; v < NV; ++v) acc[i][v] = padd(acc[i][v], add);
    }
    if (e.relu)
      for (int v = 0; v < NV; ++v) acc[i][v] = pselect(pcmp_lt(acc[i][v], zero), zero, acc[i][v]);
    T* out = c + i * ldc;
    if (cols == NV * L) {
      for (int v = 0; v < NV; ++v) pstoreu(out + v * L, acc[i][v]);
    } else {
      for (int v = 0; v < NV; ++v) pstoreu(tail + v * L, acc[i][v]);
      std::copy(tail, tail + cols, out);
    }
  }
}

/// rows_tile_kernel for a block of `rows` rows of C (1 to rows_tile): a block
/// cut short at m computes only its own rows, not the zeros packed after them
/// (m = 64 in 9-row blocks: the last block holds 1 row).
template <class T, int NV, int MR = kRowsTileRows>
void rows_tile(index_t k, const T* a, const T* b, const index_t* offsets, T* c, index_t ldc, index_t r0,
               index_t rows, index_t cols, const RowsEpilogue<T>& e) {
  if constexpr (MR > 1) {
    if (rows < MR) return rows_tile<T, NV, MR - 1>(k, a, b, offsets, c, ldc, r0, rows, cols, e);
  }
  rows_tile_kernel<T, NV, MR>(k, a, b, offsets, c, ldc, r0, rows, cols, e);
}

/// Bytes of B that gemm_rows runs every row block of A over before it moves
/// on: a block of columns that stays in the L2 cache while the weights stream.
inline constexpr index_t kRowsBlockBytes = index_t(256) << 10;

/// How gemm_rows reads A and B beyond the plain case.
struct RowsOptions {
  /// Each B row readable up to n rounded up to a whole packet (the values past
  /// n are read but do not reach C); otherwise the last partial packet of
  /// every row is copied out first, and nothing past n is read.
  bool b_padded = true;
  /// The depth A was packed for (k when 0): the product takes k steps of it
  /// from packed_a on, in each block of rows, such as a run of taps.
  index_t a_depth = 0;
  /// `segments` runs of n columns: row s of run q is at b + q * b_step +
  /// offsets[s], and its columns of C start at c + q * c_step.
  index_t segments = 1, b_step = 0, c_step = 0;
};

/// epilogue(C(m, n) = A(m, k) * B(k, n)), C row-major with leading dimension
/// ldc. A is packed by pack_rows_a; row s of B is the n values at
/// b + offsets[s] (see RowsOptions for unpadded rows, runs of taps and several
/// runs of columns). The columns go in blocks of whole tiles holding about
/// kRowsBlockBytes of B, each through every row block of A, tile by tile.
/// Every output is one in-order sum over the depth, whatever the tiles.
/// Single-threaded.
template <class T>
void gemm_rows(index_t m, index_t n, index_t k, const T* packed_a, const T* b, const index_t* offsets, T* c,
               index_t ldc, const RowsEpilogue<T>& epilogue = {}, const RowsOptions& opt = {}) {
  constexpr index_t mr = rows_tile<T>(), nr = cols_tile<T>(), L = rows_packet_size<T>;
  if (m <= 0 || n <= 0) return;
  const index_t a_depth = opt.a_depth > 0 ? opt.a_depth : k;
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
  // Blocks of whole tiles holding about kRowsBlockBytes of B.
  const index_t per_block = std::max<index_t>(1, kRowsBlockBytes / (std::max<index_t>(1, k) * nr * index_t(sizeof(T))));
  for (std::size_t t0 = 0; t0 < tiles.size(); t0 += static_cast<std::size_t>(per_block)) {
    const std::size_t t1 = std::min(tiles.size(), t0 + static_cast<std::size_t>(per_block));
    for (index_t r0 = 0; r0 < m; r0 += mr) {
      const index_t rows = std::min(mr, m - r0);
      const T* a = packed_a + r0 * a_depth;
      for (std::size_t t = t0; t < t1; ++t) {
        const Tile& tile = tiles[t];
        const index_t vectors = (tile.cols + L - 1) / L;
        T* out = tile.c + r0 * ldc;
        static_assert(kRowsTileVectors == 3, "the dispatch below covers 1 to 3 packets");
        if (vectors == 3)
          rows_tile<T, 3>(k, a, tile.b, tile.offsets, out, ldc, r0, rows, tile.cols, epilogue);
        else if (vectors == 2)
          rows_tile<T, 2>(k, a, tile.b, tile.offsets, out, ldc, r0, rows, tile.cols, epilogue);
        else
          rows_tile<T, 1>(k, a, tile.b, tile.offsets, out, ldc, r0, rows, tile.cols, epilogue);
      }
    }
  }
}

}  // namespace r2plus1d::ops::detail

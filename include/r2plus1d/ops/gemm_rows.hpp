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

/// Packs A(m, k), element (r, c) at a[r * lda + c], for gemm_rows: per block of
/// rows_tile rows, the k steps of the depth one after another, each holding
/// the block's rows_tile weights (zero past m).
template <class T>
void pack_rows_a(index_t m, index_t k, const T* a, index_t lda, T* dst) {
  constexpr index_t mr = rows_tile<T>();
  for (index_t i0 = 0; i0 < m; i0 += mr) {
    const index_t rows = std::min(mr, m - i0);
    for (index_t c = 0; c < k; ++c, dst += mr) {
      for (index_t r = 0; r < rows; ++r) dst[r] = a[(i0 + r) * lda + c];
      for (index_t r = rows; r < mr; ++r) dst[r] = T(0);
    }
  }
}

/// What gemm_rows applies to row r of C as it stores it: c = c * scale[r] +
/// shift[r] (either may be null: 1 and 0), then max(c, 0) if relu (NaN stays NaN).
template <class T>
struct RowsEpilogue {
  const T* scale = nullptr;
  const T* shift = nullptr;
  bool relu = false;
};

/// One register tile: `rows` (at most rows_tile) rows of C from r0 and `cols`
/// (at most NV packets) columns, from one block of packed A and B's rows at
/// b + offsets[s]; each B row is read for NV whole packets.
template <class T, int NV>
void rows_tile_kernel(index_t k, const T* a, const T* b, const index_t* offsets, T* c, index_t ldc, index_t r0,
                      index_t rows, index_t cols, const RowsEpilogue<T>& e) {
  using Packet = RowsPacket<T>;
  using namespace Eigen::internal;
  constexpr int MR = kRowsTileRows;
  constexpr index_t L = rows_packet_size<T>;
  Packet acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = pset1<Packet>(T(0));
  for (index_t s = 0; s < k; ++s, a += MR) {
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

/// Bytes of B that gemm_rows runs every row block over before it moves on:
/// a block of columns that stays in the L2 cache while the weights stream.
inline constexpr index_t kRowsBlockBytes = index_t(256) << 10;

/// epilogue(C(m, n) = A(m, k) * B(k, n)), C row-major with leading dimension
/// ldc. A is packed by pack_rows_a for a depth of `a_depth` (k when 0), of
/// which this product takes the k steps from packed_a on in each block of
/// rows: a run of taps. Row s of B is the n values at b + offsets[s]. With
/// b_padded, each row must be readable up to n rounded up to a whole packet
/// (the values past n are read but do not reach C); otherwise the last
/// partial packet of every row is copied out first, and nothing past n is
/// read. The columns go in blocks of about kRowsBlockBytes of B, each through
/// every row block of A, tile by tile. Single-threaded.
template <class T>
void gemm_rows(index_t m, index_t n, index_t k, const T* packed_a, const T* b, const index_t* offsets, T* c,
               index_t ldc, const RowsEpilogue<T>& epilogue = {}, bool b_padded = true, index_t a_depth = 0) {
  constexpr index_t mr = rows_tile<T>(), nr = cols_tile<T>(), L = rows_packet_size<T>;
  if (a_depth == 0) a_depth = k;
  // Columns [c_begin, c_end), their B rows at bb + offs[s] from column c_begin.
  auto tiles = [&](const T* bb, const index_t* offs, index_t c_begin, index_t c_end) {
    const index_t nc = std::max(nr, kRowsBlockBytes / (std::max<index_t>(1, k) * index_t(sizeof(T))) / nr * nr);
    for (index_t j0 = c_begin; j0 < c_end; j0 += nc)
      for (index_t r0 = 0; r0 < m; r0 += mr) {
        const index_t rows = std::min(mr, m - r0);
        const T* a = packed_a + r0 * a_depth;
        for (index_t c0 = j0; c0 < std::min(c_end, j0 + nc); c0 += nr) {
          const index_t cols = std::min(nr, c_end - c0);
          const index_t vectors = (cols + L - 1) / L;
          T* out = c + r0 * ldc + c0;
          static_assert(kRowsTileVectors == 3, "the dispatch below covers 1 to 3 packets");
          if (vectors == 3)
            rows_tile_kernel<T, 3>(k, a, bb + (c0 - c_begin), offs, out, ldc, r0, rows, cols, epilogue);
          else if (vectors == 2)
            rows_tile_kernel<T, 2>(k, a, bb + (c0 - c_begin), offs, out, ldc, r0, rows, cols, epilogue);
          else
            rows_tile_kernel<T, 1>(k, a, bb + (c0 - c_begin), offs, out, ldc, r0, rows, cols, epilogue);
        }
      }
  };
  const index_t whole = b_padded ? n : n / L * L;
  tiles(b, offsets, 0, whole);
  if (whole == n) return;
  // The last partial packet of each row, copied out with zeros after it.
  std::vector<T> tail(static_cast<std::size_t>(k * L), T(0));
  std::vector<index_t> tail_offsets(static_cast<std::size_t>(k));
  for (index_t s = 0; s < k; ++s) {
    std::copy(b + offsets[s] + whole, b + offsets[s] + n, tail.data() + s * L);
    tail_offsets[static_cast<std::size_t>(s)] = s * L;
  }
  tiles(tail.data(), tail_offsets.data(), whole, n);
}

}  // namespace r2plus1d::ops::detail

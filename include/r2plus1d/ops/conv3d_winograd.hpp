#pragma once
/// \file
/// 3x3 spatial convolutions of stride 1 by Winograd's F(m x m, 3x3)
/// (ops/winograd.hpp): every frame is cut into m x m output tiles; each tile's
/// alpha x alpha inputs are transformed (B^T d B), the alpha^2 products of
/// transformed inputs and weights become alpha^2 independent GEMMs over the
/// channels (gemm_rows, on the rows kernels), and the output transform
/// (A^T M A) with the epilogue writes the tile. The transforms are the rows
/// kernels' own (kernels/winograd_microkernels.inl), one tile per vector lane.
///
/// Every output comes from its own tile's transforms and one in-order sum over
/// the input channels per transformed element, so its bits depend neither on
/// the threads nor on how the tiles are cut into passes and blocks.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/winograd.hpp"

namespace r2plus1d::ops::detail {

/// Bytes of transformed inputs one pass holds (shared by the team).
inline constexpr index_t kWinogradPassBytes = index_t(4) << 20;
/// Output channels and tiles a work item of a pass aims at (in register
/// tiles of the rows kernels: about 48 channels by 4 tiles of columns).
inline constexpr index_t kWinogradItemChannels = 48;
inline constexpr index_t kWinogradItemColumnTiles = 4;
/// Fewest output positions per frame for Winograd (28x28: layer2's frames).
/// On layer3's 14x14 frames it measured 1.2x faster than the direct
/// algorithm, 2% of r2plus1d_18's time, but its transformed weights (576 x 256
/// x 36 values, 21 MB) would stay in a workspace and push the extractor past
/// 200 MB of resident memory on one clip.
inline constexpr index_t kWinogradMinPositions = 784;

/// The smallest stride of at least `n` values of T, in whole vectors of L
/// (of at most 64 bytes), that is an odd number of 64-byte cache lines: 64
/// rows that far apart fall in 64 different sets of an L1 cache of 64-byte
/// lines indexed by address bits 6-11.
template <class T>
index_t winograd_unaliased_stride(index_t n, index_t L) {
  index_t s = (n + L - 1) / L * L;
  while ((s * static_cast<index_t>(sizeof(T))) % 128 != 64) s += L;
  return s;
}

/// Whether g is a convolution conv3d_winograd computes: one group, a (1, 3, 3)
/// kernel with every stride and dilation 1, no temporal padding.
inline bool winograd_ok(const Conv3dGeometry& g) {
  return g.groups == 1 && g.k_d == 1 && g.k_h == 3 && g.k_w == 3 && g.stride == Triple(1) &&
         g.dilation == Triple(1) && g.padding.d == 0;
}

/// Whether conv3d_gemm hands g to conv3d_winograd: fast algorithms allowed
/// (conv_algorithms), the rows kernels (conv_kernels), elements of float,
/// and frames of at least kWinogradMinPositions outputs.
template <class T>
bool winograd_preferred(const Conv3dGeometry& g) {
  return std::is_same_v<T, float> && conv_algorithms() == ConvAlgorithms::kFast &&
         conv_kernels() == ConvKernels::kRows && winograd_ok(g) && g.out_h * g.out_w >= kWinogradMinPositions;
}

/// Values of the transformed weights of an (out, in, 1, 3, 3) kernel: alpha^2 x out x in.
template <class F>
index_t winograd_weights_size(index_t out, index_t in) {
  return index_t(F::alpha) * F::alpha * out * in;
}

/// The transformed weights U(xi, o, c) = (G w(o, c) G^T)(xi) of an (M, C, 1, 3, 3)
/// kernel into u (winograd_weights_size values), all threads together.
template <class F, class T>
void winograd_transform_weights(const T* w, index_t M, index_t C, T* u) {
  constexpr index_t a2 = index_t(F::alpha) * F::alpha;
  // (Each output channel's row of C values per xi transformed into a buffer
  // and copied whole: u's rows lie M * C apart, often a multiple of the
  // cache's set stride, so writing them a value at a time thrashes one set.)
  parallel_region(std::min<index_t>(get_num_threads(), M), [&](const Team& team) {
    std::vector<T> row(static_cast<std::size_t>(a2 * C));
    for (index_t o = team.rank(); o < M; o += team.size()) {
      for (index_t c = 0; c < C; ++c) winograd_kernel_transform<F>(w + (o * C + c) * 9, row.data() + c, C);
      for (index_t xi = 0; xi < a2; ++xi)
        std::copy(row.data() + xi * C, row.data() + (xi + 1) * C, u + (xi * M + o) * C);
    }
  });
}

/// epilogue(conv3d(x, w)) into y by F(m x m, 3x3), for winograd_ok(g), from
/// the transformed weights u (winograd_transform_weights).
///
/// An image's tile rows, over all its frames, go in passes of about
/// kWinogradPassBytes of transformed inputs: the team transforms them, split
/// by channels; then each work item (a block of the pass's tiles by a block of
/// output channels) runs the alpha^2 GEMMs into its own buffer and the output
/// transform from it.
template <class F, class T>
void conv3d_winograd_transformed(const Conv3dGeometry& g, const T* x, const T* u, const ConvEpilogue<T>& epilogue,
                                 T* y) {
  constexpr index_t m = F::m, a = F::alpha, a2 = a * a;
  const RowsKernelSet<T>& kernels = rows_kernels<T>();
  const WinogradKernels<T>& wk = kernels.template winograd<F>();
  const index_t L = kernels.lanes, nr = kernels.cols(), mr = kernels.mr;
  const index_t C = g.in_channels, M = g.out_channels, H = g.in_h, W = g.in_w, OH = g.out_h, OW = g.out_w;
  const index_t ph = g.padding.h, pw = g.padding.w, ldy = g.out_cstride(), ldx = g.in_cstride();
  if (g.batch * g.out_plane() * M == 0) return;
  const index_t ntx = (OW + m - 1) / m, nty = (OH + m - 1) / m;
  const index_t threads = get_num_threads();

  // Passes of tile rows (frame, ty) of one image; V(xi, c, tile) with tiles
  // vs apart per (xi, c) and xs per xi: the input transform writes its alpha^2
  // results xs apart, an odd number of cache lines (winograd_unaliased_stride;
  // with 64 channels C * vs is a multiple of 4 KiB whenever vs is one of
  // 16 floats, and all 36 stores of a tile fell in one L1 set: layer1's
  // 64 -> 144 input transform took 2.6 times as long on an AMD Zen 5).
  const index_t rows_total = g.out_d * nty;
  const index_t row_bytes = a2 * C * ntx * static_cast<index_t>(sizeof(T));
  const index_t pass_rows = std::max<index_t>(1, std::min(rows_total, kWinogradPassBytes / row_bytes));
  const index_t vs = pass_rows * ntx + L;
  const index_t xs = winograd_unaliased_stride<T>(C * vs, L);
  T* const v = thread_workspace<T>(a2 * xs, kPackedB);
  std::vector<index_t> offsets(static_cast<std::size_t>(C));
  for (index_t c = 0; c < C; ++c) offsets[static_cast<std::size_t>(c)] = c * vs;
  // An input row of a tile row, zero-padded: columns [-pw, ntx * m + 2 - pw).
  const index_t row_len = ntx * m + 2, padded_len = row_len + L;

  for (index_t n = 0; n < g.batch; ++n) {
    const T* const xn = x + n * C * ldx;
    T* const yn = y + n * M * ldy;
    for (index_t p0 = 0; p0 < rows_total; p0 += pass_rows) {
      const index_t rows = std::min(pass_rows, rows_total - p0), tiles = rows * ntx;
      // Work items: column blocks (whole register tiles) by output-channel blocks (whole row tiles).
      const index_t col_target = kWinogradItemColumnTiles * nr;
      const index_t ch_target = std::max<index_t>(mr, kWinogradItemChannels / mr * mr);
      index_t col_blocks = (tiles + col_target - 1) / col_target;
      index_t ch_blocks = (M + ch_target - 1) / ch_target;
      while (col_blocks * ch_blocks < 2 * threads && ch_blocks * mr < M) ++ch_blocks;
      const index_t cols = ((tiles + col_blocks - 1) / col_blocks + nr - 1) / nr * nr;
      col_blocks = (tiles + cols - 1) / cols;
      const index_t chans = ((M + ch_blocks - 1) / ch_blocks + mr - 1) / mr * mr;
      ch_blocks = (M + chans - 1) / chans;
      const index_t items = col_blocks * ch_blocks, ms = cols + L;
      const index_t work = std::max((a + 1) * padded_len, a2 * chans * ms);
      WorkQueue queue(items);

      parallel_region(threads, [&](const Team& team) {
        T* const buf = thread_workspace<T>(work, kColumns);
        // Input transform, split by channels, a tile row at a time from its
        // input rows, zero-padded in the buffer.
        T* const padded = buf;
        T* const zero_row = buf + a * padded_len;
        std::fill(zero_row, zero_row + padded_len, T(0));
        const T* row_of[a];
        for (index_t c = team.rank(); c < C; c += team.size()) {
          for (index_t r = 0; r < rows; ++r) {
            const index_t frame = (p0 + r) / nty, ty = (p0 + r) % nty;
            const T* const xf = xn + c * ldx + frame * H * W;
            for (index_t i = 0; i < a; ++i) {
              const index_t ih = ty * m - ph + i;
              if (ih < 0 || ih >= H) {
                row_of[i] = zero_row;
                continue;
              }
              // columns [-pw, W) of the input row at [0, pw + W), zeros around
              T* const pr = padded + i * padded_len;
              const index_t lo = std::min(pw, row_len), hi = std::min(row_len, pw + W);
              std::fill(pr, pr + lo, T(0));
              if (hi > lo) std::copy(xf + ih * W + (lo - pw), xf + ih * W + (hi - pw), pr + lo);
              std::fill(pr + std::max(lo, hi), pr + padded_len, T(0));
              row_of[i] = pr;
            }
            wk.tile_row_input(ntx, row_of, v + c * vs + r * ntx, xs);  // spills into the next row's tiles
          }
        }
        team.barrier();
        // The GEMMs and the output transform, per work item.
        T* const mm = buf;
        for (index_t item = 0; queue.next(item);) {
          const index_t t0 = (item % col_blocks) * cols, nt = std::min(cols, tiles - t0);
          const index_t o0 = (item / col_blocks) * chans, no = std::min(chans, M - o0);
          for (index_t xi = 0; xi < a2; ++xi)
            gemm_rows(no, nt, C, RowsA<T>::plain(u + (xi * M + o0) * C, C, C), v + xi * xs + t0,
                      offsets.data(), mm + xi * chans * ms, ms);
          for (index_t o = o0; o < o0 + no; ++o)
            for (index_t t = t0; t < t0 + nt;) {  // by runs of one tile row
              const index_t r = t / ntx, tx = t % ntx, run = std::min(ntx - tx, t0 + nt - t);
              const index_t frame = (p0 + r) / nty, ty = (p0 + r) % nty;
              wk.tile_row_output(run, mm + (o - o0) * ms + (t - t0), chans * ms,
                                 yn + o * ldy + frame * OH * OW + ty * m * OW + tx * m, OW, OH - ty * m, OW - tx * m,
                                 epilogue, o);
              t += run;
            }
        }
        team.barrier();  // the next pass overwrites v
      });
    }
  }
}

/// epilogue(conv3d(x, w)) into y by F(m x m, 3x3), for winograd_ok(g): the
/// weights transformed once per call (in double, into the caller's
/// workspace), then conv3d_winograd_transformed.
template <class F, class T>
void conv3d_winograd(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  if (g.batch * g.out_plane() * g.out_channels == 0) return;
  T* const u = thread_workspace<T>(winograd_weights_size<F>(g.out_channels, g.in_channels), kWinogradU);
  winograd_transform_weights<F>(w, g.out_channels, g.in_channels, u);
  conv3d_winograd_transformed<F>(g, x, u, epilogue, y);
}

}  // namespace r2plus1d::ops::detail

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
/// the threads nor on how the tiles are cut into blocks.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/prefetch.hpp"
#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/tuning.hpp"
#include "r2plus1d/ops/winograd.hpp"

namespace r2plus1d::ops::detail {


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

/// Whether conv3d_gemm hands g to conv3d_winograd on F(2x2, 3x3): as
/// winograd_preferred, on frames of kWinogradF2MinPositions outputs up to
/// kWinogradMinPositions.
template <class T>
bool winograd_f2_preferred(const Conv3dGeometry& g) {
  const index_t positions = g.out_h * g.out_w;
  return std::is_same_v<T, float> && conv_algorithms() == ConvAlgorithms::kFast &&
         conv_kernels() == ConvKernels::kRows && winograd_ok(g) && positions >= kWinogradF2MinPositions &&
         positions < kWinogradMinPositions;
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
  const WinogradKernels<T>& wk = rows_kernels<T>().template winograd<F>();
  parallel_region(std::min<index_t>(get_num_threads(), M), [&](const Team& team) {
    std::vector<T> row(static_cast<std::size_t>(a2 * C));
    for (index_t o = team.rank(); o < M; o += team.size()) {
      wk.weights(C, w + o * C * 9, row.data(), C);
      for (index_t xi = 0; xi < a2; ++xi)
        std::copy(row.data() + xi * C, row.data() + (xi + 1) * C, u + (xi * M + o) * C);
    }
  });
}

/// Which output rows conv3d_winograd_transformed computes and where it puts
/// them, beyond whole frames where g says: only tile rows [ty0, ty1) of every
/// frame (ty1 0: all), into frames `frame_stride` values apart (0: g's
/// out_h * out_w) whose first row is output row `row0` (a band of the frame).
struct WinogradRows {
  index_t ty0 = 0, ty1 = 0, frame_stride = 0, row0 = 0;
};

/// epilogue(conv3d(x, w)) into y by F(m x m, 3x3), for winograd_ok(g), from
/// the transformed weights u (winograd_transform_weights), for the tile rows
/// `rows` says.
///
/// Each image's tiles, frame by frame and tile row by tile row, go in blocks
/// of about kWinogradBlockBytes of transformed inputs (whole register tiles
/// of columns), each block a work item of one thread from start to end: the
/// input transform of all its channels, then per block of output channels the
/// alpha^2 GEMMs into a buffer and the output transform from it. A block's
/// transformed inputs and products stay in that thread's cache; only the
/// weights are shared.
template <class F, class T>
void conv3d_winograd_transformed(const Conv3dGeometry& g, const T* x, const T* u, const ConvEpilogue<T>& epilogue,
                                 T* y, const WinogradRows& rows = {}) {
  constexpr index_t m = F::m, a = F::alpha, a2 = a * a;
  const RowsKernelSet<T>& kernels = rows_kernels<T>();
  const WinogradKernels<T>& wk = kernels.template winograd<F>();
  const index_t L = kernels.lanes, nr = kernels.cols(), mr = kernels.mr;
  const index_t C = g.in_channels, M = g.out_channels, H = g.in_h, W = g.in_w, OH = g.out_h, OW = g.out_w;
  const index_t ph = g.padding.h, pw = g.padding.w, ldy = g.out_cstride(), ldx = g.in_cstride();
  if (g.batch * g.out_plane() * M == 0) return;
  const index_t ntx = (OW + m - 1) / m, ty0 = rows.ty0, ty1 = rows.ty1 > 0 ? rows.ty1 : (OH + m - 1) / m;
  const index_t nty = ty1 - ty0, per_image = g.out_d * nty * ntx;
  const index_t y_frame = rows.frame_stride > 0 ? rows.frame_stride : OH * OW;
  if (nty <= 0) return;
  const index_t size = static_cast<index_t>(sizeof(T));

  // Blocks of tiles: as many whole register tiles as hold about
  // kWinogradBlockBytes of V (at least one), or kWinogradLargeBlockBytes
  // where the weights every block reads are large, evened out over the image.
  const index_t budget = a2 * M * C * size > kWinogradLargeWeightsBytes ? kWinogradLargeBlockBytes : kWinogradBlockBytes;
  const index_t fit = std::max<index_t>(1, budget / (a2 * C * size * nr)) * nr;
  const index_t blocks = (per_image + fit - 1) / fit;
  const index_t block = std::min(per_image, ((per_image + blocks - 1) / blocks + L - 1) / L * L);
  const index_t per_image_blocks = (per_image + block - 1) / block;
  // V(xi, c, tile): tiles vs apart per (xi, c) and xs per xi, an odd number of
  // cache lines (winograd_unaliased_stride; with 64 channels C * vs is a
  // multiple of 4 KiB whenever vs is one of 16 floats, and all 36 stores of a
  // tile fell in one L1 set: layer1's 64 -> 144 input transform took 2.6
  // times as long on an AMD Zen 5). M(xi, o, tile) for `chans` output
  // channels at a time, about kWinogradProductBytes.
  const index_t vs = block + L, xs = winograd_unaliased_stride<T>(C * vs, L), ms = block + L;
  const index_t chans = std::min(M, std::max<index_t>(1, kWinogradProductBytes / (a2 * ms * size * mr)) * mr);
  std::vector<index_t> offsets(static_cast<std::size_t>(C));
  for (index_t c = 0; c < C; ++c) offsets[static_cast<std::size_t>(c)] = c * vs;
  const index_t work = a2 * xs + a2 * chans * ms;

  const index_t items = g.batch * per_image_blocks;
  WorkQueue queue(items);
  parallel_region(std::min<index_t>(get_num_threads(), items), [&](const Team&) {
    T* const v = thread_workspace<T>(work, kColumns);
    T* const mm = v + a2 * xs;
    const T* row_of[a];
    for (index_t item = 0; queue.next(item);) {
      const index_t n = item / per_image_blocks, t0 = (item % per_image_blocks) * block;
      const index_t nt = std::min(block, per_image - t0);
      const T* const xn = x + n * C * ldx;
      T* const yn = y + n * M * ldy;
      // Calls f(tile, frame, ty, tx, run) for each run of the block's tiles in one tile row, in order.
      auto for_each_run = [&](auto&& f) {
        for (index_t t = t0; t < t0 + nt;) {
          const index_t r = t / ntx, tx = t % ntx, run = std::min(ntx - tx, t0 + nt - t);
          f(t, r / nty, ty0 + r % nty, tx, run);
          t += run;
        }
      };
      // The input transform of every channel, a run of a tile row at a time,
      // from the input rows as they lie (null: a padding row; the kernel
      // zero-pads the columns). Each run's last vector spills into the next
      // run's tiles, which overwrite it, or into the padding after the block.
      // The rows of the channel two on are asked for ahead: runs of a few
      // hundred bytes a channel plane apart, which the hardware's
      // prefetchers do not follow (layer1 of r2plus1d_18 in 0.95-0.985 of
      // the time, AMD Zen 4).
      for (index_t c = 0; c < C; ++c)
        for_each_run([&](index_t t, index_t frame, index_t ty, index_t tx, index_t run) {
          const T* const xf = xn + c * ldx + frame * H * W;
          const index_t c0 = std::max<index_t>(0, tx * m - pw), c1 = std::min(W, (tx + run) * m - pw + 2);
          for (index_t i = 0; i < a; ++i) {
            const index_t ih = ty * m - ph + i;
            row_of[i] = ih >= 0 && ih < H ? xf + ih * W : nullptr;
            if (c + 2 < C && row_of[i] != nullptr) prefetch_run(row_of[i] + 2 * ldx + c0, c1 - c0);
          }
          wk.tile_row_input(run, row_of, tx * m - pw, W, v + c * vs + (t - t0), xs);
        });
      // The GEMMs and the output transform, a block of output channels at a
      // time. Each GEMM's weights are rows of C values, too short for the
      // hardware's prefetchers, and all of u outgrows L2 from layer2 of
      // r2plus1d_18 on (5.3 MB); the next GEMM's are asked for ahead
      // (layer2 and layer3 in 0.95-0.97 of the time, AMD Zen 4).
      for (index_t o0 = 0; o0 < M; o0 += chans) {
        const index_t no = std::min(chans, M - o0);
        for (index_t xi = 0; xi < a2; ++xi) {
          if (xi + 1 < a2) prefetch_run(u + ((xi + 1) * M + o0) * C, no * C);
          gemm_rows(no, nt, C, RowsA<T>::plain(u + (xi * M + o0) * C, C, C), v + xi * xs, offsets.data(),
                    mm + xi * chans * ms, ms);
        }
        for_each_run([&](index_t t, index_t frame, index_t ty, index_t tx, index_t run) {
          wk.tile_row_output(run, no, mm + (t - t0), chans * ms, ms,
                             yn + o0 * ldy + frame * y_frame + (ty * m - rows.row0) * OW + tx * m, OW, ldy,
                             OH - ty * m, OW - tx * m, epilogue, o0);
        });
      }
    }
  });
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

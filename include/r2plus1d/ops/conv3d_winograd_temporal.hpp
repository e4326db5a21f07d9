#pragma once
/// \file
/// (3, 1, 1) temporal convolutions of stride 1 by Winograd's F(m, 3) along
/// time (ops/winograd.hpp): the output frames go in tiles of m, each reading
/// alpha = m + 2 input frames; at every position the tile's input frames are
/// transformed (B^T d), the alpha products of transformed inputs and weights
/// become alpha GEMMs over the channels (gemm_rows, on the rows kernels), and
/// the output transform (A^T M) with the epilogue writes the m frames. The
/// positions of a frame lie contiguous, so both transforms run along them, one
/// position per vector lane, with no gathering.
///
/// Every output comes from its own tile's transforms and one in-order sum over
/// the input channels per transformed element, so its bits depend neither on
/// the threads nor on how the positions are cut into work items.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/prefetch.hpp"
#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/tuning.hpp"
#include "r2plus1d/ops/winograd.hpp"

namespace r2plus1d::ops::detail {


/// Whether g is a convolution conv3d_winograd_temporal computes: one group, a
/// (3, 1, 1) kernel over whole frames with stride and dilation 1.
inline bool winograd_temporal_ok(const Conv3dGeometry& g) {
  return g.groups == 1 && g.k_d == 3 && g.temporal_direct() && g.dilation == Triple(1);
}

/// Whether conv3d_gemm hands g to conv3d_winograd_temporal: fast algorithms
/// allowed (conv_algorithms), the rows kernels (conv_kernels), elements of
/// float, frames of at least kRowsMinPositions positions and 3 output frames
/// or more (fewer would waste most of a tile of 4).
template <class T>
bool winograd_temporal_preferred(const Conv3dGeometry& g) {
  return std::is_same_v<T, float> && conv_algorithms() == ConvAlgorithms::kFast &&
         conv_kernels() == ConvKernels::kRows && winograd_temporal_ok(g) && g.out_h * g.out_w >= kRowsMinPositions &&
         g.out_d >= 3;
}

/// Values of the transformed weights of an (M, C, 3, 1, 1) kernel: alpha x M x C.
template <class F>
index_t winograd_temporal_weights_size(index_t M, index_t C) {
  return index_t(F::alpha) * M * C;
}

/// The transformed weights U(xi, o, c) = sum_k G(xi, k) w(o, c, k) of an
/// (M, C, 3, 1, 1) kernel into u, rounded once from double, all threads together.
template <class F, class T>
void winograd_temporal_weights(const T* w, index_t M, index_t C, T* u) {
  constexpr index_t a = F::alpha;
  parallel_for(0, M, [&](index_t o) {
    for (index_t c = 0; c < C; ++c) {
      const T* const wk3 = w + (o * C + c) * 3;
      for (index_t xi = 0; xi < a; ++xi) {
        double s = 0;
        for (int k = 0; k < 3; ++k) s += F::G[xi][k] * static_cast<double>(wk3[k]);
        u[(xi * M + o) * C + c] = static_cast<T>(s);
      }
    }
  });
}

/// Where the input frames of conv3d_winograd_temporal_transformed lie in x
/// when not in order: in a ring of `slots` frames (0: in order), frame f in
/// slot (first + f) % slots (the banded path's window of intermediate frames,
/// which moves on without copying the frames it keeps).
struct FrameRing {
  index_t slots = 0, first = 0;
  index_t slot(index_t f) const { return slots > 0 ? (first + f) % slots : f; }
};

/// epilogue(conv3d(x, w)) into y by F(m, 3) along time, for
/// winograd_temporal_ok(g), from the transformed weights u
/// (winograd_temporal_weights), y's frames `y_frame` values apart (0: the
/// positions of a frame, out_h * out_w), x's frames where `ring` says. Work
/// items are (image, tile of output frames, run of positions).
template <class F, class T>
void conv3d_winograd_temporal_transformed(const Conv3dGeometry& g, const T* x, const T* u,
                                          const ConvEpilogue<T>& epilogue, T* y, index_t y_frame = 0,
                                          const FrameRing& ring = {}) {
  constexpr index_t m = F::m, a = F::alpha;
  const RowsKernelSet<T>& kernels = rows_kernels<T>();
  const WinogradKernels<T>& wk = kernels.template winograd<F>();
  const index_t L = kernels.lanes, nr = kernels.cols();
  const index_t C = g.in_channels, M = g.out_channels, D = g.in_d, Dt = g.out_d, P = g.out_h * g.out_w;
  const index_t pd = g.padding.d, ldx = g.in_cstride(), ldy = g.out_cstride(), fy = y_frame > 0 ? y_frame : P;
  if (g.batch * Dt * P * M == 0) return;

  // Runs of positions: whole register tiles holding about kWinogradTemporalItemBytes of V and M.
  const index_t per_position = a * (C + M) * static_cast<index_t>(sizeof(T));
  const index_t fit = std::max<index_t>(nr, kWinogradTemporalItemBytes / std::max<index_t>(1, per_position) / nr * nr);
  const index_t runs = (P + fit - 1) / fit;
  const index_t run = std::min(P, ((P + runs - 1) / runs + L - 1) / L * L);
  const index_t tiles = (Dt + m - 1) / m, per_image = tiles * runs, vs = run + L;
  std::vector<index_t> offsets(static_cast<std::size_t>(C));
  for (index_t c = 0; c < C; ++c) offsets[static_cast<std::size_t>(c)] = c * vs;

  const index_t items = g.batch * per_image;
  WorkQueue queue(items);
  parallel_region(std::min<index_t>(get_num_threads(), items), [&](const Team&) {
    T* const v = thread_workspace<T>(a * (C + M) * vs, kColumns);
    T* const mm = v + a * C * vs;
    for (index_t item = 0; queue.next(item);) {
      const index_t n = item / per_image, k = (item % per_image) / runs, p0 = (item % runs) * run;
      const index_t count = std::min(run, P - p0);
      const T* in[a];
      T* out[a > m ? a : m];
      // The input transform, a channel at a time. Each channel's alpha frames
      // are runs of `count` values (a few hundred bytes each, often in L3 on
      // layer1 of r2plus1d_18), too short for the hardware's prefetchers:
      // those of the channel two ahead are asked for (layer1 in 0.96-0.98 of
      // the time, AMD Zen 4).
      for (index_t c = 0; c < C; ++c) {
        if (c + 2 < C)
          for (index_t j = 0; j < a; ++j) {
            const index_t f = k * m - pd + j;
            if (f >= 0 && f < D) prefetch_run(x + (n * C + c + 2) * ldx + ring.slot(f) * P + p0, count);
          }
        for (index_t j = 0; j < a; ++j) {
          const index_t f = k * m - pd + j;
          in[j] = f >= 0 && f < D ? x + (n * C + c) * ldx + ring.slot(f) * P + p0 : nullptr;
          out[j] = v + (j * C + c) * vs;
        }
        wk.rows_input(count, in, out);
      }
      for (index_t xi = 0; xi < a; ++xi)
        gemm_rows(M, count, C, RowsA<T>::plain(u + xi * M * C, C, C), v + xi * C * vs, offsets.data(),
                  mm + xi * M * vs, vs);
      for (index_t o = 0; o < M; ++o) {
        for (index_t r = 0; r < m; ++r) {
          const index_t f = k * m + r;
          out[r] = f < Dt ? y + (n * M + o) * ldy + f * fy + p0 : nullptr;
        }
        wk.rows_output(count, mm + o * vs, M * vs, out, epilogue, o);
      }
    }
  });
}

/// epilogue(conv3d(x, w)) into y by F(m, 3) along time, for
/// winograd_temporal_ok(g): the weights transformed once per call (in double,
/// into the caller's workspace), then conv3d_winograd_temporal_transformed.
template <class F, class T>
void conv3d_winograd_temporal(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue,
                              T* y) {
  if (g.batch * g.out_plane() * g.out_channels == 0) return;
  T* const u = thread_workspace<T>(winograd_temporal_weights_size<F>(g.out_channels, g.in_channels),
                                   kWinogradTemporalU);
  winograd_temporal_weights<F>(w, g.out_channels, g.in_channels, u);
  conv3d_winograd_temporal_transformed<F>(g, x, u, epilogue, y);
}

}  // namespace r2plus1d::ops::detail

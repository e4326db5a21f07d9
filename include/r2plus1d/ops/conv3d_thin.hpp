#pragma once
/// \file
/// Convolutions on small frames (layer4's 7x7), whose weights outweigh their
/// columns: gemm_thin multiplies the weights as they lie with the gathered
/// columns.
#include "r2plus1d/ops/conv3d_columns.hpp"
#include "r2plus1d/ops/conv3d_temporal.hpp"
#include "r2plus1d/ops/gemm_thin.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {


/// Whether conv3d_gemm hands a convolution to conv3d_thin: with the rows
/// kernels, a convolution on frames of fewer than kRowsMinPositions outputs
/// (layer4's 7x7), whose weights outweigh its columns; but not a temporal
/// kernel of stride 1 that conv3d_temporal_frames takes, which multiplies
/// each tap's weights with whole frames faster (layer4's: 219 GFLOP/s with 1
/// thread, against 196 to 205 here) when Eigen's kernel, which runs it, is
/// compiled for vectors as wide as the run-time ISA's (a build for this CPU;
/// in a portable build Eigen has 4-float SSE2 vectors).
template <class T>
bool thin_preferred(const Conv3dGeometry& g) {
  const bool eigen_as_wide = Eigen::internal::packet_traits<T>::size >= rows_packet_size<T>();
  return conv_kernels() == ConvKernels::kRows && g.out_h * g.out_w < kRowsMinPositions &&
         !(eigen_as_wide && g.temporal_direct() && temporal_frames_ok(g, static_cast<index_t>(sizeof(T))));
}

/// A convolution on small frames: each image's columns (every output frame's
/// positions, in chunks of about kThinColumnBudgetBytes at whole packets) are
/// gathered once by the team (vol2col), and gemm_thin multiplies the weights,
/// read as they lie, with them; the threads share the rows of weights, each
/// streaming its own once per chunk. Outputs do not depend on the threads.
template <class T>
void conv3d_thin(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  const index_t L = rows_packet_size<T>(), mr = rows_tile<T>();
  const index_t P = g.out_plane(), K = g.depth(), og = g.out_per_group(), ldy = g.out_cstride();
  if (g.batch * P * og == 0) return;
  const index_t by_budget = kThinColumnBudgetBytes / (std::max<index_t>(1, K) * index_t(sizeof(T))) / L * L;
  const index_t columns = std::min(P, std::max(cols_tile<T>(), by_budget));
  const index_t chunks = (P + columns - 1) / columns;
  T* const col = thread_workspace<T>(K * columns + L * K, kPackedB);
  T* const bt = col + K * columns;  // the chunk's columns past its last whole packet, transposed
  const index_t blocks = (og + mr - 1) / mr;
  const index_t workers = std::min<index_t>(get_num_threads(), std::max<index_t>(blocks, 1));
  parallel_region(workers, [&](const Team& team) {
    const index_t rank = team.rank(), size = team.size();
    for (index_t key = 0; key < g.batch * g.groups * chunks; ++key) {
      const index_t chunk = key % chunks, grp = (key / chunks) % g.groups, n = key / (chunks * g.groups);
      const index_t p0 = chunk * columns, count = std::min(columns, P - p0), whole = count / L * L;
      const T* xg = x + (n * g.in_channels + grp * g.in_per_group()) * g.in_cstride();
      vol2col_chunk(g, xg, p0, count, col + rank * K / size * count, rank * K / size, (rank + 1) * K / size);
      team.barrier();
      for (index_t t = whole + rank; t < count; t += size)
        for (index_t s = 0; s < K; ++s) bt[(t - whole) * K + s] = col[s * count + t];
      team.barrier();
      const index_t o0 = grp * og;
      const index_t r_begin = std::min(og, rank * blocks / size * mr);
      const index_t r_end = std::min(og, (rank + 1) * blocks / size * mr);
      T* const yg = y + (n * g.out_channels + o0) * ldy + p0;
      gemm_thin(r_begin, r_end, count, K, w + o0 * K, K, col, count, bt, K, yg, ldy);
      // The epilogue as the packed kernels apply it, one pass over the few
      // outputs: y * scale + shift rounds as the same expression elsewhere.
      for (index_t r = r_begin; r < r_end; ++r) apply_epilogue(epilogue, o0 + r, yg + r * ldy, count);
      team.barrier();
    }
  });
}

}  // namespace r2plus1d::ops::detail

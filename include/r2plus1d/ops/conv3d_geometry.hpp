#pragma once
/// \file
/// What every convolution algorithm shares: the sizes of a validated problem
/// (Conv3dGeometry), how work is cut by sizes alone (never by the thread
/// count), the per-thread workspaces, the epilogue and weight packing.
#include <algorithm>
#include <cstring>
#include <vector>

#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/conv_kernels.hpp"
#include "r2plus1d/ops/gemm.hpp"
#include "r2plus1d/ops/gemm_rows.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {

/// Every size a convolution kernel needs, in elements.
struct Conv3dGeometry {
  index_t batch = 0, groups = 1;
  index_t in_channels = 0, out_channels = 0;  // totals, not per group
  index_t in_d = 0, in_h = 0, in_w = 0;
  index_t out_d = 0, out_h = 0, out_w = 0;
  index_t k_d = 1, k_h = 1, k_w = 1;
  Triple stride{1}, padding{0}, dilation{1};

  index_t in_per_group() const { return in_channels / groups; }
  index_t out_per_group() const { return out_channels / groups; }
  /// Distance between consecutive channels of the input and of the output, in
  /// elements; 0 means contiguous (the plane size). Larger strides let a kernel
  /// read a range of frames of a bigger tensor, or write into one.
  index_t in_channel_stride = 0, out_channel_stride = 0;

  index_t in_plane() const { return in_d * in_h * in_w; }
  index_t out_plane() const { return out_d * out_h * out_w; }
  index_t in_cstride() const { return in_channel_stride > 0 ? in_channel_stride : in_plane(); }
  index_t out_cstride() const { return out_channel_stride > 0 ? out_channel_stride : out_plane(); }
  index_t kernel_volume() const { return k_d * k_h * k_w; }
  /// Rows of the column matrix: one per (input channel of the group, kernel tap).
  index_t depth() const { return in_per_group() * kernel_volume(); }
  bool pointwise() const { return kernel_volume() == 1; }
  bool identity_gather() const {
    return pointwise() && stride == Triple(1) && padding == Triple(0);
  }
  /// A (kt, 1, 1) kernel, kt > 1, with no spatial stride or padding: output
  /// frame u reads whole input frames u * sd - pd + i * dilation, so each tap
  /// reads a contiguous run of the input, with no columns.
  bool temporal_whole_frames() const {
    return k_h == 1 && k_w == 1 && k_d > 1 && stride.h == 1 && stride.w == 1 && padding.h == 0 && padding.w == 0 &&
           out_h == in_h && out_w == in_w;
  }
  /// temporal_whole_frames with temporal stride 1: output frame u reads input
  /// frames u - pd + i * dilation, so each tap is a GEMM over a contiguous run
  /// of the input, with no columns.
  bool temporal_direct() const { return temporal_whole_frames() && stride.d == 1; }
};




/// Start of piece q (of `pieces`) of a run of `count` output positions,
/// relative to the run: near q * count / pieces, at a multiple of `step` (the
/// GEMM's gemm_column_step), so that each position keeps the kernel and the bits
/// it has in the whole run's product. Piece `pieces` starts at count; a piece
/// may come out empty.
inline index_t column_piece_start(index_t q, index_t pieces, index_t count, index_t step) {
  if (q >= pieces) return count;
  const index_t at = (2 * q * count + pieces) / (2 * pieces);  // q * count / pieces, rounded
  return std::min(count, (at + step / 2) / step * step);
}

/// How a convolution's output is cut into work items: per (image, group),
/// column chunks of `columns` output positions and `row_blocks` blocks of
/// output channels. Depends only on the sizes (never on the thread count or
/// the batch size), so every output element comes from a GEMM of the same
/// shape whatever the threads and whether a clip runs alone or in a batch.
struct Conv3dTiling {
  index_t columns = 1, chunks = 1, row_blocks = 1, rows = 1;
};

inline Conv3dTiling conv3d_tiling(index_t positions, index_t depth, index_t out_per_group, index_t groups,
                                  index_t element_size) {
  Conv3dTiling t;
  const index_t by_budget =
      std::max<index_t>(16, kColumnBudgetBytes / std::max<index_t>(1, depth * element_size) / 16 * 16);
  // Prefer wide chunks (efficient GEMMs); split columns further only while the
  // chunks stay at least 256 wide, then split the output channels.
  const index_t by_split = std::max<index_t>(256, ((positions + kMinTasksPerImage - 1) / kMinTasksPerImage + 15) / 16 * 16);
  t.columns = std::max<index_t>(1, std::min({by_budget, by_split, positions}));
  t.chunks = (positions + t.columns - 1) / t.columns;
  // Even chunks (to 4 positions), not full ones and a short tail: the work items stay balanced.
  t.columns = std::min(positions, ((positions + t.chunks - 1) / t.chunks + 3) / 4 * 4);
  t.chunks = (positions + t.columns - 1) / t.columns;
  const index_t have = groups * t.chunks;
  if (have < kMinTasksPerImage) {
    const index_t want = (kMinTasksPerImage + have - 1) / have;
    t.row_blocks = std::max<index_t>(1, std::min(want, out_per_group / kMinRowBlock));
  }
  t.rows = (out_per_group + t.row_blocks - 1) / t.row_blocks;
  t.row_blocks = (out_per_group + t.rows - 1) / t.rows;
  return t;
}

/// Output positions per chunk (see conv3d_tiling).
inline index_t conv3d_chunk_columns(index_t positions, index_t depth, index_t element_size) {
  return conv3d_tiling(positions, depth, 1, 1, element_size).columns;
}

/// A per-thread scratch buffer that only grows: kernels take their column and
/// window buffers from it instead of allocating per call, so repeated
/// forwards neither churn the allocator nor fragment the heap. Each OS thread
/// has its own, so concurrent callers never share one. `slot` separates buffers
/// a kernel needs at the same time (the Workspace names). Every buffer starts
/// kTensorAlignment-aligned, so packed blocks (kPackedAlignment) may start at it.
enum Workspace : int {
  kColumns = 0,      // column chunks (per worker)
  kWindow = 1,       // (2+1)D windows and rings (the caller's)
  kTaps = 2,         // weights regrouped per tap (the caller's)
  kPackedA = 3,      // weights packed for the GEMM kernel (the caller's)
  kPackWork = 4,     // the GEMM's packed columns, or a depth block of packed weights (per worker)
  kPackedB = 5,      // a chunk's columns packed once for all its row blocks (the caller's)
  kWinogradU = 6,    // Winograd-transformed weights of a spatial conv (the caller's)
  kWinogradTemporalU = 7,  // Winograd-transformed weights of a temporal conv (the caller's)
  kWorkspaceSlots = 8
};

template <class T>
T* thread_workspace(index_t elements, int slot = kColumns) {
  struct Buffers {
    Tensor<T, 1> b[kWorkspaceSlots];
  };
  thread_local Buffers w;
  Tensor<T, 1>& buf = w.b[slot];
  if (buf.numel() < elements) {
    buf = Tensor<T, 1>();
    buf = Tensor<T, 1>::empty({elements});
  }
  return buf.data();
}

/// One weight matrix to pack for the GEMM kernel: A(m, k), row-major with
/// leading dimension lda (element (r, c) at a[r * lda + c * inc]), into
/// `storage` (packed_a_size(m, k, blocking) values, kPackedAlignment-aligned)
/// with `blocking`.
template <class T>
struct PackJob {
  index_t m = 0, k = 0;
  const T* a = nullptr;
  index_t lda = 0;
  GemmBlocking blocking;
  T* storage = nullptr;
  index_t inc = 1;
};

/// Packs every job, all threads together: each job's rows are cut into pieces
/// at the kernel's row panels (at least kMinSubRows rows) until there are about
/// as many pieces as threads, so that a few large matrices do not leave most
/// threads idle. Gives each job's PackedA, in order.
template <class T>
std::vector<PackedA<T>> pack_a_parallel(const std::vector<PackJob<T>>& jobs) {
  struct Piece {
    std::size_t job;
    index_t r0, rows;
  };
  constexpr index_t step = packed_a_row_step<T>();
  const index_t threads = get_num_threads(), n = static_cast<index_t>(jobs.size());
  std::vector<Piece> pieces;
  std::vector<PackedA<T>> packed;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const PackJob<T>& job = jobs[j];
    packed.push_back(PackedA<T>{job.m, job.k, job.blocking.kc, job.blocking.nc, job.storage});
    const index_t want = std::max<index_t>(1, std::min((threads + n - 1) / n, job.m / kMinSubRows));
    const index_t rows = ((job.m + want - 1) / want + step - 1) / step * step;
    for (index_t r0 = 0; r0 < job.m; r0 += rows) pieces.push_back({j, r0, std::min(rows, job.m - r0)});
  }
  parallel_for(0, static_cast<index_t>(pieces.size()), [&](index_t i) {
    const Piece& p = pieces[static_cast<std::size_t>(i)];
    const PackJob<T>& job = jobs[p.job];
    pack_a_rows(job.m, job.k, job.a, job.lda, job.inc, job.blocking, p.r0, p.rows, job.storage);
  });
  return packed;
}

/// What is applied to each output channel o as it is produced: the
/// microkernels' one epilogue type (kernels/rows_kernels_api.hpp). A bias is
/// shift = bias; an inference BatchNorm folds into scale and shift.
template <class T>
using ConvEpilogue = Epilogue<T>;

template <class T>
void apply_epilogue(const ConvEpilogue<T>& e, index_t channel, T* row, index_t count) {
  const T a = e.scale != nullptr ? e.scale[channel] : T(1);
  const T b = e.shift != nullptr ? e.shift[channel] : T(0);
  if (e.scale != nullptr) {
    if (e.relu) {
      for (index_t i = 0; i < count; ++i) {
        const T v = row[i] * a + b;
        row[i] = v < T(0) ? T(0) : v;  // NaN stays NaN
      }
    } else {
      for (index_t i = 0; i < count; ++i) row[i] = row[i] * a + b;
    }
  } else if (e.shift != nullptr || e.relu) {
    for (index_t i = 0; i < count; ++i) {
      const T v = row[i] + b;
      row[i] = (e.relu && v < T(0)) ? T(0) : v;
    }
  }
}

}  // namespace r2plus1d::ops::detail

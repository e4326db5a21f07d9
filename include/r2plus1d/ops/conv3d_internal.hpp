#pragma once
/// \file
/// The kernels behind ops::conv3d: vol2col over chunks of output positions
/// followed by a GEMM per (batch, group, chunk), a gather-only path for
/// 1x1x1 kernels, temporal (kt, 1, 1) kernels as GEMMs over shifted or
/// packed frames, spatial kernels over gathered input rows (gemm_rows), and
/// small frames against weights used as they lie (gemm_thin).
/// Sizes come in a Conv3dGeometry already validated by conv3d_output_shape.

#include <algorithm>
#include <cstring>
#include <vector>

#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/conv_kernels.hpp"
#include "r2plus1d/ops/gemm.hpp"
#include "r2plus1d/ops/gemm_rows.hpp"
#include "r2plus1d/ops/gemm_thin.hpp"

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

/// Fewest output positions per image for the packed kernels' direct temporal
/// path: its weights are regrouped per tap once per call, a copy that must
/// stay small next to the GEMMs.
inline constexpr index_t kTemporalDirectMinPositions = 1024;

/// Fewest output positions per frame for which conv3d_gemm runs a spatial,
/// strided pointwise or temporal kernel on gemm_rows (with ConvKernels::kRows):
/// on 7x7 frames (49 positions) a run holds few whole register tiles, and the
/// packed GEMMs measured faster.
inline constexpr index_t kRowsMinPositions = 128;

/// Upper bound of a column chunk's size in bytes (per thread).
inline constexpr index_t kColumnBudgetBytes = index_t(2) << 20;
/// Upper bound of the weights a convolution packs once for all its chunks, in
/// bytes (the packed copy stays in a per-thread workspace): every conv of
/// r2plus1d_18 up to layer3's 256->576 (5.3 MB).
inline constexpr index_t kPackedWeightsBudgetBytes = index_t(6) << 20;
/// Work items a convolution is split into at least (per image), when its size allows.
inline constexpr index_t kMinTasksPerImage = 8;
/// Fewest output channels a row block holds.
inline constexpr index_t kMinRowBlock = 32;
/// Fewest output channels a piece of a row block holds when more threads than
/// work items split it (conv3d_gemm).
inline constexpr index_t kMinSubRows = 16;
/// Fewest output positions a piece of a column chunk holds when more threads
/// than work items split it (conv3d_gemm, and the (2+1)D pairs' chunks).
inline constexpr index_t kMinPieceColumns = 96;

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
  kWorkspaceSlots = 6
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

/// Writes columns [p0, p0 + count) of one group's column matrix into `col`
/// (depth() rows, leading dimension `count`): col[(c, kd, kh, kw)][p] is the input
/// element tap (kd, kh, kw) of output position p reads, or 0 in the padding.
/// With a row range, only rows [row_begin, row_end), from col's first row.
template <class T>
void vol2col_chunk(const Conv3dGeometry& g, const T* x, index_t p0, index_t count, T* col, index_t row_begin = 0,
                   index_t row_end = -1) {
  const index_t hw_out = g.out_h * g.out_w;
  const index_t sd = g.stride.d, sh = g.stride.h, sw = g.stride.w;
  if (row_end < 0) row_end = g.depth();
  const index_t taps = g.kernel_volume();
  for (index_t c = row_begin / taps; c < g.in_per_group() && c * taps < row_end; ++c) {
    const T* src = x + c * g.in_cstride();
    for (index_t i = 0; i < g.k_d; ++i) {
      for (index_t j = 0; j < g.k_h; ++j) {
        for (index_t l = 0; l < g.k_w; ++l) {
          const index_t r = ((c * g.k_d + i) * g.k_h + j) * g.k_w + l;
          if (r < row_begin || r >= row_end) continue;
          T* dst = col + (r - row_begin) * count;
          index_t p = p0;
          index_t od = p / hw_out, oh = (p % hw_out) / g.out_w, ow = p % g.out_w;
          const index_t end = p0 + count;
          const index_t w_off = l * g.dilation.w - g.padding.w;
          while (p < end) {
            const index_t run = std::min(g.out_w - ow, end - p);
            const index_t id = od * sd - g.padding.d + i * g.dilation.d;
            const index_t ih = oh * sh - g.padding.h + j * g.dilation.h;
            if (id < 0 || id >= g.in_d || ih < 0 || ih >= g.in_h) {
              std::fill(dst, dst + run, T(0));
            } else {
              const T* row = src + (id * g.in_h + ih) * g.in_w;
              const index_t iw0 = ow * sw + w_off;
              // Steps t in [lo, hi) read inside the row; the rest is padding.
              const index_t lo = iw0 >= 0 ? 0 : std::min(run, (-iw0 + sw - 1) / sw);
              const index_t hi = iw0 >= g.in_w ? 0 : std::min(run, (g.in_w - 1 - iw0) / sw + 1);
              std::fill(dst, dst + lo, T(0));
              if (hi > lo) {
                if (sw == 1) {
                  std::memcpy(dst + lo, row + iw0 + lo, sizeof(T) * static_cast<std::size_t>(hi - lo));
                } else if (sw == 2) {  // a constant stride the compiler vectorises (the stems)
                  const T* src2 = row + iw0;
                  for (index_t t = lo; t < hi; ++t) dst[t] = src2[2 * t];
                } else {
                  for (index_t t = lo; t < hi; ++t) dst[t] = row[iw0 + t * sw];
                }
              }
              std::fill(dst + std::max(lo, hi), dst + run, T(0));
            }
            dst += run;
            p += run;
            ow = 0;
            if (++oh == g.out_h) {
              oh = 0;
              ++od;
            }
          }
        }
      }
    }
  }
}

/// dst[0, n) = src[0, n) for the short runs of ColumnPacker, inline: whole
/// 64-byte moves, the last one overlapping the one before it, and halves of
/// that below 64 bytes. The ranges must not overlap.
template <class T>
inline void copy_short(T* dst, const T* src, index_t n) {
  constexpr index_t line = 64 / static_cast<index_t>(sizeof(T));
  if (n >= line) {
    index_t t = 0;
    for (; t + line <= n; t += line) std::memcpy(dst + t, src + t, 64);
    if (t < n) std::memcpy(dst + n - line, src + n - line, 64);
  } else if (n >= line / 2) {
    std::memcpy(dst, src, 32);
    std::memcpy(dst + n - line / 2, src + n - line / 2, 32);
  } else if (n >= line / 4) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - line / 4, src + n - line / 4, 16);
  } else {
    for (index_t t = 0; t < n; ++t) dst[t] = src[t];
  }
}

/// Packs blocks of one group's column matrix (vol2col_chunk's, for output
/// positions [p0, p0 + count)) straight from the input into the layout the
/// GEMM kernel packs them into (for_each_packed_column_panel): the operator
/// gemm_packed_accumulate_with takes, with the same values and so the same bits
/// as vol2col_chunk then gemm_packed_accumulate, without the column buffer and
/// the second copy. The positions of a block are cut once into runs that stay
/// in one panel and one output row; every row of the block then copies each
/// run from one input row. With a stride of 2 along the width (and kw > 1), the input rows
/// a kernel row (c, i, j) reads are first split into their even and odd
/// elements, once for all its kw taps, so that every run is a contiguous copy
/// too. bind() points a packer at another input (a frame, a group) and first
/// position, keeping the runs while the positions stay.
template <class T>
class ColumnPacker {
 public:
  explicit ColumnPacker(const Conv3dGeometry& g) : g_(g) {}
  ColumnPacker(const Conv3dGeometry& g, const T* x, index_t p0) : g_(g) { bind(x, p0); }

  void bind(const T* x, index_t p0) {
    x_ = x;
    if (p0 != p0_) runs_i2_ = runs_nc_ = -1;
    p0_ = p0;
  }

  const T* operator()(T* dst, index_t i2, index_t k2, index_t nc, index_t kc) {
    if (i2 != runs_i2_ || nc != runs_nc_) cut_runs(i2, nc);
    split_key_ = -1;  // the input may have changed since the last block
    const bool split = g_.stride.w == 2 && g_.k_w > 1;
    index_t l = k2 % g_.k_w, j = (k2 / g_.k_w) % g_.k_h, i = (k2 / (g_.k_w * g_.k_h)) % g_.k_d;
    index_t c = k2 / g_.kernel_volume();
    for (index_t k = 0; k < kc;) {
      const T* src = x_ + c * g_.in_cstride();
      const index_t d_off = i * g_.dilation.d - g_.padding.d, h_off = j * g_.dilation.h - g_.padding.h;
      // Depth rows [k, k + taps) of the block: taps l, l + 1, ... of kernel row (c, i, j).
      const index_t taps = std::min(kc - k, g_.k_w - l);
      if (split) {
        pack_split(dst, kc, k, l, taps, src, (c * g_.k_d + i) * g_.k_h + j, d_off, h_off);
      } else {
        for (index_t s = 0; s < taps; ++s)
          pack_strided(dst, kc, k + s, src, d_off, h_off, (l + s) * g_.dilation.w - g_.padding.w);
      }
      k += taps;
      l += taps;
      if (l == g_.k_w) {
        l = 0;
        if (++j == g_.k_h) {
          j = 0;
          if (++i == g_.k_d) {
            i = 0;
            ++c;
          }
        }
      }
    }
    return dst;
  }

 private:
  struct Run {
    index_t panel, offset, width, len;  // its panel's first position and width, its offset there, its length
    index_t od, oh, ow;                 // output position of its first value
    index_t row;                        // its output row among rows_
  };

  /// Depth row k of a block of kc rows at dst, for a tap at offsets (d_off, h_off, w_off), read from `src` (one
  /// channel) with any width stride.
  void pack_strided(T* dst, index_t kc, index_t k, const T* src, index_t d_off, index_t h_off, index_t w_off) {
    const index_t sd = g_.stride.d, sh = g_.stride.h, sw = g_.stride.w;
    for (const Run& r : runs_) {
      T* out = dst + r.panel * kc + k * r.width + r.offset;
      const index_t id = r.od * sd + d_off, ih = r.oh * sh + h_off;
      if (id < 0 || id >= g_.in_d || ih < 0 || ih >= g_.in_h) {
        for (index_t t = 0; t < r.len; ++t) out[t] = T(0);
        continue;
      }
      const T* row = src + (id * g_.in_h + ih) * g_.in_w;
      const index_t iw0 = r.ow * sw + w_off;
      // Steps t in [lo, hi) read inside the row; the rest is padding.
      const index_t lo = iw0 >= 0 ? 0 : std::min(r.len, (-iw0 + sw - 1) / sw);
      const index_t hi = iw0 >= g_.in_w ? 0 : std::min(r.len, (g_.in_w - 1 - iw0) / sw + 1);
      for (index_t t = 0; t < lo; ++t) out[t] = T(0);
      if (sw == 1) {
        if (hi > lo) copy_short(out + lo, row + iw0 + lo, hi - lo);
      } else if (sw == 2) {  // a constant stride the compiler vectorises (strided 1x1 kernels)
        const T* src2 = row + iw0;
        for (index_t t = lo; t < hi; ++t) out[t] = src2[2 * t];
      } else {
        for (index_t t = lo; t < hi; ++t) out[t] = row[iw0 + t * sw];
      }
      for (index_t t = std::max(lo, hi); t < r.len; ++t) out[t] = T(0);
    }
  }

  /// Depth rows [k, k + taps) of a block of kc rows at dst: taps l0, l0 + 1, ... of kernel row `key` (c, i, j),
  /// width stride 2, from its input rows split into even and odd elements. Run by run, each run's taps in turn.
  void pack_split(T* dst, index_t kc, index_t k, index_t l0, index_t taps, const T* src, index_t key, index_t d_off,
                  index_t h_off) {
    split_rows(src, key, d_off, h_off);
    const index_t even = (g_.in_w + 1) / 2, odd = g_.in_w / 2;
    for (const Run& r : runs_) {
      T* out = dst + r.panel * kc + k * r.width + r.offset;
      if (!split_valid_[static_cast<std::size_t>(r.row)]) {
        for (index_t s = 0; s < taps; ++s, out += r.width)
          for (index_t t = 0; t < r.len; ++t) out[t] = T(0);
        continue;
      }
      const T* row = split_.data() + r.row * g_.in_w;
      for (index_t s = 0; s < taps; ++s, out += r.width) {
        // Step t reads element 2 * (ow + t) + w_off: phase w_off & 1, at ow + (w_off >> 1) + t there.
        const index_t w_off = (l0 + s) * g_.dilation.w - g_.padding.w;
        const index_t phase = w_off & 1, at = r.ow + (w_off >> 1), n = phase != 0 ? odd : even;
        const index_t lo = at >= 0 ? 0 : std::min(r.len, -at), hi = at >= n ? 0 : std::min(r.len, n - at);
        if (hi <= lo) {
          for (index_t t = 0; t < r.len; ++t) out[t] = T(0);
          continue;
        }
        for (index_t t = 0; t < lo; ++t) out[t] = T(0);
        copy_short(out + lo, row + (phase != 0 ? even : 0) + at + lo, hi - lo);
        for (index_t t = hi; t < r.len; ++t) out[t] = T(0);
      }
    }
  }

  void cut_runs(index_t i2, index_t nc) {
    runs_.clear();
    rows_.clear();
    runs_i2_ = i2;
    runs_nc_ = nc;
    const index_t hw_out = g_.out_h * g_.out_w;
    for_each_packed_column_panel<T>(nc, [&](index_t s, index_t w) {
      for (index_t a = 0; a < w;) {
        const index_t p = p0_ + i2 + s + a;
        const index_t od = p / hw_out, oh = (p % hw_out) / g_.out_w, ow = p % g_.out_w;
        const index_t len = std::min(w - a, g_.out_w - ow);
        // Panels run in position order, so a run's output row is the last one seen or a new one.
        if (rows_.empty() || rows_.back() != od * g_.out_h + oh) rows_.push_back(od * g_.out_h + oh);
        runs_.push_back({s, a, w, len, od, oh, ow, static_cast<index_t>(rows_.size()) - 1});
        a += len;
      }
    });
  }

  /// Splits the input rows that kernel row `key` (c, i, j) reads for each
  /// output row of the runs into their even then odd elements (split_), unless
  /// they already are.
  void split_rows(const T* src, index_t key, index_t d_off, index_t h_off) {
    if (key == split_key_) return;
    split_key_ = key;
    const index_t w = g_.in_w, even = (w + 1) / 2;
    split_.resize(rows_.size() * static_cast<std::size_t>(w));
    split_valid_.assign(rows_.size(), 0);
    for (std::size_t q = 0; q < rows_.size(); ++q) {
      const index_t od = rows_[q] / g_.out_h, oh = rows_[q] % g_.out_h;
      const index_t id = od * g_.stride.d + d_off, ih = oh * g_.stride.h + h_off;
      if (id < 0 || id >= g_.in_d || ih < 0 || ih >= g_.in_h) continue;
      split_valid_[q] = 1;
      const T* row = src + (id * g_.in_h + ih) * w;
      T* out = split_.data() + static_cast<index_t>(q) * w;
      for (index_t t = 0; t < even; ++t) out[t] = row[2 * t];
      for (index_t t = 0; t < w / 2; ++t) out[even + t] = row[2 * t + 1];
    }
  }

  const Conv3dGeometry& g_;
  const T* x_ = nullptr;
  index_t p0_ = -1;
  std::vector<Run> runs_;
  std::vector<index_t> rows_;  // the output rows (od * out_h + oh) of the runs, in order
  index_t runs_i2_ = -1, runs_nc_ = -1;
  std::vector<T> split_;            // per output row of rows_: its input row's even then odd elements
  std::vector<char> split_valid_;  // whether that input row lies inside the input (not padding)
  index_t split_key_ = -1;         // the kernel row (c, i, j) split_ holds
};

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

/// Upper bound of an image's input packed once by the frame-packed temporal
/// path, in bytes (a per-thread workspace).
inline constexpr index_t kPackedFramesBudgetBytes = index_t(16) << 20;
/// Bytes of packed weights, and of output, that the frame-packed temporal
/// path keeps in cache while it multiplies them.
inline constexpr index_t kStreamBlockBytes = index_t(512) << 10;

/// Whether conv3d_temporal_frames takes a convolution: a (kt, 1, 1) kernel,
/// kt > 1, with any temporal stride, padding and dilation, no spatial stride
/// or padding, one group, and an image's input within kPackedFramesBudgetBytes.
inline bool temporal_frames_ok(const Conv3dGeometry& g, index_t element_size) {
  return g.groups == 1 && g.temporal_whole_frames() &&
         g.in_channels * g.in_plane() * element_size <= kPackedFramesBudgetBytes;
}

/// How conv3d_temporal_frames cuts its work: depth blocks of kc input
/// channels, pieces of at most about nc positions per frame (cut at the
/// kernel's column panels), and blocks of weights and of output of about
/// stream_bytes each. Sizes only.
struct TemporalFramesBlocking {
  index_t kc = 1, nc = 1, stream_bytes = kStreamBlockBytes;
};

/// The blocking of Eigen's own product of the weights of one tap with one frame.
template <class T>
TemporalFramesBlocking temporal_frames_blocking(const Conv3dGeometry& g) {
  const GemmBlocking b = gemm_blocking<T>(g.out_channels, g.in_channels, g.out_h * g.out_w);
  return {b.kc, b.nc, kStreamBlockBytes};
}

/// A temporal (kt, 1, 1) convolution (temporal_frames_ok) as GEMMs over
/// input frames packed once. Output frame u is sum_i W_i X_f with
/// f = u * stride - padding + i * dilation: W_i (out, in) is tap i of the
/// weights and X_f (in, positions) input frame f. Each image's frames are
/// packed once into the kernel's column panels, cut into pieces of positions
/// (at the kernel's column panels, by sizes only) and depth blocks of
/// channels, and read in place by every tap and output frame that uses them;
/// taps that fall on padding are skipped. Work items are the pieces, and with
/// more threads than pieces their output channels are cut at the kernel's row
/// panels. An item takes each depth block of channels in turn and each tap
/// within it, packs that block of the tap's weights straight from their
/// (out, in, tap) order, and multiplies it with the block of every frame that
/// reads it while it is in cache. Every output sums its blocks in that order,
/// whatever the threads.
template <class T>
void conv3d_temporal_frames(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y,
                            const TemporalFramesBlocking& blocking) {
  const index_t HW = g.out_h * g.out_w, Cin = g.in_channels, Cout = g.out_channels, kt = g.k_d;
  const index_t D = g.in_d, Dt = g.out_d, ldx = g.in_cstride(), ldy = g.out_cstride();
  constexpr index_t step = gemm_column_step<T>(), row_step = packed_a_row_step<T>();
  const index_t kc = std::max<index_t>(1, blocking.kc), depth_blocks = (Cin + kc - 1) / kc;
  const index_t pieces = (HW + std::max<index_t>(1, blocking.nc) - 1) / std::max<index_t>(1, blocking.nc);
  const index_t stream_bytes = blocking.stream_bytes;
  const auto at = [](index_t q) { return static_cast<std::size_t>(q); };
  std::vector<index_t> start(at(pieces + 1)), offset(at(pieces + 1));
  for (index_t q = 0; q <= pieces; ++q) start[at(q)] = column_piece_start(q, pieces, HW, step);
  for (index_t q = 0; q < pieces; ++q) {
    const index_t len = start[at(q + 1)] - start[at(q)];
    offset[at(q + 1)] = offset[at(q)];
    for (index_t k2 = 0; k2 < Cin; k2 += kc) offset[at(q + 1)] += packed_block_stride<T>(len * std::min(kc, Cin - k2));
  }
  const index_t frame_size = offset.back();
  // Piece q of frame f, depth block j.
  auto block_of = [&](T* frames, index_t f, index_t q, index_t j) {
    return frames + f * frame_size + offset[at(q)] + j * packed_block_stride<T>((start[at(q + 1)] - start[at(q)]) * kc);
  };
  T* const packed_x = thread_workspace<T>(D * frame_size, kPackedB);

  const index_t threads = get_num_threads();
  index_t sub_rows = Cout;
  if (threads > pieces) {
    const index_t subs = std::max<index_t>(1, std::min((threads + pieces - 1) / pieces, Cout / kMinSubRows));
    sub_rows = ((Cout + subs - 1) / subs + row_step - 1) / row_step * row_step;
  }
  const index_t subs = (Cout + sub_rows - 1) / sub_rows;

  using Index = Eigen::Index;
  using Traits = Eigen::internal::gebp_traits<T, T>;
  using ResMapper = Eigen::internal::blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  Eigen::internal::gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  for (index_t n = 0; n < g.batch; ++n) {
    const T* xn = x + n * Cin * ldx;
    T* yn = y + n * Cout * ldy;
    parallel_for(0, D * pieces * depth_blocks, [&](index_t b) {
      const index_t j = b % depth_blocks, q = (b / depth_blocks) % pieces, f = b / (depth_blocks * pieces);
      const index_t s0 = start[at(q)], len = start[at(q + 1)] - s0;
      if (len > 0)
        pack_b_columns(xn + f * HW + s0, ldx, 0, j * kc, len, std::min(kc, Cin - j * kc), block_of(packed_x, f, q, j));
    });
    parallel_for(0, pieces * subs, [&](index_t item) {
      const index_t q = item / subs, s0 = start[at(q)], len = start[at(q + 1)] - s0;
      const index_t first = (item % subs) * sub_rows, last = std::min(Cout, first + sub_rows);
      if (len == 0 || first >= last) return;
      // Blocks of rows whose packed weights stay in cache, and groups of
      // output frames whose output block does.
      const index_t block_rows = std::max<index_t>(
          row_step, stream_bytes / (kc * static_cast<index_t>(sizeof(T))) / row_step * row_step);
      T* const work = thread_workspace<T>(kc * std::min(block_rows, last - first), kPackWork);
      for (index_t r0 = first; r0 < last; r0 += block_rows) {
        const index_t rows = std::min(block_rows, last - r0);
        const index_t group = std::max<index_t>(
            1, std::min(Dt, stream_bytes / (len * rows * static_cast<index_t>(sizeof(T)))));
        T* const yq = yn + r0 * ldy + s0;  // output channel r0, frame 0, the piece's first position
        for (index_t u0 = 0; u0 < Dt; u0 += group) {
          const index_t u1 = std::min(Dt, u0 + group);
          for (index_t o = 0; o < rows; ++o)
            for (index_t u = u0; u < u1; ++u) std::fill(yq + o * ldy + u * HW, yq + o * ldy + u * HW + len, T(0));
          for (index_t j = 0; j < depth_blocks; ++j) {
            const index_t c0 = j * kc, depth = std::min(kc, Cin - c0);
            for (index_t i = 0; i < kt; ++i) {
              // Tap i reads frame u * stride + shift for output frame u.
              const index_t shift = i * g.dilation.d - g.padding.d;
              const index_t lo = std::max(u0, shift >= 0 ? 0 : (-shift + g.stride.d - 1) / g.stride.d);
              const index_t hi = std::min(u1, D - shift > 0 ? (D - shift - 1) / g.stride.d + 1 : 0);
              if (hi <= lo) continue;
              pack_a_block_strided(w + (r0 * Cin + c0) * kt + i, Cin * kt, kt, rows, depth, work);
              for (index_t u = lo; u < hi; ++u)
                gebp(ResMapper(yq + u * HW, static_cast<Index>(ldy)), block_of(packed_x, u * g.stride.d + shift, q, j),
                     work, static_cast<Index>(len), static_cast<Index>(depth), static_cast<Index>(rows), T(1));
            }
          }
          for (index_t o = 0; o < rows; ++o)
            for (index_t u = u0; u < u1; ++u) apply_epilogue(epilogue, r0 + o, yq + o * ldy + u * HW, len);
        }
      }
    });
  }
}

/// pack_rows_a_block for every block of rows of A(m, k), all threads together.
template <class T, class At>
void pack_rows_a_parallel(index_t m, index_t k, At&& at, T* dst) {
  const index_t mr = rows_tile<T>();
  parallel_for(0, (m + mr - 1) / mr, [&](index_t b) { pack_rows_a_block(m, k, b * mr, at, dst); });
}

/// Bytes of gathered input rows (see conv3d_phase_rows) a work item aims at.
inline constexpr index_t kPhaseRowsBudgetBytes = index_t(256) << 10;

/// Whether conv3d_phase_rows can take a convolution: one group and a
/// spatial kernel (depth 1), any stride, padding and dilation.
inline bool phase_rows_ok(const Conv3dGeometry& g) { return g.groups == 1 && g.k_d == 1; }

/// Whether conv3d_gemm hands a convolution to conv3d_phase_rows: with the rows
/// kernels (conv_kernels), a spatial or
/// pointwise kernel that reads more than the input as it lies (a pointwise
/// kernel with no stride or padding is a plain GEMM over the input), on
/// frames of at least kRowsMinPositions outputs.
inline bool phase_rows_preferred(const Conv3dGeometry& g) {
  return conv_kernels() == ConvKernels::kRows && phase_rows_ok(g) && !g.identity_gather() &&
         g.out_h * g.out_w >= kRowsMinPositions;
}

/// How conv3d_phase_rows lays out the input rows one work item reads, for
/// output rows [oh0, oh0 + rows) of one frame. Tap (i, j) of output (oh, ow)
/// reads input row oh * sh - ph + i * dh = (oh + shift_i) * sh + phase_i - ph,
/// with phase_i = (i * dh) mod sh, and input column ow * sw - pw + j * dw. For
/// each (channel c, tap column j, phase) the item keeps one block of
/// `rows + extra` gathered rows of OW values: block row r holds, at ow, the
/// input at row (oh0 + r) * sh + phase - ph and column ow * sw - pw + j * dw,
/// or 0 in the padding. Tap (c, i, j) of the item's outputs, taken in order,
/// is then one contiguous run of that block from its row shift_i.
struct PhaseRows {
  index_t phases = 0, extra = 0;
  std::vector<index_t> phase_of_tap, shift_of_tap;  // per kernel row i: index of its phase, and shift_i
  std::vector<index_t> phase_row;                   // per phase index: the phase, (i * dh) mod sh

  explicit PhaseRows(const Conv3dGeometry& g)
      : phase_of_tap(static_cast<std::size_t>(g.k_h)), shift_of_tap(static_cast<std::size_t>(g.k_h)) {
    std::vector<index_t> index_of(static_cast<std::size_t>(g.stride.h), -1);
    for (index_t i = 0; i < g.k_h; ++i) {
      const index_t at = i * g.dilation.h;
      index_t& p = index_of[static_cast<std::size_t>(at % g.stride.h)];
      if (p < 0) {
        p = phases++;
        phase_row.push_back(at % g.stride.h);
      }
      phase_of_tap[static_cast<std::size_t>(i)] = p;
      shift_of_tap[static_cast<std::size_t>(i)] = at / g.stride.h;
    }
    extra = (g.k_h - 1) * g.dilation.h / g.stride.h;
  }
  /// Values an item of `rows` output rows gathers.
  index_t values(const Conv3dGeometry& g, index_t rows) const {
    return g.in_per_group() * g.k_w * phases * (rows + extra) * g.out_w;
  }
};

/// dst[o] = src[o * step + first] for o in [0, n), or 0 where that index
/// falls outside [0, len).
template <class T>
void gather_strided_row(const T* src, index_t len, index_t first, index_t step, index_t n, T* dst) {
  const index_t lo = first >= 0 ? 0 : std::min(n, (step - 1 - first) / step);
  const index_t hi = first >= len ? lo : std::max(lo, std::min(n, (len - 1 - first) / step + 1));
  std::fill(dst, dst + lo, T(0));
  if (step == 1) {
    std::copy(src + lo + first, src + hi + first, dst + lo);
  } else if (step == 2) {  // a constant stride, which the compiler vectorises
    const T* s = src + first;
    for (index_t o = lo; o < hi; ++o) dst[o] = s[2 * o];
  } else {
    const T* s = src + first;
    for (index_t o = lo; o < hi; ++o) dst[o] = s[o * step];
  }
  std::fill(dst + hi, dst + n, T(0));
}

/// Values gather_phase_rows writes for `count` positions of one frame: the
/// gathered rows of every output row they touch, and a packet read past them.
template <class T>
index_t phase_rows_values(const Conv3dGeometry& g, const PhaseRows& layout, index_t count) {
  return layout.values(g, (count + g.out_w - 2) / g.out_w + 1) + rows_packet_size<T>();
}

/// offsets[s] for each tap s = (c, i, j) of the kernel, for the gathered rows
/// of positions [p0, p0 + count) of a frame (see gather_phase_rows).
inline void phase_rows_offsets(const Conv3dGeometry& g, const PhaseRows& layout, index_t p0, index_t count,
                               index_t* offsets) {
  const index_t OW = g.out_w, R = (p0 + count - 1) / OW - p0 / OW + 1 + layout.extra;
  for (index_t c = 0; c < g.in_channels; ++c)
    for (index_t i = 0; i < g.k_h; ++i)
      for (index_t j = 0; j < g.k_w; ++j) {
        const auto ii = static_cast<std::size_t>(i);
        offsets[(c * g.k_h + i) * g.k_w + j] =
            (((c * g.k_w + j) * layout.phases + layout.phase_of_tap[ii]) * R + layout.shift_of_tap[ii]) * OW;
      }
}

/// Gathers into `rows` (PhaseRows layout) the input rows that output positions
/// [p0, p0 + count) of one frame read, from xf (that input frame, channels
/// g.in_cstride() apart), and sets their phase_rows_offsets unless offsets
/// is null. Gives b for gemm_rows: tap s of position p0 + q is
/// b[offsets[s] + q], and b stays readable a packet past each run.
template <class T>
const T* gather_phase_rows(const Conv3dGeometry& g, const PhaseRows& layout, const T* xf, index_t p0, index_t count,
                           T* rows, index_t* offsets) {
  const index_t OW = g.out_w, oh0 = p0 / OW;
  const index_t R = (p0 + count - 1) / OW - oh0 + 1 + layout.extra;
  T* dst = rows;
  for (index_t c = 0; c < g.in_channels; ++c)
    for (index_t j = 0; j < g.k_w; ++j)
      for (index_t p = 0; p < layout.phases; ++p)
        for (index_t r = 0; r < R; ++r, dst += OW) {
          const index_t ih = (oh0 + r) * g.stride.h + layout.phase_row[static_cast<std::size_t>(p)] - g.padding.h;
          if (ih < 0 || ih >= g.in_h)
            std::fill(dst, dst + OW, T(0));
          else
            gather_strided_row(xf + c * g.in_cstride() + ih * g.in_w, g.in_w, j * g.dilation.w - g.padding.w,
                               g.stride.w, OW, dst);
        }
  std::fill(dst, dst + rows_packet_size<T>(), T(0));  // read past the last run, never used
  if (offsets != nullptr) phase_rows_offsets(g, layout, p0, count, offsets);
  return rows + (p0 - oh0 * OW);
}

/// A spatial convolution (phase_rows_ok) with no packing of its columns: the
/// rows of every input frame are gathered once per work item (PhaseRows), and
/// gemm_rows multiplies the weights with them in place, the epilogue applied
/// to each register tile as it is stored. Work items are (image, output frame,
/// block of rows_per_item output rows; by default about kPhaseRowsBudgetBytes
/// of gathered rows, fewer while the threads outnumber the items). An output
/// frame whose input frame lies in the temporal padding is the epilogue of 0.
/// Every output is one sum over the kernel in order, so its bits depend neither
/// on the threads nor on rows_per_item.
template <class T>
void conv3d_phase_rows(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y,
                       index_t rows_per_item = 0, int by_channels = -1) {
  const index_t C = g.in_channels, M = g.out_channels, K = g.depth();
  const index_t OH = g.out_h, OW = g.out_w, HW = OH * OW;
  const index_t ldy = g.out_cstride();
  const PhaseRows layout(g);
  const index_t threads = get_num_threads();
  if (g.batch * g.out_d * HW * M == 0) return;
  T* const packed = thread_workspace<T>(rows_packed_a_size<T>(M, K), kPackedA);
  pack_rows_a_parallel(M, K, [&](index_t r, index_t c) { return w[r * K + c]; }, packed);
  const Epilogue<T>& all = epilogue;
  // Positions [p0, p0 + count) of output frame u of image n: the input rows
  // they read gathered into `rows` and offsets per tap (gather_phase_rows),
  // or null when the frame reads temporal padding.
  auto gather = [&](index_t n, index_t u, index_t p0, index_t count, T* rows, index_t* offsets) -> const T* {
    const index_t f = u * g.stride.d - g.padding.d;
    if (f < 0 || f >= g.in_d) return nullptr;
    return gather_phase_rows(g, layout, x + n * C * g.in_cstride() + f * g.in_h * g.in_w, p0, count, rows, offsets);
  };
  // Output rows [r0, r0 + rows) of positions [0, count) from y0: the epilogue of 0.
  auto padding_frame = [&](T* y0, index_t r0, index_t rows, index_t count) {
    for (index_t o = r0; o < r0 + rows; ++o) {
      std::fill(y0 + o * ldy, y0 + o * ldy + count, T(0));
      apply_epilogue(epilogue, o, y0 + o * ldy, count);
    }
  };
  const index_t stride = phase_rows_values<T>(g, layout, HW);
  if (by_channels < 0) by_channels = rows_packed_a_size<T>(M, K) > g.out_d * stride;
  if (by_channels != 0) {
    // Weights larger than an image's gathered rows: every frame of an image is
    // gathered once, by the team, and the work is cut by output channels, so
    // that each block of weights streams once per image and serves every frame.
    const index_t mr = rows_tile<T>();
    const index_t blocks = (M + mr - 1) / mr;
    T* const frames = thread_workspace<T>(g.out_d * stride, kPackedB);
    // Output frames [u_lo, u_hi) read input frames inside the clip.
    const index_t u_lo = std::min(g.out_d, (g.padding.d + g.stride.d - 1) / g.stride.d);
    const index_t u_hi = std::max(u_lo, std::min(g.out_d, (g.in_d - 1 + g.padding.d) / g.stride.d + 1));
    std::vector<index_t> offsets(static_cast<std::size_t>(K));
    phase_rows_offsets(g, layout, 0, HW, offsets.data());  // the same for every frame
    for (index_t n = 0; n < g.batch; ++n) {
      parallel_region(threads, [&](const Team& team) {
        for (index_t u = u_lo + team.rank(); u < u_hi; u += team.size())
          gather(n, u, 0, HW, frames + (u - u_lo) * stride, nullptr);
        team.barrier();
        const index_t first = team.rank() * blocks / team.size(), last = (team.rank() + 1) * blocks / team.size();
        const index_t r0 = first * mr, rows = std::min(M, last * mr) - r0;
        if (rows <= 0) return;
        const RowsEpilogue<T> e{epilogue.scale != nullptr ? epilogue.scale + r0 : nullptr,
                                epilogue.shift != nullptr ? epilogue.shift + r0 : nullptr, epilogue.relu};
        T* const yn = y + n * M * ldy;
        for (index_t u = 0; u < g.out_d; ++u)
          if (u < u_lo || u >= u_hi) padding_frame(yn + u * HW, r0, rows, HW);
        RowsOptions frames_in_clip;
        frames_in_clip.segments = u_hi - u_lo;
        frames_in_clip.b_step = stride;
        frames_in_clip.c_step = HW;
        gemm_rows(rows, HW, K, packed + r0 * K, frames, offsets.data(), yn + u_lo * HW + r0 * ldy, ldy, e,
                  frames_in_clip);
      });
    }
    return;
  }
  if (rows_per_item <= 0) {
    const index_t row_bytes = layout.values(g, 1) * static_cast<index_t>(sizeof(T));
    rows_per_item = std::max<index_t>(1, std::min(OH, kPhaseRowsBudgetBytes / std::max<index_t>(1, row_bytes)));
    const index_t frames = g.batch * g.out_d;
    while (rows_per_item > 1 && frames * ((OH + rows_per_item - 1) / rows_per_item) < 2 * threads)
      rows_per_item = (rows_per_item + 1) / 2;
  }
  const index_t per_frame = (OH + rows_per_item - 1) / rows_per_item;
  const index_t items = g.batch * g.out_d * per_frame;
  const index_t gathered = phase_rows_values<T>(g, layout, rows_per_item * OW);
  parallel_region(std::min(threads, items), [&](const Team& team) {
    T* const rows = thread_workspace<T>(gathered, kColumns);
    std::vector<index_t> offsets(static_cast<std::size_t>(K));
    for (index_t item = team.rank(); item < items; item += team.size()) {
      const index_t n = item / (g.out_d * per_frame), u = (item / per_frame) % g.out_d;
      const index_t oh0 = (item % per_frame) * rows_per_item, count_rows = std::min(rows_per_item, OH - oh0);
      T* const yi = y + n * M * ldy + u * HW + oh0 * OW;
      if (const T* b = gather(n, u, oh0 * OW, count_rows * OW, rows, offsets.data()))
        gemm_rows(M, count_rows * OW, K, packed, b, offsets.data(), yi, ldy, all);
      else
        padding_frame(yi, 0, M, count_rows * OW);
    }
  });
}

/// Fewest output positions a piece of a frame holds in conv3d_temporal_rows.
inline constexpr index_t kTemporalRowsMinPiece = 256;

/// A temporal (kt, 1, 1) convolution with no spatial stride or padding
/// (Conv3dGeometry::temporal_whole_frames) on gemm_rows, reading the input
/// where it lies: tap i of output frame u is input frame u * sd - pd + i * dilation,
/// whose rows of positions are B's rows as they stand. The weights are packed
/// once with their depth tap-major, (tap, channel), so that the taps landing
/// inside the clip are one run of it; taps on the temporal padding are left out
/// of the sum. Work items are (image, group, piece of positions, piece of
/// output channels) through every output frame, the frames that read all their
/// taps in one product; as many pieces as keep every thread busy: every output
/// is one in-order sum whatever the pieces.
template <class T>
void conv3d_temporal_rows(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  const index_t G = g.groups, cg = g.in_per_group(), og = g.out_per_group(), kt = g.k_d;
  const index_t K = cg * kt, HW = g.out_h * g.out_w, ldy = g.out_cstride();
  const index_t mr = rows_tile<T>();
  const index_t per_group = rows_packed_a_size<T>(og, K);
  T* const packed = thread_workspace<T>(G * per_group, kPackedA);
  for (index_t grp = 0; grp < G; ++grp)  // depth tap-major: step i * cg + c is channel c of tap i
    pack_rows_a_parallel(
        og, K, [&](index_t o, index_t s) { return w[((grp * og + o) * cg + s % cg) * kt + s / cg]; },
        packed + grp * per_group);
  // Output frames [u_in, u_out) read every tap inside the clip.
  const index_t sd = g.stride.d, pd = g.padding.d, dil = g.dilation.d;
  const index_t u_in = std::min(g.out_d, (pd + sd - 1) / sd);
  const index_t last_in = g.in_d - 1 + pd - (kt - 1) * dil;  // u * sd may reach this
  const index_t u_out = last_in < 0 ? u_in : std::max(u_in, std::min(g.out_d, last_in / sd + 1));
  // Items: (image, group, piece of positions, piece of output channels), each
  // through every output frame; as many pieces as keep the threads busy.
  const index_t threads = get_num_threads(), blocks = (og + mr - 1) / mr;
  const index_t pieces =
      std::max<index_t>(1, std::min((2 * threads + g.batch * G - 1) / (g.batch * G), HW / kTemporalRowsMinPiece));
  const index_t row_pieces = std::max<index_t>(
      1, std::min((2 * threads + g.batch * G * pieces - 1) / (g.batch * G * pieces), blocks));
  parallel_for(0, g.batch * G * pieces * row_pieces, [&](index_t item) {
    const index_t rp = item % row_pieces, q = (item / row_pieces) % pieces;
    const index_t grp = (item / (row_pieces * pieces)) % G, n = item / (row_pieces * pieces * G);
    const index_t r0 = rp * blocks / row_pieces * mr, rows = std::min(og, (rp + 1) * blocks / row_pieces * mr) - r0;
    const index_t p0 = q * HW / pieces, count = (q + 1) * HW / pieces - p0;
    if (rows <= 0 || count <= 0) return;
    const T* const xg = x + (n * g.in_channels + grp * cg) * g.in_cstride();
    T* const yg = y + (n * g.out_channels + grp * og + r0) * ldy + p0;
    const RowsEpilogue<T> e{epilogue.scale != nullptr ? epilogue.scale + grp * og + r0 : nullptr,
                            epilogue.shift != nullptr ? epilogue.shift + grp * og + r0 : nullptr, epilogue.relu};
    const T* const a = packed + grp * per_group + r0 * K;
    std::vector<index_t> offsets(static_cast<std::size_t>(K));
    // Taps [i_lo, i_hi) of output frame u (all of them from u_in to u_out),
    // their offsets for that frame.
    auto taps = [&](index_t u, index_t& i_lo, index_t& i_hi) {
      const index_t first = u * sd - pd;
      i_lo = first >= 0 ? 0 : (dil - 1 - first) / dil;
      i_hi = first >= g.in_d ? 0 : std::min(kt, (g.in_d - 1 - first) / dil + 1);
      for (index_t i = i_lo; i < i_hi; ++i)
        for (index_t c = 0; c < cg; ++c)
          offsets[static_cast<std::size_t>((i - i_lo) * cg + c)] = c * g.in_cstride() + (first + i * dil) * HW + p0;
    };
    RowsOptions unpadded;
    unpadded.b_padded = false;
    unpadded.a_depth = K;
    for (index_t u = 0; u < g.out_d; ++u) {
      if (u == u_in && u_out > u_in) {  // every frame with all its taps, in one product
        index_t i_lo = 0, i_hi = 0;
        taps(u, i_lo, i_hi);
        RowsOptions inside = unpadded;
        inside.segments = u_out - u_in;
        inside.b_step = sd * HW;
        inside.c_step = HW;
        gemm_rows(rows, count, K, a, xg, offsets.data(), yg + u * HW, ldy, e, inside);
        u = u_out - 1;
        continue;
      }
      index_t i_lo = 0, i_hi = 0;
      taps(u, i_lo, i_hi);
      if (i_hi <= i_lo) {  // only padding
        for (index_t o = 0; o < rows; ++o) {
          std::fill(yg + o * ldy + u * HW, yg + o * ldy + u * HW + count, T(0));
          apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy + u * HW, count);
        }
        continue;
      }
      gemm_rows(rows, count, (i_hi - i_lo) * cg, a + i_lo * cg * mr, xg, offsets.data(), yg + u * HW, ldy, e,
                unpadded);
    }
  });
}

/// y = epilogue(conv(x, w)) for contiguous NCDHW x and y, weight (out, in/groups,
/// kd, kh, kw). Work items are (image, group, column chunk, row block) in that
/// order (conv3d_tiling). With more threads than items and packed weights,
/// chunks are cut into pieces of positions (each gathering only its own
/// columns), then row blocks into pieces of rows. A piece multiplied by one
/// row piece only packs its columns straight from the input (ColumnPacker);
/// otherwise each thread gathers them once into its column buffer and packs
/// them from there for each row piece. When the weights are too large to keep
/// packed, the whole team packs each chunk's columns once, from the input, and
/// then splits its row blocks. Every output element comes from one GEMM of a
/// fixed shape and blocking, followed by the epilogue on the still-cached block.
/// With the rows kernels (conv_kernels), spatial and strided pointwise kernels
/// on frames of at least kRowsMinPositions outputs go through
/// conv3d_phase_rows, and temporal ones through conv3d_temporal_rows. Other
/// temporal kernels go either straight through the input, one GEMM per tap
/// (large frames, stride 1, packed kernels), or through conv3d_temporal_frames.
/// Bytes of columns conv3d_thin gathers at once (a chunk of an image's positions).
inline constexpr index_t kThinColumnBudgetBytes = index_t(8) << 20;

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

/// Whether conv3d_packed_gemm runs a temporal kernel as one GEMM per tap over
/// shifted frames, its weights regrouped as (tap, out, in / groups): with the
/// packed kernels, a stride-1 (kt, 1, 1) kernel on at least
/// kTemporalDirectMinPositions outputs.
inline bool temporal_taps_preferred(const Conv3dGeometry& g) {
  return conv_kernels() == ConvKernels::kPacked && !g.identity_gather() && g.temporal_direct() &&
         g.out_plane() >= kTemporalDirectMinPositions;
}

/// Any convolution on Eigen's packed GEMM kernel: per (image, group, chunk of
/// positions, block of output channels), the columns gathered (vol2col) or
/// packed from the input, or, for temporal_taps_preferred, one GEMM per tap.
template <class T>
void conv3d_packed_gemm(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  const index_t P = g.out_plane();
  const index_t ldy = g.out_cstride();
  const index_t K = g.depth();
  const index_t og = g.out_per_group();
  const Conv3dTiling t = conv3d_tiling(P, K, og, g.groups, static_cast<index_t>(sizeof(T)));
  const index_t per_image = g.groups * t.chunks * t.row_blocks;
  const index_t tasks = g.batch * per_image;
  if (tasks == 0) return;
  const bool direct = g.identity_gather();
  const bool temporal = temporal_taps_preferred(g);
  const index_t cin = g.in_per_group(), HW = g.out_h * g.out_w;
  T* taps = nullptr;
  if (temporal) {
    taps = thread_workspace<T>(g.k_d * g.out_channels * cin, kTaps);
    for (index_t o = 0; o < g.out_channels; ++o)
      for (index_t c = 0; c < cin; ++c)
        for (index_t i = 0; i < g.k_d; ++i) taps[(i * g.out_channels + o) * cin + c] = w[(o * cin + c) * g.k_d + i];
  }
  // The weights of every (tap, group, row block) packed once when more than one
  // column chunk reads them and they are small enough to keep a packed copy
  // (otherwise each task packs its own rows, in parallel).
  const index_t n_taps = temporal ? g.k_d : 1, a_depth = temporal ? cin : K;
  const bool prepack = g.batch * t.chunks > 1 &&
                       n_taps * g.out_channels * a_depth * static_cast<index_t>(sizeof(T)) <= kPackedWeightsBudgetBytes;
  std::vector<PackedA<T>> packs;
  if (prepack) {
    // Each block packed at an aligned place of its own (packed_a_size), as
    // Eigen's kernel loads packed values with aligned loads.
    std::vector<PackJob<T>> jobs;
    std::vector<index_t> offsets;
    index_t packed_size = 0;
    for (index_t b = 0; b < n_taps * g.groups * t.row_blocks; ++b) {
      const index_t rb = b % t.row_blocks, grp = (b / t.row_blocks) % g.groups, i = b / (t.row_blocks * g.groups);
      const index_t r0 = rb * t.rows, rows = std::min(t.rows, og - r0);
      const index_t first = i * g.out_channels + grp * og + r0;  // row of the (tap-major) weight matrix
      const T* src = temporal ? taps + first * cin : w + first * K;
      const GemmBlocking blocking = gemm_blocking<T>(rows, a_depth, t.columns);
      jobs.push_back({rows, a_depth, src, a_depth, blocking, nullptr});
      offsets.push_back(packed_size);
      packed_size += packed_a_size<T>(rows, a_depth, blocking);
    }
    T* const packed = thread_workspace<T>(packed_size, kPackedA);
    for (std::size_t j = 0; j < jobs.size(); ++j) jobs[j].storage = packed + offsets[j];
    packs = pack_a_parallel(jobs);
  }
  auto pack_of = [&](index_t i, index_t grp, index_t rb) -> const PackedA<T>& {
    return packs[static_cast<std::size_t>((i * g.groups + grp) * t.row_blocks + rb)];
  };
  index_t work_size = 0;
  for (const PackedA<T>& pa : packs) work_size = std::max(work_size, packed_gemm_work_size(pa));
  // Weights too large to keep packed, several row blocks per chunk: the
  // columns of each (image, group, chunk) are packed once, by all the workers
  // together, and every row block's weights stream through them one depth
  // block at a time, with one blocking for the whole conv.
  const bool pack_columns = !prepack && !temporal && t.row_blocks > 1;
  const GemmBlocking blocking = pack_columns ? gemm_blocking<T>(t.rows, K, t.columns) : GemmBlocking{};
  const index_t threads = get_num_threads();
  // More threads than tasks: first cut each chunk of a conv with kept packed
  // weights into pieces of positions at the kernel's column panels
  // (gemm_column_step), at least kMinPieceColumns each, so that every thread
  // gathers only the columns it multiplies (the direct temporal path's taps
  // start at frame boundaries, not at the chunk's panels: it keeps whole
  // chunks). Then split each row block of packed weights (kept, or packed as
  // they go against packed columns) at the kernel's row panels
  // (packed_a_row_step), at least kMinSubRows rows each. Neither cut changes
  // any output's bits.
  constexpr index_t step = packed_a_row_step<T>();
  constexpr index_t column_step = gemm_column_step<T>();
  index_t pieces = 1;
  if (prepack && !temporal && threads > tasks)
    pieces = std::max<index_t>(1, std::min((threads + tasks - 1) / tasks, t.columns / kMinPieceColumns));
  const index_t items = tasks * pieces;
  index_t subs = 1, sub_rows = t.rows;
  if ((prepack || pack_columns) && threads > items) {
    subs = std::min((threads + items - 1) / items, t.rows / kMinSubRows);
    if (subs > 1) {
      sub_rows = ((t.rows + subs - 1) / subs + step - 1) / step * step;
      subs = (t.rows + sub_rows - 1) / sub_rows;
    } else {
      subs = 1;
    }
  }
  const index_t all = items * subs;
  const index_t workers = std::min<index_t>(threads, all);

  if (pack_columns) {
    const index_t keys = g.batch * g.groups * t.chunks;  // (image, group, chunk)
    const index_t pieces = t.row_blocks * subs;           // row pieces of one key
    T* const shared = thread_workspace<T>(packed_b_size<T>(K, t.columns, blocking), kPackedB);
    parallel_region(workers, [&](const Team& team) {
      ColumnPacker<T> packer(g);
      T* rows_a = thread_workspace<T>(blocking.kc * t.rows, kPackWork);
      for (index_t key = 0; key < keys; ++key) {
        const index_t chunk = key % t.chunks, grp = (key / t.chunks) % g.groups, n = key / (t.chunks * g.groups);
        const index_t p0 = chunk * t.columns, count = std::min(t.columns, P - p0);
        const T* xg = x + (n * g.in_channels + grp * g.in_per_group()) * g.in_cstride();
        // The key's columns, one (depth block, column block) per thread in turn.
        const index_t col_blocks = (count + blocking.nc - 1) / blocking.nc;
        const index_t blocks = (K + blocking.kc - 1) / blocking.kc * col_blocks;
        for (index_t b = team.rank(); b < blocks; b += team.size()) {
          const index_t k2 = (b / col_blocks) * blocking.kc, i2 = (b % col_blocks) * blocking.nc;
          const index_t kc = std::min(blocking.kc, K - k2), nc = std::min(blocking.nc, count - i2);
          if (direct) {
            pack_b_block(K, count, blocking, k2, i2, xg + k2 * g.in_cstride() + p0 + i2, g.in_cstride(), shared);
          } else {
            packer.bind(xg, p0);
            packer(shared + packed_b_offset<T>(K, count, blocking, k2, i2), i2, k2, nc, kc);
          }
        }
        team.barrier();
        const PackedB<T> packed_b{count, K, blocking.kc, blocking.nc, shared};
        const index_t first = team.rank() * pieces / team.size(), last = (team.rank() + 1) * pieces / team.size();
        for (index_t piece = first; piece < last; ++piece) {
          const index_t r0 = (piece / subs) * t.rows, rows = std::min(t.rows, og - r0);
          const index_t s0 = (piece % subs) * sub_rows;
          if (s0 >= rows) continue;
          const index_t srows = std::min(sub_rows, rows - s0);
          T* yg = y + (n * g.out_channels + grp * og + r0 + s0) * ldy + p0;
          for (index_t o = 0; o < srows; ++o) std::fill(yg + o * ldy, yg + o * ldy + count, T(0));
          gemm_packed_b(srows, w + (grp * og + r0 + s0) * K, K, packed_b, yg, ldy, rows_a);
          for (index_t o = 0; o < srows; ++o) apply_epilogue(epilogue, grp * og + r0 + s0 + o, yg + o * ldy, count);
        }
        team.barrier();  // the next key's columns overwrite these
      }
    });
    return;
  }

  // With kept packed weights and one row piece per chunk, each piece's columns
  // are packed once: straight from the input. Otherwise they are gathered once
  // and packed from that copy for each row piece.
  const bool pack_from_input = prepack && !direct && !temporal && t.row_blocks * subs == 1;
  parallel_for(0, workers, [&](index_t worker) {
    T* col = (direct || temporal || pack_from_input) ? nullptr : thread_workspace<T>(K * t.columns, kColumns);
    ColumnPacker<T> packer(g);
    T* work = prepack ? thread_workspace<T>(work_size, kPackWork) : nullptr;
    index_t cached = -1;  // (image, group, chunk, piece) whose columns `col` holds
    const index_t first = worker * all / workers, last = (worker + 1) * all / workers;
    // Item i: row piece i % subs of row block (i / subs) % row_blocks of
    // piece (i / (subs * row_blocks)) % pieces of (image, group, chunk)
    // i / (subs * row_blocks * pieces): a worker's items share columns.
    for (index_t item = first; item < last; ++item) {
      const index_t rb = (item / subs) % t.row_blocks;
      const index_t cut = item / (subs * t.row_blocks);  // (image, group, chunk, piece)
      const index_t key = cut / pieces;                   // (image, group, chunk)
      const index_t chunk = key % t.chunks;
      const index_t grp = (key / t.chunks) % g.groups;
      const index_t n = key / (t.chunks * g.groups);
      const index_t chunk_count = std::min(t.columns, P - chunk * t.columns);
      const index_t a0 = column_piece_start(cut % pieces, pieces, chunk_count, column_step);
      const index_t p0 = chunk * t.columns + a0;
      const index_t count = column_piece_start(cut % pieces + 1, pieces, chunk_count, column_step) - a0;
      const index_t r0 = rb * t.rows, rows = std::min(t.rows, og - r0);
      // This piece: rows [s0, s0 + srows) of the row block.
      const index_t s0 = (item % subs) * sub_rows;
      if (s0 >= rows || count == 0) continue;
      const index_t srows = std::min(sub_rows, rows - s0);

      const T* xg = x + (n * g.in_channels + grp * g.in_per_group()) * g.in_cstride();
      T* yg = y + (n * g.out_channels + grp * og + r0) * ldy + p0;
      for (index_t o = s0; o < s0 + srows; ++o) std::fill(yg + o * ldy, yg + o * ldy + count, T(0));

      if (temporal) {
        // Tap i reads input frame u - pd + i * dilation for output frame u: the
        // input at offset (i * dilation - pd) frames, for the output frames that
        // land inside the clip.
        for (index_t i = 0; i < g.k_d; ++i) {
          const index_t shift = i * g.dilation.d - g.padding.d;
          const index_t u_lo = std::max<index_t>(0, -shift), u_hi = std::min(g.out_d, g.in_d - shift);
          const index_t c0 = std::max(p0, u_lo * HW), c1 = std::min(p0 + count, u_hi * HW);
          if (c1 <= c0) continue;
          if (prepack)
            gemm_packed_accumulate(pack_of(i, grp, rb), c1 - c0, xg + shift * HW + c0, g.in_cstride(),
                                   yg + (c0 - p0), ldy, work, s0, srows);
          else
            gemm_accumulate<Eigen::RowMajor, Eigen::RowMajor>(rows, c1 - c0, cin,
                                                              taps + (i * g.out_channels + grp * og + r0) * cin, cin,
                                                              xg + shift * HW + c0, g.in_cstride(), yg + (c0 - p0),
                                                              ldy);
        }
        for (index_t o = s0; o < s0 + srows; ++o) apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy, count);
        continue;
      }
      if (pack_from_input) {
        packer.bind(xg, p0);
        gemm_packed_accumulate_with(pack_of(0, grp, rb), count, packer, yg, ldy, work, s0, srows);
        for (index_t o = s0; o < s0 + srows; ++o) apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy, count);
        continue;
      }
      const T* B;
      index_t ldb;
      if (direct) {
        B = xg + p0;
        ldb = g.in_cstride();
      } else {
        if (cut != cached) {
          vol2col_chunk(g, xg, p0, count, col);
          cached = cut;
        }
        B = col;
        ldb = count;
      }
      if (prepack) {
        gemm_packed_accumulate(pack_of(0, grp, rb), count, B, ldb, yg, ldy, work, s0, srows);
      } else {
        gemm_accumulate<Eigen::RowMajor, Eigen::RowMajor>(rows, count, K, w + (grp * og + r0) * K, K, B, ldb, yg, ldy);
      }
      for (index_t o = s0; o < s0 + srows; ++o) apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy, count);
    }
  });
}

}  // namespace r2plus1d::ops::detail

#pragma once
/// \file
/// Spatial and strided pointwise convolutions on gemm_rows: the input rows
/// each work item reads gathered once per (channel, tap column, row phase of
/// the stride), then multiplied in place.
#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {


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
  if (by_channels < 0) by_channels = M * K > g.out_d * stride;
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
        gemm_rows(rows, HW, K, RowsA<T>::plain(w + r0 * K, K, K), frames, offsets.data(), yn + u_lo * HW + r0 * ldy, ldy, e,
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
        gemm_rows(M, count_rows * OW, K, RowsA<T>::plain(w, K, K), b, offsets.data(), yi, ldy, all);
      else
        padding_frame(yi, 0, M, count_rows * OW);
    }
  });
}

}  // namespace r2plus1d::ops::detail

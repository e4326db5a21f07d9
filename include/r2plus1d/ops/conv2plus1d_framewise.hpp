#pragma once
/// \file
/// The framewise path of ops::conv2plus1d_fused, for small frames: groups of
/// output frames through a sliding window of intermediate frames, each step
/// two convolutions of the algorithm table (conv3d_gemm). Internal: the public
/// functions are in conv2plus1d.hpp.

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "r2plus1d/ops/conv3d.hpp"
#include "r2plus1d/ops/conv3d_winograd.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {


/// Output frames per group of the framewise path: as many as keep the window
/// of intermediate frames (`frame` values each) within kWindowBudgetBytes, at
/// least one.
template <class T>
index_t framewise_group(index_t frame, index_t kt, index_t st, index_t out_frames) {
  const index_t frame_bytes = frame * static_cast<index_t>(sizeof(T));
  const index_t fit = std::max<index_t>(1, kWindowBudgetBytes / std::max<index_t>(1, frame_bytes));
  return std::max<index_t>(1, std::min<index_t>(out_frames, fit > kt ? (fit - kt) / st + 1 : 1));
}

/// Output frames a group of the framewise path holds a multiple of: 4 when
/// its temporal steps run Winograd's F(4, 3) along time
/// (winograd_temporal_preferred: a (3, 1, 1) kernel of stride 1 on frames of
/// `frame_positions`), so that every step's tiles are whole; else 1.
template <class T>
index_t framewise_tile(const Shape<5>& wt, const Conv3dParams& pt, index_t frame_positions) {
  const bool fast = std::is_same_v<T, float> && conv_algorithms() == ConvAlgorithms::kFast &&
                    conv_kernels() == ConvKernels::kRows && wt[2] == 3 && pt.stride.d == 1 &&
                    frame_positions >= kRowsMinPositions;
  return fast ? WinogradF4::m : 1;
}

/// framewise_group in whole tiles of `tile` output frames (framewise_tile), at least one.
template <class T>
index_t framewise_group(index_t frame, index_t kt, index_t st, index_t out_frames, index_t tile) {
  const index_t group = framewise_group<T>(frame, kt, st, out_frames);
  return tile > 1 ? std::min(out_frames, std::max(tile, group / tile * tile)) : group;
}

/// Slides a window of intermediate frames (Cm channels of `cap` frames of
/// `plane` values each) that holds frames [wa, wb) so that a step needing
/// frames [a, ...) keeps the ones it shares at the front. Sets wa to the
/// window's new first frame and returns the first frame still to compute.
template <class T>
index_t slide_window(T* window, index_t Cm, index_t cap, index_t plane, index_t a, index_t& wa, index_t wb) {
  const index_t keep_from = std::max(a, wa), keep = std::max<index_t>(0, wb - keep_from);
  if (keep > 0 && keep_from != wa)
    for (index_t c = 0; c < Cm; ++c)
      std::memmove(window + c * cap * plane, window + (c * cap + (keep_from - wa)) * plane,
                   sizeof(T) * static_cast<std::size_t>(keep * plane));
  wa = keep > 0 ? keep_from : a;
  return keep > 0 ? wb : a;
}

/// The framewise path, for small frames: groups of output frames, each step a
/// spatial conv of the new intermediate frames into a sliding window and a
/// temporal conv over it, each parallel inside (conv3d_gemm).
template <class T>
void conv2plus1d_framewise(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                           const ConvEpilogue<T>& s_epi, TensorView<const T, 5> wt, const Conv3dParams& pt,
                           const ConvEpilogue<T>& t_epi, const Shape<5>& mid, TensorView<T, 5> y) {
  const Shape<5> out = y.shape();
  const index_t D = x.size(2), Cin = x.size(1), Cm = mid[1], Cout = out[1];
  const index_t HW = mid[3] * mid[4];
  const index_t kt = wt.size(2), st = pt.stride.d, pd = pt.padding.d, Dt = out[2];
  const index_t group = framewise_group<T>(Cm * HW, kt, st, Dt, framewise_tile<T>(wt.shape(), pt, HW));
  const index_t cap = std::min<index_t>(D, (group - 1) * st + kt);
  // The window lives in the calling thread's workspace (slot 1; the conv kernels'
  // column buffers use slot 0 of their worker threads).
  T* const window = thread_workspace<T>(Cm * cap * HW, kWindow);
  // A spatial conv on Winograd's F(4x4, 3x3) has its weights transformed once for every step.
  const bool winograd = winograd_preferred<T>(conv3d_geometry(x.shape(), ws.shape(), mid, ps));
  T* const u = winograd ? thread_workspace<T>(winograd_weights_size<WinogradF4>(Cm, Cin), kWinogradU) : nullptr;
  if (winograd) winograd_transform_weights<WinogradF4>(ws.data(), Cm, Cin, u);

  for (index_t n = 0; n < x.size(0); ++n) {
    const T* xn = x.data() + n * Cin * D * x.size(3) * x.size(4);
    T* yn = y.data() + n * Cout * Dt * HW;
    index_t wa = 0, wb = 0;  // the window holds intermediate frames [wa, wb)
    for (index_t u0 = 0; u0 < Dt; u0 += group) {
      const index_t u1 = std::min(Dt, u0 + group);
      const index_t a = std::max<index_t>(0, u0 * st - pd);
      const index_t b = std::min<index_t>(D, (u1 - 1) * st - pd + kt);
      if (b <= a) {  // every tap reads padding: only the epilogue of zero
        for (index_t o = 0; o < Cout; ++o) {
          T* row = yn + o * Dt * HW + u0 * HW;
          std::fill(row, row + (u1 - u0) * HW, T(0));
          apply_epilogue(t_epi, o, row, (u1 - u0) * HW);
        }
        continue;
      }
      const index_t first_new = slide_window(window, Cm, cap, HW, a, wa, wb);
      if (b > first_new) {  // spatial conv of input frames [first_new, b) into the window
        Conv3dGeometry g = conv3d_geometry({1, Cin, b - first_new, x.size(3), x.size(4)},
                                                           ws.shape(), {1, Cm, b - first_new, mid[3], mid[4]}, ps);
        g.in_channel_stride = D * x.size(3) * x.size(4);
        g.out_channel_stride = cap * HW;
        if (winograd)
          conv3d_winograd_transformed<WinogradF4>(g, xn + first_new * x.size(3) * x.size(4), u, s_epi,
                                                  window + (first_new - wa) * HW);
        else
          conv3d_gemm(g, xn + first_new * x.size(3) * x.size(4), ws.data(), s_epi, window + (first_new - wa) * HW);
      }
      wb = b;
      // temporal conv of output frames [u0, u1) over the window: frame u reads
      // window frame u * st - pd + i - wa, i.e. padding pd + wa - u0 * st
      Conv3dGeometry g =
          conv3d_geometry({1, Cm, wb - wa, mid[3], mid[4]}, wt.shape(), {1, Cout, u1 - u0, mid[3], mid[4]},
                                  Conv3dParams{Triple{st, 1, 1}, Triple{pd + wa - u0 * st, 0, 0}, Triple(1), 1});
      g.in_channel_stride = cap * HW;
      g.out_channel_stride = Dt * HW;
      conv3d_gemm(g, window, wt.data(), t_epi, yn + u0 * HW);
    }
  }
}

}  // namespace r2plus1d::ops::detail

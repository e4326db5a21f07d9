#pragma once
/// \file
/// A (2+1)D convolution pair streamed over time: a spatial (1, kh, kw) conv
/// with its epilogue, then a temporal (kt, 1, 1) conv with its epilogue, without
/// materialising the full intermediate tensor. Output frames are produced in
/// groups; the intermediate frames they read are kept in a small sliding window
/// and each is computed once. Same results as the two convs one after the other
/// (up to the GEMMs' rounding), with the intermediate's memory cut to a few frames.

#include <algorithm>
#include <cstring>
#include <string>

#include "r2plus1d/ops/conv3d.hpp"

namespace r2plus1d::ops {

/// Whether the pair (ws, ps) then (wt, pt) has the (2+1)D form that
/// conv2plus1d_fused streams: a spatial conv with kernel depth 1, no temporal
/// stride or padding, and a temporal conv with 1x1 spatial kernel, spatial stride
/// 1 and no spatial padding; no groups or dilation in either.
inline bool conv2plus1d_streamable(const Shape<5>& ws, const Conv3dParams& ps, const Shape<5>& wt,
                                   const Conv3dParams& pt) {
  return ws[2] == 1 && ps.stride.d == 1 && ps.padding.d == 0 && ps.groups == 1 && ps.dilation == Triple(1) &&
         wt[3] == 1 && wt[4] == 1 && pt.stride.h == 1 && pt.stride.w == 1 && pt.padding.h == 0 &&
         pt.padding.w == 0 && pt.groups == 1 && pt.dilation == Triple(1) && wt[1] == ws[0];
}

namespace detail {
/// Intermediate bytes the sliding window aims at (per image).
inline constexpr index_t kWindowBudgetBytes = index_t(4) << 20;
}  // namespace detail

/// The output shape of the pair, validating both convs.
inline Shape<5> conv2plus1d_output_shape(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps,
                                         const Shape<5>& wt, const Conv3dParams& pt) {
  if (!conv2plus1d_streamable(ws, ps, wt, pt))
    throw OptionError("conv2plus1d_fused: weights " + format_shape<5>(ws) + " and " + format_shape<5>(wt) +
                      " are not a (1, kh, kw) then (kt, 1, 1) pair");
  return conv3d_output_shape(conv3d_output_shape(x, ws, ps), wt, pt);
}

/// Whether conv2plus1d_fused_into may write its output over its input: same
/// shape, temporal stride 1 and padding below the kernel size, so every output
/// frame lands on an input frame that has already been read for the last time.
inline bool conv2plus1d_in_place_ok(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps,
                                    const Shape<5>& wt, const Conv3dParams& pt) {
  return conv2plus1d_streamable(ws, ps, wt, pt) && pt.stride.d == 1 && pt.padding.d < wt[2] &&
         conv2plus1d_output_shape(x, ws, ps, wt, pt) == x;
}

/// conv2plus1d_fused into `y`, which must have the output shape. `y` may be
/// the very storage of `x` when conv2plus1d_in_place_ok (then x is consumed);
/// otherwise the two must not overlap.
template <class T>
void conv2plus1d_fused_into(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                            const T* s_scale, const T* s_shift, bool s_relu, TensorView<const T, 5> wt,
                            const Conv3dParams& pt, const T* t_scale, const T* t_shift, bool t_relu,
                            TensorView<T, 5> y) {
  const Shape<5> out = conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt);
  const Shape<5> mid = conv3d_output_shape(x.shape(), ws.shape(), ps);
  if (y.shape() != out)
    throw ShapeError("conv2plus1d_fused: output has shape " + format_shape<5>(y.shape()) + ", expected " +
                     format_shape<5>(out));
  if (static_cast<const void*>(y.data()) == static_cast<const void*>(x.data()) &&
      !conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt))
    throw OptionError("conv2plus1d_fused: this pair cannot write its output over its input");

  const index_t D = x.size(2), Cin = x.size(1), Cm = mid[1], Cout = out[1];
  const index_t HW = mid[3] * mid[4];
  const index_t kt = wt.size(2), st = pt.stride.d, pd = pt.padding.d, Dt = out[2];
  // Output frames per group: as many as keep the window within budget, at least one.
  const index_t frame_bytes = Cm * HW * static_cast<index_t>(sizeof(T));
  const index_t fit = std::max<index_t>(1, detail::kWindowBudgetBytes / std::max<index_t>(1, frame_bytes));
  const index_t group = std::max<index_t>(1, std::min<index_t>(Dt, fit > kt ? (fit - kt) / st + 1 : 1));
  const index_t cap = std::min<index_t>(D, (group - 1) * st + kt);
  // The window lives in the calling thread's workspace (slot 1; the conv kernels'
  // column buffers use slot 0 of their worker threads).
  T* const window = detail::thread_workspace<T>(Cm * cap * HW, 1);

  const detail::ConvEpilogue<T> s_epi{s_scale, s_shift, s_relu};
  const detail::ConvEpilogue<T> t_epi{t_scale, t_shift, t_relu};
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
          detail::apply_epilogue(t_epi, o, row, (u1 - u0) * HW);
        }
        continue;
      }
      // Slide: keep frames [max(a, wa), wb) at the front, compute the rest.
      const index_t keep_from = std::max(a, wa), keep = std::max<index_t>(0, wb - keep_from);
      if (keep > 0 && keep_from != wa)
        for (index_t c = 0; c < Cm; ++c)
          std::memmove(window + c * cap * HW, window + (c * cap + (keep_from - wa)) * HW,
                       sizeof(T) * static_cast<std::size_t>(keep * HW));
      const index_t first_new = keep > 0 ? wb : a;
      wa = keep > 0 ? keep_from : a;
      if (b > first_new) {  // spatial conv of input frames [first_new, b) into the window
        detail::Conv3dGeometry g = detail::conv3d_geometry({1, Cin, b - first_new, x.size(3), x.size(4)},
                                                           ws.shape(), {1, Cm, b - first_new, mid[3], mid[4]}, ps);
        g.in_channel_stride = D * x.size(3) * x.size(4);
        g.out_channel_stride = cap * HW;
        detail::conv3d_gemm(g, xn + first_new * x.size(3) * x.size(4), ws.data(), s_epi,
                            window + (first_new - wa) * HW);
      }
      wb = b;
      // temporal conv of output frames [u0, u1) over the window: frame u reads
      // window frame u * st - pd + i - wa, i.e. padding pd + wa - u0 * st
      detail::Conv3dGeometry g =
          detail::conv3d_geometry({1, Cm, wb - wa, mid[3], mid[4]}, wt.shape(), {1, Cout, u1 - u0, mid[3], mid[4]},
                                  Conv3dParams{Triple{st, 1, 1}, Triple{pd + wa - u0 * st, 0, 0}, Triple(1), 1});
      g.in_channel_stride = cap * HW;
      g.out_channel_stride = Dt * HW;
      detail::conv3d_gemm(g, window, wt.data(), t_epi, yn + u0 * HW);
    }
  }
}

/// epilogue_t(conv_t(epilogue_s(conv_s(x)))) for a streamable pair (see
/// conv2plus1d_streamable), each epilogue y = y * scale[c] + shift[c] (null: 1
/// and 0) then ReLU if asked, as in conv3d_fused. x (N, C, D, H, W); weights
/// ws (Cm, C, 1, kh, kw) and wt (Cout, Cm, kt, 1, 1). The group size depends on
/// the sizes only, so results do not depend on threads or batch size.
template <class T>
Tensor<T, 5> conv2plus1d_fused(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                               const T* s_scale, const T* s_shift, bool s_relu, TensorView<const T, 5> wt,
                               const Conv3dParams& pt, const T* t_scale, const T* t_shift, bool t_relu) {
  Tensor<T, 5> y = Tensor<T, 5>::empty(conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt));
  conv2plus1d_fused_into<T>(x, ws, ps, s_scale, s_shift, s_relu, wt, pt, t_scale, t_shift, t_relu, y.view());
  return y;
}

}  // namespace r2plus1d::ops

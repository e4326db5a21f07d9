#pragma once
/// \file
/// A (2+1)D convolution pair streamed over time: a spatial (1, kh, kw) conv
/// with its epilogue, then a temporal (kt, 1, 1) conv with its epilogue, without
/// materialising the full intermediate tensor. Large frames are cut into chunks
/// of positions, each run through the clip with a ring of kt intermediate frames
/// (the temporal conv is then one GEMM over the ring, with no column copy);
/// small frames, and frames whose spatial conv runs Winograd (on whole
/// frames), go in groups of output frames through a sliding window. Each
/// intermediate frame is computed once. Same results as the two convs one after
/// the other (up to the GEMMs' rounding), with the intermediate's memory cut to
/// a few frames.

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "r2plus1d/ops/conv2plus1d_banded.hpp"
#include "r2plus1d/ops/conv2plus1d_chunked.hpp"
#include "r2plus1d/ops/conv2plus1d_framewise.hpp"
#include "r2plus1d/ops/conv3d.hpp"

namespace r2plus1d::ops {

namespace detail {
/// Whether the spatial conv of the pair runs Winograd (winograd_preferred):
/// then the pair goes framewise, each step's spatial conv on whole frames.
template <class T>
bool conv2plus1d_fast_spatial(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps) {
  return winograd_preferred<T>(conv3d_geometry(x, ws, conv3d_output_shape(x, ws, ps), ps));
}
}  // namespace detail

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

/// The name of the path conv2plus1d_fused takes for these shapes, for
/// elements of T: "chunked_rows" or "chunked_packed" (large frames, in chunks
/// of positions through the clip, unless the spatial conv runs Winograd),
/// "banded(winograd_f4, winograd_temporal_f4)", "banded(winograd_f2, ...)"
/// or "banded(..., winograd_temporal_f8)" (both convs on Winograd, a band of
/// tile rows per thread), or
/// "framewise(S, T)" with the conv3d
/// algorithms of the spatial and the temporal step of its first group of
/// frames.
template <class T = float>
std::string conv2plus1d_algorithm(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps, const Shape<5>& wt,
                                  const Conv3dParams& pt, bool cached = false) {
  const Shape<5> out = conv2plus1d_output_shape(x, ws, ps, wt, pt);
  const Shape<5> mid = conv3d_output_shape(x, ws, ps);
  const detail::Conv2plus1dTiling tiling =
      detail::conv2plus1d_tiling(mid[3] * mid[4], x[1] * ws[3] * ws[4], static_cast<index_t>(sizeof(T)));
  if (tiling.chunks >= detail::kMinChunksPerFrame && !detail::conv2plus1d_fast_spatial<T>(x, ws, ps))
    return conv_kernels() == ConvKernels::kRows ? "chunked_rows" : "chunked_packed";
  if (const index_t m = detail::conv2plus1d_banded_tile<T>(x, ws, ps, wt, pt, cached); m > 0)
    return std::string("banded(") + (m == 4 ? WinogradF4::name : WinogradF2::name) + ", winograd_temporal_" +
           (detail::conv2plus1d_banded_temporal_tile<T>(mid[1], mid[3] * mid[4], out[2]) == WinogradF8::m ? "f8)"
                                                                                                            : "f4)");
  const index_t kt = wt[2], st = pt.stride.d, pd = pt.padding.d, D = x[2];
  const index_t group = detail::framewise_group<T>(mid[1] * mid[3] * mid[4], kt, st, out[2],
                                                   detail::framewise_tile<T>(wt, pt, mid[3] * mid[4]));
  const index_t cap = std::min<index_t>(D, (group - 1) * st + kt);
  const index_t a = std::max<index_t>(0, -pd), b = std::max(a + 1, std::min<index_t>(D, (group - 1) * st - pd + kt));
  detail::Conv3dGeometry gs =
      detail::conv3d_geometry({1, x[1], b - a, x[3], x[4]}, ws, {1, mid[1], b - a, mid[3], mid[4]}, ps);
  detail::Conv3dGeometry gt = detail::conv3d_geometry(
      {1, mid[1], b - a, mid[3], mid[4]}, wt, {1, out[1], std::min(group, out[2]), mid[3], mid[4]},
      Conv3dParams{Triple{st, 1, 1}, Triple{pd + a, 0, 0}, Triple(1), 1});
  gs.out_channel_stride = gt.in_channel_stride = cap * mid[3] * mid[4];
  return std::string("framewise(") + detail::conv3d_select<T>(gs).name + ", " + detail::conv3d_select<T>(gt).name +
         ")";
}

/// conv2plus1d_fused into `y`, which must have the output shape. `y` may be
/// the very storage of `x` when conv2plus1d_in_place_ok (then x is consumed);
/// otherwise the two must not overlap. With caches, the banded path keeps
/// each conv's transformed weights in its own (s_cache: the spatial conv's,
/// t_cache: the temporal's) for the next call with the same weights; with
/// s_cache it runs F(4x4, 3x3) from 14x14 frames on (see
/// WinogradWeightCache, and conv2plus1d_algorithm's `cached`).
template <class T>
void conv2plus1d_fused_into(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                            const T* s_scale, const T* s_shift, bool s_relu, TensorView<const T, 5> wt,
                            const Conv3dParams& pt, const T* t_scale, const T* t_shift, bool t_relu,
                            TensorView<T, 5> y, WinogradWeightCache<T>* s_cache = nullptr,
                            WinogradWeightCache<T>* t_cache = nullptr) {
  const Shape<5> out = conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt);
  const Shape<5> mid = conv3d_output_shape(x.shape(), ws.shape(), ps);
  if (y.shape() != out)
    throw ShapeError("conv2plus1d_fused: output has shape " + format_shape<5>(y.shape()) + ", expected " +
                     format_shape<5>(out));
  if (static_cast<const void*>(y.data()) == static_cast<const void*>(x.data()) &&
      !conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt))
    throw OptionError("conv2plus1d_fused: this pair cannot write its output over its input");

  const detail::ConvEpilogue<T> s_epi{s_scale, s_shift, s_relu};
  const detail::ConvEpilogue<T> t_epi{t_scale, t_shift, t_relu};
  const index_t depth = x.size(1) * ws.size(3) * ws.size(4);
  const detail::Conv2plus1dTiling tiling =
      detail::conv2plus1d_tiling(mid[3] * mid[4], depth, static_cast<index_t>(sizeof(T)));
  if (tiling.chunks >= detail::kMinChunksPerFrame && !detail::conv2plus1d_fast_spatial<T>(x.shape(), ws.shape(), ps))
    detail::conv2plus1d_chunked<T>(x, ws, ps, s_epi, wt, pt, t_epi, mid, tiling, y);
  else if (const index_t m =
               detail::conv2plus1d_banded_tile<T>(x.shape(), ws.shape(), ps, wt.shape(), pt, s_cache != nullptr);
           m > 0) {
    const bool t8 = detail::conv2plus1d_banded_temporal_tile<T>(mid[1], mid[3] * mid[4], out[2]) == WinogradF8::m;
    if (m == 4 && t8)
      detail::conv2plus1d_banded<T, WinogradF4, WinogradF8>(x, ws, ps, s_epi, wt, pt, t_epi, mid, y, s_cache, t_cache);
    else if (m == 4)
      detail::conv2plus1d_banded<T, WinogradF4>(x, ws, ps, s_epi, wt, pt, t_epi, mid, y, s_cache, t_cache);
    else if (t8)
      detail::conv2plus1d_banded<T, WinogradF2, WinogradF8>(x, ws, ps, s_epi, wt, pt, t_epi, mid, y, s_cache, t_cache);
    else
      detail::conv2plus1d_banded<T, WinogradF2>(x, ws, ps, s_epi, wt, pt, t_epi, mid, y, s_cache, t_cache);
  }
  else
    detail::conv2plus1d_framewise<T>(x, ws, ps, s_epi, wt, pt, t_epi, mid, y);
}

/// epilogue_t(conv_t(epilogue_s(conv_s(x)))) for a streamable pair (see
/// conv2plus1d_streamable), each epilogue y = y * scale[c] + shift[c] (null: 1
/// and 0) then ReLU if asked, as in conv3d_fused. x (N, C, D, H, W); weights
/// ws (Cm, C, 1, kh, kw) and wt (Cout, Cm, kt, 1, 1). The group size depends on
/// the sizes only, so results do not depend on threads or batch size.
template <class T>
Tensor<T, 5> conv2plus1d_fused(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                               const T* s_scale, const T* s_shift, bool s_relu, TensorView<const T, 5> wt,
                               const Conv3dParams& pt, const T* t_scale, const T* t_shift, bool t_relu,
                               WinogradWeightCache<T>* s_cache = nullptr, WinogradWeightCache<T>* t_cache = nullptr) {
  Tensor<T, 5> y = Tensor<T, 5>::empty(conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt));
  conv2plus1d_fused_into<T>(x, ws, ps, s_scale, s_shift, s_relu, wt, pt, t_scale, t_shift, t_relu, y.view(), s_cache, t_cache);
  return y;
}

}  // namespace r2plus1d::ops

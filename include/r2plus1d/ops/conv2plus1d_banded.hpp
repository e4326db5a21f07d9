#pragma once
/// \file
/// The banded path of ops::conv2plus1d_fused, for pairs that run Winograd on
/// both convs (F(4x4, 3x3) or F(2x2, 3x3) spatial, F(4, 3) or F(8, 3)
/// temporal): each frame is cut into
/// as many bands of whole tile rows as there are threads, and each thread
/// takes its band from the first frame to the last through a window (a ring)
/// of the band's intermediate frames, as the framewise path does whole
/// frames. A thread then reads back only what it wrote itself, with no
/// barrier between the spatial and the temporal conv's work items; the
/// framewise path's whole-frame window (10.8 MB on layer1 of r2plus1d_18)
/// went through memory shared by the threads. Every output comes from the
/// same tiles and sums as on the framewise path, so the bits are the same
/// for any number of bands, that is of threads. Internal: the public
/// functions are in conv2plus1d.hpp.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "r2plus1d/ops/conv2plus1d_framewise.hpp"
#include "r2plus1d/ops/winograd_weight_cache.hpp"
#include "r2plus1d/ops/conv3d_winograd.hpp"
#include "r2plus1d/ops/conv3d_winograd_temporal.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {

/// The output tile of the banded path's spatial transform for this pair (4:
/// F(4x4, 3x3), 2: F(2x2, 3x3)), or 0 where the pair does not take it: its
/// spatial conv runs Winograd (winograd_preferred, winograd_f2_preferred) and
/// its temporal steps F(4, 3) along time (framewise_tile is 4). With the
/// spatial weights' transform kept between calls (`cached`, WinogradWeightCache),
/// F(4x4, 3x3) from kWinogradCachedMinPositions on.
template <class T>
index_t conv2plus1d_banded_tile(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps, const Shape<5>& wt,
                                const Conv3dParams& pt, bool cached = false) {
  const Shape<5> mid = conv3d_output_shape(x, ws, ps);
  if (framewise_tile<T>(wt, pt, mid[3] * mid[4]) != WinogradF4::m) return 0;
  const Conv3dGeometry g = conv3d_geometry(x, ws, mid, ps);
  if (winograd_preferred<T>(g)) return WinogradF4::m;
  if (!winograd_f2_preferred<T>(g)) return 0;
  return cached && g.out_h * g.out_w >= kWinogradCachedMinPositions ? WinogradF4::m : WinogradF2::m;
}

/// The tile of the banded path's temporal transform for a pair of Cm
/// intermediate channels of P positions a frame and Dt output frames: F(8, 3)
/// (8) where its tiles are whole and a whole frame's window of 10
/// intermediate frames stays within kWinogradF8WindowBytes, else F(4, 3)
/// (4). It depends on the sizes only, never on the threads.
template <class T>
index_t conv2plus1d_banded_temporal_tile(index_t Cm, index_t P, index_t Dt) {
  const index_t window = Cm * WinogradF8::alpha * P * static_cast<index_t>(sizeof(T));
  return Dt % WinogradF8::m == 0 && window <= kWinogradF8WindowBytes ? WinogradF8::m : WinogradF4::m;
}

/// The transformed weights of one conv for this call: those `cache` keeps for
/// (tile, w, shape), else `transform(u)` into `size` new values, kept in
/// `cache` when given (`kept` holds them until the call ends), or else in the
/// calling thread's workspace `slot`.
template <class T, class Transform>
const T* winograd_weights_for_call(WinogradWeightCache<T>* cache, index_t tile, const T* w, const Shape<5>& shape,
                                   index_t size, int slot, typename WinogradWeightCache<T>::Transform& kept,
                                   Transform&& transform) {
  if (cache == nullptr) {
    T* const u = thread_workspace<T>(size, slot);
    transform(u);
    return u;
  }
  if (!(kept = cache->find(tile, w, shape))) {
    std::vector<T> u(static_cast<std::size_t>(size));
    transform(u.data());
    kept = cache->keep(tile, w, shape, std::move(u));
  }
  return kept->data();
}

/// The banded path (see the file comment), the spatial conv on the
/// transform FS and the temporal on F, for pairs whose
/// conv2plus1d_banded_tile is FS::m and conv2plus1d_banded_temporal_tile F::m. y may be
/// x's storage when conv2plus1d_in_place_ok: every band computes a step's new
/// intermediate frames (reading input frames none has written over yet)
/// before any band writes the step's output frames. Each conv's transformed
/// weights come from its cache (s_cache, t_cache) when that holds them, and
/// go there when one is given.
template <class T, class FS, class F = WinogradF4>
void conv2plus1d_banded(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                        const ConvEpilogue<T>& s_epi, TensorView<const T, 5> wt, const Conv3dParams& pt,
                        const ConvEpilogue<T>& t_epi, const Shape<5>& mid, TensorView<T, 5> y,
                        WinogradWeightCache<T>* s_cache = nullptr, WinogradWeightCache<T>* t_cache = nullptr) {
  constexpr index_t m = FS::m;
  const Shape<5> out = y.shape();
  const index_t D = x.size(2), H = x.size(3), W = x.size(4), Cin = x.size(1), Cm = mid[1], Cout = out[1];
  const index_t OH = mid[3], OW = mid[4], P = OH * OW, nty = (OH + m - 1) / m;
  const index_t kt = wt.size(2), st = pt.stride.d, pd = pt.padding.d, Dt = out[2];
  const index_t group = framewise_group<T>(Cm * P, kt, st, Dt, F::m);
  const index_t cap = std::min<index_t>(D, (group - 1) * st + kt);
  // Both convs' weights transformed once, for every band and step (or kept
  // from an earlier call: `kept` holds them until this call ends).
  typename WinogradWeightCache<T>::Transform kept_s, kept_t;
  const T* const us = winograd_weights_for_call<T>(
      s_cache, m, ws.data(), ws.shape(), winograd_weights_size<FS>(Cm, Cin), kWinogradU, kept_s,
      [&](T* u) { winograd_transform_weights<FS>(ws.data(), Cm, Cin, u); });
  const T* const ut = winograd_weights_for_call<T>(
      t_cache, F::m, wt.data(), wt.shape(), winograd_temporal_weights_size<F>(Cout, Cm), kWinogradTemporalU, kept_t,
      [&](T* u) { winograd_temporal_weights<F>(wt.data(), Cout, Cm, u); });

  parallel_region(std::min<index_t>(get_num_threads(), nty), [&](const Team& team) {
    // This thread's band: tile rows [ty0, ty1), output rows from row0, BP positions.
    const index_t ty0 = team.rank() * nty / team.size(), ty1 = (team.rank() + 1) * nty / team.size();
    const index_t row0 = ty0 * m, BP = (std::min(ty1 * m, OH) - row0) * OW;
    // The band's window: Cm channels of `cap` frames of its positions.
    T* const window = thread_workspace<T>(Cm * cap * BP, kWindow);
    for (index_t n = 0; n < x.size(0); ++n) {
      const T* const xn = x.data() + n * Cin * D * H * W;
      T* const yn = y.data() + n * Cout * Dt * P + row0 * OW;
      index_t wa = 0, wb = 0;  // the window holds intermediate frames [wa, wb)
      for (index_t u0 = 0; u0 < Dt; u0 += group) {
        const index_t u1 = std::min(Dt, u0 + group);
        const index_t a = std::max<index_t>(0, u0 * st - pd);
        const index_t b = std::min<index_t>(D, (u1 - 1) * st - pd + kt);
        if (b > a) {
          // The window keeps frames [max(a, wa), wb); the new ones go to
          // their slots, frame f in slot f % cap, as one run of slots or two
          // where they wrap around.
          const index_t keep_from = std::max(a, wa), first_new = wb > keep_from ? wb : a;
          wa = wb > keep_from ? keep_from : a;
          for (index_t f0 = first_new; f0 < b;) {  // the spatial conv of input frames [f0, f1), the band's rows
            const index_t f1 = std::min(b, f0 + cap - f0 % cap);
            Conv3dGeometry g = conv3d_geometry({1, Cin, f1 - f0, H, W}, ws.shape(), {1, Cm, f1 - f0, OH, OW}, ps);
            g.in_channel_stride = D * H * W;
            g.out_channel_stride = cap * BP;
            conv3d_winograd_transformed<FS>(g, xn + f0 * H * W, us, s_epi, window + f0 % cap * BP,
                                            WinogradRows{ty0, ty1, BP, row0});
            f0 = f1;
          }
          wb = b;
        }
        team.barrier();  // every band has read the input frames this step's output may write over
        if (b <= a) {  // every tap reads padding: only the epilogue of zero
          for (index_t o = 0; o < Cout; ++o)
            for (index_t u = u0; u < u1; ++u) {
              T* const row = yn + o * Dt * P + u * P;
              std::fill(row, row + BP, T(0));
              apply_epilogue(t_epi, o, row, BP);
            }
          continue;
        }
        // The temporal conv of output frames [u0, u1) over the window (as the
        // framewise path's), the band's positions as one row of BP.
        Conv3dGeometry g = conv3d_geometry({1, Cm, wb - wa, 1, BP}, wt.shape(), {1, Cout, u1 - u0, 1, BP},
                                           Conv3dParams{Triple{st, 1, 1}, Triple{pd + wa - u0 * st, 0, 0}, Triple(1), 1});
        g.in_channel_stride = cap * BP;
        g.out_channel_stride = Dt * P;
        conv3d_winograd_temporal_transformed<F>(g, window, ut, t_epi, yn + u0 * P, P, FrameRing{cap, wa % cap});
      }
      team.barrier();  // the next image's first step reads what this one's last may still write
    }
  });
}

}  // namespace r2plus1d::ops::detail

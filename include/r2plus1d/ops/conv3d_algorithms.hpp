#pragma once
/// \file
/// The one place that decides how a convolution is computed: an ordered list
/// of algorithms, each with a name, a test of whether it takes a problem, and
/// its kernel; the first that takes it runs (as oneDNN's implementation list).
/// conv3d_algorithm_name says which one a problem gets, for logs and
/// benchmarks. The choice depends on the sizes, the kernel family in use
/// (conv_kernels) and the element size, never on the thread count or the
/// batch size, so a clip's results are the same alone or in a batch.

#include <array>

#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/conv3d_packed_gemm.hpp"
#include "r2plus1d/ops/conv3d_phase_rows.hpp"
#include "r2plus1d/ops/conv3d_temporal.hpp"
#include "r2plus1d/ops/conv3d_thin.hpp"
#include "r2plus1d/ops/conv3d_winograd.hpp"
#include "r2plus1d/ops/conv3d_winograd_temporal.hpp"

namespace r2plus1d::ops::detail {

/// One way to compute conv3d: `applies` accepts or declines a geometry (for
/// elements of `element_size` bytes), `run` computes it.
template <class T>
struct Conv3dAlgorithm {
  const char* name;
  bool (*applies)(const Conv3dGeometry& g, index_t element_size);
  void (*run)(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y);
};

/// The algorithms in the order they are tried. The last takes everything.
///
/// - winograd_f4: 3x3 spatial kernels of stride 1 on frames of 784+ outputs,
///   Winograd's F(4x4, 3x3) on gemm_rows (rows family, float, fast
///   algorithms allowed: conv_algorithms).
/// - winograd_f2: the same kernels on frames of 196 to 783 outputs (14x14:
///   layer3's), F(2x2, 3x3): 2.25 times fewer multiplies, on transforms
///   small enough for frames of 7 x 7 tiles.
/// - winograd_temporal_f4: (3, 1, 1) kernels of stride 1 on frames of 128+
///   positions and 3+ output frames, Winograd's F(4, 3) along time on
///   gemm_rows (rows family, float, fast algorithms allowed).
/// - phase_rows: spatial (1, kh, kw) and strided or padded pointwise kernels on
///   frames of 128+ outputs, gemm_rows over gathered input rows (rows family).
/// - temporal_rows: (kt, 1, 1) kernels on frames of 128+ outputs, gemm_rows
///   over the input frames as they lie (rows family).
/// - thin: small frames (7x7) against weights read as they lie (gemm_thin,
///   rows family), but not the stride-1 temporal kernels temporal_frames takes
///   where Eigen is compiled for the CPU's vectors.
/// - temporal_taps: stride-1 (kt, 1, 1) kernels on 1024+ outputs, one packed
///   GEMM per tap over shifted frames (packed family).
/// - temporal_frames: other (kt, 1, 1) kernels, GEMMs over frames packed once.
/// - packed_gemm: anything, columns gathered or packed for Eigen's GEMM kernel.
template <class T>
const std::array<Conv3dAlgorithm<T>, 9>& conv3d_algorithms() {
  static const std::array<Conv3dAlgorithm<T>, 9> list{{
      {WinogradF4::name, [](const Conv3dGeometry& g, index_t) { return winograd_preferred<T>(g); },
       &conv3d_winograd<WinogradF4, T>},
      {WinogradF2::name, [](const Conv3dGeometry& g, index_t) { return winograd_f2_preferred<T>(g); },
       &conv3d_winograd<WinogradF2, T>},
      {"winograd_temporal_f4", [](const Conv3dGeometry& g, index_t) { return winograd_temporal_preferred<T>(g); },
       &conv3d_winograd_temporal<WinogradF4, T>},
      {"phase_rows", [](const Conv3dGeometry& g, index_t) { return phase_rows_preferred(g); },
       [](const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& e, T* y) {
         conv3d_phase_rows(g, x, w, e, y);
       }},
      {"temporal_rows",
       [](const Conv3dGeometry& g, index_t) {
         return conv_kernels() == ConvKernels::kRows && g.temporal_whole_frames() &&
                g.out_h * g.out_w >= kRowsMinPositions;
       },
       &conv3d_temporal_rows<T>},
      {"thin", [](const Conv3dGeometry& g, index_t) { return thin_preferred<T>(g); }, &conv3d_thin<T>},
      {"temporal_taps", [](const Conv3dGeometry& g, index_t) { return temporal_taps_preferred(g); },
       &conv3d_packed_gemm<T>},
      {"temporal_frames", [](const Conv3dGeometry& g, index_t size) { return temporal_frames_ok(g, size); },
       [](const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& e, T* y) {
         conv3d_temporal_frames(g, x, w, e, y, temporal_frames_blocking<T>(g));
       }},
      {"packed_gemm", [](const Conv3dGeometry&, index_t) { return true; }, &conv3d_packed_gemm<T>},
  }};
  return list;
}

/// The algorithm conv3d_gemm runs for g.
template <class T>
const Conv3dAlgorithm<T>& conv3d_select(const Conv3dGeometry& g) {
  const auto& list = conv3d_algorithms<T>();
  for (const Conv3dAlgorithm<T>& a : list)
    if (a.applies(g, static_cast<index_t>(sizeof(T)))) return a;
  return list.back();
}

/// epilogue(conv3d(x, w)) into y, by the first algorithm that takes g.
template <class T>
void conv3d_gemm(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  if (g.batch * g.out_plane() * g.out_channels == 0) return;
  conv3d_select<T>(g).run(g, x, w, epilogue, y);
}

}  // namespace r2plus1d::ops::detail

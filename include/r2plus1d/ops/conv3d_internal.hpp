#pragma once
/// \file
/// The kernels behind ops::conv3d: vol2col over chunks of output positions
/// followed by a GEMM per (batch, group, chunk), and a gather-only path for
/// 1x1x1 kernels. Sizes come in a Conv3dGeometry already validated by
/// conv3d_output_shape.

#include <algorithm>
#include <cstring>

#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/gemm.hpp"

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
  index_t in_plane() const { return in_d * in_h * in_w; }
  index_t out_plane() const { return out_d * out_h * out_w; }
  index_t kernel_volume() const { return k_d * k_h * k_w; }
  /// Rows of the column matrix: one per (input channel of the group, kernel tap).
  index_t depth() const { return in_per_group() * kernel_volume(); }
  bool pointwise() const { return kernel_volume() == 1; }
  bool identity_gather() const {
    return pointwise() && stride == Triple(1) && padding == Triple(0);
  }
};

/// Upper bound of a column chunk's size in bytes (per thread).
inline constexpr index_t kColumnBudgetBytes = index_t(2) << 20;

/// Output positions per chunk: a multiple of 16 that keeps the column chunk
/// under kColumnBudgetBytes (at least 16 columns) and splits an image into
/// about 8 chunks or more. Depends only on the sizes, so results do not depend
/// on the thread count.
inline index_t conv3d_chunk_columns(index_t positions, index_t depth, index_t element_size) {
  const index_t by_budget = std::max<index_t>(16, kColumnBudgetBytes / std::max<index_t>(1, depth * element_size) / 16 * 16);
  const index_t by_split = std::max<index_t>(16, ((positions + 7) / 8 + 15) / 16 * 16);
  return std::max<index_t>(1, std::min({by_budget, by_split, positions}));
}

/// Writes columns [p0, p0 + count) of one group's column matrix into `col`
/// (depth() rows, leading dimension `count`): col[(c, kd, kh, kw)][p] is the input
/// element tap (kd, kh, kw) of output position p reads, or 0 in the padding.
template <class T>
void vol2col_chunk(const Conv3dGeometry& g, const T* x, index_t p0, index_t count, T* col) {
  const index_t hw_out = g.out_h * g.out_w;
  const index_t sd = g.stride.d, sh = g.stride.h, sw = g.stride.w;
  T* dst = col;
  for (index_t c = 0; c < g.in_per_group(); ++c) {
    const T* src = x + c * g.in_plane();
    for (index_t i = 0; i < g.k_d; ++i) {
      for (index_t j = 0; j < g.k_h; ++j) {
        for (index_t l = 0; l < g.k_w; ++l) {
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

/// y = conv(x, w) + bias for contiguous NCDHW x and y, weight (out, in/groups, kd, kh, kw).
/// Work items are (batch, group, chunk of output positions); each thread owns one
/// column buffer, and every output element comes from one GEMM of fixed shape.
template <class T>
void conv3d_gemm(const Conv3dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const index_t P = g.out_plane();
  const index_t K = g.depth();
  const index_t og = g.out_per_group();
  const index_t pc = conv3d_chunk_columns(P, K, static_cast<index_t>(sizeof(T)));
  const index_t chunks = (P + pc - 1) / pc;
  const index_t tasks = g.batch * g.groups * chunks;
  if (tasks == 0) return;
  const bool direct = g.identity_gather();
  const index_t workers = std::min<index_t>(get_num_threads(), tasks);

  parallel_for(0, workers, [&](index_t worker) {
    Tensor<T, 1> col;
    if (!direct) col = Tensor<T, 1>::empty({K * pc});
    const index_t first = worker * tasks / workers, last = (worker + 1) * tasks / workers;
    for (index_t task = first; task < last; ++task) {
      const index_t chunk = task % chunks;
      const index_t grp = (task / chunks) % g.groups;
      const index_t n = task / (chunks * g.groups);
      const index_t p0 = chunk * pc;
      const index_t count = std::min(pc, P - p0);

      const T* xg = x + (n * g.in_channels + grp * g.in_per_group()) * g.in_plane();
      T* yg = y + (n * g.out_channels + grp * og) * P + p0;
      for (index_t o = 0; o < og; ++o) {
        const T b = bias != nullptr ? bias[grp * og + o] : T(0);
        std::fill(yg + o * P, yg + o * P + count, b);
      }

      const T* B;
      index_t ldb;
      if (direct) {
        B = xg + p0;
        ldb = g.in_plane();
      } else {
        vol2col_chunk(g, xg, p0, count, col.data());
        B = col.data();
        ldb = count;
      }
      gemm_accumulate<Eigen::RowMajor, Eigen::RowMajor>(og, count, K, w + grp * og * K, K, B, ldb, yg, P);
    }
  });
}

}  // namespace r2plus1d::ops::detail

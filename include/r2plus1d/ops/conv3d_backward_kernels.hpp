#pragma once
/// \file
/// The kernels behind conv3d's gradients (conv3d_backward.hpp): the flipped,
/// channel-transposed weight of the transposed convolution, col2vol (the
/// adjoint of vol2col_chunk), and the column drivers of the input and weight
/// gradients. Work is cut by sizes alone, never by the thread count, and each
/// output element is written by one work item, so results are bit-identical
/// for every thread count.
#include <algorithm>
#include <cstring>

#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/conv3d_columns.hpp"
#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/gemm.hpp"
#include "r2plus1d/ops/gradient.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {


/// Output positions per column chunk for `rows` column rows: at most
/// kBackwardMaxColumns and kColumnBudgetBytes of columns, a multiple of 16.
inline index_t backward_chunk_columns(index_t positions, index_t rows, index_t element_size) {
  const index_t by_budget = kColumnBudgetBytes / std::max<index_t>(1, rows * element_size) / 16 * 16;
  return std::max<index_t>(1, std::min({positions, kBackwardMaxColumns, std::max<index_t>(16, by_budget)}));
}

/// The weight of the convolution whose forward pass is the input gradient of a
/// stride-1 conv3d: an (O, C / groups, kd, kh, kw) weight `w` becomes
/// (C, O / groups, kd, kh, kw), with input and output channels swapped within
/// each group and every kernel flipped along d, h and w.
template <class T>
Tensor<T, 5> flipped_transposed_weight(TensorView<const T, 5> w, index_t groups) {
  const index_t out = w.size(0), in_g = w.size(1), out_g = out / groups;
  const index_t taps = w.size(2) * w.size(3) * w.size(4);
  Tensor<T, 5> wt = Tensor<T, 5>::empty({in_g * groups, out_g, w.size(2), w.size(3), w.size(4)});
  const T* src = w.data();
  T* dst = wt.data();
  // Flipping the three kernel dimensions reverses the flattened tap index.
  for (index_t gi = 0; gi < groups; ++gi)
    for (index_t o = 0; o < out_g; ++o)
      for (index_t c = 0; c < in_g; ++c) {
        const T* s = src + ((gi * out_g + o) * in_g + c) * taps;
        T* d = dst + ((gi * in_g + c) * out_g + o) * taps;
        for (index_t t = 0; t < taps; ++t) d[taps - 1 - t] = s[t];
      }
  return wt;
}

/// Whether conv3d's input gradient for g is itself a convolution the forward
/// engine runs: stride 1 and padding <= dilation * (k - 1) in every dimension
/// (the transposed convolution's padding, dilation * (k - 1) - padding, is
/// then non-negative).
inline bool input_grad_is_forward_conv(const Conv3dGeometry& g) {
  const index_t k[3] = {g.k_d, g.k_h, g.k_w};
  for (int i = 0; i < 3; ++i)
    if (g.stride[i] != 1 || g.padding[i] > g.dilation[i] * (k[i] - 1)) return false;
  return true;
}

/// Adds rows [row_begin, row_end) of a column chunk (positions [p0, p0 + count),
/// leading dimension count, row_begin at col's first row) back into the input
/// elements vol2col_chunk reads them from: x points at channel row_begin /
/// kernel_volume() of one group's input, and row_begin must be a multiple of
/// kernel_volume(). Taps in the padding are dropped.
template <class T>
void col2vol_chunk(const Conv3dGeometry& g, const T* col, index_t p0, index_t count, T* x, index_t row_begin,
                   index_t row_end) {
  const index_t hw_out = g.out_h * g.out_w, taps = g.kernel_volume();
  const index_t sd = g.stride.d, sh = g.stride.h, sw = g.stride.w;
  for (index_t r = row_begin; r < row_end; ++r) {
    const index_t c = r / taps - row_begin / taps, t = r % taps;
    const index_t i = t / (g.k_h * g.k_w), j = (t / g.k_w) % g.k_h, l = t % g.k_w;
    T* dst = x + c * g.in_plane();
    const T* src = col + (r - row_begin) * count;
    index_t p = p0, od = p / hw_out, oh = (p % hw_out) / g.out_w, ow = p % g.out_w;
    const index_t end = p0 + count, w_off = l * g.dilation.w - g.padding.w;
    while (p < end) {
      const index_t run = std::min(g.out_w - ow, end - p);
      const index_t id = od * sd - g.padding.d + i * g.dilation.d;
      const index_t ih = oh * sh - g.padding.h + j * g.dilation.h;
      if (id >= 0 && id < g.in_d && ih >= 0 && ih < g.in_h) {
        T* row = dst + (id * g.in_h + ih) * g.in_w;
        const index_t iw0 = ow * sw + w_off;
        // Steps t in [lo, hi) land inside the row; the rest is padding.
        const index_t lo = iw0 >= 0 ? 0 : std::min(run, (-iw0 + sw - 1) / sw);
        const index_t hi = iw0 >= g.in_w ? 0 : std::min(run, (g.in_w - 1 - iw0) / sw + 1);
        for (index_t s = lo; s < hi; ++s) row[iw0 + s * sw] += src[s];
      }
      src += run;
      p += run;
      ow = 0;
      if (++oh == g.out_h) {
        oh = 0;
        ++od;
      }
    }
  }
}

/// conv3d's input gradient dx (N, C, D, H, W) from dy (N, O, D', H', W') and
/// the weight w, for any stride, padding, dilation and groups. Work items are
/// (image, group, block of 1 / kMinTasksPerImage of the group's input
/// channels, so that one image still feeds several threads); each
/// runs, chunk after chunk of output positions, the GEMM
/// columns = W_g^T dy_chunk of its channels' column rows, and adds them into
/// its channels with col2vol_chunk.
template <class T>
void conv3d_input_grad_columns(const Conv3dGeometry& g, const T* dy, const T* w, T* dx, GradMode mode) {
  const index_t in_g = g.in_per_group(), out_g = g.out_per_group(), taps = g.kernel_volume();
  const index_t depth = g.depth(), positions = g.out_plane(), in_plane = g.in_plane();
  const index_t block = (in_g + kMinTasksPerImage - 1) / kMinTasksPerImage, blocks = (in_g + block - 1) / block;
  const index_t columns = backward_chunk_columns(positions, block * taps, static_cast<index_t>(sizeof(T)));
  parallel_for(0, g.batch * g.groups * blocks, [&](index_t task) {
    const index_t b = task % blocks, gi = (task / blocks) % g.groups, n = task / blocks / g.groups;
    const index_t c0 = b * block, channels = std::min(block, in_g - c0), rows = channels * taps;
    T* out = dx + (n * g.in_channels + gi * in_g + c0) * in_plane;
    // kAccumulate: the whole gradient of these channels first, then added.
    T* target = mode == GradMode::kOverwrite ? out : thread_workspace<T>(channels * in_plane, kWindow);
    std::fill(target, target + channels * in_plane, T(0));
    T* col = thread_workspace<T>(rows * std::min(columns, positions), kColumns);
    const T* a = w + gi * out_g * depth + c0 * taps;  // W_g^T, column-major (leading dimension depth)
    for (index_t p0 = 0; p0 < positions; p0 += columns) {
      const index_t count = std::min(columns, positions - p0);
      std::fill(col, col + rows * count, T(0));
      gemm_accumulate<Eigen::ColMajor, Eigen::RowMajor>(rows, count, out_g, a, depth,
                                                        dy + (n * g.out_channels + gi * out_g) * positions + p0,
                                                        positions, col, count);
      col2vol_chunk(g, col, p0, count, target, c0 * taps, c0 * taps + rows);
    }
    if (mode == GradMode::kAccumulate) store_grads(mode, out, target, channels * in_plane);
  });
}

/// Column rows per work item of conv3d_weight_grad_columns: about
/// 1 / kMinTasksPerImage of `depth`, a multiple of 16.
inline index_t weight_grad_row_block(index_t depth) {
  const index_t share = (depth + kMinTasksPerImage - 1) / kMinTasksPerImage;
  return std::min(depth, std::max<index_t>(16, (share + 15) / 16 * 16));
}

/// conv3d's weight gradient dw (O, C / groups, kd, kh, kw) from the input x
/// and dy. Work items are (group, block of weight_grad_row_block column rows);
/// each builds only its rows of the columns (vol2col_chunk), chunk after chunk
/// of each image in order, and accumulates dy_chunk columns^T into a buffer
/// of its own, stored into dw at the end: every element's sum runs in the
/// same order whatever the threads.
template <class T>
void conv3d_weight_grad_columns(const Conv3dGeometry& g, const T* x, const T* dy, T* dw, GradMode mode) {
  const index_t in_g = g.in_per_group(), out_g = g.out_per_group();
  const index_t depth = g.depth(), positions = g.out_plane(), in_plane = g.in_plane();
  const index_t block = weight_grad_row_block(depth), blocks = (depth + block - 1) / block;
  const index_t columns = backward_chunk_columns(positions, block, static_cast<index_t>(sizeof(T)));
  parallel_for(0, g.groups * blocks, [&](index_t task) {
    const index_t b = task % blocks, gi = task / blocks;
    const index_t r0 = b * block, rows = std::min(block, depth - r0);
    T* acc = thread_workspace<T>(out_g * rows, kTaps);
    std::fill(acc, acc + out_g * rows, T(0));
    T* col = thread_workspace<T>(rows * std::max<index_t>(1, std::min(columns, positions)), kColumns);
    for (index_t n = 0; n < g.batch; ++n) {
      const T* xg = x + (n * g.in_channels + gi * in_g) * in_plane;
      const T* dyg = dy + (n * g.out_channels + gi * out_g) * positions;
      for (index_t p0 = 0; p0 < positions; p0 += columns) {
        const index_t count = std::min(columns, positions - p0);
        vol2col_chunk(g, xg, p0, count, col, r0, r0 + rows);
        // acc(out_g, rows) += dy(out_g, count) * col^T(count, rows); col^T is column-major.
        gemm_accumulate<Eigen::RowMajor, Eigen::ColMajor>(out_g, rows, count, dyg + p0, positions, col, count, acc,
                                                          rows);
      }
    }
    for (index_t o = 0; o < out_g; ++o) store_grads(mode, dw + (gi * out_g + o) * depth + r0, acc + o * rows, rows);
  });
}

}  // namespace r2plus1d::ops::detail

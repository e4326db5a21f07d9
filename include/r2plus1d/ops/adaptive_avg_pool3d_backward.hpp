#pragma once
/// \file
/// The gradient of adaptive average pooling (adaptive_avg_pool3d) with
/// respect to its input.

#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/adaptive_avg_pool3d.hpp"
#include "r2plus1d/ops/gradient.hpp"

namespace r2plus1d::ops {

namespace detail {
/// For each input index of an extent of `in` pooled into `out` bins, the
/// bins [begin, end) whose range holds it (contiguous, since both ends of
/// torch's bins grow with the bin).
inline std::vector<PoolBin> adaptive_pool_covers(index_t in, index_t out) {
  const std::vector<PoolBin> bins = adaptive_pool_bins(in, out);
  std::vector<PoolBin> covers(static_cast<std::size_t>(in), PoolBin{0, 0});
  for (index_t i = 0; i < in; ++i) {
    index_t lo = 0;
    while (lo < out && bins[static_cast<std::size_t>(lo)].end <= i) ++lo;
    index_t hi = lo;
    while (hi < out && bins[static_cast<std::size_t>(hi)].begin <= i) ++hi;
    covers[static_cast<std::size_t>(i)] = {lo, hi};
  }
  return covers;
}
}  // namespace detail

/// The gradient of y = adaptive_avg_pool3d(x, output_size) with respect to
/// the (N, C, D, H, W) input x, whose shape is grad_input's, from grad_output
/// (N, C, D', H', W'), written or added (`mode`) into grad_input: each input
/// element receives grad / (bin volume) of every one of torch's bins
/// (start = floor(i * In / Out), end = ceil((i + 1) * In / Out)) that holds
/// it, summed in double. Throws ShapeError when N or C differ or the input has
/// an empty channel or spatial dimension.
template <class T>
void adaptive_avg_pool3d_backward(TensorView<const T, 5> grad_output, TensorView<T, 5> grad_input,
                                  GradMode mode = GradMode::kOverwrite) {
  const Triple out{grad_output.size(2), grad_output.size(3), grad_output.size(4)};
  detail::check_adaptive_pool(grad_input.shape(), out);
  if (grad_output.size(0) != grad_input.size(0) || grad_output.size(1) != grad_input.size(1))
    throw ShapeError("adaptive_avg_pool3d_backward: grad_output " + format_shape<5>(grad_output.shape()) +
                     " and grad_input " + format_shape<5>(grad_input.shape()) + " differ in batch or channels");
  const index_t D = grad_input.size(2), H = grad_input.size(3), W = grad_input.size(4);
  const std::vector<PoolBin> bd = adaptive_pool_bins(D, out.d), bh = adaptive_pool_bins(H, out.h),
                             bw = adaptive_pool_bins(W, out.w);
  const std::vector<PoolBin> cd = detail::adaptive_pool_covers(D, out.d), ch = detail::adaptive_pool_covers(H, out.h),
                             cw = detail::adaptive_pool_covers(W, out.w);
  const index_t out_plane = out.product(), in_plane = D * H * W;
  parallel_for(0, grad_input.size(0) * grad_input.size(1), [&](index_t nc) {
    // Each bin's gradient divided by its volume, once per plane.
    std::vector<double> share(static_cast<std::size_t>(out_plane));
    const T* g = grad_output.data() + nc * out_plane;
    for (index_t a = 0, q = 0; a < out.d; ++a)
      for (index_t b = 0; b < out.h; ++b)
        for (index_t c = 0; c < out.w; ++c, ++q) {
          const auto& d = bd[static_cast<std::size_t>(a)];
          const auto& h = bh[static_cast<std::size_t>(b)];
          const auto& w = bw[static_cast<std::size_t>(c)];
          const index_t volume = (d.end - d.begin) * (h.end - h.begin) * (w.end - w.begin);
          share[static_cast<std::size_t>(q)] = static_cast<double>(g[q]) / static_cast<double>(volume);
        }
    T* dst = grad_input.data() + nc * in_plane;
    for (index_t i = 0; i < D; ++i)
      for (index_t j = 0; j < H; ++j)
        for (index_t k = 0; k < W; ++k) {
          const PoolBin &ci = cd[static_cast<std::size_t>(i)], &cj = ch[static_cast<std::size_t>(j)],
                        &ck = cw[static_cast<std::size_t>(k)];
          double sum = 0;
          for (index_t a = ci.begin; a < ci.end; ++a)
            for (index_t b = cj.begin; b < cj.end; ++b)
              for (index_t c = ck.begin; c < ck.end; ++c)
                sum += share[static_cast<std::size_t>((a * out.h + b) * out.w + c)];
          detail::store_grad(mode, dst[(i * H + j) * W + k], sum);
        }
  });
}

/// adaptive_avg_pool3d_backward into a new tensor of the input's shape.
template <class T>
Tensor<T, 5> adaptive_avg_pool3d_backward(TensorView<const T, 5> grad_output, const Shape<5>& input_shape) {
  Tensor<T, 5> grad = Tensor<T, 5>::empty(input_shape);
  adaptive_avg_pool3d_backward<T>(grad_output, grad.view());
  return grad;
}

}  // namespace r2plus1d::ops

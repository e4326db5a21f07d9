#pragma once
/// \file
/// Adaptive average pooling to a fixed (D', H', W'), as
/// torch.nn.functional.adaptive_avg_pool3d.

#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::ops {

/// The input range [begin, end) that output bin i of `out` averages over an
/// extent of `in`: begin = floor(i * in / out), end = ceil((i + 1) * in / out).
struct PoolBin {
  ///@{
  /// The bin's first input index, and one past its last.
  index_t begin, end;
  ///@}
};

/// torch's adaptive bins along one dimension (bins overlap when `out` does not divide `in`).
inline std::vector<PoolBin> adaptive_pool_bins(index_t in, index_t out) {
  std::vector<PoolBin> bins(static_cast<std::size_t>(out));
  for (index_t i = 0; i < out; ++i)
    bins[static_cast<std::size_t>(i)] = {(i * in) / out, ((i + 1) * in + out - 1) / out};
  return bins;
}

namespace detail {
inline void check_adaptive_pool(const Shape<5>& input, const Triple& output_size) {
  if (output_size.d < 0 || output_size.h < 0 || output_size.w < 0)
    throw OptionError("adaptive_avg_pool3d: expected a non-negative output size, got " + format_triple(output_size));
  for (std::size_t k = 1; k < 5; ++k)
    if (input[k] < 1)
      throw ShapeError("adaptive_avg_pool3d: expected an input with non-zero channel and spatial sizes, got " +
                       format_shape<5>(input));
}
}  // namespace detail

/// Averages an (N, C, D, H, W) input over torch's adaptive bins into
/// (N, C, output_size.d, output_size.h, output_size.w). Sums are accumulated in
/// double. Throws OptionError for a negative output size and ShapeError for an
/// input with an empty channel or spatial dimension.
template <class T>
Tensor<T, 5> adaptive_avg_pool3d(TensorView<const T, 5> x, Triple output_size) {
  detail::check_adaptive_pool(x.shape(), output_size);
  const index_t D = x.size(2), H = x.size(3), W = x.size(4);
  const std::vector<PoolBin> bd = adaptive_pool_bins(D, output_size.d);
  const std::vector<PoolBin> bh = adaptive_pool_bins(H, output_size.h);
  const std::vector<PoolBin> bw = adaptive_pool_bins(W, output_size.w);
  Tensor<T, 5> y = Tensor<T, 5>::empty({x.size(0), x.size(1), output_size.d, output_size.h, output_size.w});
  const index_t planes = x.size(0) * x.size(1);
  const index_t out_plane = output_size.product();
  parallel_for(0, planes, [&](index_t nc) {
    const T* src = x.data() + nc * D * H * W;
    T* dst = y.data() + nc * out_plane;
    for (const PoolBin& d : bd)
      for (const PoolBin& h : bh)
        for (const PoolBin& w : bw) {
          double sum = 0;
          for (index_t i = d.begin; i < d.end; ++i)
            for (index_t j = h.begin; j < h.end; ++j) {
              const T* row = src + (i * H + j) * W;
              for (index_t k = w.begin; k < w.end; ++k) sum += static_cast<double>(row[k]);
            }
          const index_t count = (d.end - d.begin) * (h.end - h.begin) * (w.end - w.begin);
          *dst++ = static_cast<T>(sum / static_cast<double>(count));
        }
  });
  return y;
}

}  // namespace r2plus1d::ops

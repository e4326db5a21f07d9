#pragma once
/// \file
/// Floating-point operation counts of the kernels, written down once for the
/// benchmarks and the docs. A multiply-add counts as 2.

#include "r2plus1d/ops/adaptive_avg_pool3d.hpp"
#include "r2plus1d/ops/conv3d.hpp"

namespace r2plus1d::ops {

/// 2 * N * C_out * D' * H' * W' * (C_in / groups) * kd * kh * kw: one multiply-add per
/// weight tap and output element (the bias add is not counted). Validates like
/// conv3d_output_shape.
inline double conv3d_flops(const Shape<5>& input, const Shape<5>& weight, const Conv3dParams& p) {
  const Shape<5> out = conv3d_output_shape(input, weight, p);
  return 2.0 * static_cast<double>(shape_numel(out)) *
         static_cast<double>(weight[1] * weight[2] * weight[3] * weight[4]);
}

/// 2 * N * out_features * in_features for an (N, in) input and an (out, in) weight
/// (the bias add is not counted).
inline double linear_flops(const Shape<2>& input, const Shape<2>& weight) {
  return 2.0 * static_cast<double>(input[0]) * static_cast<double>(weight[0]) * static_cast<double>(weight[1]);
}

/// 2 per element: the multiply-add x * scale + shift of inference (batch statistics are not counted).
inline double batch_norm3d_flops(const Shape<5>& input) { return 2.0 * static_cast<double>(shape_numel(input)); }

/// 1 per element: the comparison.
template <int R>
double relu_flops(const Shape<R>& input) {
  return static_cast<double>(shape_numel(input));
}

/// One add per input element of every bin (overlapping bins count an element
/// again) and one division per output element.
inline double adaptive_avg_pool3d_flops(const Shape<5>& input, const Triple& output_size) {
  detail::check_adaptive_pool(input, output_size);
  double per_plane = 1.0;
  for (int i = 0; i < 3; ++i) {
    double covered = 0.0;
    for (const PoolBin& b : adaptive_pool_bins(input[static_cast<std::size_t>(i + 2)], output_size[i]))
      covered += static_cast<double>(b.end - b.begin);
    per_plane *= covered;
  }
  return static_cast<double>(input[0] * input[1]) * (per_plane + static_cast<double>(output_size.product()));
}

}  // namespace r2plus1d::ops

#pragma once
/// \file
/// Batch normalisation over (N, D, H, W) per channel, as
/// torch.nn.functional.batch_norm on a 5-D input.

#include <cmath>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::ops {

namespace detail {

/// Mean and sum of squared deviations of channel c over (N, D, H, W), accumulated
/// in double (torch's CPU accumulation type for float and double alike).
template <class T>
void channel_moments(TensorView<const T, 5> x, index_t c, double& mean, double& sq_sum) {
  const index_t n_batch = x.size(0), channels = x.size(1);
  const index_t plane = x.size(2) * x.size(3) * x.size(4);
  const double count = static_cast<double>(n_batch * plane);
  // Four partial sums keep the loops short-latency; the order is fixed by the shape.
  double s[4] = {0, 0, 0, 0};
  for (index_t n = 0; n < n_batch; ++n) {
    const T* p = x.data() + (n * channels + c) * plane;
    index_t i = 0;
    for (; i + 4 <= plane; i += 4)
      for (int k = 0; k < 4; ++k) s[k] += static_cast<double>(p[i + k]);
    for (; i < plane; ++i) s[0] += static_cast<double>(p[i]);
  }
  mean = ((s[0] + s[1]) + (s[2] + s[3])) / count;
  double q[4] = {0, 0, 0, 0};
  for (index_t n = 0; n < n_batch; ++n) {
    const T* p = x.data() + (n * channels + c) * plane;
    index_t i = 0;
    for (; i + 4 <= plane; i += 4)
      for (int k = 0; k < 4; ++k) {
        const double d = static_cast<double>(p[i + k]) - mean;
        q[k] += d * d;
      }
    for (; i < plane; ++i) {
      const double d = static_cast<double>(p[i]) - mean;
      q[0] += d * d;
    }
  }
  sq_sum = (q[0] + q[1]) + (q[2] + q[3]);
}

}  // namespace detail

/// Normalises an (N, C, D, H, W) input per channel and applies the optional affine
/// `weight` and `bias` (nullptr or C values each), as torch.nn.functional.batch_norm.
/// With `training` true, or without running statistics (both nullptr), it uses the
/// batch mean and biased variance; in training it then updates non-null running
/// statistics to (1 - momentum) * running + momentum * batch, using the unbiased
/// variance. Otherwise it uses `running_mean` and `running_var`. Statistics and
/// the normalisation are computed in double. Throws ShapeError when batch
/// statistics are needed but a channel has a single value, OptionError when
/// exactly one of the running statistics is given.
template <class T>
Tensor<T, 5> batch_norm3d(TensorView<const T, 5> x, const T* weight, const T* bias, T* running_mean, T* running_var,
                          bool training, double momentum, double eps) {
  if ((running_mean == nullptr) != (running_var == nullptr))
    throw OptionError("batch_norm3d: expected both running_mean and running_var, or neither");
  const index_t n_batch = x.size(0), channels = x.size(1);
  const index_t plane = x.size(2) * x.size(3) * x.size(4);
  const bool batch_stats = training || running_mean == nullptr;
  const index_t count = n_batch * plane;
  if (batch_stats && count <= 1)
    throw ShapeError("batch_norm3d: expected more than 1 value per channel when training, got input " +
                     format_shape<5>(x.shape()));

  // Per channel: y = (x - mean) * scale + shift, evaluated in double so that a
  // mean far from zero costs no precision.
  std::vector<double> center(static_cast<std::size_t>(channels)), scale(center.size()), shift(center.size());
  parallel_for(0, channels, [&](index_t c) {
    const auto k = static_cast<std::size_t>(c);
    double mean, var;
    if (batch_stats) {
      double sq_sum;
      detail::channel_moments(x, c, mean, sq_sum);
      var = sq_sum / static_cast<double>(count);
      if (training && running_mean != nullptr) {
        const double unbiased = sq_sum / static_cast<double>(count - 1);
        running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
        running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
      }
    } else {
      mean = static_cast<double>(running_mean[c]);
      var = static_cast<double>(running_var[c]);
    }
    center[k] = mean;
    scale[k] = (weight != nullptr ? static_cast<double>(weight[c]) : 1.0) / std::sqrt(var + eps);
    shift[k] = bias != nullptr ? static_cast<double>(bias[c]) : 0.0;
  });

  Tensor<T, 5> y = Tensor<T, 5>::empty(x.shape());
  parallel_for(0, n_batch * channels, [&](index_t nc) {
    const auto k = static_cast<std::size_t>(nc % channels);
    const double m = center[k], a = scale[k], b = shift[k];
    const T* src = x.data() + nc * plane;
    T* dst = y.data() + nc * plane;
    for (index_t i = 0; i < plane; ++i) dst[i] = static_cast<T>((static_cast<double>(src[i]) - m) * a + b);
  });
  return y;
}

}  // namespace r2plus1d::ops

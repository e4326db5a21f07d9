#pragma once
/// \file
/// Parameter initialisation as torch.nn.init, drawing from a seedable Generator.
/// The distributions match torch's; the numbers do not (torch's generator differs).

#include <cmath>
#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/random.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::nn {

/// Fills `w` with values uniform in [lo, hi), in row-major order, as torch.nn.init.uniform_.
/// Throws OptionError when lo > hi or either bound is not finite.
template <class T, int R>
void uniform_(TensorView<T, R> w, double lo, double hi, Generator& gen) {
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw OptionError("uniform_: expected finite bounds with lo <= hi, got [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + ")");
  T* p = w.data();
  for (index_t i = 0; i < w.numel(); ++i) p[i] = static_cast<T>(gen.uniform(lo, hi));
}

/// torch.nn.init.calculate_gain("leaky_relu", a): sqrt(2 / (1 + a^2)).
inline double leaky_relu_gain(double a) { return std::sqrt(2.0 / (1.0 + a * a)); }

/// Fills `w` uniformly in [-bound, bound) with bound = gain * sqrt(3 / fan_in) and
/// gain = sqrt(2 / (1 + a^2)), as torch.nn.init.kaiming_uniform_(w, a) with
/// mode "fan_in" and nonlinearity "leaky_relu". torch's Conv3d and Linear use
/// a = sqrt(5), i.e. bound = 1 / sqrt(fan_in). Throws OptionError for fan_in < 1.
template <class T, int R>
void kaiming_uniform_(TensorView<T, R> w, double a, index_t fan_in, Generator& gen) {
  if (fan_in < 1) throw OptionError("kaiming_uniform_: expected a positive fan_in, got " + std::to_string(fan_in));
  const double bound = leaky_relu_gain(a) * std::sqrt(3.0 / static_cast<double>(fan_in));
  uniform_(w, -bound, bound, gen);
}

/// Fills `w` with draws from N(mean, stddev^2), as torch.nn.init.normal_.
template <class T, int R>
void normal_(TensorView<T, R> w, double mean, double stddev, Generator& gen) {
  if (!(stddev >= 0.0)) throw OptionError("normal_: expected a non-negative stddev, got " + std::to_string(stddev));
  T* p = w.data();
  for (index_t i = 0; i < w.numel(); ++i) p[i] = static_cast<T>(gen.normal(mean, stddev));
}

/// torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"): N(0, 2 / fan_out)
/// with fan_out = size(0) * (elements per output channel's kernel window).
template <class T, int R>
void kaiming_normal_fan_out_(TensorView<T, R> w, Generator& gen) {
  static_assert(R >= 2, "kaiming_normal_fan_out_: expected a weight of rank >= 2");
  index_t receptive = 1;
  for (int d = 2; d < R; ++d) receptive *= w.size(d);
  const index_t fan_out = w.size(0) * receptive;
  if (fan_out < 1) throw OptionError("kaiming_normal_fan_out_: expected a positive fan_out, got " + std::to_string(fan_out));
  normal_(w, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out)), gen);
}

/// torch's default initialisation of a weight and an optional bias (empty when
/// absent), as Conv3d.reset_parameters and Linear.reset_parameters: the weight
/// kaiming-uniform with a = sqrt(5), then the bias uniform in
/// [-1 / sqrt(fan_in), 1 / sqrt(fan_in)).
template <class T, int R>
void reset_weight_and_bias(Tensor<T, R>& weight, Tensor<T, 1>& bias, index_t fan_in, Generator& gen) {
  kaiming_uniform_(weight.view(), std::sqrt(5.0), fan_in, gen);
  if (bias.numel() > 0) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    uniform_(bias.view(), -bound, bound, gen);
  }
}

}  // namespace r2plus1d::nn

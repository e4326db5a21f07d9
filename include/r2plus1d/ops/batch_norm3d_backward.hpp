#pragma once
/// \file
/// BatchNorm3d for training: the forward pass in training mode that keeps the
/// batch statistics its backward needs (torch's save_mean and save_invstd),
/// and the gradients with respect to the input, weight and bias, in training
/// mode (batch statistics) and in eval mode (frozen running statistics).

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/batch_norm3d.hpp"
#include "r2plus1d/ops/gradient.hpp"

namespace r2plus1d::ops {

/// What batch_norm3d_train returns: the output and the statistics it
/// normalised with, as torch.native_batch_norm's (output, save_mean, save_invstd).
template <class T>
struct BatchNorm3dTrainOutput {
  Tensor<T, 5> output;  ///< The normalised input, (N, C, D, H, W).
  Tensor<T, 1> mean;    ///< The batch mean of each channel, C values.
  Tensor<T, 1> invstd;  ///< 1 / sqrt(biased batch variance + eps) of each channel, C values.
};

/// batch_norm3d in training mode: normalises an (N, C, D, H, W) input with the
/// batch mean and biased variance of each channel, applies the optional affine
/// `weight` and `bias` (nullptr or C values), and updates non-null running
/// statistics to (1 - momentum) * running + momentum * batch with the unbiased
/// variance, as torch.nn.functional.batch_norm(training=True). Returns the
/// output (the same bits as batch_norm3d) with the mean and invstd that
/// batch_norm3d_backward takes. Throws ShapeError when a channel has a single
/// value, OptionError when exactly one of the running statistics is given.
template <class T>
BatchNorm3dTrainOutput<T> batch_norm3d_train(TensorView<const T, 5> x, const T* weight, const T* bias,
                                             T* running_mean, T* running_var, double momentum, double eps) {
  BatchNorm3dTrainOutput<T> out;
  out.output = batch_norm3d<T>(x, weight, bias, running_mean, running_var, true, momentum, eps);
  const index_t channels = x.size(1);
  const double count = static_cast<double>(x.numel() / std::max<index_t>(1, channels));
  out.mean = Tensor<T, 1>::empty({channels});
  out.invstd = Tensor<T, 1>::empty({channels});
  parallel_for(0, channels, [&](index_t c) {
    double mean, sq_sum;
    detail::channel_moments(x, c, mean, sq_sum);
    out.mean.data()[c] = static_cast<T>(mean);
    out.invstd.data()[c] = static_cast<T>(1.0 / std::sqrt(sq_sum / count + eps));
  });
  return out;
}

namespace detail {

inline void check_batch_norm_grad(const char* op, const Shape<5>& grad_output, const Shape<5>& input,
                                  const Shape<5>* grad_input) {
  if (grad_output != input)
    throw ShapeError(std::string(op) + ": grad_output has shape " + format_shape<5>(grad_output) +
                     ", expected the input's " + format_shape<5>(input));
  if (grad_input != nullptr && *grad_input != input)
    throw ShapeError(std::string(op) + ": grad_input has shape " + format_shape<5>(*grad_input) +
                     ", expected the input's " + format_shape<5>(input));
}

/// The backward of y = (x - mean) * invstd * weight + bias per channel, in
/// double. With `training` the statistics are the batch's, so their own
/// gradients flow into dx: dx = (dy - sum(dy) / n - (x - mean) * invstd^2 *
/// sum((x - mean) dy) / n) * invstd * weight; otherwise dx = dy * invstd * weight.
/// dweight = invstd * sum((x - mean) dy), dbias = sum(dy). Null outputs are skipped.
template <class T, class Stat>
void batch_norm_backward(TensorView<const T, 5> dy, TensorView<const T, 5> x, const T* weight, Stat stat,
                         bool training, T* dx, T* dweight, T* dbias, GradMode mode) {
  const index_t n_batch = x.size(0), channels = x.size(1);
  const index_t plane = x.size(2) * x.size(3) * x.size(4);
  const double count = static_cast<double>(n_batch * plane);
  std::vector<double> mean(static_cast<std::size_t>(channels)), invstd(mean.size()), sum(mean.size()),
      dot(mean.size());
  parallel_for(0, channels, [&](index_t c) {
    const auto k = static_cast<std::size_t>(c);
    stat(c, mean[k], invstd[k]);
    double s = 0, d = 0;
    for (index_t n = 0; n < n_batch; ++n) {
      const T* g = dy.data() + (n * channels + c) * plane;
      const T* v = x.data() + (n * channels + c) * plane;
      for (index_t i = 0; i < plane; ++i) {
        s += static_cast<double>(g[i]);
        d += (static_cast<double>(v[i]) - mean[k]) * static_cast<double>(g[i]);
      }
    }
    sum[k] = s;
    dot[k] = d;
  });
  // Stored in loops of their own, so that an accumulated product is rounded
  // before it is added (no fused multiply-add).
  for (index_t c = 0; c < channels; ++c) {
    const auto k = static_cast<std::size_t>(c);
    if (dweight != nullptr) store_grad(mode, dweight[c], static_cast<T>(dot[k] * invstd[k]));
    if (dbias != nullptr) store_grad(mode, dbias[c], static_cast<T>(sum[k]));
  }
  if (dx == nullptr) return;
  parallel_for(0, n_batch * channels, [&](index_t nc) {
    const auto k = static_cast<std::size_t>(nc % channels);
    const double w = weight != nullptr ? static_cast<double>(weight[nc % channels]) : 1.0;
    const double m = mean[k], a = invstd[k] * w;
    const double proj = training ? dot[k] * invstd[k] * invstd[k] / count : 0.0;
    const double g_mean = training ? sum[k] / count : 0.0;
    const T* g = dy.data() + nc * plane;
    const T* v = x.data() + nc * plane;
    T* out = dx + nc * plane;
    std::vector<T> whole(mode == GradMode::kAccumulate ? static_cast<std::size_t>(plane) : 0);
    T* grad = mode == GradMode::kAccumulate ? whole.data() : out;
    for (index_t i = 0; i < plane; ++i)
      grad[i] = static_cast<T>((static_cast<double>(g[i]) - g_mean - (static_cast<double>(v[i]) - m) * proj) * a);
    if (mode == GradMode::kAccumulate) store_grads(mode, out, grad, plane);
  });
}

}  // namespace detail

/// The gradients of batch_norm3d_train's output with respect to its input
/// (through the batch statistics too), weight and bias, from grad_output and
/// the input, weight (nullptr: 1), and the `mean` and `invstd` (C values each)
/// batch_norm3d_train returned, computed in double as torch's CPU backward.
/// Each result is written or added (`mode`) into grad_input (the input's
/// shape), grad_weight and grad_bias (C values); pass an empty view or nullptr
/// to skip one. Throws ShapeError when the shapes differ.
template <class T>
void batch_norm3d_backward(TensorView<const T, 5> grad_output, TensorView<const T, 5> input, const T* weight,
                           const T* mean, const T* invstd, TensorView<T, 5> grad_input, T* grad_weight, T* grad_bias,
                           GradMode mode = GradMode::kOverwrite) {
  const Shape<5> gi = grad_input.shape();
  detail::check_batch_norm_grad("batch_norm3d_backward", grad_output.shape(), input.shape(),
                                grad_input.data() != nullptr ? &gi : nullptr);
  auto stat = [&](index_t c, double& m, double& s) {
    m = static_cast<double>(mean[c]);
    s = static_cast<double>(invstd[c]);
  };
  detail::batch_norm_backward(grad_output, input, weight, stat, true, grad_input.data(), grad_weight, grad_bias, mode);
}

/// The gradients of batch_norm3d in eval mode, normalising with the frozen
/// `running_mean` and `running_var` (C values each) and `eps`: grad_input =
/// grad_output * weight / sqrt(running_var + eps), with grad_weight and
/// grad_bias as in training. Outputs, skipping and errors as batch_norm3d_backward.
template <class T>
void batch_norm3d_eval_backward(TensorView<const T, 5> grad_output, TensorView<const T, 5> input, const T* weight,
                                const T* running_mean, const T* running_var, double eps, TensorView<T, 5> grad_input,
                                T* grad_weight, T* grad_bias, GradMode mode = GradMode::kOverwrite) {
  const Shape<5> gi = grad_input.shape();
  detail::check_batch_norm_grad("batch_norm3d_eval_backward", grad_output.shape(), input.shape(),
                                grad_input.data() != nullptr ? &gi : nullptr);
  auto stat = [&](index_t c, double& m, double& s) {
    m = static_cast<double>(running_mean[c]);
    s = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
  };
  detail::batch_norm_backward(grad_output, input, weight, stat, false, grad_input.data(), grad_weight, grad_bias,
                              mode);
}

}  // namespace r2plus1d::ops

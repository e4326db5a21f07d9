#pragma once
/// \file
/// Cross-entropy of logits against class indices, as
/// torch.nn.functional.cross_entropy (torch 1.13) with reduction 'mean' and
/// label_smoothing, with its gradient with respect to the logits.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::ops {

/// The loss and d loss / d logits that cross_entropy returns.
template <class T>
struct CrossEntropyResult {
  T loss;             ///< The mean loss over the batch.
  Tensor<T, 2> grad;  ///< Its gradient with respect to the logits, (N, K).
};

/// Cross-entropy of `logits` (N, K) against `targets` (N) in [0, K), mean over
/// N, as torch's cross_entropy(logits, targets, label_smoothing=eps). With
/// log p = log_softmax(logits) (stable: each row shifted by its maximum),
///
///     loss = mean_n [ (1 - eps) * -log p[n, t_n] + eps / K * sum_k -log p[n, k] ]
///     grad[n, k] = (softmax[n, k] - (1 - eps) * [k == t_n] - eps / K) / N
///
/// accumulated in double and rounded to T. No class weights and no
/// ignore_index (-100 is out of range here). N == 0 gives a NaN loss, as torch.
/// ShapeError when targets has another length or K is 0; OptionError for a
/// target outside [0, K) or label_smoothing outside [0, 1].
template <class T>
CrossEntropyResult<T> cross_entropy(TensorView<const T, 2> logits, TensorView<const std::int64_t, 1> targets,
                                    double label_smoothing = 0.0) {
  static_assert(std::is_floating_point_v<T>, "cross_entropy: expected floating-point logits");
  const index_t n = logits.size(0), k = logits.size(1);
  if (targets.size(0) != n)
    throw ShapeError("cross_entropy: expected " + std::to_string(n) + " targets for logits " +
                     format_shape<2>(logits.shape()) + ", got " + std::to_string(targets.size(0)));
  if (k == 0) throw ShapeError("cross_entropy: expected at least one class, got logits " + format_shape<2>(logits.shape()));
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw OptionError("cross_entropy: expected label_smoothing in [0, 1], got " + std::to_string(label_smoothing));
  for (index_t i = 0; i < n; ++i)
    if (targets(i) < 0 || targets(i) >= k)
      throw OptionError("cross_entropy: target " + std::to_string(targets(i)) + " of sample " + std::to_string(i) +
                        " is out of range for " + std::to_string(k) + " classes");
  CrossEntropyResult<T> out{T(0), Tensor<T, 2>::empty(logits.shape())};
  if (n == 0) {
    out.loss = std::numeric_limits<T>::quiet_NaN();
    return out;
  }
  const double eps = label_smoothing, uniform = eps / static_cast<double>(k), inv_n = 1.0 / static_cast<double>(n);
  double total = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const T* x = logits.data() + i * k;
    T* g = out.grad.data() + i * k;
    double max = static_cast<double>(x[0]);
    for (index_t c = 1; c < k; ++c)
      if (std::isnan(static_cast<double>(x[c])) || static_cast<double>(x[c]) > max) max = static_cast<double>(x[c]);
    double sum = 0.0;
    for (index_t c = 0; c < k; ++c) sum += std::exp(static_cast<double>(x[c]) - max);
    const double lse = max + std::log(sum);
    double smooth = 0.0;  // sum_k -log p[k]
    for (index_t c = 0; c < k; ++c) {
      const double neg_log_p = lse - static_cast<double>(x[c]);
      smooth += neg_log_p;
      const double q = (c == targets(i) ? 1.0 - eps : 0.0) + uniform;
      g[c] = static_cast<T>((std::exp(-neg_log_p) - q) * inv_n);
    }
    total += (1.0 - eps) * (lse - static_cast<double>(x[targets(i)])) + uniform * smooth;
  }
  out.loss = static_cast<T>(total * inv_n);
  return out;
}

/// The same on tensors.
template <class T>
CrossEntropyResult<T> cross_entropy(const Tensor<T, 2>& logits, const Tensor<std::int64_t, 1>& targets,
                                    double label_smoothing = 0.0) {
  return cross_entropy<T>(logits.cview(), targets.cview(), label_smoothing);
}

}  // namespace r2plus1d::ops

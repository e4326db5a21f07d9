#pragma once
/// \file
/// clip_grad_norm_: torch.nn.utils.clip_grad_norm_ (torch 1.13) over an
/// optimizer's or a module's trainable parameters.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/nn/parameter.hpp"

namespace r2plus1d::optim {

/// The p-norm of `v` (max |v| for p infinite), accumulated in double and rounded to T.
template <class T>
T grad_norm(TensorView<const T, 1> v, double norm_type) {
  double acc = 0.0;
  const bool inf = std::isinf(norm_type);
  for (index_t i = 0; i < v.numel(); ++i) {
    const double a = std::abs(static_cast<double>(v(i)));
    if (inf) acc = (a > acc || std::isnan(a)) ? a : acc;
    else if (norm_type == 2.0) acc += a * a;
    else acc += std::pow(a, norm_type);
  }
  if (inf) return static_cast<T>(acc);
  return static_cast<T>(norm_type == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type));
}

/// Scales the gradients of `params` (those that have one) so that their joint
/// `norm_type`-norm is at most `max_norm`, and returns that norm before
/// scaling, as torch: the total norm is the norm of the per-parameter norms (the
/// largest for norm_type infinity), and every gradient is multiplied by
/// min(1, max_norm / (total + 1e-6)) computed in T (torch's 1e-6 included, so a
/// norm just under max_norm is scaled slightly too). 0 when no parameter has a
/// gradient. OptionError for a norm_type that is not positive.
template <class T>
T clip_grad_norm_(const std::vector<nn::NamedParameter<T>>& params, double max_norm, double norm_type = 2.0) {
  if (!(norm_type > 0.0))
    throw OptionError("clip_grad_norm_: expected a positive norm_type, got " + std::to_string(norm_type));
  std::vector<T> norms;
  for (const auto& p : params)
    if (p.parameter->has_grad()) norms.push_back(grad_norm<T>(p.parameter->flat_grad(), norm_type));
  if (norms.empty()) return T(0);
  const T total = grad_norm<T>(TensorView<const T, 1>(norms.data(), Shape<1>{static_cast<index_t>(norms.size())}),
                               norm_type);
  // max_norm / (total + 1e-6) as torch evaluates it: reciprocal(total + 1e-6) * max_norm.
  const T shifted = total + static_cast<T>(1e-6);
  T coef = (T(1) / shifted) * static_cast<T>(max_norm);
  if (coef > T(1)) coef = T(1);  // torch.clamp(max=1.0), NaN kept
  for (const auto& p : params) {
    if (!p.parameter->has_grad()) continue;
    TensorView<T, 1> g = p.parameter->flat_grad();
    for (index_t i = 0; i < g.numel(); ++i) g(i) = g(i) * coef;
  }
  return total;
}

}  // namespace r2plus1d::optim

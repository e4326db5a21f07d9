#pragma once
/// \file
/// AdamW: torch.optim.AdamW (torch 1.13, single-tensor path): Adam with
/// decoupled weight decay, bias corrections and optional AMSGrad.

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/nn/parameter.hpp"
#include "r2plus1d/optim/optimizer.hpp"

namespace r2plus1d::optim {

/// Options of AdamW, as torch.optim.AdamW's arguments: `AdamWOptions(1e-3).weight_decay(0.05)`.
class AdamWOptions {
 public:
  /// Options with learning rate `lr` (torch's default is 1e-3).
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}

  ///@{
  /// Chainable setters, torch's defaults otherwise: betas (0.9, 0.999), eps
  /// 1e-8, weight_decay 1e-2, amsgrad false. AdamW checks the values when it is built.
  AdamWOptions& lr(double v) {
    lr_ = v;
    return *this;
  }
  AdamWOptions& betas(double beta1, double beta2) {
    beta1_ = beta1;
    beta2_ = beta2;
    return *this;
  }
  AdamWOptions& eps(double v) {
    eps_ = v;
    return *this;
  }
  AdamWOptions& weight_decay(double v) {
    weight_decay_ = v;
    return *this;
  }
  AdamWOptions& amsgrad(bool v) {
    amsgrad_ = v;
    return *this;
  }
  ///@}

  ///@{
  /// The options as set (or defaulted).
  double lr() const { return lr_; }
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }
  ///@}

 private:
  double lr_;
  double beta1_ = 0.9;
  double beta2_ = 0.999;
  double eps_ = 1e-8;
  double weight_decay_ = 1e-2;
  bool amsgrad_ = false;
};

/// AdamW, as torch.optim.AdamW. Per element, with g the gradient, p the
/// parameter and t this parameter's step count after incrementing it:
///
///     p = p * (1 - lr * weight_decay)
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g * g
///     v' = max(v', v) (amsgrad), else v' = v
///     p = p - lr / (1 - beta1^t) * m / (sqrt(v') / sqrt(1 - beta2^t) + eps)
///
/// each operation in T, the scalar coefficients computed in double and rounded
/// to T, as torch's kernels. Parameters without a gradient are skipped (their
/// t does not advance). The state is the step and "exp_avg", "exp_avg_sq",
/// "max_exp_avg_sq" (amsgrad), as torch's.
template <class T>
class AdamW : public Optimizer<T> {
 public:
  /// Throws OptionError for a negative lr, eps or weight_decay, a beta outside
  /// [0, 1), or no parameters.
  AdamW(std::vector<nn::NamedParameter<T>> params, const AdamWOptions& options)
      : Optimizer<T>("AdamW", std::move(params), options.lr()), options_(checked(options)) {}

  /// One update of every parameter that has a gradient, with the current lr().
  void step() {
    const double lr = this->lr(), beta1 = options_.beta1(), beta2 = options_.beta2();
    const T decay = static_cast<T>(1.0 - lr * options_.weight_decay());
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
    const T one_minus_b1 = static_cast<T>(1.0 - beta1), one_minus_b2 = static_cast<T>(1.0 - beta2);
    const T eps = static_cast<T>(options_.eps());
    const auto& params = this->parameters();
    for (std::size_t k = 0; k < params.size(); ++k) {
      nn::ParameterBase<T>& param = *params[k].parameter;
      if (!param.has_grad()) continue;
      TensorView<T, 1> p = param.flat_value(), g = param.flat_grad();
      const index_t n = p.numel();
      ParameterState<T>& state = this->mutable_state(k);
      T* m = buffer(state, "exp_avg", n);
      T* v = buffer(state, "exp_avg_sq", n);
      T* vmax = options_.amsgrad() ? buffer(state, "max_exp_avg_sq", n) : nullptr;
      state.step += 1;
      const double t = static_cast<double>(state.step);
      const double bias_correction1 = 1.0 - std::pow(beta1, t);
      const double bias_correction2 = 1.0 - std::pow(beta2, t);
      const T neg_step_size = static_cast<T>(-(lr / bias_correction1));
      const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
      for (index_t i = 0; i < n; ++i) {
        p(i) = p(i) * decay;
        m[i] = m[i] * b1 + one_minus_b1 * g(i);
        v[i] = v[i] * b2 + one_minus_b2 * g(i) * g(i);
        T second = v[i];
        if (vmax != nullptr) {
          if (v[i] > vmax[i] || std::isnan(v[i])) vmax[i] = v[i];  // torch.maximum: NaN wins
          second = vmax[i];
        }
        const T denom = std::sqrt(second) / bias_correction2_sqrt + eps;
        p(i) = p(i) + neg_step_size * m[i] / denom;
      }
    }
    this->count_step();
  }

  /// The options it was built with (lr() of the optimizer may since have changed).
  const AdamWOptions& options() const { return options_; }

 private:
  // The buffer `name` of `state`, created zero-filled (n elements) when absent.
  static T* buffer(ParameterState<T>& state, const char* name, index_t n) {
    auto it = state.buffers.find(name);
    if (it == state.buffers.end()) it = state.buffers.emplace(name, Tensor<T, 1>(Shape<1>{n})).first;
    return it->second.data();
  }

  static const AdamWOptions& checked(const AdamWOptions& o) {
    Optimizer<T>::check_non_negative("AdamW", "epsilon", o.eps());
    Optimizer<T>::check_non_negative("AdamW", "weight_decay", o.weight_decay());
    for (double beta : {o.beta1(), o.beta2()})
      if (!(beta >= 0.0 && beta < 1.0))
        throw OptionError("AdamW: invalid beta value " + std::to_string(beta) + " (expected in [0, 1))");
    return o;
  }

  AdamWOptions options_;
};

}  // namespace r2plus1d::optim

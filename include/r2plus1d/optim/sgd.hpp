#pragma once
/// \file
/// SGD: torch.optim.SGD (torch 1.13, single-tensor path), with momentum,
/// dampening, Nesterov momentum and L2 weight decay added to the gradient.

#include <string>
#include <utility>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/nn/parameter.hpp"
#include "r2plus1d/optim/optimizer.hpp"

namespace r2plus1d::optim {

/// Options of SGD, as torch.optim.SGD's arguments: `SGDOptions(0.1).momentum(0.9).weight_decay(1e-4)`.
class SGDOptions {
 public:
  /// Options with learning rate `lr`.
  explicit SGDOptions(double lr) : lr_(lr) {}

  ///@{
  /// Chainable setters, torch's defaults otherwise: momentum 0, dampening 0,
  /// weight_decay 0, nesterov false. SGD checks the values when it is built.
  SGDOptions& lr(double v) {
    lr_ = v;
    return *this;
  }
  SGDOptions& momentum(double v) {
    momentum_ = v;
    return *this;
  }
  SGDOptions& dampening(double v) {
    dampening_ = v;
    return *this;
  }
  SGDOptions& weight_decay(double v) {
    weight_decay_ = v;
    return *this;
  }
  SGDOptions& nesterov(bool v) {
    nesterov_ = v;
    return *this;
  }
  ///@}

  ///@{
  /// The options as set (or defaulted).
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }
  ///@}

 private:
  double lr_;
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  double weight_decay_ = 0.0;
  bool nesterov_ = false;
};

/// Stochastic gradient descent, as torch.optim.SGD. Per element, with g the
/// gradient and p the parameter:
///
///     d = g + weight_decay * p                      (when weight_decay != 0)
///     b = d on the first step, else momentum * b + (1 - dampening) * d
///     d = d + momentum * b (nesterov), or d = b     (when momentum != 0)
///     p = p - lr * d
///
/// each operation in T with the coefficients rounded to T, as torch's kernels.
/// Parameters without a gradient are skipped. The state is "momentum_buffer"
/// (when momentum != 0).
template <class T>
class SGD : public Optimizer<T> {
 public:
  /// Throws OptionError for a negative lr, momentum or weight_decay, nesterov
  /// without momentum or with dampening, or no parameters.
  SGD(std::vector<nn::NamedParameter<T>> params, const SGDOptions& options)
      : Optimizer<T>("SGD", std::move(params), options.lr()), options_(checked(options)) {}

  /// One update of every parameter that has a gradient, with the current lr().
  void step() {
    const bool wd = options_.weight_decay() != 0.0, mom = options_.momentum() != 0.0;
    const T weight_decay = static_cast<T>(options_.weight_decay()), momentum = static_cast<T>(options_.momentum());
    const T undamped = static_cast<T>(1.0 - options_.dampening()), neg_lr = static_cast<T>(-this->lr());
    const auto& params = this->parameters();
    for (std::size_t k = 0; k < params.size(); ++k) {
      nn::ParameterBase<T>& param = *params[k].parameter;
      if (!param.has_grad()) continue;
      TensorView<T, 1> p = param.flat_value(), g = param.flat_grad();
      const index_t n = p.numel();
      T* buf = nullptr;
      bool first = false;
      if (mom) {
        auto& buffers = this->mutable_state(k).buffers;
        auto it = buffers.find("momentum_buffer");
        first = it == buffers.end();
        if (first) it = buffers.emplace("momentum_buffer", Tensor<T, 1>::empty({n})).first;
        buf = it->second.data();
      }
      for (index_t i = 0; i < n; ++i) {
        T d = g(i);
        if (wd) d = d + weight_decay * p(i);
        if (mom) {
          buf[i] = first ? d : buf[i] * momentum + undamped * d;
          d = options_.nesterov() ? d + momentum * buf[i] : buf[i];
        }
        p(i) = p(i) + neg_lr * d;
      }
    }
    this->count_step();
  }

  /// The options it was built with (lr() of the optimizer may since have changed).
  const SGDOptions& options() const { return options_; }

 private:
  static const SGDOptions& checked(const SGDOptions& o) {
    Optimizer<T>::check_non_negative("SGD", "momentum", o.momentum());
    Optimizer<T>::check_non_negative("SGD", "weight_decay", o.weight_decay());
    if (o.nesterov() && (o.momentum() <= 0.0 || o.dampening() != 0.0))
      throw OptionError("SGD: nesterov momentum requires a momentum and zero dampening, got momentum " +
                        std::to_string(o.momentum()) + " and dampening " + std::to_string(o.dampening()));
    return o;
  }

  SGDOptions options_;
};

}  // namespace r2plus1d::optim

#pragma once
/// \file
/// Learning-rate schedulers: StepLR and CosineAnnealingLR, as torch 1.13's,
/// in their recursive ("chainable") form, so that the optimizer's lr takes
/// torch's values bit for bit. Call step() once per epoch, after the
/// optimizer's steps of that epoch, as in torch. save() and load() keep the
/// epoch and base lr in a safetensors file; with the optimizer's own save and
/// load a schedule resumes where it stopped.

#include <cmath>
#include <cstdint>
#include <string>

#include "r2plus1d/core/dtype.hpp"
#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/io/safetensors.hpp"
#include "r2plus1d/optim/optimizer.hpp"

namespace r2plus1d::optim {

namespace detail {
/// a * b + c with the product rounded before the sum, as Python evaluates it:
/// a compiler may not fuse the two into one multiply-add (which rounds once).
inline double mul_then_add(double a, double b, double c) {
  const volatile double product = a * b;
  return product + c;
}
}  // namespace detail

/// What the schedulers share: the optimizer, the base lr (its lr when the
/// scheduler was built, torch's initial_lr) and the epoch counter.
template <class T>
class LRScheduler {
 public:
  /// The epoch the optimizer's lr is for: 0 after construction, +1 per step().
  std::int64_t last_epoch() const { return last_epoch_; }
  /// The optimizer's lr as the last step() (or the constructor) left it, as get_last_lr()[0].
  double last_lr() const { return last_lr_; }
  /// The lr the optimizer had when the scheduler was built.
  double base_lr() const { return base_lr_; }

  /// Writes "last_epoch" (int64), "base_lr" and "last_lr" (float64) to the
  /// safetensors file `path`, with the metadata "scheduler" naming the kind.
  void save(const std::string& path) const {
    std::int64_t epoch = last_epoch_;
    double base = base_lr_, last = last_lr_;
    StateDict d;
    d.add("last_epoch", TensorRef{DType::I64, &epoch, {}});
    d.add("base_lr", TensorRef{DType::F64, &base, {}});
    d.add("last_lr", TensorRef{DType::F64, &last, {}});
    io::save_safetensors(path, d, {{"scheduler", kind_}});
  }
  /// Takes the epoch and lrs that save() wrote to `path` (the optimizer's lr
  /// is its own load's). StateDictError, changing nothing, when the file is
  /// another kind's or lacks a key.
  void load(const std::string& path) {
    const io::LoadedTensors f = io::load_safetensors(path);
    const auto kind = f.metadata().find("scheduler");
    if (kind == f.metadata().end() || kind->second != kind_)
      throw StateDictError(std::string(kind_) + ".load: '" + path + "': expected the state of a " + kind_ +
                           " scheduler");
    std::int64_t epoch = 0;
    double base = 0.0, last = 0.0;
    f.read("last_epoch", TensorRef{DType::I64, &epoch, {}});
    f.read("base_lr", TensorRef{DType::F64, &base, {}});
    f.read("last_lr", TensorRef{DType::F64, &last, {}});
    last_epoch_ = epoch;
    base_lr_ = base;
    last_lr_ = last;
  }

 protected:
  /// Attaches to `optimizer`, which must outlive the scheduler; `kind` names it in files.
  LRScheduler(const char* kind, Optimizer<T>& optimizer)
      : kind_(kind), optimizer_(&optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}
  /// Moves to the next epoch and sets the optimizer's lr to `lr`.
  void advance_to(double lr) {
    optimizer_->set_lr(lr);
    last_lr_ = lr;
  }
  /// The optimizer's current lr (torch's group['lr']).
  double current_lr() const { return optimizer_->lr(); }

  /// The epoch counter, which the derived step() increments.
  std::int64_t last_epoch_ = 0;

 private:
  const char* kind_;
  Optimizer<T>* optimizer_;
  double base_lr_;
  double last_lr_;
};

/// Multiplies the lr by gamma every step_size epochs, as torch.optim.lr_scheduler.StepLR.
template <class T>
class StepLR : public LRScheduler<T> {
 public:
  /// OptionError for step_size < 1. The optimizer's lr is epoch 0's.
  StepLR(Optimizer<T>& optimizer, std::int64_t step_size, double gamma = 0.1)
      : LRScheduler<T>("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
    if (step_size < 1) throw OptionError("StepLR: expected a positive step_size, got " + std::to_string(step_size));
  }

  /// The next epoch: lr * gamma when it is a multiple of step_size, else lr.
  void step() {
    const std::int64_t e = ++this->last_epoch_;
    const double lr = this->current_lr();
    this->advance_to(e % step_size_ != 0 ? lr : lr * gamma_);
  }

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// Cosine annealing from the base lr down to eta_min over T_max epochs (and
/// back up over the next T_max, periodically), as
/// torch.optim.lr_scheduler.CosineAnnealingLR, whose recursive form it follows:
///
///     lr_e = eta_min + (1 + cos(pi e / T_max)) / (1 + cos(pi (e - 1) / T_max)) * (lr_{e-1} - eta_min)
///
/// and lr_{e-1} + (base_lr - eta_min) (1 - cos(pi / T_max)) / 2 when (e - 1 - T_max) % (2 T_max) == 0.
template <class T>
class CosineAnnealingLR : public LRScheduler<T> {
 public:
  /// OptionError for T_max < 1. The optimizer's lr is epoch 0's.
  CosineAnnealingLR(Optimizer<T>& optimizer, std::int64_t t_max, double eta_min = 0.0)
      : LRScheduler<T>("CosineAnnealingLR", optimizer), t_max_(t_max), eta_min_(eta_min) {
    if (t_max < 1) throw OptionError("CosineAnnealingLR: expected a positive T_max, got " + std::to_string(t_max));
  }

  /// The next epoch's lr, as torch's get_lr().
  void step() {
    constexpr double kPi = 3.141592653589793;  // Python's math.pi
    const std::int64_t e = ++this->last_epoch_;
    const double lr = this->current_lr(), tm = static_cast<double>(t_max_);
    if ((e - 1 - t_max_) % (2 * t_max_) == 0) {
      this->advance_to(lr + (this->base_lr() - eta_min_) * (1.0 - std::cos(kPi / tm)) / 2.0);
      return;
    }
    const double ed = static_cast<double>(e);
    const double ratio = (1.0 + std::cos(kPi * ed / tm)) / (1.0 + std::cos(kPi * (ed - 1.0) / tm));
    this->advance_to(detail::mul_then_add(ratio, lr - eta_min_, eta_min_));
  }

 private:
  std::int64_t t_max_;
  double eta_min_;
};

}  // namespace r2plus1d::optim

#pragma once
/// \file
/// Optimizer<T>: the base of the optimizers, as torch.optim.Optimizer with one
/// parameter group. It holds the trainable parameters (name, parameter and its
/// gradient), the learning rate that schedulers set, and each parameter's state
/// (torch's `optimizer.state[p]`), which save() and load() write to and read
/// from a safetensors file so that a run resumes exactly.

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "r2plus1d/core/dtype.hpp"
#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/io/safetensors.hpp"
#include "r2plus1d/nn/parameter.hpp"

namespace r2plus1d::optim {

/// One parameter's optimizer state, as torch's `optimizer.state[p]`.
template <class T>
struct ParameterState {
  /// Updates this parameter has had (AdamW's state['step']; SGD keeps none, 0).
  std::int64_t step = 0;
  /// The named buffers (e.g. "momentum_buffer", "exp_avg"), flat, one element per parameter element.
  std::map<std::string, Tensor<T, 1>> buffers;
};

/// Base of SGD and AdamW. The parameters belong to their module, which must
/// stay where it is while the optimizer is used. One parameter group: lr is
/// the group's learning rate.
template <class T>
class Optimizer {
 public:
  /// The parameters it updates, in the order given.
  const std::vector<nn::NamedParameter<T>>& parameters() const { return params_; }
  /// The learning rate of the next step().
  double lr() const { return lr_; }
  /// Sets the learning rate (what a scheduler does); OptionError when negative or NaN.
  void set_lr(double lr) {
    check_lr(kind_, lr);
    lr_ = lr;
  }
  /// How many times step() has run.
  std::int64_t step_count() const { return step_count_; }
  /// The state of parameter `i` (in parameters()' order), empty before its first update.
  const ParameterState<T>& state(std::size_t i) const { return state_.at(i); }

  /// Zeroes every parameter's gradient, or frees them when `set_to_none`; the
  /// default is torch 1.13's (set_to_none=False).
  void zero_grad(bool set_to_none = false) {
    for (auto& p : params_) p.parameter->zero_grad(set_to_none);
  }

  /// Writes the state to the safetensors file `path`: "step" (step_count, int64),
  /// "lr" (float64), and for each parameter with state "state.<name>.<buffer>"
  /// (T, the parameter's shape) and "state.<name>.step" (int64, when not 0).
  /// The metadata "optimizer" names the kind ("SGD", "AdamW"). The options are
  /// the constructor's and are not written.
  void save(const std::string& path) const {
    double lr = lr_;
    std::int64_t steps = step_count_;
    StateDict d;
    d.add("step", TensorRef{DType::I64, &steps, {}});
    d.add("lr", TensorRef{DType::F64, &lr, {}});
    std::vector<std::int64_t> param_steps(state_.size());
    for (std::size_t i = 0; i < state_.size(); ++i) {
      const std::string key = "state." + params_[i].name + ".";
      const std::vector<index_t> shape = params_[i].parameter->shape();
      for (const auto& [name, buf] : state_[i].buffers)
        d.add(key + name, TensorRef{dtype_of<T>(), const_cast<T*>(buf.data()), shape});
      param_steps[i] = state_[i].step;
      if (param_steps[i] != 0) d.add(key + "step", TensorRef{DType::I64, &param_steps[i], {}});
    }
    io::save_safetensors(path, d, {{"optimizer", kind_}});
  }

  /// Replaces the state with the one save() wrote to `path`, for the same
  /// parameters (names and shapes) and the same kind of optimizer. Throws
  /// StateDictError, changing nothing, when the file's kind, names or shapes do
  /// not fit; the file's errors as io::load_safetensors.
  void load(const std::string& path) {
    const io::LoadedTensors f = io::load_safetensors(path);
    const std::string where = std::string(kind_) + ".load: '" + path + "': ";
    const auto kind = f.metadata().find("optimizer");
    if (kind == f.metadata().end() || kind->second != kind_)
      throw StateDictError(where + "expected the state of a " + kind_ + " optimizer, got " +
                           (kind == f.metadata().end() ? std::string("no optimizer metadata") : quote(kind->second)));
    auto scalar = [&](const std::string& name, auto& out) {
      if (!f.contains(name) || f.at(name).numel() != 1) throw StateDictError(where + "expected a scalar " + quote(name));
      f.read(name, TensorRef{dtype_of<std::remove_reference_t<decltype(out)>>(), &out, {}});
    };
    std::int64_t steps = 0;
    double lr = 0.0;
    scalar("step", steps);
    scalar("lr", lr);
    std::vector<ParameterState<T>> state(params_.size());
    for (const TensorInfo& info : f.infos()) {
      if (info.name == "step" || info.name == "lr") continue;
      const std::size_t dot = info.name.rfind('.');
      const std::size_t i = info.name.compare(0, 6, "state.") == 0 && dot > 6 ? index_of(info.name.substr(6, dot - 6))
                                                                               : params_.size();
      if (i == params_.size()) throw StateDictError(where + "unexpected key " + quote(info.name));
      const std::string buffer = info.name.substr(dot + 1);
      if (buffer == "step") {
        scalar(info.name, state[i].step);
        continue;
      }
      const std::vector<index_t> shape = params_[i].parameter->shape();
      if (info.shape != shape)
        throw StateDictError(where + quote(info.name) + " has shape " + format_shape(info.shape) + ", expected " +
                             format_shape(shape));
      Tensor<T, 1> buf = Tensor<T, 1>::empty({shape_numel(shape)});
      f.read(info.name, TensorRef{dtype_of<T>(), buf.data(), {buf.numel()}});
      state[i].buffers.emplace(buffer, std::move(buf));
    }
    check_lr(kind_, lr);
    state_ = std::move(state);
    step_count_ = steps;
    lr_ = lr;
  }

 protected:
  /// Takes the parameters (OptionError when there are none, or a name repeats) and the learning rate.
  Optimizer(const char* kind, std::vector<nn::NamedParameter<T>> params, double lr)
      : kind_(kind), params_(std::move(params)), state_(params_.size()) {
    if (params_.empty()) throw OptionError(std::string(kind) + ": got an empty parameter list");
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (index_of(params_[i].name) != i)
        throw OptionError(std::string(kind) + ": parameter " + quote(params_[i].name) + " is given more than once");
    set_lr(lr);
  }
  ~Optimizer() = default;
  ///@{
  /// Copies share the parameters (as two torch optimizers over the same tensors) and copy the state.
  Optimizer(const Optimizer&) = default;
  Optimizer& operator=(const Optimizer&) = default;
  Optimizer(Optimizer&&) noexcept = default;
  Optimizer& operator=(Optimizer&&) noexcept = default;
  ///@}

  /// The mutable state of parameter `i`, for a step().
  ParameterState<T>& mutable_state(std::size_t i) { return state_[i]; }
  /// Counts one step() call.
  void count_step() { ++step_count_; }
  /// OptionError unless `value` >= 0 (NaN fails): "<kind>: invalid <what> value <value>", as torch's check.
  static void check_non_negative(const char* kind, const char* what, double value) {
    if (!(value >= 0.0))
      throw OptionError(std::string(kind) + ": invalid " + what + " value " + std::to_string(value) +
                        " (expected >= 0)");
  }

 private:
  static void check_lr(const char* kind, double lr) { check_non_negative(kind, "learning rate", lr); }
  std::size_t index_of(const std::string& name) const {
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (params_[i].name == name) return i;
    return params_.size();
  }

  const char* kind_;
  std::vector<nn::NamedParameter<T>> params_;
  std::vector<ParameterState<T>> state_;
  double lr_ = 0.0;
  std::int64_t step_count_ = 0;
};

}  // namespace r2plus1d::optim

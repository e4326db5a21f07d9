#pragma once
/// \file
/// Activation checkpointing (as torch.utils.checkpoint): a module's
/// forward_train keeps only its input, and its backward first computes the
/// forward again from it, keeping what backward needs then. Training then
/// holds the activations of one checkpointed module at a time instead of
/// all, for one more forward of each. The second forward is a
/// recomputation (RecomputeGuard): BatchNorm takes the same batch statistics
/// again but leaves its running statistics alone, so gradients and running
/// statistics come out the same to the bit. nn::Module::set_checkpointing
/// turns it on in a network's residual blocks and stem.

#include <utility>

#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::nn {

namespace detail {
inline bool& recomputing_flag() {
  thread_local bool on = false;
  return on;
}
}  // namespace detail

/// Whether a RecomputeGuard lives on this thread.
inline bool recomputing() { return detail::recomputing_flag(); }

/// While one lives on this thread, forward_train computes again what an
/// earlier forward_train of the same input did: BatchNorm takes the batch
/// statistics again, the same, but leaves its running statistics and
/// num_batches_tracked as they are, and checkpointed modules keep all that
/// backward needs.
class RecomputeGuard {
 public:
  /// Starts a recomputation on this thread.
  RecomputeGuard() : outer_(detail::recomputing_flag()) { detail::recomputing_flag() = true; }
  /// Ends it (back to what it was before: guards nest).
  ~RecomputeGuard() { detail::recomputing_flag() = outer_; }
  RecomputeGuard(const RecomputeGuard&) = delete;
  RecomputeGuard& operator=(const RecomputeGuard&) = delete;

 private:
  bool outer_;
};

/// A module's checkpointing switch and the input its forward_train keeps
/// while it is on. The module runs its forward_train through it:
///
///     Tensor<T, 5> forward_train(x) {
///       return checkpoint_.forward_train(x, [&](auto v) { return keep_all(v); }, [&] { drop_saved(); });
///     }
///     Tensor<T, 5> backward(g, ...) {
///       checkpoint_.recompute([&](auto v) { keep_all(v); });
///       ...
///     }
template <class T>
class Checkpoint {
 public:
  /// Turns checkpointing on or off.
  void set(bool on) { on_ = on; }
  /// Whether checkpointing is on.
  bool on() const { return on_; }
  /// keep(x), a forward_train keeping all that backward needs; with
  /// checkpointing on (and outside a recomputation) then drop(), which drops
  /// what keep kept, and keeps x alone.
  template <class Keep, class Drop>
  Tensor<T, 5> forward_train(TensorView<const T, 5> x, Keep&& keep, Drop&& drop) {
    Tensor<T, 5> y = keep(x);
    if (on_ && !recomputing()) {
      drop();
      input_ = Tensor<T, 5>::from(x);
    }
    return y;
  }
  /// Before backward: keep(x) again on the kept input, if any, under a
  /// RecomputeGuard; the input is freed.
  template <class Keep>
  void recompute(Keep&& keep) {
    if (input_.numel() == 0) return;
    const RecomputeGuard guard;
    keep(input_.cview());
    input_ = Tensor<T, 5>();
  }
  /// Frees a kept input.
  void drop() { input_ = Tensor<T, 5>(); }

 private:
  bool on_ = false;
  Tensor<T, 5> input_;
};

/// A module M run through a Checkpoint held elsewhere (a network's stem), as
/// chain_forward_train and chain_backward run their children.
template <class M, class T>
struct Checkpointed {
  M& module;                  ///< The module.
  Checkpoint<T>& checkpoint;  ///< Its checkpointing switch and kept input.

  /// The module's forward.
  Tensor<T, 5> forward(TensorView<const T, 5> x) { return module.forward(x); }
  /// The module's forward_train through the checkpoint.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    return checkpoint.forward_train(
        x, [this](TensorView<const T, 5> v) { return module.forward_train(v); }, [this] { module.drop_saved(); });
  }
  /// The module's backward, after its forward_train again if the checkpoint kept its input.
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    checkpoint.recompute([this](TensorView<const T, 5> v) { module.forward_train(v); });
    return module.backward(grad_output, need_input_grad);
  }
  /// Whether the module has a parameter to train.
  bool has_trainable_parameters() { return module.has_trainable_parameters(); }
};

}  // namespace r2plus1d::nn

#pragma once
/// \file
/// BatchNorm3d: torch.nn.BatchNorm3d with libtorch-style options.

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/checkpoint.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/ops/batch_norm3d.hpp"
#include "r2plus1d/ops/batch_norm3d_backward.hpp"
#include "r2plus1d/ops/relu.hpp"
#include "r2plus1d/core/parallel.hpp"

namespace r2plus1d::nn {

/// Options of BatchNorm3d, as torch::nn::BatchNorm3dOptions:
/// `BatchNorm3dOptions(64).eps(1e-3).momentum(0.01)`. momentum std::nullopt is
/// torch's momentum=None (a cumulative average of the batch statistics).
class BatchNorm3dOptions {
 public:
  /// Options for `num_features` channels (C of the input).
  explicit BatchNorm3dOptions(index_t num_features) : num_features_(num_features) {}

  ///@{
  /// Chainable setters, torch's defaults otherwise: eps 1e-5 (added to the
  /// variance), momentum 0.1, affine true (weight and bias), track_running_stats
  /// true. BatchNorm3d checks the values when it is built.
  BatchNorm3dOptions& num_features(index_t v) {
    num_features_ = v;
    return *this;
  }
  BatchNorm3dOptions& eps(double v) {
    eps_ = v;
    return *this;
  }
  BatchNorm3dOptions& momentum(std::optional<double> v) {
    momentum_ = v;
    return *this;
  }
  BatchNorm3dOptions& affine(bool v) {
    affine_ = v;
    return *this;
  }
  BatchNorm3dOptions& track_running_stats(bool v) {
    track_running_stats_ = v;
    return *this;
  }
  ///@}

  ///@{
  /// The options as set (or defaulted).
  index_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  const std::optional<double>& momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }
  ///@}

 private:
  index_t num_features_;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool affine_ = true;
  bool track_running_stats_ = true;
};

/// Batch normalisation of (N, C, D, H, W) inputs over (N, D, H, W) per channel,
/// as torch.nn.BatchNorm3d. In training mode it normalises with the batch
/// statistics and, when tracking, increments num_batches_tracked and updates the
/// running statistics (momentum, or 1 / num_batches_tracked for momentum
/// nullopt); in eval mode it uses the running statistics, or the batch's when
/// not tracking. weight 1, bias 0, running_mean 0, running_var 1 at construction.
/// state_dict keys "weight", "bias" (affine), then "running_mean",
/// "running_var", "num_batches_tracked" (tracking).
template <class T>
class BatchNorm3d : public Module<BatchNorm3d<T>> {
 public:
  /// Throws OptionError for num_features < 1 or a negative or non-finite eps.
  explicit BatchNorm3d(const BatchNorm3dOptions& options)
      : options_(checked(options)),
        weight_(Tensor<T, 1>(Shape<1>{options.affine() ? options.num_features() : 0}, T(1))),
        bias_(Tensor<T, 1>(Shape<1>{options.affine() ? options.num_features() : 0}, T(0))),
        running_mean_(Shape<1>{options.track_running_stats() ? options.num_features() : 0}, T(0)),
        running_var_(Shape<1>{options.track_running_stats() ? options.num_features() : 0}, T(1)) {}

  /// Normalised output, the input's shape. Throws ShapeError when the input does not
  /// have num_features channels, or when batch statistics are needed and a channel
  /// holds a single value (then nothing is updated).
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    if (x.size(1) != options_.num_features())
      throw ShapeError("BatchNorm3d: expected input with " + std::to_string(options_.num_features()) +
                       " channels, got " + std::to_string(x.size(1)) + " (input " + format_shape<5>(x.shape()) + ")");
    const bool tracking = options_.track_running_stats();
    const bool use_batch_stats = this->is_training() || !tracking;
    if (use_batch_stats && x.size(0) * x.size(2) * x.size(3) * x.size(4) <= 1)
      throw ShapeError("BatchNorm3d: expected more than 1 value per channel when training, got input " +
                       format_shape<5>(x.shape()));
    double factor = options_.momentum().value_or(0.0);
    if (this->is_training() && tracking) {
      num_batches_tracked_() += 1;
      if (!options_.momentum()) factor = 1.0 / static_cast<double>(num_batches_tracked_());
    }
    const T* w = options_.affine() ? weight_.value().data() : nullptr;
    const T* b = options_.affine() ? bias_.value().data() : nullptr;
    T* rm = tracking ? running_mean_.data() : nullptr;
    T* rv = tracking ? running_var_.data() : nullptr;
    return ops::batch_norm3d<T>(x, w, b, rm, rv, use_batch_stats, factor, options_.eps());
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) { return forward(x); }

  /// forward(x) for training, the same output and running-statistics update,
  /// keeping what backward needs: x, and in training mode (or without running
  /// statistics) the batch mean and invstd. In eval mode with running
  /// statistics the BatchNorm is frozen: its backward uses them.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    if (x.size(1) != options_.num_features())
      throw ShapeError("BatchNorm3d: expected input with " + std::to_string(options_.num_features()) +
                       " channels, got " + std::to_string(x.size(1)) + " (input " + format_shape<5>(x.shape()) + ")");
    const bool tracking = options_.track_running_stats();
    batch_stats_ = this->is_training() || !tracking;
    if (!batch_stats_) {
      saved_input_ = Tensor<T, 5>::from(x);
      return forward(x);
    }
    if (x.size(0) * x.size(2) * x.size(3) * x.size(4) <= 1)
      throw ShapeError("BatchNorm3d: expected more than 1 value per channel when training, got input " +
                       format_shape<5>(x.shape()));
    // A recomputation (RecomputeGuard) takes the batch statistics again and
    // leaves the running ones as the first forward_train left them.
    const bool update = this->is_training() && tracking && !recomputing();
    double factor = options_.momentum().value_or(0.0);
    if (update) {
      num_batches_tracked_() += 1;
      if (!options_.momentum()) factor = 1.0 / static_cast<double>(num_batches_tracked_());
    }
    const T* w = options_.affine() ? weight_.value().data() : nullptr;
    const T* b = options_.affine() ? bias_.value().data() : nullptr;
    T* rm = update ? running_mean_.data() : nullptr;
    T* rv = update ? running_var_.data() : nullptr;
    ops::BatchNorm3dTrainOutput<T> r = ops::batch_norm3d_train<T>(x, w, b, rm, rv, factor, options_.eps());
    saved_input_ = Tensor<T, 5>::from(x);
    saved_mean_ = std::move(r.mean);
    saved_invstd_ = std::move(r.invstd);
    return std::move(r.output);
  }
  /// What drop_saved() drops of this module's own: the kept input and statistics.
  void drop_own_saved() {
    saved_input_ = Tensor<T, 5>();
    saved_mean_ = Tensor<T, 1>();
    saved_invstd_ = Tensor<T, 1>();
  }
  /// The backward of the last forward_train from grad_output (the input's
  /// shape): adds the weight and bias gradients (when affine and their
  /// requires_grad is set) to weight_grad() and bias_grad(), and returns the
  /// input's gradient (empty when `need_input_grad` is false), through the
  /// batch statistics when forward_train used them. Frees what forward_train
  /// kept; OptionError without a forward_train before.
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    if (saved_input_.numel() == 0) throw OptionError("BatchNorm3d: backward without a forward_train before it");
    const bool affine = options_.affine();
    T* gw = affine && weight_.requires_grad() ? weight_.grad().data() : nullptr;
    T* gb = affine && bias_.requires_grad() ? bias_.grad().data() : nullptr;
    // Zero-filled, so that accumulating into it (the parameters' mode) writes it.
    Tensor<T, 5> grad = need_input_grad ? Tensor<T, 5>(saved_input_.shape()) : Tensor<T, 5>();
    const T* w = affine ? weight_.value().data() : nullptr;
    if (gw != nullptr || gb != nullptr || need_input_grad) {
      if (batch_stats_)
        ops::batch_norm3d_backward<T>(grad_output, saved_input_.cview(), w, saved_mean_.data(), saved_invstd_.data(),
                                      grad.view(), gw, gb, ops::GradMode::kAccumulate);
      else
        ops::batch_norm3d_eval_backward<T>(grad_output, saved_input_.cview(), w, running_mean_.data(),
                                           running_var_.data(), options_.eps(), grad.view(), gw, gb,
                                           ops::GradMode::kAccumulate);
    }
    saved_input_ = Tensor<T, 5>();
    saved_mean_ = Tensor<T, 1>();
    saved_invstd_ = Tensor<T, 1>();
    return grad;
  }

  /// Whether forward is a fixed per-channel affine map (eval mode with running
  /// statistics), so it can fold into the preceding convolution.
  bool foldable() const { return !this->is_training() && options_.track_running_stats(); }

  /// The per-channel map y = x * scale + shift that eval-mode forward applies,
  /// with `bias` (null, or one value per channel) of a preceding conv folded into
  /// shift: scale = weight / sqrt(running_var + eps), shift = bias' + (conv_bias -
  /// running_mean) * scale, computed in double. Throws OptionError unless foldable().
  void inference_scale_shift(const T* conv_bias, Tensor<T, 1>& scale, Tensor<T, 1>& shift) const {
    if (!foldable()) throw OptionError("BatchNorm3d: only eval mode with running statistics folds into a conv");
    const index_t c = options_.num_features();
    scale = Tensor<T, 1>::empty({c});
    shift = Tensor<T, 1>::empty({c});
    for (index_t i = 0; i < c; ++i) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(running_var_(i)) + options_.eps());
      const double a = (options_.affine() ? static_cast<double>(weight_.value()(i)) : 1.0) * inv;
      const double b0 = options_.affine() ? static_cast<double>(bias_.value()(i)) : 0.0;
      const double cb = conv_bias != nullptr ? static_cast<double>(conv_bias[i]) : 0.0;
      scale(i) = static_cast<T>(a);
      shift(i) = static_cast<T>(b0 + (cb - static_cast<double>(running_mean_(i))) * a);
    }
  }

  /// forward, then ReLU when `relu`, reusing x's storage in eval mode with
  /// running statistics (no new tensor).
  Tensor<T, 5> forward_relu(Tensor<T, 5>&& x, bool relu) {
    if (!foldable() || x.size(1) != options_.num_features()) {
      Tensor<T, 5> y = forward(x.cview());
      if (relu) ops::relu_(y.view());
      return y;
    }
    Tensor<T, 1> scale, shift;
    inference_scale_shift(nullptr, scale, shift);
    const index_t plane = x.size(2) * x.size(3) * x.size(4);
    const index_t rows = x.size(0) * x.size(1);
    T* d = x.data();
    parallel_for(0, rows, [&](index_t r) {
      const index_t c = r % options_.num_features();
      const T a = scale(c), b = shift(c);
      T* p = d + r * plane;
      for (index_t i = 0; i < plane; ++i) {
        const T v = p[i] * a + b;
        p[i] = (relu && v < T(0)) ? T(0) : v;
      }
    });
    return std::move(x);
  }

  /// Running mean 0, running variance 1, num_batches_tracked 0.
  void reset_running_stats() {
    running_mean_.fill(T(0));
    running_var_.fill(T(1));
    num_batches_tracked_() = 0;
  }
  /// reset_running_stats, then weight 1 and bias 0.
  void reset_parameters() {
    reset_running_stats();
    weight_.value().fill(T(1));
    bias_.value().fill(T(0));
  }

  ///@{
  /// Affine scale, (C) (empty when not affine).
  Tensor<T, 1>& weight() { return weight_.value(); }
  const Tensor<T, 1>& weight() const { return weight_.value(); }
  ///@}
  ///@{
  /// Affine shift, (C) (empty when not affine).
  Tensor<T, 1>& bias() { return bias_.value(); }
  const Tensor<T, 1>& bias() const { return bias_.value(); }
  ///@}
  ///@{
  /// The gradient of the weight, its shape, allocated zero-filled on first use
  /// (see nn::Parameter); the const one is empty while there is none.
  Tensor<T, 1>& weight_grad() { return weight_.grad(); }
  const Tensor<T, 1>& weight_grad() const { return weight_.grad(); }
  ///@}
  ///@{
  /// The gradient of the bias, as weight_grad().
  Tensor<T, 1>& bias_grad() { return bias_.grad(); }
  const Tensor<T, 1>& bias_grad() const { return bias_.grad(); }
  ///@}
  ///@{
  /// The weight and bias with their gradients and requires_grad flags.
  Parameter<T, 1>& weight_parameter() { return weight_; }
  const Parameter<T, 1>& weight_parameter() const { return weight_; }
  Parameter<T, 1>& bias_parameter() { return bias_; }
  const Parameter<T, 1>& bias_parameter() const { return bias_; }
  ///@}
  ///@{
  /// Running mean and (unbiased) variance, (C) each (empty when not tracking).
  Tensor<T, 1>& running_mean() { return running_mean_; }
  const Tensor<T, 1>& running_mean() const { return running_mean_; }
  Tensor<T, 1>& running_var() { return running_var_; }
  const Tensor<T, 1>& running_var() const { return running_var_; }
  ///@}
  ///@{
  /// Training forward passes counted so far (torch's int64 scalar buffer).
  Tensor<std::int64_t, 0>& num_batches_tracked() { return num_batches_tracked_; }
  const Tensor<std::int64_t, 0>& num_batches_tracked() const { return num_batches_tracked_; }
  ///@}
  /// The options it was built with.
  const BatchNorm3dOptions& options() const { return options_; }

  /// Lists the parameters and buffers for the Module base (see module.hpp), in
  /// torch's order.
  template <class V>
  void visit(V& v) {
    if (options_.affine()) {
      v.parameter("weight", weight_);
      v.parameter("bias", bias_);
    }
    if (options_.track_running_stats()) {
      v.buffer("running_mean", running_mean_);
      v.buffer("running_var", running_var_);
      v.buffer("num_batches_tracked", num_batches_tracked_);
    }
  }

 private:
  static const BatchNorm3dOptions& checked(const BatchNorm3dOptions& o) {
    if (o.num_features() < 1)
      throw OptionError("BatchNorm3d: expected positive num_features, got " + std::to_string(o.num_features()));
    if (!(o.eps() >= 0.0) || !std::isfinite(o.eps()))
      throw OptionError("BatchNorm3d: expected a finite non-negative eps, got " + std::to_string(o.eps()));
    return o;
  }

  BatchNorm3dOptions options_;
  Parameter<T, 1> weight_;
  Parameter<T, 1> bias_;
  Tensor<T, 1> running_mean_;
  Tensor<T, 1> running_var_;
  Tensor<std::int64_t, 0> num_batches_tracked_;
  Tensor<T, 5> saved_input_;  // forward_train's input, mean and invstd, while backward needs them
  Tensor<T, 1> saved_mean_;
  Tensor<T, 1> saved_invstd_;
  bool batch_stats_ = false;
};

}  // namespace r2plus1d::nn

#pragma once
/// \file
/// AdaptiveAvgPool3d: torch.nn.AdaptiveAvgPool3d as a module (no parameters).

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/ops/adaptive_avg_pool3d.hpp"
#include "r2plus1d/ops/adaptive_avg_pool3d_backward.hpp"

namespace r2plus1d::nn {

/// Averages (N, C, D, H, W) inputs over torch's adaptive bins into
/// (N, C, output_size.d, output_size.h, output_size.w). No parameters or buffers.
template <class T>
class AdaptiveAvgPool3d : public Module<AdaptiveAvgPool3d<T>> {
 public:
  /// Throws OptionError for a negative output size.
  explicit AdaptiveAvgPool3d(Triple output_size) : output_size_(output_size) {
    if (output_size.d < 0 || output_size.h < 0 || output_size.w < 0)
      throw OptionError("AdaptiveAvgPool3d: expected a non-negative output_size, got " + format_triple(output_size));
  }

  /// The pooled (N, C, output_size.d, output_size.h, output_size.w); see
  /// ops::adaptive_avg_pool3d for what it throws.
  Tensor<T, 5> forward(TensorView<const T, 5> x) const { return ops::adaptive_avg_pool3d<T>(x, output_size_); }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) const { return forward(x); }

  /// forward(x) for training: keeps only x's shape, which backward needs.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    input_shape_ = x.shape();
    return forward(x);
  }
  /// The gradient of the last forward_train's input from grad_output, each
  /// bin's gradient spread evenly over it (empty when `need_input_grad` is false).
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) const {
    if (!need_input_grad) return Tensor<T, 5>();
    return ops::adaptive_avg_pool3d_backward<T>(grad_output, input_shape_);
  }
  /// The (d, h, w) output size it was built with.
  const Triple& output_size() const { return output_size_; }

  /// Lists nothing: the pool has no parameters, buffers or children.
  template <class V>
  void visit(V&) {}

 private:
  Triple output_size_;
  Shape<5> input_shape_{};
};

}  // namespace r2plus1d::nn

#pragma once
/// \file
/// Gradients of conv3d (torch.nn.functional.conv3d) for training: with respect
/// to the input, the weight and the bias, for every stride, padding, dilation
/// and groups. Results do not depend on the thread count.

#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/conv3d.hpp"
#include "r2plus1d/ops/conv3d_backward_kernels.hpp"
#include "r2plus1d/ops/gradient.hpp"

namespace r2plus1d::ops {

namespace detail {
inline void check_conv3d_grad_output(const char* op, const Shape<5>& input, const Shape<5>& weight,
                                     const Shape<5>& grad_output, const Conv3dParams& p) {
  const Shape<5> out = conv3d_output_shape(input, weight, p);
  if (grad_output != out)
    throw ShapeError(std::string(op) + ": grad_output has shape " + format_shape<5>(grad_output) + ", expected " +
                     format_shape<5>(out) + " (input " + format_shape<5>(input) + ", weight " +
                     format_shape<5>(weight) + ")");
}
}  // namespace detail

/// The gradient of conv3d with respect to its (N, C, D, H, W) input, from
/// grad_output (conv3d's output shape) and the (O, C / groups, kd, kh, kw)
/// weight, written or added (`mode`) into grad_input, whose shape is the
/// input's. At stride 1 (with padding <= dilation * (k - 1)) it is the forward
/// convolution of grad_output with the flipped, channel-transposed weight and
/// padding dilation * (k - 1) - padding, run by conv3d's engine with its
/// algorithms and numerics (Winograd on large float frames included);
/// otherwise a GEMM into columns that col2vol adds back. Throws ShapeError for
/// shapes that do not fit, OptionError for invalid parameters.
template <class T>
void conv3d_backward_input(TensorView<const T, 5> grad_output, TensorView<const T, 5> weight, const Conv3dParams& p,
                           TensorView<T, 5> grad_input, GradMode mode = GradMode::kOverwrite) {
  detail::check_conv3d_grad_output("conv3d_backward_input", grad_input.shape(), weight.shape(), grad_output.shape(),
                                   p);
  const detail::Conv3dGeometry g =
      detail::conv3d_geometry(grad_input.shape(), weight.shape(), grad_output.shape(), p);
  if (!detail::input_grad_is_forward_conv(g)) {
    detail::conv3d_input_grad_columns(g, grad_output.data(), weight.data(), grad_input.data(), mode);
    return;
  }
  const Tensor<T, 5> wt = detail::flipped_transposed_weight(weight, p.groups);
  Conv3dParams q;
  q.dilation = p.dilation;
  q.groups = p.groups;
  q.padding = Triple(p.dilation.d * (weight.size(2) - 1) - p.padding.d, p.dilation.h * (weight.size(3) - 1) - p.padding.h,
                     p.dilation.w * (weight.size(4) - 1) - p.padding.w);
  const detail::Conv3dGeometry gt = detail::conv3d_geometry(grad_output.shape(), wt.shape(), grad_input.shape(), q);
  const detail::ConvEpilogue<T> none{nullptr, nullptr, false};
  if (mode == GradMode::kOverwrite) {
    detail::conv3d_gemm(gt, grad_output.data(), wt.data(), none, grad_input.data());
    return;
  }
  Tensor<T, 5> grad = Tensor<T, 5>::empty(grad_input.shape());
  detail::conv3d_gemm(gt, grad_output.data(), wt.data(), none, grad.data());
  const index_t n = grad.numel(), blocks = (n + (index_t(1) << 16) - 1) >> 16;
  parallel_for(0, blocks, [&](index_t b) {
    const index_t begin = b << 16;
    detail::store_grads(mode, grad_input.data() + begin, grad.data() + begin, std::min(index_t(1) << 16, n - begin));
  });
}

/// The gradient of conv3d with respect to its weight, from the (N, C, D, H, W)
/// input and grad_output, written or added (`mode`) into grad_weight, whose
/// shape (O, C / groups, kd, kh, kw) is the weight's: the sum over images and
/// output positions of grad_output times the im2col columns, in chunks that
/// keep the columns small. Throws ShapeError for shapes that do not fit.
template <class T>
void conv3d_backward_weight(TensorView<const T, 5> input, TensorView<const T, 5> grad_output, const Conv3dParams& p,
                            TensorView<T, 5> grad_weight, GradMode mode = GradMode::kOverwrite) {
  detail::check_conv3d_grad_output("conv3d_backward_weight", input.shape(), grad_weight.shape(), grad_output.shape(),
                                   p);
  const detail::Conv3dGeometry g = detail::conv3d_geometry(input.shape(), grad_weight.shape(), grad_output.shape(), p);
  detail::conv3d_weight_grad_columns(g, input.data(), grad_output.data(), grad_weight.data(), mode);
}

/// The gradient of conv3d with respect to its bias: grad_output (N, O, D', H',
/// W') summed over everything but the channel (in double), written or added
/// (`mode`) into grad_bias's O values. Throws ShapeError when the counts differ.
template <class T>
void conv3d_backward_bias(TensorView<const T, 5> grad_output, TensorView<T, 1> grad_bias,
                          GradMode mode = GradMode::kOverwrite) {
  const index_t n_batch = grad_output.size(0), channels = grad_output.size(1);
  if (grad_bias.size(0) != channels)
    throw ShapeError("conv3d_backward_bias: grad_bias has " + std::to_string(grad_bias.size(0)) +
                     " values, expected " + std::to_string(channels) + " (grad_output " +
                     format_shape<5>(grad_output.shape()) + ")");
  const index_t plane = grad_output.size(2) * grad_output.size(3) * grad_output.size(4);
  parallel_for(0, channels, [&](index_t c) {
    double sum = 0;
    for (index_t n = 0; n < n_batch; ++n) {
      const T* src = grad_output.data() + (n * channels + c) * plane;
      for (index_t i = 0; i < plane; ++i) sum += static_cast<double>(src[i]);
    }
    detail::store_grad(mode, grad_bias.data()[c], sum);
  });
}

/// The three gradients of conv3d, as conv3d_backward returns them.
template <class T>
struct Conv3dGrads {
  Tensor<T, 5> input;   ///< With respect to the input, (N, C, D, H, W).
  Tensor<T, 5> weight;  ///< With respect to the weight, (O, C / groups, kd, kh, kw).
  Tensor<T, 1> bias;    ///< With respect to the bias, O values; empty without a bias.
};

/// All the gradients of y = conv3d(input, weight, bias, p) from grad_output,
/// in new tensors; the bias gradient only when `bias` is true.
template <class T>
Conv3dGrads<T> conv3d_backward(TensorView<const T, 5> input, TensorView<const T, 5> weight,
                               TensorView<const T, 5> grad_output, const Conv3dParams& p, bool bias) {
  Conv3dGrads<T> grads;
  grads.input = Tensor<T, 5>::empty(input.shape());
  grads.weight = Tensor<T, 5>::empty(weight.shape());
  conv3d_backward_input<T>(grad_output, weight, p, grads.input.view());
  conv3d_backward_weight<T>(input, grad_output, p, grads.weight.view());
  if (bias) {
    grads.bias = Tensor<T, 1>::empty({weight.size(0)});
    conv3d_backward_bias<T>(grad_output, grads.bias.view());
  }
  return grads;
}

}  // namespace r2plus1d::ops

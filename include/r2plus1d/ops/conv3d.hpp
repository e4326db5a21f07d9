#pragma once
/// \file
/// 3-D convolution as torch.nn.functional.conv3d: parameters, the output-shape
/// rule with its checks, and the kernel entry point.

#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/conv3d_algorithms.hpp"

namespace r2plus1d::ops {

/// Stride, zero padding (each side), dilation and groups of a 3-D convolution,
/// with torch's defaults.
struct Conv3dParams {
  Triple stride{1};    ///< Step (d, h, w) of the kernel over the input, >= 1.
  Triple padding{0};   ///< Zeros added on each side of (d, h, w), >= 0.
  Triple dilation{1};  ///< Spacing (d, h, w) of the kernel's taps, >= 1.
  index_t groups = 1;  ///< Channel groups; divides both channel counts.
};

namespace detail {
inline void check_conv3d_params(const Conv3dParams& p) {
  auto bad = [](const Triple& t, index_t min) { return t.d < min || t.h < min || t.w < min; };
  if (p.groups < 1) throw OptionError("conv3d: expected groups >= 1, got " + std::to_string(p.groups));
  if (bad(p.stride, 1)) throw OptionError("conv3d: expected a positive stride, got " + format_triple(p.stride));
  if (bad(p.padding, 0))
    throw OptionError("conv3d: expected a non-negative padding, got " + format_triple(p.padding));
  if (bad(p.dilation, 1))
    throw OptionError("conv3d: expected a positive dilation, got " + format_triple(p.dilation));
}
}  // namespace detail

/// Output shape (N, out_channels, D', H', W') of conv3d on an (N, C, D, H, W) input
/// with an (out_channels, C / groups, kd, kh, kw) weight, by torch's rule
/// out = floor((in + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.
/// Throws OptionError for invalid parameters and ShapeError for shapes that do not fit.
inline Shape<5> conv3d_output_shape(const Shape<5>& input, const Shape<5>& weight, const Conv3dParams& p) {
  detail::check_conv3d_params(p);
  for (index_t v : weight)
    if (v < 1) throw ShapeError("conv3d: expected a weight with positive sizes, got " + format_shape<5>(weight));
  if (weight[0] % p.groups != 0)
    throw ShapeError("conv3d: weight has " + std::to_string(weight[0]) + " output channels, not divisible by groups " +
                     std::to_string(p.groups) + " (weight " + format_shape<5>(weight) + ")");
  if (input[1] != weight[1] * p.groups)
    throw ShapeError("conv3d: input has " + std::to_string(input[1]) + " channels, expected " +
                     std::to_string(weight[1] * p.groups) + " (weight " + format_shape<5>(weight) + ", groups " +
                     std::to_string(p.groups) + ")");
  Shape<5> out{input[0], weight[0], 0, 0, 0};
  index_t padded[3] = {0, 0, 0}, dilated[3] = {0, 0, 0};
  bool fits = true;
  for (int i = 0; i < 3; ++i) {
    const auto k = static_cast<std::size_t>(i + 2);
    padded[i] = input[k] + 2 * p.padding[i];
    dilated[i] = p.dilation[i] * (weight[k] - 1) + 1;
    if (padded[i] < dilated[i]) fits = false;
    else out[k] = (padded[i] - dilated[i]) / p.stride[i] + 1;
  }
  if (!fits)
    throw ShapeError("conv3d: input size " + format_triple({input[2], input[3], input[4]}) + " (padded " +
                     format_triple({padded[0], padded[1], padded[2]}) + ") is smaller than the dilated kernel " +
                     format_triple({dilated[0], dilated[1], dilated[2]}) + " (input " + format_shape<5>(input) + ")");
  return out;
}

namespace detail {
/// The kernel's sizes for validated shapes.
inline Conv3dGeometry conv3d_geometry(const Shape<5>& in, const Shape<5>& w, const Shape<5>& out, const Conv3dParams& p) {
  Conv3dGeometry g;
  g.batch = in[0];
  g.groups = p.groups;
  g.in_channels = in[1];
  g.out_channels = w[0];
  g.in_d = in[2];
  g.in_h = in[3];
  g.in_w = in[4];
  g.out_d = out[2];
  g.out_h = out[3];
  g.out_w = out[4];
  g.k_d = w[2];
  g.k_h = w[3];
  g.k_w = w[4];
  g.stride = p.stride;
  g.padding = p.padding;
  g.dilation = p.dilation;
  return g;
}
}  // namespace detail

/// The name of the algorithm conv3d runs for an input of shape x and a weight
/// of shape w with parameters p, for elements of T (see conv3d_algorithms.hpp:
/// "phase_rows", "temporal_rows", "thin", "temporal_taps", "temporal_frames"
/// or "packed_gemm"). Validates the shapes as conv3d does.
template <class T = float>
const char* conv3d_algorithm(const Shape<5>& x, const Shape<5>& w, const Conv3dParams& p = {}) {
  const Shape<5> out = conv3d_output_shape(x, w, p);
  return detail::conv3d_select<T>(detail::conv3d_geometry(x, w, out, p)).name;
}

/// conv3d followed by a per-output-channel epilogue, applied while each output
/// block is still in cache: y = conv(x, w) * scale[o] + shift[o] (scale or shift
/// may be null), then max(y, 0) when `relu`. With scale = gamma / sqrt(var + eps)
/// and shift = beta - mean * scale it is conv -> BatchNorm3d (inference) -> ReLU
/// in one pass. Writes into `y`, which must have conv3d_output_shape's shape.
template <class T>
void conv3d_fused_into(TensorView<const T, 5> x, TensorView<const T, 5> w, const Conv3dParams& p, const T* scale,
                       const T* shift, bool relu, TensorView<T, 5> y) {
  const Shape<5> out = conv3d_output_shape(x.shape(), w.shape(), p);
  if (y.shape() != out)
    throw ShapeError("conv3d: output has shape " + format_shape<5>(y.shape()) + ", expected " + format_shape<5>(out));
  detail::conv3d_gemm(detail::conv3d_geometry(x.shape(), w.shape(), out, p), x.data(), w.data(),
                      detail::ConvEpilogue<T>{scale, shift, relu}, y.data());
}

/// conv3d with the epilogue of conv3d_fused_into, in a new tensor.
template <class T>
Tensor<T, 5> conv3d_fused(TensorView<const T, 5> x, TensorView<const T, 5> w, const Conv3dParams& p, const T* scale,
                          const T* shift, bool relu) {
  Tensor<T, 5> y = Tensor<T, 5>::empty(conv3d_output_shape(x.shape(), w.shape(), p));
  conv3d_fused_into<T>(x, w, p, scale, shift, relu, y.view());
  return y;
}

/// Convolution of an (N, C, D, H, W) input with an (out_channels, C / groups, kd, kh, kw)
/// weight plus an optional bias (nullptr, or out_channels values), as
/// torch.nn.functional.conv3d. Results do not depend on the thread count.
template <class T>
Tensor<T, 5> conv3d(TensorView<const T, 5> x, TensorView<const T, 5> w, const T* bias, const Conv3dParams& p) {
  const Shape<5> out = conv3d_output_shape(x.shape(), w.shape(), p);
  Tensor<T, 5> y = Tensor<T, 5>::empty(out);
  detail::conv3d_gemm(detail::conv3d_geometry(x.shape(), w.shape(), out, p), x.data(), w.data(),
                      detail::ConvEpilogue<T>{nullptr, bias, false}, y.data());
  return y;
}

}  // namespace r2plus1d::ops

#pragma once
/// \file
/// SpatioTemporalConv: a (2+1)D convolution, a spatial (1, kh, kw) Conv3d and a
/// temporal (kt, 1, 1) Conv3d, each followed by BatchNorm3d and ReLU.

#include <string>

#include "r2plus1d/core/random.hpp"
#include "r2plus1d/nn/batch_norm3d.hpp"
#include "r2plus1d/nn/conv3d.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/nn/relu.hpp"
#include "r2plus1d/ops/conv2plus1d.hpp"
#include "r2plus1d/ops/relu.hpp"

namespace r2plus1d {

/// The (2+1)D factorisation of a kt x kh x kw Conv3d from `in_channels` to
/// `out_channels`: spatial_conv -> bn1 -> relu -> temporal_conv -> bn2 -> relu.
///
/// Intermediate channels, fixed at construction:
/// - `first_conv`: 45; the spatial conv takes `kernel_size`, `padding` and
///   stride (1, sh, sw) as given; the temporal conv is (3, 1, 1), stride
///   (st, 1, 1), padding (1, 0, 0) — the stem of R(2+1)D.
/// - otherwise: floor(kt*kh*kw*in*out / (kh*kw*in + kt*out)), which keeps the
///   parameter count of the full 3D kernel; spatial (1, kh, kw), stride
///   (1, sh, sw), padding (0, ph, pw); temporal (kt, 1, 1), stride (st, 1, 1),
///   padding (pt, 0, 0).
/// Input and output (N, C, T, H, W); state_dict keys `spatial_conv.weight`,
/// `bn1.*`, `temporal_conv.weight`, `bn2.*` as torch's module.
template <class T>
class SpatioTemporalConv : public nn::Module<SpatioTemporalConv<T>> {
 public:
  /// The factorised conv (see the class comment); `bias` gives both convs a
  /// bias. Throws OptionError as intermediate_channels and Conv3d do.
  SpatioTemporalConv(index_t in_channels, index_t out_channels, Triple kernel_size, Triple stride = 1,
                     Triple padding = 0, bool bias = false, bool first_conv = false,
                     Generator& gen = default_generator())
      : intermed_channels_(intermediate_channels(in_channels, out_channels, kernel_size, first_conv)),
        spatial_conv_(nn::Conv3dOptions(in_channels, intermed_channels_, spatial_kernel(kernel_size, first_conv))
                          .stride({1, stride.h, stride.w})
                          .padding(first_conv ? padding : Triple{0, padding.h, padding.w})
                          .bias(bias),
                      gen),
        bn1_(nn::BatchNorm3dOptions(intermed_channels_)),
        temporal_conv_(nn::Conv3dOptions(intermed_channels_, out_channels,
                                         first_conv ? Triple{3, 1, 1} : Triple{kernel_size.d, 1, 1})
                           .stride({stride.d, 1, 1})
                           .padding(first_conv ? Triple{1, 0, 0} : Triple{padding.d, 0, 0})
                           .bias(bias),
                       gen),
        bn2_(nn::BatchNorm3dOptions(out_channels)) {}

  /// The intermediate channel count the constructor uses (see the class comment).
  /// Throws OptionError for non-positive channels or kernel sizes.
  static index_t intermediate_channels(index_t in_channels, index_t out_channels, Triple kernel_size,
                                       bool first_conv) {
    if (in_channels <= 0 || out_channels <= 0)
      throw OptionError("SpatioTemporalConv: expected positive channel counts, got in_channels " +
                        std::to_string(in_channels) + ", out_channels " + std::to_string(out_channels));
    if (kernel_size.d <= 0 || kernel_size.h <= 0 || kernel_size.w <= 0)
      throw OptionError("SpatioTemporalConv: expected a positive kernel_size, got " + format_triple(kernel_size));
    if (first_conv) return 45;
    const index_t kt = kernel_size.d, khw = kernel_size.h * kernel_size.w;
    return (kt * khw * in_channels * out_channels) / (khw * in_channels + kt * out_channels);
  }

  /// In eval mode both BatchNorms and ReLUs fold into the convs' output passes
  /// and the pair streams over time (ops::conv2plus1d_fused), so the
  /// intermediate tensor never exists whole.
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    if (bn1_.foldable() && bn2_.foldable() &&
        ops::conv2plus1d_streamable(spatial_conv_.weight().shape(), spatial_conv_.params(),
                                    temporal_conv_.weight().shape(), temporal_conv_.params())) {
      Tensor<T, 1> s1, b1, s2, b2;
      bn1_.inference_scale_shift(spatial_conv_.has_bias() ? spatial_conv_.bias().data() : nullptr, s1, b1);
      bn2_.inference_scale_shift(temporal_conv_.has_bias() ? temporal_conv_.bias().data() : nullptr, s2, b2);
      return ops::conv2plus1d_fused<T>(x, spatial_conv_.weight().cview(), spatial_conv_.params(), s1.data(),
                                       b1.data(), true, temporal_conv_.weight().cview(), temporal_conv_.params(),
                                       s2.data(), b2.data(), true, spatial_conv_.weight_cache(),
                                       temporal_conv_.weight_cache());
    }
    const Tensor<T, 5> y = spatial_conv_.forward_bn(x, bn1_, true);
    return temporal_conv_.forward_bn(y.cview(), bn2_, true);
  }
  /// forward that writes over x's storage when the shapes allow it in eval mode
  /// (ops::conv2plus1d_in_place_ok), saving one activation's memory.
  Tensor<T, 5> forward(Tensor<T, 5>&& x) {
    if (!bn1_.foldable() || !bn2_.foldable() ||
        !ops::conv2plus1d_in_place_ok(x.shape(), spatial_conv_.weight().shape(), spatial_conv_.params(),
                                      temporal_conv_.weight().shape(), temporal_conv_.params()))
      return forward(x.cview());
    Tensor<T, 1> s1, b1, s2, b2;
    bn1_.inference_scale_shift(spatial_conv_.has_bias() ? spatial_conv_.bias().data() : nullptr, s1, b1);
    bn2_.inference_scale_shift(temporal_conv_.has_bias() ? temporal_conv_.bias().data() : nullptr, s2, b2);
    ops::conv2plus1d_fused_into<T>(x.cview(), spatial_conv_.weight().cview(), spatial_conv_.params(), s1.data(),
                                   b1.data(), true, temporal_conv_.weight().cview(), temporal_conv_.params(),
                                   s2.data(), b2.data(), true, x.view(), spatial_conv_.weight_cache(),
                                   temporal_conv_.weight_cache());
    return std::move(x);
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) { return forward(x); }
  /// forward(std::move(x)), which may write over x's storage.
  Tensor<T, 5> operator()(Tensor<T, 5>&& x) { return forward(std::move(x)); }

  /// The plain forward for training, in the current mode (training: batch
  /// statistics; eval: the running ones, frozen), keeping what backward needs.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    Tensor<T, 5> y = spatial_conv_.forward_train(x);
    y = bn1_.forward_train(y.cview());
    y = relu_.forward_train(y.cview());
    y = temporal_conv_.forward_train(y.cview());
    y = bn2_.forward_train(y.cview());
    return relu2_.forward_train(y.cview());
  }
  /// The backward of the last forward_train from grad_output: adds the
  /// gradients of the parameters whose requires_grad is set and returns the
  /// input's gradient (empty when `need_input_grad` is false).
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    Tensor<T, 5> g = relu2_.backward(grad_output);
    g = bn2_.backward(g.cview());
    g = temporal_conv_.backward(g.cview());
    g = relu_.backward(g.cview());
    g = bn1_.backward(g.cview());
    return spatial_conv_.backward(g.cview(), need_input_grad);
  }
  /// The channels between the two convs (see intermediate_channels).
  index_t intermed_channels() const { return intermed_channels_; }
  /// The spatial conv, (1, kh, kw) (kernel_size itself for first_conv).
  nn::Conv3d<T>& spatial_conv() { return spatial_conv_; }
  /// The BatchNorm3d after the spatial conv.
  nn::BatchNorm3d<T>& bn1() { return bn1_; }
  /// The temporal conv, (kt, 1, 1) ((3, 1, 1) for first_conv).
  nn::Conv3d<T>& temporal_conv() { return temporal_conv_; }
  /// The BatchNorm3d after the temporal conv.
  nn::BatchNorm3d<T>& bn2() { return bn2_; }

  /// Lists the children for the Module base (see module.hpp), in torch's order.
  template <class V>
  void visit(V& v) {
    v.child("spatial_conv", spatial_conv_);
    v.child("bn1", bn1_);
    v.child("temporal_conv", temporal_conv_);
    v.child("bn2", bn2_);
    v.child("relu", relu_);
  }

 private:
  static Triple spatial_kernel(Triple k, bool first_conv) { return first_conv ? k : Triple{1, k.h, k.w}; }

  index_t intermed_channels_;
  nn::Conv3d<T> spatial_conv_;
  nn::BatchNorm3d<T> bn1_;
  nn::Conv3d<T> temporal_conv_;
  nn::BatchNorm3d<T> bn2_;
  nn::ReLU<T> relu_;
  nn::ReLU<T> relu2_;  // the second use of torch's one relu, with its own saved output
};

}  // namespace r2plus1d

#pragma once
/// \file
/// torchvision's video ResNet convolution builders and stems
/// (torchvision.models.video.resnet), with its state_dict names.
///
/// A builder `Conv<T>(in_planes, out_planes, midplanes, stride, padding, gen)` is
/// the 3x3x3-equivalent convolution of a BasicBlock; `Conv<T>::downsample_stride(s)`
/// is the stride of the block's 1x1x1 shortcut conv.

#include "r2plus1d/core/random.hpp"
#include "r2plus1d/nn/batch_norm3d.hpp"
#include "r2plus1d/nn/conv3d.hpp"
#include "r2plus1d/nn/relu.hpp"
#include "r2plus1d/nn/sequential.hpp"
#include "r2plus1d/ops/conv2plus1d.hpp"

namespace r2plus1d::video {

/// The settings of every BatchNorm3d a video ResNet builds: torchvision's
/// (eps 1e-5, momentum 0.1) by default; caffe2() gives those of the
/// Caffe2-trained R(2+1)D-34 models (eps 1e-3, momentum 0.9).
struct VideoNorm {
  double eps = 1e-5;       ///< added to the variance
  double momentum = 0.1;   ///< weight of the batch statistics in the running ones (training)
  /// eps 1e-3 and momentum 0.9.
  static VideoNorm caffe2() { return VideoNorm{1e-3, 0.9}; }
  /// The options of a BatchNorm3d over `channels` with these settings.
  nn::BatchNorm3dOptions operator()(index_t channels) const {
    return nn::BatchNorm3dOptions(channels).eps(eps).momentum(momentum);
  }
};

/// Full 3x3x3 convolution (R3D): Conv3d(in, out, 3, stride, padding), no bias.
/// Keys: `weight`. `midplanes` (and `norm`: it holds no BatchNorm) is unused, as in torchvision.
template <class T>
class Conv3DSimple : public nn::Conv3d<T> {
 public:
  /// The conv, stride and padding the same in d, h and w.
  Conv3DSimple(index_t in_planes, index_t out_planes, index_t /*midplanes*/, index_t stride = 1, index_t padding = 1,
               Generator& gen = default_generator(), const VideoNorm& /*norm*/ = {})
      : nn::Conv3d<T>(nn::Conv3dOptions(in_planes, out_planes, 3).stride(stride).padding(padding).bias(false), gen) {}
  /// The stride of a block's downsample shortcut: (s, s, s).
  static Triple downsample_stride(index_t stride) { return Triple(stride); }
};

/// Spatial-only 1x3x3 convolution (MC3's later layers): stride (1, s, s),
/// padding (0, p, p), no bias. Keys: `weight`.
template <class T>
class Conv3DNoTemporal : public nn::Conv3d<T> {
 public:
  /// The conv; stride and padding apply to h and w only.
  Conv3DNoTemporal(index_t in_planes, index_t out_planes, index_t /*midplanes*/, index_t stride = 1,
                   index_t padding = 1, Generator& gen = default_generator(), const VideoNorm& /*norm*/ = {})
      : nn::Conv3d<T>(nn::Conv3dOptions(in_planes, out_planes, Triple{1, 3, 3})
                          .stride({1, stride, stride})
                          .padding({0, padding, padding})
                          .bias(false),
                      gen) {}
  /// The stride of a block's downsample shortcut: (1, s, s), time kept.
  static Triple downsample_stride(index_t stride) { return Triple{1, stride, stride}; }
};

/// (2+1)D convolution: Conv3d(in, mid, (1,3,3)) -> BatchNorm3d(mid) -> ReLU ->
/// Conv3d(mid, out, (3,1,1)); unlike the seed's SpatioTemporalConv there is no
/// BatchNorm or ReLU after the temporal conv. Keys: `0.weight`, `1.*`, `3.weight`.
template <class T>
class Conv2Plus1D : public nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>, nn::ReLU<T>, nn::Conv3d<T>> {
  using Base = nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>, nn::ReLU<T>, nn::Conv3d<T>>;

 public:
  /// The pair with `midplanes` channels between them (their BatchNorm built
  /// with `norm`); stride and padding are (1, s, s) / (0, p, p) for the
  /// spatial conv and (s, 1, 1) / (p, 0, 0) for the temporal.
  Conv2Plus1D(index_t in_planes, index_t out_planes, index_t midplanes, index_t stride = 1, index_t padding = 1,
              Generator& gen = default_generator(), const VideoNorm& norm = {})
      : Base(nn::Conv3d<T>(nn::Conv3dOptions(in_planes, midplanes, Triple{1, 3, 3})
                               .stride({1, stride, stride})
                               .padding({0, padding, padding})
                               .bias(false),
                           gen),
             nn::BatchNorm3d<T>(norm(midplanes)), nn::ReLU<T>(),
             nn::Conv3d<T>(nn::Conv3dOptions(midplanes, out_planes, Triple{3, 1, 1})
                               .stride({stride, 1, 1})
                               .padding({padding, 0, 0})
                               .bias(false),
                           gen)) {}
  /// The stride of a block's downsample shortcut: (s, s, s).
  static Triple downsample_stride(index_t stride) { return Triple(stride); }

  /// relu(bn(forward(x))) (no relu when `relu` is false). In eval mode both
  /// BatchNorms fold into the convs and the pair streams over time
  /// (ops::conv2plus1d_fused).
  template <class BN>
  Tensor<T, 5> forward_bn(TensorView<const T, 5> x, BN& bn, bool relu) {
    auto& spatial = this->template get<0>();
    auto& mid_bn = this->template get<1>();
    auto& temporal = this->template get<3>();
    if (!mid_bn.foldable() || !bn.foldable() || bn.options().num_features() != temporal.options().out_channels())
      return bn.forward_relu(this->forward(x), relu);
    Tensor<T, 1> s1, b1, s2, b2;
    mid_bn.inference_scale_shift(nullptr, s1, b1);
    bn.inference_scale_shift(nullptr, s2, b2);
    return ops::conv2plus1d_fused<T>(x, spatial.weight().cview(), spatial.params(), s1.data(), b1.data(), true,
                                     temporal.weight().cview(), temporal.params(), s2.data(), b2.data(), relu,
                                     spatial.weight_cache(), temporal.weight_cache());
  }
  /// forward_bn that writes over x's storage when shapes allow (ops::conv2plus1d_in_place_ok).
  template <class BN>
  Tensor<T, 5> forward_bn(Tensor<T, 5>&& x, BN& bn, bool relu) {
    auto& spatial = this->template get<0>();
    auto& mid_bn = this->template get<1>();
    auto& temporal = this->template get<3>();
    if (!mid_bn.foldable() || !bn.foldable() || bn.options().num_features() != temporal.options().out_channels() ||
        !ops::conv2plus1d_in_place_ok(x.shape(), spatial.weight().shape(), spatial.params(),
                                      temporal.weight().shape(), temporal.params()))
      return forward_bn(x.cview(), bn, relu);
    Tensor<T, 1> s1, b1, s2, b2;
    mid_bn.inference_scale_shift(nullptr, s1, b1);
    bn.inference_scale_shift(nullptr, s2, b2);
    ops::conv2plus1d_fused_into<T>(x.cview(), spatial.weight().cview(), spatial.params(), s1.data(), b1.data(), true,
                                   temporal.weight().cview(), temporal.params(), s2.data(), b2.data(), relu,
                                   x.view(), spatial.weight_cache(), temporal.weight_cache());
    return std::move(x);
  }
};

/// The default stem of R3D and MC3: Conv3d(3, 64, (3,7,7), stride (1,2,2),
/// padding (1,3,3)) -> BatchNorm3d(64) -> ReLU. Keys `0.weight`, `1.*`.
template <class T>
class BasicStem : public nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>, nn::ReLU<T>> {
  using Base = nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>, nn::ReLU<T>>;

 public:
  /// The stem, its convs drawn from `gen`, its BatchNorm built with `norm`.
  explicit BasicStem(Generator& gen = default_generator(), const VideoNorm& norm = {})
      : Base(nn::Conv3d<T>(
                 nn::Conv3dOptions(3, 64, Triple{3, 7, 7}).stride({1, 2, 2}).padding({1, 3, 3}).bias(false), gen),
             nn::BatchNorm3d<T>(norm(64)), nn::ReLU<T>()) {}
};

/// The (2+1)D stem of R(2+1)D: Conv3d(3, 45, (1,7,7), stride (1,2,2), padding
/// (0,3,3)) -> BN -> ReLU -> Conv3d(45, 64, (3,1,1), padding (1,0,0)) -> BN -> ReLU.
/// Keys `0.weight`, `1.*`, `3.weight`, `4.*`.
template <class T>
class R2Plus1dStem : public nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>, nn::ReLU<T>, nn::Conv3d<T>,
                                           nn::BatchNorm3d<T>, nn::ReLU<T>> {
  using Base = nn::Sequential<T, nn::Conv3d<T>, nn::BatchNorm3d<T>, nn::ReLU<T>, nn::Conv3d<T>, nn::BatchNorm3d<T>,
                              nn::ReLU<T>>;

 public:
  /// The stem, its convs drawn from `gen`, its BatchNorms built with `norm`.
  explicit R2Plus1dStem(Generator& gen = default_generator(), const VideoNorm& norm = {})
      : Base(nn::Conv3d<T>(
                 nn::Conv3dOptions(3, 45, Triple{1, 7, 7}).stride({1, 2, 2}).padding({0, 3, 3}).bias(false), gen),
             nn::BatchNorm3d<T>(norm(45)), nn::ReLU<T>(),
             nn::Conv3d<T>(nn::Conv3dOptions(45, 64, Triple{3, 1, 1}).padding({1, 0, 0}).bias(false), gen),
             nn::BatchNorm3d<T>(norm(64)), nn::ReLU<T>()) {}

  /// In eval mode the whole stem is one streamed (2+1)D pass (ops::conv2plus1d_fused).
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    auto& bn1 = this->template get<1>();
    auto& bn2 = this->template get<4>();
    if (!bn1.foldable() || !bn2.foldable()) return Base::forward(x);
    Tensor<T, 1> s1, b1, s2, b2;
    bn1.inference_scale_shift(nullptr, s1, b1);
    bn2.inference_scale_shift(nullptr, s2, b2);
    return ops::conv2plus1d_fused<T>(x, this->template get<0>().weight().cview(), this->template get<0>().params(),
                                     s1.data(), b1.data(), true, this->template get<3>().weight().cview(),
                                     this->template get<3>().params(), s2.data(), b2.data(), true);
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) { return forward(x); }
};

}  // namespace r2plus1d::video

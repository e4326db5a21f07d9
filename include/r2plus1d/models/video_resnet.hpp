#pragma once
/// \file
/// torchvision's VideoResNet and its factories r2plus1d_18, r3d_18 and mc3_18,
/// with torchvision's state_dict keys, so its Kinetics-400 weights load as they
/// are: `auto model = video::r2plus1d_18<float>("r2plus1d_18.safetensors");`
/// gives a model ready to run (loaded strictly, in eval mode). r2plus1d_34 is
/// the R(2+1)D-34 of the Caffe2-trained IG-65M and Kinetics models (VMZ), with
/// the keys of their PyTorch ports.

#include <array>
#include <string>

#include "r2plus1d/io/safetensors.hpp"
#include "r2plus1d/models/basic_block.hpp"
#include "r2plus1d/nn/checkpoint.hpp"
#include "r2plus1d/nn/train_chain.hpp"
#include "r2plus1d/models/per_clip.hpp"
#include "r2plus1d/nn/adaptive_avg_pool3d.hpp"
#include "r2plus1d/nn/init.hpp"
#include "r2plus1d/nn/linear.hpp"

namespace r2plus1d::video {

/// How a VideoResNet is built: blocks per layer ({2, 2, 2, 2}: the 18-layer
/// models; {3, 4, 6, 3}: the 34-layer ones), class scores, and the block
/// options of every layer (BatchNorm settings, conv2's midplanes).
struct VideoResNetOptions {
  std::array<index_t, 4> layers{2, 2, 2, 2};  ///< blocks per layer
  index_t num_classes = 400;                  ///< fc's out_features
  BasicBlockOptions block;                    ///< every BasicBlock's (and the stem's BatchNorm settings)
};

/// stem -> layer1..layer4 (64, 128, 256, 512 planes; strides 1, 2, 2, 2) ->
/// avgpool -> flatten -> fc, as torchvision.models.video.VideoResNet with
/// BasicBlock. Layer k builds its blocks with the builder Ck (the
/// `conv_makers` list). In eval mode a batch runs clip by clip (per_clip.hpp).
/// Input (N, 3, T, H, W); forward gives fc's class scores
/// (N, num_classes), features() the pooled 512-d vector. Initialisation as
/// torchvision: convs kaiming-normal (fan_out, ReLU), BatchNorm 1 and 0, fc
/// N(0, 0.01) with zero bias. Keys: `stem.*`, `layer1.0.conv1.0.*`, ...,
/// `layer2.0.downsample.0.weight`, `fc.weight`, `fc.bias`.
template <class T, template <class> class Stem, template <class> class C1, template <class> class C2 = C1,
          template <class> class C3 = C2, template <class> class C4 = C3>
class VideoResNet : public nn::Module<VideoResNet<T, Stem, C1, C2, C3, C4>> {
 public:
  /// The size of the pooled features, layer4's planes.
  static constexpr index_t kFeatures = 512;

  /// The network with `layers` blocks per layer ({2, 2, 2, 2}: the 18-layer
  /// models) and `num_classes` scores; throws OptionError for a layer of no
  /// block or num_classes < 1.
  explicit VideoResNet(const std::array<index_t, 4>& layers = {2, 2, 2, 2}, index_t num_classes = 400,
                       Generator& gen = default_generator())
      : VideoResNet(VideoResNetOptions{layers, num_classes, {}}, gen) {}

  /// The network as `options` say; throws OptionError as above.
  explicit VideoResNet(const VideoResNetOptions& options, Generator& gen = default_generator())
      : stem_(gen, options.block.norm),
        avgpool_(Triple{1, 1, 1}),
        fc_(nn::LinearOptions(kFeatures, options.num_classes), gen) {
    index_t inplanes = 64;
    make_layer(layer1_, inplanes, 64, options.layers[0], 1, options.block, gen);
    make_layer(layer2_, inplanes, 128, options.layers[1], 2, options.block, gen);
    make_layer(layer3_, inplanes, 256, options.layers[2], 2, options.block, gen);
    make_layer(layer4_, inplanes, 512, options.layers[3], 2, options.block, gen);
    init_weights(gen);
  }

  /// Class scores (N, num_classes), before any softmax.
  Tensor<T, 2> forward(TensorView<const T, 5> x) { return fc_(features(x).cview()); }
  /// forward(x).
  Tensor<T, 2> operator()(TensorView<const T, 5> x) { return forward(x); }

  /// The pooled features (N, 512) that fc reads.
  Tensor<T, 2> features(TensorView<const T, 5> x) {
    check_clips("VideoResNet", x.shape());
    if (!this->is_training() && x.size(0) > 1)
      return forward_per_clip<T>(x, [this](TensorView<const T, 5> clip) { return features(clip); });
    Tensor<T, 5> y = stem_(x);
    y = layer1_.forward(std::move(y));
    y = layer2_.forward(std::move(y));
    y = layer3_.forward(std::move(y));
    y = layer4_.forward(std::move(y));
    y = avgpool_(y.cview());
    return std::move(y).template reshape<2>({y.size(0), kFeatures});
  }

  /// The class scores for training, in the current mode (training: batch
  /// statistics, running ones updated as torch; eval: frozen BatchNorm). The
  /// stem and layers before the first that holds a trainable parameter run
  /// the ordinary forward and keep nothing; the rest keep what backward needs.
  Tensor<T, 2> forward_train(TensorView<const T, 5> x) {
    check_clips("VideoResNet", x.shape());
    first_trained_ = nn::first_trainable(stem_, layer1_, layer2_, layer3_, layer4_);
    nn::Checkpointed<Stem<T>, T> stem{stem_, stem_checkpoint_};
    Tensor<T, 5> y = nn::chain_forward_train<T>(x, first_trained_, stem, layer1_, layer2_, layer3_, layer4_);
    y = avgpool_.forward_train(y.cview());
    const Tensor<T, 2> f = std::move(y).template reshape<2>({y.size(0), kFeatures});
    return fc_.forward_train(f.cview());
  }
  /// The backward of the last forward_train from the scores' gradient (N,
  /// num_classes): adds the gradients of the parameters whose requires_grad is
  /// set (torch's `.grad +=`), down to the first trained child, and frees the
  /// activations forward_train kept.
  void backward(TensorView<const T, 2> grad_output) {
    const bool body = first_trained_ < 5;
    const Tensor<T, 2> g = fc_.backward(grad_output, body);
    if (!body) return;
    const Tensor<T, 5> gp = avgpool_.backward(TensorView<const T, 5>(g.data(), {g.size(0), g.size(1), 1, 1, 1}));
    nn::Checkpointed<Stem<T>, T> stem{stem_, stem_checkpoint_};
    nn::chain_backward<T>(gp.cview(), first_trained_, stem, layer1_, layer2_, layer3_, layer4_);
  }
  /// The number of class scores, fc's out_features.
  index_t num_classes() const { return fc_.options().out_features(); }
  /// The stem, Stem<T>.
  Stem<T>& stem() { return stem_; }
  ///@{
  /// The four layers of BasicBlocks, to 64, 128, 256 and 512 planes.
  nn::ModuleList<BasicBlock<T, C1>>& layer1() { return layer1_; }
  nn::ModuleList<BasicBlock<T, C2>>& layer2() { return layer2_; }
  nn::ModuleList<BasicBlock<T, C3>>& layer3() { return layer3_; }
  nn::ModuleList<BasicBlock<T, C4>>& layer4() { return layer4_; }
  ///@}
  /// The classifier, Linear(512, num_classes).
  nn::Linear<T>& fc() { return fc_; }

  /// Turns the stem's checkpointing on or off (nn::Module::set_checkpointing).
  void set_own_checkpointing(bool on) { stem_checkpoint_.set(on); }
  /// What drop_saved() drops of the network's own: the stem's kept input.
  void drop_own_saved() { stem_checkpoint_.drop(); }

  /// Lists the children for the Module base (see module.hpp), in torchvision's order.
  template <class V>
  void visit(V& v) {
    v.child("stem", stem_);
    v.child("layer1", layer1_);
    v.child("layer2", layer2_);
    v.child("layer3", layer3_);
    v.child("layer4", layer4_);
    v.child("avgpool", avgpool_);
    v.child("fc", fc_);
  }

 private:
  template <class Block>
  static void make_layer(nn::ModuleList<Block>& layer, index_t& inplanes, index_t planes, index_t blocks,
                         index_t stride, const BasicBlockOptions& options, Generator& gen) {
    if (blocks < 1) throw OptionError("VideoResNet: expected at least one block per layer, got " + std::to_string(blocks));
    layer.reserve(static_cast<std::size_t>(blocks));
    layer.emplace_back(inplanes, planes, stride, stride != 1 || inplanes != planes, gen, options);
    inplanes = planes;
    for (index_t i = 1; i < blocks; ++i) layer.emplace_back(inplanes, planes, 1, false, gen, options);
  }

  void init_weights(Generator& gen) {
    for (const auto& e : this->named_parameters()) {
      const TensorRef& r = e.ref;
      T* p = r.data_as<T>();
      if (r.shape.size() == 5) {  // every Conv3d weight
        nn::kaiming_normal_fan_out_(TensorView<T, 5>(p, {r.shape[0], r.shape[1], r.shape[2], r.shape[3], r.shape[4]}),
                                    gen);
      }
    }
    nn::normal_(fc_.weight().view(), 0.0, 0.01, gen);
    fc_.bias().fill(T(0));
  }

  Stem<T> stem_;
  nn::ModuleList<BasicBlock<T, C1>> layer1_;
  nn::ModuleList<BasicBlock<T, C2>> layer2_;
  nn::ModuleList<BasicBlock<T, C3>> layer3_;
  nn::ModuleList<BasicBlock<T, C4>> layer4_;
  nn::AdaptiveAvgPool3d<T> avgpool_;
  nn::Linear<T> fc_;
  std::size_t first_trained_ = 0;  // the first of stem..layer4 that forward_train trained
  nn::Checkpoint<T> stem_checkpoint_;  // the stem's, as the blocks' (set_checkpointing)
};

/// R(2+1)D: R2Plus1dStem and Conv2Plus1D in every layer; r2plus1d_18 and r2plus1d_34 build it.
template <class T>
using R2Plus1DResNet = VideoResNet<T, R2Plus1dStem, Conv2Plus1D>;
/// R(2+1)D-18 (31,505,325 parameters with 400 classes).
template <class T>
using R2Plus1D18 = R2Plus1DResNet<T>;
/// R(2+1)D-34 (63,697,175 parameters with 400 classes, 63,676,142 with IG-65M's 359).
template <class T>
using R2Plus1D34 = R2Plus1DResNet<T>;
/// R3D-18: BasicStem and full 3x3x3 convs in every layer.
template <class T>
using R3D18 = VideoResNet<T, BasicStem, Conv3DSimple>;
/// MC3-18: BasicStem, 3x3x3 convs in layer1 and spatial-only 1x3x3 convs in layers 2-4.
template <class T>
using MC318 = VideoResNet<T, BasicStem, Conv3DSimple, Conv3DNoTemporal>;

/// The options of R(2+1)D-34 as the Caffe2-trained models define it: blocks
/// (3, 4, 6, 3), BatchNorm eps 1e-3 and momentum 0.9, and conv2 of each
/// layer's first block with midplanes(planes, planes) (288, 576 and 1152 in
/// layers 2-4, where torchvision's formula would give conv1's 230, 460, 921).
inline VideoResNetOptions r2plus1d_34_options(index_t num_classes = 400) {
  return VideoResNetOptions{{3, 4, 6, 3}, num_classes, BasicBlockOptions{VideoNorm::caffe2(), true}};
}

namespace detail {
/// A Model built with `options` and the class count of `fc.weight` in the
/// safetensors file at `path`, loaded strictly from it and in eval mode.
template <class Model>
Model load_video_resnet(const std::string& path, VideoResNetOptions options = {}) {
  const io::SafetensorsReader reader(path);
  index_t classes = 400;  // without fc.weight, the strict load reports it missing
  if (reader.contains("fc.weight")) {
    const auto& shape = reader.info("fc.weight").shape;
    if (shape.size() != 2 || shape[0] < 1)
      throw StateDictError("load_state_dict: 'fc.weight' has shape " + format_shape(shape) +
                           ", expected [num_classes, 512]");
    classes = shape[0];
  }
  Generator gen;  // the initialisation is overwritten: leave the default generator's sequence alone
  options.num_classes = classes;
  Model model(options, gen);
  model.load_state_dict(reader);
  model.eval();
  return model;
}
}  // namespace detail

/// torchvision.models.video.r2plus1d_18(num_classes=...) with torchvision's initialisation.
template <class T>
R2Plus1D18<T> r2plus1d_18(index_t num_classes = 400, Generator& gen = default_generator()) {
  return R2Plus1D18<T>({2, 2, 2, 2}, num_classes, gen);
}
/// torchvision.models.video.r3d_18(num_classes=...).
template <class T>
R3D18<T> r3d_18(index_t num_classes = 400, Generator& gen = default_generator()) {
  return R3D18<T>({2, 2, 2, 2}, num_classes, gen);
}
/// torchvision.models.video.mc3_18(num_classes=...).
template <class T>
MC318<T> mc3_18(index_t num_classes = 400, Generator& gen = default_generator()) {
  return MC318<T>({2, 2, 2, 2}, num_classes, gen);
}
/// R(2+1)D-34 (r2plus1d_34_options) with torchvision's initialisation.
template <class T>
R2Plus1D34<T> r2plus1d_34(index_t num_classes = 400, Generator& gen = default_generator()) {
  return R2Plus1D34<T>(r2plus1d_34_options(num_classes), gen);
}

/// r2plus1d_18 with the weights of a safetensors file (torchvision's keys, e.g.
/// converted Kinetics-400 weights), ready to run: the class count is that of
/// `fc.weight`, the load is strict (StateDictError names every missing,
/// unexpected or mis-shaped key) and the model is in eval mode.
template <class T>
R2Plus1D18<T> r2plus1d_18(const std::string& weights) {
  return detail::load_video_resnet<R2Plus1D18<T>>(weights);
}
/// r3d_18 with the weights of a safetensors file, as r2plus1d_18(weights).
template <class T>
R3D18<T> r3d_18(const std::string& weights) {
  return detail::load_video_resnet<R3D18<T>>(weights);
}
/// mc3_18 with the weights of a safetensors file, as r2plus1d_18(weights).
template <class T>
MC318<T> mc3_18(const std::string& weights) {
  return detail::load_video_resnet<MC318<T>>(weights);
}
/// r2plus1d_34 with the weights of a safetensors file (the IG-65M or Kinetics
/// checkpoints' keys, converted with tools/convert_checkpoint.py), as r2plus1d_18(weights).
template <class T>
R2Plus1D34<T> r2plus1d_34(const std::string& weights) {
  return detail::load_video_resnet<R2Plus1D34<T>>(weights, r2plus1d_34_options());
}

}  // namespace r2plus1d::video

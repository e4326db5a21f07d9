#pragma once
// r2plus1d-train's model: the interface the training loop drives (forward in
// training mode, backward of the logits' gradient, the trainable parameters,
// the state to save) and its head-only implementation, where the backbone is
// frozen and in eval mode, so that each clip's features never change: the
// loop computes them once, caches them, and trains the linear head on them.

#include <r2plus1d/r2plus1d.hpp>

#include <array>
#include <functional>
#include <memory>
#include <type_traits>
#include <string>
#include <vector>

namespace train {

/// What the training loop needs of a network. forward_train runs in training
/// mode and keeps what backward needs; backward adds the gradients of the
/// trainable parameters from d loss / d logits of that same batch.
class TrainModel {
 public:
  virtual ~TrainModel() = default;
  /// Logits (N, num_classes) of clips (N, 3, T, H, W) in training mode.
  virtual r2plus1d::Tensor<float, 2> forward_train(r2plus1d::TensorView<const float, 5> clips) = 0;
  /// Adds the gradients from grad_logits (N, num_classes) of the last forward_train*.
  virtual void backward(r2plus1d::TensorView<const float, 2> grad_logits) = 0;
  /// Logits (N, num_classes) in eval mode, for validation.
  virtual r2plus1d::Tensor<float, 2> forward_eval(r2plus1d::TensorView<const float, 5> clips) = 0;
  /// The parameters an optimizer updates, with their state_dict names.
  virtual std::vector<r2plus1d::nn::NamedParameter<float>> trainable_parameters() = 0;
  /// The whole network's parameters and buffers under torch's keys.
  virtual r2plus1d::StateDict state_dict() = 0;
  /// Loads a whole network's weights (strict), as r2plus1d-extract does.
  virtual void load(const r2plus1d::io::SafetensorsReader& weights) = 0;
  /// Loads all but the head from weights whose head has another class count
  /// (strict on the rest), keeping the head as initialised: fine-tuning.
  virtual void load_backbone(const r2plus1d::io::SafetensorsReader& weights) = 0;

  /// True when the logits depend on the trainable parameters only through
  /// features that do not change while training: then the loop computes
  /// features() once per clip and trains with forward_train_features.
  virtual bool caches_features() const { return false; }
  /// The (N, 512) features of clips, in eval mode (when caches_features()).
  virtual r2plus1d::Tensor<float, 2> features(r2plus1d::TensorView<const float, 5> clips) {
    return forward_eval(clips);
  }
  /// Logits from cached features (when caches_features()); backward follows it.
  virtual r2plus1d::Tensor<float, 2> forward_train_features(r2plus1d::TensorView<const float, 2>) {
    throw r2plus1d::OptionError("this model does not train on cached features");
  }
  /// Logits from cached features in eval mode, for validation (when caches_features()).
  virtual r2plus1d::Tensor<float, 2> forward_eval_features(r2plus1d::TensorView<const float, 2>) {
    throw r2plus1d::OptionError("this model does not evaluate cached features");
  }
};

/// Loads `weights` into all of `net` but its head (`head_name.*`), strictly
/// on the rest: a backbone under a head of another class count.
template <class Net>
void load_all_but_head(Net& net, const r2plus1d::io::SafetensorsReader& weights, const std::string& head_name) {
  const std::string prefix = head_name + ".";
  auto is_head = [&](const std::string& name) { return name.rfind(prefix, 0) == 0; };
  r2plus1d::StateDict dst;
  for (const auto& e : net.state_dict())
    if (!is_head(e.name)) dst.add(e.name, e.ref);
  struct WithoutHead {
    const r2plus1d::io::SafetensorsReader& src;
    std::function<bool(const std::string&)> is_head;
    std::vector<r2plus1d::TensorInfo> infos() const {
      std::vector<r2plus1d::TensorInfo> out;
      for (auto& i : src.infos())
        if (!is_head(i.name)) out.push_back(i);
      return out;
    }
    void read(const std::string& name, const r2plus1d::TensorRef& ref) const { src.read(name, ref); }
  };
  r2plus1d::nn::load_state_dict_into(dst, WithoutHead{weights, is_head});
}

/// What both paths share: the network, its head's name, and the parameters,
/// state and loading that are the network's own.
template <class Net>
class NetModel : public TrainModel {
 public:
  std::vector<r2plus1d::nn::NamedParameter<float>> trainable_parameters() override {
    return net_.template trainable_parameters<float>();
  }
  r2plus1d::StateDict state_dict() override { return net_.state_dict(); }
  void load(const r2plus1d::io::SafetensorsReader& weights) override { net_.load_state_dict(weights); }
  void load_backbone(const r2plus1d::io::SafetensorsReader& weights) override {
    load_all_but_head(net_, weights, head_name_);
  }

 protected:
  NetModel(Net net, std::string head_name) : net_(std::move(net)), head_name_(std::move(head_name)) {}
  Net net_;
  std::string head_name_;
};

/// The head-only path: `Net` (R2Plus1DClassifier or a VideoResNet) with
/// everything but its head (`head_name`, "linear" or "fc") frozen and the
/// backbone in eval mode, the head trained with the linear gradients.
template <class Net, class Head>
class HeadOnlyModel : public NetModel<Net> {
  using NetModel<Net>::net_;
  using NetModel<Net>::head_name_;

 public:
  /// Takes the network and how to reach its head.
  HeadOnlyModel(Net net, std::string head_name, Head& (*head)(Net&))
      : NetModel<Net>(std::move(net), std::move(head_name)), head_(head) {
    for (const auto& p : net_.template trainable_parameters<float>())
      if (p.name.rfind(head_name_ + ".", 0) != 0) net_.freeze(p.name);
    net_.eval();
  }

  r2plus1d::Tensor<float, 2> forward_train(r2plus1d::TensorView<const float, 5> clips) override {
    cached_ = features(clips);
    return head_(net_)(cached_.cview());
  }
  r2plus1d::Tensor<float, 2> forward_train_features(r2plus1d::TensorView<const float, 2> f) override {
    cached_ = r2plus1d::Tensor<float, 2>::empty(f.shape());
    std::copy(f.data(), f.data() + f.numel(), cached_.data());
    return head_(net_)(f);
  }
  void backward(r2plus1d::TensorView<const float, 2> grad_logits) override {
    using r2plus1d::ops::GradMode;
    auto& h = head_(net_);
    r2plus1d::ops::linear_backward_weight<float>(cached_.cview(), grad_logits, h.weight_grad().view(),
                                                 GradMode::kAccumulate);
    r2plus1d::ops::linear_backward_bias<float>(grad_logits, h.bias_grad().view(), GradMode::kAccumulate);
  }
  r2plus1d::Tensor<float, 2> forward_eval(r2plus1d::TensorView<const float, 5> clips) override {
    return net_.forward(clips);
  }
  r2plus1d::Tensor<float, 2> forward_eval_features(r2plus1d::TensorView<const float, 2> f) override {
    return head_(net_)(f);
  }
  bool caches_features() const override { return true; }
  r2plus1d::Tensor<float, 2> features(r2plus1d::TensorView<const float, 5> clips) override {
    return net_.features(clips);
  }

 private:
  Head& (*head_)(Net&);
  r2plus1d::Tensor<float, 2> cached_;  // the last batch's features, for backward
};

/// The whole-network path: `Net` in training mode (BatchNorm on each batch's
/// statistics, its running statistics updated, as torch's model.train()), the
/// parameters under the `frozen` prefixes left as they are; forward_train and
/// backward are the model's own, which run the frozen layers before the first
/// trained one without keeping anything.
template <class Net>
class FullModel : public NetModel<Net> {
  using NetModel<Net>::net_;

 public:
  /// Takes the network, its head's name and the prefixes to freeze (each
  /// must name some parameter: Module::freeze throws otherwise).
  FullModel(Net net, std::string head_name, const std::vector<std::string>& frozen, bool checkpointing)
      : NetModel<Net>(std::move(net), std::move(head_name)) {
    for (const auto& prefix : frozen) net_.freeze(prefix);
    net_.set_checkpointing(checkpointing);
    r2plus1d::set_storage_compact(true);  // training's varied sizes: resident memory follows the tensors in use
    net_.train();
  }
  r2plus1d::Tensor<float, 2> forward_train(r2plus1d::TensorView<const float, 5> clips) override {
    return net_.forward_train(clips);
  }
  void backward(r2plus1d::TensorView<const float, 2> grad_logits) override { net_.backward(grad_logits); }
  r2plus1d::Tensor<float, 2> forward_eval(r2plus1d::TensorView<const float, 5> clips) override {
    struct BackToTraining {  // also when forward throws
      Net& net;
      ~BackToTraining() { net.train(); }
    } back{net_};
    net_.eval();
    return net_.forward(clips);
  }
};

/// The network --arch names, with `classes` outputs, as a TrainModel for the
/// parameters `freeze` leaves trainable: "backbone" (everything but the head)
/// is the head-only path on cached features; "none" trains every parameter,
/// and parameter prefixes ("stem", "layer1", ...) freeze those: the whole
/// network's path, with activation checkpointing when `checkpointing`.
inline std::unique_ptr<TrainModel> make_train_model(const std::string& arch, const std::array<r2plus1d::index_t, 4>& layers,
                                                    r2plus1d::index_t classes, const std::vector<std::string>& freeze,
                                                    bool checkpointing, r2plus1d::Generator& gen) {
  using namespace r2plus1d;
  const bool head_only = freeze.size() == 1 && freeze[0] == "backbone";
  std::vector<std::string> frozen;
  for (const auto& f : head_only ? std::vector<std::string>{} : freeze) {
    if (f == "none") continue;
    if (f == "backbone")
      throw OptionError("--freeze backbone trains the head alone, on cached features: give it alone");
    frozen.push_back(f);
  }
  if (head_only && checkpointing)
    throw OptionError("--checkpointing saves the whole network's activations; --freeze backbone trains the head "
                      "alone on cached features: leave --checkpointing out, or train more with --freeze none or prefixes");
  auto build = [&](auto net, const std::string& head_name, auto head) -> std::unique_ptr<TrainModel> {
    using Net = decltype(net);
    if (head_only)
      return std::make_unique<HeadOnlyModel<Net, nn::Linear<float>>>(std::move(net), head_name, head);
    return std::make_unique<FullModel<Net>>(std::move(net), head_name, frozen, checkpointing);
  };
  if (arch == "seed") {
    using Net = R2Plus1DClassifier<float>;
    return build(Net(classes, layers, gen), "linear", +[](Net& n) -> nn::Linear<float>& { return n.linear(); });
  }
  auto video = [&](auto tag) -> std::unique_ptr<TrainModel> {
    using Net = typename decltype(tag)::type;
    return build(Net({2, 2, 2, 2}, classes, gen), "fc", +[](Net& n) -> nn::Linear<float>& { return n.fc(); });
  };
  if (arch == "r2plus1d_18") return video(std::common_type<video::R2Plus1D18<float>>{});
  if (arch == "r3d_18") return video(std::common_type<video::R3D18<float>>{});
  if (arch == "mc3_18") return video(std::common_type<video::MC318<float>>{});
  throw OptionError("--arch: unknown architecture '" + arch + "' (expected seed, r2plus1d_18, r3d_18 or mc3_18)");
}

}  // namespace train

#pragma once
/// \file
/// R2Plus1DClassifier: R2Plus1DNet followed by a linear layer to class scores.

#include "r2plus1d/models/r2plus1d_net.hpp"
#include "r2plus1d/nn/linear.hpp"

namespace r2plus1d {

/// scores = linear(res2plus1d(x)): input (N, 3, T, H, W), output (N, num_classes)
/// raw scores (no softmax). Keys `res2plus1d.*` and `linear.weight`, `linear.bias`.
template <class T, template <class> class Block = SpatioTemporalResBlock>
class R2Plus1DClassifier : public nn::Module<R2Plus1DClassifier<T, Block>> {
 public:
  /// `num_classes` scores from R2Plus1DNet(layer_sizes); throws OptionError
  /// for num_classes < 1 or a layer size < 1.
  R2Plus1DClassifier(index_t num_classes, const std::array<index_t, 4>& layer_sizes,
                     Generator& gen = default_generator())
      : res2plus1d_(layer_sizes, gen), linear_(nn::LinearOptions(R2Plus1DNet<T, Block>::kFeatures, num_classes), gen) {}

  /// The raw scores, (N, num_classes).
  Tensor<T, 2> forward(TensorView<const T, 5> x) { return linear_(res2plus1d_(x)); }
  /// forward(x).
  Tensor<T, 2> operator()(TensorView<const T, 5> x) { return forward(x); }

  /// The raw scores for training, in the current mode; the backbone runs its
  /// ordinary forward (keeping nothing) when none of its parameters is
  /// trainable, else its forward_train.
  Tensor<T, 2> forward_train(TensorView<const T, 5> x) {
    backbone_trained_ = res2plus1d_.has_trainable_parameters();
    const Tensor<T, 2> f = backbone_trained_ ? res2plus1d_.forward_train(x) : res2plus1d_.forward(x);
    return linear_.forward_train(f.cview());
  }
  /// The backward of the last forward_train from the scores' gradient (N,
  /// num_classes): adds the gradients of the parameters whose requires_grad
  /// is set, the backbone's only when forward_train trained it.
  void backward(TensorView<const T, 2> grad_output) {
    const Tensor<T, 2> g = linear_.backward(grad_output, backbone_trained_);
    if (backbone_trained_) res2plus1d_.backward(g.cview());
  }
  /// The 512-d features before the linear layer.
  Tensor<T, 2> features(TensorView<const T, 5> x) { return res2plus1d_(x); }

  /// The backbone, R2Plus1DNet.
  R2Plus1DNet<T, Block>& res2plus1d() { return res2plus1d_; }
  /// The final layer, Linear(512, num_classes).
  nn::Linear<T>& linear() { return linear_; }

  /// Lists the children for the Module base (see module.hpp): res2plus1d, linear.
  template <class V>
  void visit(V& v) {
    v.child("res2plus1d", res2plus1d_);
    v.child("linear", linear_);
  }

 private:
  R2Plus1DNet<T, Block> res2plus1d_;
  nn::Linear<T> linear_;
  bool backbone_trained_ = false;
};

}  // namespace r2plus1d

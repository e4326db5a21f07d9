#pragma once
/// \file
/// Parameter<T, R>: a module's learnable tensor with its gradient and
/// requires_grad flag, as torch.nn.Parameter with its `.grad`. The gradient is
/// allocated on first use (grad() or accumulate_grad()), so a module used only
/// for inference holds no gradient memory. ParameterBase<T> is the
/// rank-independent face of it that optimizers hold.

#include <string>
#include <utility>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::nn {

/// What an optimizer sees of a parameter of any rank: the elements and the
/// gradient flat (row-major), and the requires_grad flag.
template <class T>
class ParameterBase {
 public:
  virtual ~ParameterBase() = default;

  /// The parameter's elements, flat.
  virtual TensorView<T, 1> flat_value() = 0;
  /// The gradient's elements, flat; an empty view (null data) when there is no
  /// gradient, as torch's `p.grad is None`.
  virtual TensorView<T, 1> flat_grad() = 0;
  /// The parameter's sizes, outermost first.
  virtual std::vector<index_t> shape() const = 0;
  /// Whether a gradient is allocated.
  virtual bool has_grad() const = 0;
  /// Zeroes the gradient in place, or frees it when `set_to_none` (then
  /// has_grad() is false); nothing when there is none.
  virtual void zero_grad(bool set_to_none = false) = 0;

  /// Whether optimizers update it (true from construction, as in torch).
  bool requires_grad() const { return requires_grad_; }
  /// Sets requires_grad; the gradient, if any, is kept (as torch's requires_grad_).
  void set_requires_grad(bool on) { requires_grad_ = on; }

 protected:
  ///@{
  /// Built, copied and assigned only as part of a Parameter.
  ParameterBase() = default;
  ParameterBase(const ParameterBase&) = default;
  ParameterBase& operator=(const ParameterBase&) = default;
  ///@}

 private:
  bool requires_grad_ = true;
};

/// A learnable tensor of rank R and its lazily allocated gradient of the same shape.
template <class T, int R>
class Parameter final : public ParameterBase<T> {
 public:
  /// An empty parameter (every size 0), no gradient.
  Parameter() = default;
  /// A parameter holding `value`, no gradient.
  explicit Parameter(Tensor<T, R> value) : value_(std::move(value)) {}

  ///@{
  /// The parameter's tensor.
  Tensor<T, R>& value() { return value_; }
  const Tensor<T, R>& value() const { return value_; }
  ///@}

  /// The gradient, the value's shape, allocated zero-filled on the first call
  /// (or when the value's shape changed since).
  Tensor<T, R>& grad() {
    if (!has_grad_ || grad_.shape() != value_.shape()) {
      grad_ = Tensor<T, R>(value_.shape());
      has_grad_ = true;
    }
    return grad_;
  }
  /// The gradient as it is: empty (every size 0) when there is none.
  const Tensor<T, R>& grad() const { return grad_; }
  /// Adds `g` to the gradient, which is allocated (as a copy of `g`) when there
  /// is none, as autograd accumulates into `.grad`. ShapeError when `g`'s shape
  /// is not the value's.
  void accumulate_grad(TensorView<const T, R> g) {
    if (g.shape() != value_.shape())
      throw ShapeError("Parameter: gradient of shape " + format_shape<R>(g.shape()) + ", expected " +
                       format_shape<R>(value_.shape()));
    if (!has_grad_ || grad_.shape() != value_.shape()) {
      grad_ = Tensor<T, R>::from(g);
      has_grad_ = true;
      return;
    }
    T* d = grad_.data();
    for (index_t i = 0; i < g.numel(); ++i) d[i] += g.data()[i];
  }

  TensorView<T, 1> flat_value() override { return TensorView<T, 1>(value_.data(), Shape<1>{value_.numel()}); }
  TensorView<T, 1> flat_grad() override {
    if (!has_grad_) return TensorView<T, 1>();
    return TensorView<T, 1>(grad_.data(), Shape<1>{grad_.numel()});
  }
  std::vector<index_t> shape() const override {
    return std::vector<index_t>(value_.shape().begin(), value_.shape().end());
  }
  bool has_grad() const override { return has_grad_; }
  void zero_grad(bool set_to_none = false) override {
    if (set_to_none) {
      grad_ = Tensor<T, R>();
      has_grad_ = false;
    } else if (has_grad_) {
      grad_.fill(T(0));
    }
  }

 private:
  Tensor<T, R> value_;
  Tensor<T, R> grad_;
  bool has_grad_ = false;
};

/// A trainable parameter as an optimizer holds it: its name in
/// named_parameters() and the parameter, which belongs to the module (the
/// module must stay where it is while the pointer is used).
template <class T>
struct NamedParameter {
  std::string name;              ///< The state_dict key, e.g. "fc.weight".
  ParameterBase<T>* parameter;   ///< The module's parameter.
};

}  // namespace r2plus1d::nn

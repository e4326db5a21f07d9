#pragma once
/// \file
/// Containers with torch's child names "0", "1", ...: Sequential (modules of
/// different types run in order) and ModuleList (any number of one type).

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "r2plus1d/nn/batch_norm3d.hpp"
#include "r2plus1d/nn/conv3d.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/nn/relu.hpp"
#include "r2plus1d/ops/relu.hpp"

namespace r2plus1d::nn {

namespace detail {
template <class M, class T>
inline constexpr bool is_relu_v = std::is_base_of_v<ReLU<T>, M>;
/// Modules with `forward_bn(x, bn, relu)`: a conv (or conv pair) a following
/// BatchNorm3d and ReLU can fold into.
template <class M, class T, class = void>
struct has_forward_bn : std::false_type {};
template <class M, class T>
struct has_forward_bn<M, T,
                      std::void_t<decltype(std::declval<M&>().forward_bn(std::declval<TensorView<const T, 5>>(),
                                                                        std::declval<BatchNorm3d<T>&>(), true))>>
    : std::true_type {};
template <class M, class T>
inline constexpr bool is_conv_v = has_forward_bn<M, T>::value;
template <class M, class T>
inline constexpr bool is_bn_v = std::is_base_of_v<BatchNorm3d<T>, M>;
}  // namespace detail

/// torch.nn.Sequential over (N, C, D, H, W) tensors of `T`: forward runs the
/// modules in order. A module with forward_bn (Conv3d, Conv2Plus1D) followed by a
/// BatchNorm3d (and a ReLU) runs as forward_bn, folded into its output pass in
/// eval mode; a BatchNorm3d or ReLU
/// elsewhere acts in place on its predecessor's output. Children are named "0",
/// "1", ... as in torch's state_dict.
template <class T, class... Ms>
class Sequential : public Module<Sequential<T, Ms...>> {
  static_assert(sizeof...(Ms) >= 1, "Sequential: expected at least one module");

 public:
  /// The modules, moved in, children "0", "1", ... in this order.
  explicit Sequential(Ms... modules) : modules_(std::move(modules)...) {}

  /// The modules' output on x, each fed the one before's (x itself unchanged).
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    Tensor<T, 5> y;
    return run(x, y, false, std::index_sequence_for<Ms...>{});
  }
  /// forward that may reuse x's storage (a first module that can work in place does).
  Tensor<T, 5> forward(Tensor<T, 5>&& x) {
    Tensor<T, 5> y = std::move(x);
    return run(y.cview(), y, true, std::index_sequence_for<Ms...>{});
  }
  /// forward(x).
  Tensor<T, 5> operator()(TensorView<const T, 5> x) { return forward(x); }
  /// forward(std::move(x)), which may reuse x's storage.
  Tensor<T, 5> operator()(Tensor<T, 5>&& x) { return forward(std::move(x)); }

  /// The plain forward for training: each module's forward_train in order,
  /// each keeping what its backward needs.
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    Tensor<T, 5> y = std::get<0>(modules_).forward_train(x);
    train_rest(y, std::make_index_sequence<N - 1>{});
    return y;
  }
  /// The modules' backward in reverse order, from grad_output; returns the
  /// input's gradient (empty when `need_input_grad` is false).
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    if constexpr (N == 1) {
      return std::get<0>(modules_).backward(grad_output, need_input_grad);
    } else {
      Tensor<T, 5> g = std::get<N - 1>(modules_).backward(grad_output, true);
      backward_rest(g, need_input_grad, std::make_index_sequence<N - 1>{});
      return g;
    }
  }
  /// The I-th module.
  template <std::size_t I>
  auto& get() {
    return std::get<I>(modules_);
  }
  /// The number of modules.
  static constexpr std::size_t size() { return sizeof...(Ms); }

  /// Lists the modules as children "0", "1", ... for the Module base (see module.hpp).
  template <class V>
  void visit(V& v) {
    visit_all(v, std::index_sequence_for<Ms...>{});
  }

 private:
  static constexpr std::size_t N = sizeof...(Ms);
  template <std::size_t I>
  using At = std::tuple_element_t<I, std::tuple<Ms...>>;
  template <std::size_t I>
  static constexpr bool relu_at() {
    if constexpr (I < N) return detail::is_relu_v<At<I>, T>;
    else return false;
  }
  template <std::size_t I>
  static constexpr bool bn_at() {
    if constexpr (I < N) return detail::is_bn_v<At<I>, T>;
    else return false;
  }

  // Runs the modules; the input is the view x until the first module has run
  // (or y itself when `owned`), then y. Modules before `next` are done (a conv
  // step consumes the BatchNorm and ReLU after it).
  template <std::size_t... I>
  Tensor<T, 5> run(TensorView<const T, 5> x, Tensor<T, 5>& y, bool owned, std::index_sequence<I...>) {
    std::size_t next = 0;
    (step<I>(x, y, owned, next), ...);
    return std::move(y);
  }
  template <std::size_t I>
  void step(TensorView<const T, 5> x, Tensor<T, 5>& y, bool owned, std::size_t& next) {
    if (I < next) return;
    auto& m = std::get<I>(modules_);
    using M = std::remove_reference_t<decltype(m)>;
    const bool from_view = I == 0 && !owned;
    if constexpr (detail::is_conv_v<M, T> && bn_at<I + 1>()) {
      constexpr bool relu = relu_at<I + 2>();
      if (from_view)
        y = m.forward_bn(x, std::get<I + 1>(modules_), relu);
      else
        y = m.forward_bn(std::move(y), std::get<I + 1>(modules_), relu);  // may work in place
      next = I + (relu ? 3 : 2);
      return;
    } else if constexpr (detail::is_bn_v<M, T>) {
      constexpr bool relu = relu_at<I + 1>();
      y = m.forward_relu(from_view ? Tensor<T, 5>::from(x) : std::move(y), relu);
      next = I + (relu ? 2 : 1);
      return;
    } else if constexpr (detail::is_relu_v<M, T>) {
      if (from_view) y = Tensor<T, 5>::from(x);
      ops::relu_(y.view());
    } else {
      y = m(from_view ? x : y.cview());
    }
    next = I + 1;
  }
  template <std::size_t... I>
  void train_rest(Tensor<T, 5>& y, std::index_sequence<I...>) {
    ((y = std::get<I + 1>(modules_).forward_train(y.cview())), ...);
  }
  // Modules N - 2 down to 0, the last one told whether its input needs a gradient.
  template <std::size_t... I>
  void backward_rest(Tensor<T, 5>& g, bool need_input_grad, std::index_sequence<I...>) {
    ((g = std::get<N - 2 - I>(modules_).backward(g.cview(), N - 2 - I > 0 || need_input_grad)), ...);
  }
  template <class V, std::size_t... I>
  void visit_all(V& v, std::index_sequence<I...>) {
    (v.child(std::to_string(I), std::get<I>(modules_)), ...);
  }

  std::tuple<Ms...> modules_;
};

/// A list of modules of one type, children "0", "1", ... as torch.nn.ModuleList
/// (and as a torch.nn.Sequential of blocks of one type). forward runs them in
/// order, as a Sequential would.
template <class M>
class ModuleList : public Module<ModuleList<M>> {
 public:
  ModuleList() = default;

  /// Appends a module built from `args` as the next child and returns it;
  /// references to earlier modules dangle unless reserve() made room.
  template <class... Args>
  M& emplace_back(Args&&... args) {
    return modules_.emplace_back(std::forward<Args>(args)...);
  }
  ///@{
  /// std::vector's members on the modules: their count, whether there are
  /// none, the i-th (unchecked), iteration in order, and room for n.
  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  M& operator[](std::size_t i) { return modules_[i]; }
  const M& operator[](std::size_t i) const { return modules_[i]; }
  auto begin() { return modules_.begin(); }
  auto end() { return modules_.end(); }
  void reserve(std::size_t n) { modules_.reserve(n); }
  ///@}

  /// Runs the modules in order; an empty list returns a copy of x.
  template <class T>
  Tensor<T, 5> forward(TensorView<const T, 5> x) {
    if (modules_.empty()) return Tensor<T, 5>::from(x);
    Tensor<T, 5> y = modules_.front()(x);
    for (std::size_t i = 1; i < modules_.size(); ++i) y = modules_[i](y.cview());
    return y;
  }
  /// Runs the modules in order, releasing x as soon as the first has read it.
  template <class T>
  Tensor<T, 5> forward(Tensor<T, 5>&& x) {
    if (modules_.empty()) return std::move(x);
    Tensor<T, 5> y = modules_.front()(x.cview());
    x = Tensor<T, 5>();
    for (std::size_t i = 1; i < modules_.size(); ++i) y = modules_[i](y.cview());
    return y;
  }

  /// The modules' forward_train in order; an empty list returns a copy of x.
  template <class T>
  Tensor<T, 5> forward_train(TensorView<const T, 5> x) {
    if (modules_.empty()) return Tensor<T, 5>::from(x);
    Tensor<T, 5> y = modules_.front().forward_train(x);
    for (std::size_t i = 1; i < modules_.size(); ++i) y = modules_[i].forward_train(y.cview());
    return y;
  }
  /// The modules' backward in reverse order, from grad_output; returns the
  /// input's gradient (empty when `need_input_grad` is false; a copy of
  /// grad_output for an empty list).
  template <class T>
  Tensor<T, 5> backward(TensorView<const T, 5> grad_output, bool need_input_grad = true) {
    if (modules_.empty()) return need_input_grad ? Tensor<T, 5>::from(grad_output) : Tensor<T, 5>();
    if (modules_.size() == 1) return modules_.front().backward(grad_output, need_input_grad);
    Tensor<T, 5> g = modules_.back().backward(grad_output, true);
    for (std::size_t i = modules_.size() - 1; i-- > 0;) g = modules_[i].backward(g.cview(), i > 0 || need_input_grad);
    return g;
  }
  /// Lists the modules as children "0", "1", ... for the Module base (see module.hpp).
  template <class V>
  void visit(V& v) {
    for (std::size_t i = 0; i < modules_.size(); ++i) v.child(std::to_string(i), modules_[i]);
  }

 private:
  std::vector<M> modules_;
};

}  // namespace r2plus1d::nn

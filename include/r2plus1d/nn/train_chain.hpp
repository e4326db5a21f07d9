#pragma once
/// \file
/// Training a network's children that run one after another (stem, layers):
/// the children before the first that holds a trainable parameter run their
/// ordinary forward, keeping nothing, and backward stops where training
/// starts, so that a frozen prefix costs neither activation memory nor
/// gradient work.

#include <cstddef>
#include <tuple>
#include <utility>

#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::nn {

/// The position among `modules` of the first with a trainable parameter
/// (Module::has_trainable_parameters), or their count when none has one.
template <class... Ms>
std::size_t first_trainable(Ms&... modules) {
  constexpr std::size_t n = sizeof...(Ms);
  std::size_t i = 0, first = n;
  auto look = [&](auto& m) {
    if (first == n && m.has_trainable_parameters()) first = i;
    ++i;
  };
  (look(modules), ...);
  return first;
}

/// Runs `modules` in order on the (N, C, D, H, W) x: those before position
/// `first` with forward, the others with forward_train.
template <class T, class... Ms>
Tensor<T, 5> chain_forward_train(TensorView<const T, 5> x, std::size_t first, Ms&... modules) {
  Tensor<T, 5> y;
  std::size_t i = 0;
  auto step = [&](auto& m) {
    const TensorView<const T, 5> in = i == 0 ? x : y.cview();
    Tensor<T, 5> out = i < first ? m.forward(in) : m.forward_train(in);
    y = std::move(out);
    ++i;
  };
  (step(modules), ...);
  return y;
}

namespace detail {
template <std::size_t J, class T, class Tuple>
void chain_backward_from(Tuple& modules, Tensor<T, 5>& grad, std::size_t first) {
  if (J < first) return;
  grad = std::get<J>(modules).backward(grad.cview(), J > first);
  if constexpr (J > 0) chain_backward_from<J - 1, T>(modules, grad, first);
}
}  // namespace detail

/// The backward of chain_forward_train(x, first, modules...) from the last
/// module's grad_output: each module from the last down to position `first`,
/// which is told that its input needs no gradient (so none is returned).
template <class T, class... Ms>
void chain_backward(TensorView<const T, 5> grad_output, std::size_t first, Ms&... modules) {
  constexpr std::size_t n = sizeof...(Ms);
  if (first >= n) return;
  auto all = std::forward_as_tuple(modules...);
  Tensor<T, 5> grad = std::get<n - 1>(all).backward(grad_output, n - 1 > first);
  if constexpr (n > 1) detail::chain_backward_from<n - 2, T>(all, grad, first);
}

}  // namespace r2plus1d::nn

#pragma once
/// \file
/// Gradients of the fully connected layer (linear, y = x w^T + b) with respect
/// to the input, the weight and the bias.

#include <algorithm>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/gemm.hpp"
#include "r2plus1d/ops/gradient.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops {

namespace detail {

/// c(m, n) = a * b written or added (`mode`) into c (row-major, leading
/// dimension ldc), the product computed whole first; a and b as gemm_accumulate's.
template <int ALayout, int BLayout, class T>
void gemm_store(GradMode mode, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, T* c,
                index_t ldc) {
  std::vector<T> tmp(static_cast<std::size_t>(m * n), T(0));
  gemm_accumulate<ALayout, BLayout>(m, n, k, a, lda, b, ldb, tmp.data(), n);
  for (index_t r = 0; r < m; ++r) store_grads(mode, c + r * ldc, tmp.data() + r * n, n);
}

inline void check_linear_grad(const char* op, const char* what, const Shape<2>& got, const Shape<2>& expected) {
  if (got != expected)
    throw ShapeError(std::string(op) + ": " + what + " has shape " + format_shape<2>(got) + ", expected " +
                     format_shape<2>(expected));
}
}  // namespace detail

/// The gradient of linear with respect to its (N, in_features) input, from
/// grad_output (N, out_features) and the (out_features, in_features) weight:
/// grad_output * weight, written or added (`mode`) into grad_input. Rows are
/// computed in fixed blocks, so results do not depend on the thread count.
/// Throws ShapeError when the shapes do not fit.
template <class T>
void linear_backward_input(TensorView<const T, 2> grad_output, TensorView<const T, 2> weight,
                           TensorView<T, 2> grad_input, GradMode mode = GradMode::kOverwrite) {
  const index_t rows = grad_output.size(0), out = weight.size(0), in = weight.size(1);
  detail::check_linear_grad("linear_backward_input", "grad_output", grad_output.shape(), {rows, out});
  detail::check_linear_grad("linear_backward_input", "grad_input", grad_input.shape(), {rows, in});
  parallel_for(0, (rows + detail::kLinearRowBlock - 1) / detail::kLinearRowBlock, [&](index_t blk) {
    const index_t r0 = blk * detail::kLinearRowBlock, m = std::min(detail::kLinearRowBlock, rows - r0);
    detail::gemm_store<Eigen::RowMajor, Eigen::RowMajor>(mode, m, in, out, grad_output.data() + r0 * out, out,
                                                         weight.data(), in, grad_input.data() + r0 * in, in);
  });
}

/// The gradient of linear with respect to its weight, from the (N, in_features)
/// input and grad_output (N, out_features): grad_output^T * input, written or
/// added (`mode`) into grad_weight (out_features, in_features). Weight rows are
/// computed in fixed blocks, each summing over all N rows, so results do not
/// depend on the thread count. Throws ShapeError when the shapes do not fit.
template <class T>
void linear_backward_weight(TensorView<const T, 2> input, TensorView<const T, 2> grad_output,
                            TensorView<T, 2> grad_weight, GradMode mode = GradMode::kOverwrite) {
  const index_t rows = input.size(0), in = input.size(1), out = grad_output.size(1);
  detail::check_linear_grad("linear_backward_weight", "grad_output", grad_output.shape(), {rows, out});
  detail::check_linear_grad("linear_backward_weight", "grad_weight", grad_weight.shape(), {out, in});
  parallel_for(0, (out + detail::kLinearRowBlock - 1) / detail::kLinearRowBlock, [&](index_t blk) {
    const index_t o0 = blk * detail::kLinearRowBlock, m = std::min(detail::kLinearRowBlock, out - o0);
    // grad_output^T rows [o0, o0 + m): grad_output read column-major.
    detail::gemm_store<Eigen::ColMajor, Eigen::RowMajor>(mode, m, in, rows, grad_output.data() + o0, out,
                                                         input.data(), in, grad_weight.data() + o0 * in, in);
  });
}

/// The gradient of linear with respect to its bias: grad_output (N,
/// out_features) summed over the rows (in double), written or added (`mode`)
/// into grad_bias's out_features values. Throws ShapeError when the counts differ.
template <class T>
void linear_backward_bias(TensorView<const T, 2> grad_output, TensorView<T, 1> grad_bias,
                          GradMode mode = GradMode::kOverwrite) {
  const index_t rows = grad_output.size(0), out = grad_output.size(1);
  if (grad_bias.size(0) != out)
    throw ShapeError("linear_backward_bias: grad_bias has " + std::to_string(grad_bias.size(0)) +
                     " values, expected " + std::to_string(out) + " (grad_output " +
                     format_shape<2>(grad_output.shape()) + ")");
  parallel_for(0, out, [&](index_t o) {
    double sum = 0;
    for (index_t r = 0; r < rows; ++r) sum += static_cast<double>(grad_output.data()[r * out + o]);
    detail::store_grad(mode, grad_bias.data()[o], sum);
  });
}

/// The three gradients of linear, as linear_backward returns them.
template <class T>
struct LinearGrads {
  Tensor<T, 2> input;   ///< With respect to the input, (N, in_features).
  Tensor<T, 2> weight;  ///< With respect to the weight, (out_features, in_features).
  Tensor<T, 1> bias;    ///< With respect to the bias, out_features values; empty without a bias.
};

/// All the gradients of y = linear(input, weight, bias) from grad_output, in
/// new tensors; the bias gradient only when `bias` is true.
template <class T>
LinearGrads<T> linear_backward(TensorView<const T, 2> input, TensorView<const T, 2> weight,
                               TensorView<const T, 2> grad_output, bool bias) {
  if (input.size(1) != weight.size(1))
    throw ShapeError("linear_backward: input has " + std::to_string(input.size(1)) + " features, expected " +
                     std::to_string(weight.size(1)) + " (input " + format_shape<2>(input.shape()) + ", weight " +
                     format_shape<2>(weight.shape()) + ")");
  LinearGrads<T> grads;
  grads.input = Tensor<T, 2>::empty(input.shape());
  grads.weight = Tensor<T, 2>::empty(weight.shape());
  linear_backward_input<T>(grad_output, weight, grads.input.view());
  linear_backward_weight<T>(input, grad_output, grads.weight.view());
  if (bias) {
    grads.bias = Tensor<T, 1>::empty({weight.size(0)});
    linear_backward_bias<T>(grad_output, grads.bias.view());
  }
  return grads;
}

}  // namespace r2plus1d::ops

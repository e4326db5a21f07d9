#pragma once
/// \file
/// How a backward function stores a gradient: over what the buffer holds, or
/// added to it (as autograd adds the gradients of a tensor used twice).

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops {

/// Whether a backward function writes its gradient into the output buffer
/// (kOverwrite) or adds it to the values there (kAccumulate). With kAccumulate
/// the gradient is computed whole first, then added: each element becomes
/// old + grad, rounded once, as torch's `param.grad += grad`.
enum class GradMode {
  kOverwrite,  ///< buffer = grad
  kAccumulate  ///< buffer = buffer + grad
};

namespace detail {

/// dst[i] = v (kOverwrite) or dst[i] += v (kAccumulate), converting v to T.
template <class T, class V>
inline void store_grad(GradMode mode, T& dst, V v) {
  if (mode == GradMode::kAccumulate) dst = static_cast<T>(dst + static_cast<T>(v));
  else dst = static_cast<T>(v);
}

/// store_grad for each of n contiguous values.
template <class T>
void store_grads(GradMode mode, T* dst, const T* src, index_t n) {
  if (mode == GradMode::kAccumulate)
    for (index_t i = 0; i < n; ++i) dst[i] += src[i];
  else
    for (index_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace detail
}  // namespace r2plus1d::ops

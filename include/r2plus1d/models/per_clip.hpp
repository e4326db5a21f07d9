#pragma once
/// \file
/// Inference one clip at a time. In eval mode every layer of the networks acts
/// on each clip independently (BatchNorm uses running statistics, and the conv
/// tiling does not depend on the batch size), so a batch run clip by clip gives
/// the batched result bit for bit, with only one clip's activations alive.

#include <cstring>
#include <utility>

#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d {

/// Stacks f(clip) (each (1, F)) over the clips of x (N, C, T, H, W) into (N, F).
template <class T, class F>
Tensor<T, 2> forward_per_clip(TensorView<const T, 5> x, F&& f) {
  const Shape<5>& s = x.shape();
  const index_t n = s[0];
  const index_t clip_elems = s[1] * s[2] * s[3] * s[4];
  Tensor<T, 2> out;
  for (index_t i = 0; i < n; ++i) {
    const TensorView<const T, 5> clip(x.data() + i * clip_elems, {1, s[1], s[2], s[3], s[4]});
    const Tensor<T, 2> y = f(clip);
    if (i == 0) out = Tensor<T, 2>::empty({n, y.size(1)});
    std::memcpy(out.data() + i * y.size(1), y.data(), sizeof(T) * static_cast<std::size_t>(y.size(1)));
  }
  return out;
}

}  // namespace r2plus1d

#pragma once
/// \file
/// Inference one clip at a time. In eval mode every layer of the networks acts
/// on each clip independently (BatchNorm uses running statistics, and the conv
/// tiling does not depend on the batch size), so a batch run clip by clip gives
/// the batched result bit for bit, with only one clip's activations alive.
/// Also the input check the networks share.

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d {

/// Checks a network's input (N, 3, T, H, W): ShapeError naming `who` when the
/// channel count is not 3 (saying how to permute a channels-last (N, T, H, W, 3)
/// clip) or any size is zero.
inline void check_clips(const char* who, const Shape<5>& s) {
  if (s[1] != 3) {
    std::string msg = std::string(who) + ": input has " + std::to_string(s[1]) +
                      " channels, expected 3 (RGB clips (N, 3, T, H, W)), got " + format_shape<5>(s);
    if (s[4] == 3)
      msg += "; a channels-last clip (N, T, H, W, 3) needs its channels moved to dimension 1 first, as torch's "
             "x.permute(0, 4, 1, 2, 3)";
    throw ShapeError(msg);
  }
  if (std::find(s.begin(), s.end(), index_t(0)) != s.end())
    throw ShapeError(std::string(who) + ": expected a non-empty input (N, 3, T, H, W), got " + format_shape<5>(s));
}

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

#pragma once
/// \file
/// Video-level results from clip-level ones: the mean over a video's clips
/// (and crops) of the softmax probabilities of their class scores, or of their
/// features, as torchvision's and MMAction2's evaluation average the views of
/// one video.

#include <string>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/ops/softmax.hpp"

namespace r2plus1d::io {

/// The mean of the rows of `rows` (N, D) as a (1, D) tensor, summed in double
/// in row order and rounded once. ShapeError for N = 0.
template <class T>
Tensor<T, 2> mean_rows(TensorView<const T, 2> rows) {
  const index_t N = rows.size(0), D = rows.size(1);
  if (N < 1) throw ShapeError("mean_rows: expected at least one row, got " + format_shape<2>(rows.shape()));
  Tensor<T, 2> out = Tensor<T, 2>::empty({1, D});
  for (index_t d = 0; d < D; ++d) {
    double sum = 0;
    for (index_t n = 0; n < N; ++n) sum += static_cast<double>(rows.data()[n * D + d]);
    out.data()[d] = static_cast<T>(sum / static_cast<double>(N));
  }
  return out;
}

/// The video-level result of its clip-level rows (N, D), one per clip and
/// crop: with `scores`, rows are class scores (logits) and the result is the
/// mean of their softmax probabilities (1, classes), mean(softmax(rows, 1), 0);
/// otherwise rows are features and the result is their mean (1, D).
/// ShapeError for N = 0.
template <class T>
Tensor<T, 2> average_clips(TensorView<const T, 2> rows, bool scores) {
  if (rows.size(0) < 1)
    throw ShapeError("average_clips: expected at least one clip, got " + format_shape<2>(rows.shape()));
  if (!scores) return mean_rows(rows);
  const Tensor<T, 2> p = ops::softmax(rows, 1);
  return mean_rows(p.cview());
}
/// The same on a tensor.
template <class T>
Tensor<T, 2> average_clips(const Tensor<T, 2>& rows, bool scores) {
  return average_clips(rows.cview(), scores);
}

}  // namespace r2plus1d::io

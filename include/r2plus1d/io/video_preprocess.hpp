#pragma once
/// \file
/// torchvision's video classification preset
/// (`torchvision.transforms._presets.VideoClassification`, the `transforms()` of
/// the r2plus1d_18 / r3d_18 / mc3_18 Kinetics-400 weights) on RGB frames, with
/// no FFmpeg: bilinear resize (align_corners false, no antialias), centre crop,
/// scaling to [0, 1] and per-channel normalisation, written as (3, T, H, W).
///
/// The preset resizes the frames in the dtype it is given. On uint8 frames (what
/// decoders give, and what torchvision's video datasets feed it) the bilinear
/// result is rounded half to even back to uint8 before the crop and the scaling
/// by 1/255; on float frames in [0, 1] nothing is rounded. Both are reproduced
/// here to the float32 operation order of torch's CPU kernels.

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::io {

/// Options and implementation of torchvision's VideoClassification preset;
/// defaults are those of r2plus1d_18's Kinetics-400 weights: resize to 128x171,
/// crop 112x112, mean (0.43216, 0.394666, 0.37645), std (0.22803, 0.22145, 0.216989).
class VideoClassification {
 public:
  VideoClassification() = default;

  ///@{
  /// Chainable setters: the (h, w) of the centre crop and of the resize before
  /// it, and the per-channel (R, G, B) mean and std of the normalisation.
  VideoClassification& crop_size(index_t h, index_t w) {
    crop_ = {h, w};
    return *this;
  }
  VideoClassification& resize_size(index_t h, index_t w) {
    resize_ = {h, w};
    return *this;
  }
  VideoClassification& mean(const std::array<float, 3>& m) {
    mean_ = m;
    return *this;
  }
  VideoClassification& std(const std::array<float, 3>& s) {
    std_ = s;
    return *this;
  }
  ///@}
  ///@{
  /// The options as set (or defaulted).
  const std::array<index_t, 2>& crop_size() const { return crop_; }
  const std::array<index_t, 2>& resize_size() const { return resize_; }
  const std::array<float, 3>& mean() const { return mean_; }
  const std::array<float, 3>& std() const { return std_; }
  ///@}

  /// One frame: `rgb` is (height, width, 3) interleaved RGB, row-major, uint8 in
  /// [0, 255] or float in [0, 1]. Writes channel c of the (crop_h, crop_w) result
  /// at `out + c * channel_stride`, row-major.
  template <class In>
  void frame(const In* rgb, index_t height, index_t width, float* out, index_t channel_stride) const {
    static_assert(std::is_same_v<In, std::uint8_t> || std::is_same_v<In, float>,
                  "VideoClassification: frames are uint8 or float");
    check(height, width);
    const Axis rows = axis(height, resize_[0], crop_[0]);
    const Axis cols = axis(width, resize_[1], crop_[1]);
    const index_t ch = crop_[0], cw = crop_[1];
    for (index_t i = 0; i < ch; ++i) {
      const In* r0 = rgb + rows.i0[i] * width * 3;
      const In* r1 = rgb + rows.i1[i] * width * 3;
      const float h0 = rows.l0[i], h1 = rows.l1[i];
      for (index_t j = 0; j < cw; ++j) {
        const index_t a = cols.i0[j] * 3, b = cols.i1[j] * 3;
        const float w0 = cols.l0[j], w1 = cols.l1[j];
        for (int c = 0; c < 3; ++c) {
          // torch's separable kernel: h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11).
          const float top = mul_add(w0, static_cast<float>(r0[a + c]), w1 * static_cast<float>(r0[b + c]));
          const float bottom = mul_add(w0, static_cast<float>(r1[a + c]), w1 * static_cast<float>(r1[b + c]));
          float v = mul_add(h0, top, h1 * bottom);
          if constexpr (std::is_same_v<In, std::uint8_t>) v = std::nearbyint(v) / 255.0f;  // round half to even
          out[c * channel_stride + i * cw + j] = (v - mean_[c]) / std_[c];
        }
      }
    }
  }

  /// Frames (T, H, W, 3) -> the network's (3, T, crop_h, crop_w).
  template <class In>
  Tensor<float, 4> operator()(TensorView<const In, 4> frames) const {
    if (frames.size(3) != 3)
      throw ShapeError("VideoClassification: expected frames (T, H, W, 3), got " + format_shape<4>(frames.shape()));
    const index_t T = frames.size(0), H = frames.size(1), W = frames.size(2);
    Tensor<float, 4> out = Tensor<float, 4>::empty({3, T, crop_[0], crop_[1]});
    const index_t plane = crop_[0] * crop_[1];
    for (index_t t = 0; t < T; ++t)
      frame(frames.data() + t * H * W * 3, H, W, out.data() + t * plane, T * plane);
    return out;
  }
  /// The same on a view of mutable frames.
  template <class In, class = std::enable_if_t<!std::is_const_v<In>>>
  Tensor<float, 4> operator()(TensorView<In, 4> frames) const {
    return (*this)(TensorView<const In, 4>(frames));
  }
  /// The same on a tensor of frames.
  template <class In>
  Tensor<float, 4> operator()(const Tensor<In, 4>& frames) const {
    return (*this)(frames.cview());
  }

 private:
  struct Axis {
    std::vector<index_t> i0, i1;
    std::vector<float> l0, l1;
  };

  // As compiled into torch's CPU kernels (AVX2 with FMA contraction).
  static float mul_add(float a, float b, float c) { return std::fma(a, b, c); }

  void check(index_t height, index_t width) const {
    if (height < 1 || width < 1)
      throw ShapeError("VideoClassification: expected a non-empty frame, got " + std::to_string(height) + "x" +
                       std::to_string(width));
    if (crop_[0] < 1 || crop_[1] < 1 || resize_[0] < crop_[0] || resize_[1] < crop_[1])
      throw OptionError("VideoClassification: expected 0 < crop size <= resize size, got crop " +
                        std::to_string(crop_[0]) + "x" + std::to_string(crop_[1]) + " and resize " +
                        std::to_string(resize_[0]) + "x" + std::to_string(resize_[1]));
  }

  // Source indices and weights of the `crop` outputs kept by the centre crop,
  // as torch's upsample_bilinear2d (align_corners false) computes them on the
  // CPU: the scale in float, the source position in double (its accumulate
  // type), the weights rounded to float.
  static Axis axis(index_t in, index_t resized, index_t crop) {
    Axis ax;
    const auto offset = static_cast<index_t>(std::nearbyint(static_cast<double>(resized - crop) / 2.0));
    const double scale = static_cast<float>(in) / static_cast<float>(resized);
    for (index_t k = 0; k < crop; ++k) {
      const index_t o = offset + k;
      index_t i0 = o, i1 = o;
      double l1 = 0.0;
      if (in != resized) {
        double src = scale * (static_cast<double>(o) + 0.5) - 0.5;
        if (src < 0.0) src = 0.0;
        i0 = static_cast<index_t>(src);
        i1 = i0 + (i0 < in - 1 ? 1 : 0);
        l1 = std::fmin(std::fmax(src - static_cast<double>(i0), 0.0), 1.0);
      }
      ax.i0.push_back(i0);
      ax.i1.push_back(i1);
      ax.l1.push_back(static_cast<float>(l1));
      ax.l0.push_back(static_cast<float>(1.0 - l1));
    }
    return ax;
  }

  std::array<index_t, 2> crop_{112, 112};
  std::array<index_t, 2> resize_{128, 171};
  std::array<float, 3> mean_{0.43216f, 0.394666f, 0.37645f};
  std::array<float, 3> std_{0.22803f, 0.22145f, 0.216989f};
};

}  // namespace r2plus1d::io

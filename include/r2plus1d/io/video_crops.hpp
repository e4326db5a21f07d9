#pragma once
/// \file
/// Spatial crops of a clip for multi-crop evaluation: the centre crop, three
/// crops along the longer side, and torchvision's ten crops, as a list of
/// Crop (top, left, flip) and a function that cuts one out of a clip
/// (3, T, H, W), the layout io::VideoClassification writes. Crops are square,
/// `size` x `size`, and lie inside the frame (no padding).

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::io {

/// One crop of a frame: rows [top, top + size), columns [left, left + size),
/// then mirrored left to right when `flip`.
struct Crop {
  index_t top = 0;    ///< first row in the frame
  index_t left = 0;   ///< first column in the frame
  bool flip = false;  ///< mirrored horizontally after cutting

  /// Whether both crops are the same.
  bool operator==(const Crop& o) const { return top == o.top && left == o.left && flip == o.flip; }
};

namespace detail {

inline void check_crop(const char* what, index_t height, index_t width, index_t size) {
  if (size < 1 || height < size || width < size)
    throw OptionError(std::string(what) + ": expected a crop size from 1 to the frame's shorter side, got " +
                      std::to_string(size) + " for a frame of " + std::to_string(height) + "x" +
                      std::to_string(width));
}

// torchvision CenterCrop's offset: int(round((extent - size) / 2.0)), half to even.
inline index_t centre_offset(index_t extent, index_t size) {
  return static_cast<index_t>(std::nearbyint(static_cast<double>(extent - size) / 2.0));
}

}  // namespace detail

/// The centre crop of a height x width frame, as torchvision's CenterCrop:
/// top = int(round((height - size) / 2.0)), left likewise (Python's round,
/// half to even). OptionError unless 1 <= size <= min(height, width).
inline Crop center_crop(index_t height, index_t width, index_t size) {
  detail::check_crop("center_crop", height, width, size);
  return {detail::centre_offset(height, size), detail::centre_offset(width, size), false};
}

/// Three crops along the longer side (the width when width >= height): at its
/// start, its centre and its end (offsets 0, int(round((L - size) / 2.0)),
/// L - size), each centred on the shorter side as center_crop, so that the
/// second is center_crop's. This is MMAction2's ThreeCrop spread of views,
/// except that MMAction2 needs the crop to span the shorter side, lists the
/// crops start, end, centre, and puts them at (L - size) // 2 and
/// 2 * ((L - size) // 2), a pixel short of the end when L - size is odd.
/// OptionError unless 1 <= size <= min(height, width).
inline std::vector<Crop> three_crops(index_t height, index_t width, index_t size) {
  detail::check_crop("three_crops", height, width, size);
  if (width >= height) {
    const index_t top = detail::centre_offset(height, size);
    return {{top, 0, false}, {top, detail::centre_offset(width, size), false}, {top, width - size, false}};
  }
  const index_t left = detail::centre_offset(width, size);
  return {{0, left, false}, {detail::centre_offset(height, size), left, false}, {height - size, left, false}};
}

/// torchvision's TenCrop (vertical_flip false) in its order: five_crop of the
/// frame (top-left, top-right, bottom-left, bottom-right, centre), then
/// five_crop of the frame mirrored left to right. A crop of the mirrored frame
/// at column c is the mirror of the frame's crop at width - size - c, so the
/// mirrored centre is a column off the centre when width - size is odd.
/// OptionError unless 1 <= size <= min(height, width).
inline std::vector<Crop> ten_crops(index_t height, index_t width, index_t size) {
  detail::check_crop("ten_crops", height, width, size);
  const index_t bottom = height - size, right = width - size;
  const Crop c = center_crop(height, width, size);
  std::vector<Crop> out = {{0, 0, false}, {0, right, false}, {bottom, 0, false}, {bottom, right, false}, c};
  for (std::size_t k = 0; k < 5; ++k) out.push_back({out[k].top, right - out[k].left, true});
  return out;
}

/// The crops of `n` views (1: center_crop, 3: three_crops, 10: ten_crops);
/// OptionError for another count.
inline std::vector<Crop> video_crops(index_t n, index_t height, index_t width, index_t size) {
  if (n == 1) return {center_crop(height, width, size)};
  if (n == 3) return three_crops(height, width, size);
  if (n == 10) return ten_crops(height, width, size);
  throw OptionError("video_crops: expected 1, 3 or 10 crops, got " + std::to_string(n));
}

/// Crop `crop` of every frame of `clip` (C, T, H, W), row-major, as
/// (C, T, size, size). OptionError when the crop does not lie inside the frame.
template <class T>
Tensor<std::remove_const_t<T>, 4> apply_crop(TensorView<T, 4> clip, const Crop& crop, index_t size) {
  const index_t C = clip.size(0), D = clip.size(1), H = clip.size(2), W = clip.size(3);
  if (size < 1 || crop.top < 0 || crop.left < 0 || crop.top + size > H || crop.left + size > W)
    throw OptionError("apply_crop: the " + std::to_string(size) + "x" + std::to_string(size) + " crop at (" +
                      std::to_string(crop.top) + ", " + std::to_string(crop.left) + ") does not lie inside " +
                      format_shape<4>(clip.shape()) + " (C, T, H, W) frames");
  using U = std::remove_const_t<T>;
  Tensor<U, 4> out = Tensor<U, 4>::empty({C, D, size, size});
  U* o = out.data();
  for (index_t p = 0; p < C * D; ++p) {
    const T* plane = clip.data() + p * H * W;
    for (index_t i = 0; i < size; ++i, o += size) {
      const T* row = plane + (crop.top + i) * W + crop.left;
      if (crop.flip)
        std::reverse_copy(row, row + size, o);
      else
        std::copy(row, row + size, o);
    }
  }
  return out;
}
/// The same on a tensor.
template <class T>
Tensor<T, 4> apply_crop(const Tensor<T, 4>& clip, const Crop& crop, index_t size) {
  return apply_crop(clip.cview(), crop, size);
}

}  // namespace r2plus1d::io

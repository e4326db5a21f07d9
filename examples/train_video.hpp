#pragma once
// r2plus1d-train's videos, each frame preprocessed as r2plus1d-extract does
// (torchvision's preset: resize, centre crop, normalise; 128x171 and 112x112
// by default): all of a video's frames, and the clip the head-only path and
// validation take, its centre window of clip_len frames (first frame
// floor((frames - clip_len) / 2); a shorter video padded with its last frame).
// Without FFmpeg a video is an error, so that its entry is skipped.

#include <r2plus1d/r2plus1d.hpp>
#ifdef R2PLUS1D_TRAIN_VIDEO
#include <r2plus1d/io/video.hpp>
#endif

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace train {

/// How videos become clips: --clip-len, --resize and the crop (--crop).
struct Preprocess {
  r2plus1d::index_t clip_len = 16;
  std::array<r2plus1d::index_t, 2> resize{128, 171};
  r2plus1d::index_t crop = 0;  ///< 0: videos 112 (the preset's), .npy clips as they are
  /// The crop of a video's frames.
  r2plus1d::index_t video_crop() const { return crop > 0 ? crop : 112; }
};

/// Frames [start, start + clip_len) of `frames` (3, T, H, W) as a (1, 3,
/// clip_len, H, W) clip, the frames past the end repeating the last one.
inline r2plus1d::Tensor<float, 5> window(const r2plus1d::Tensor<float, 4>& frames, r2plus1d::index_t start,
                                         r2plus1d::index_t clip_len) {
  using namespace r2plus1d;
  const index_t n = frames.size(1), h = frames.size(2), w = frames.size(3), plane = h * w;
  Tensor<float, 5> clip = Tensor<float, 5>::empty({1, 3, clip_len, h, w});
  for (index_t c = 0; c < 3; ++c)
    for (index_t t = 0; t < clip_len; ++t) {
      const float* src = frames.data() + (c * n + std::min(start + t, n - 1)) * plane;
      std::copy(src, src + plane, clip.data() + (c * clip_len + t) * plane);
    }
  return clip;
}

/// Every frame of the video `path`, resized to `resize` and centre-cropped to
/// crop_h x crop_w, normalised: (3, T, crop_h, crop_w). FormatError when it
/// decodes no frame.
inline r2plus1d::Tensor<float, 4> video_frames(const std::string& path, const std::array<r2plus1d::index_t, 2>& resize,
                                               r2plus1d::index_t crop_h, r2plus1d::index_t crop_w) {
  using namespace r2plus1d;
#ifdef R2PLUS1D_TRAIN_VIDEO
  io::VideoReader reader(path, io::VideoReaderOptions().threads(1));
  io::VideoClassification preset;
  preset.resize_size(resize[0], resize[1]).crop_size(crop_h, crop_w);
  const index_t plane = crop_h * crop_w;
  std::vector<std::vector<float>> frames;
  io::VideoFrame f;
  while (reader.read(f)) {
    frames.emplace_back(static_cast<std::size_t>(3 * plane));
    preset.frame(f.rgb.data(), f.height, f.width, frames.back().data(), plane);
  }
  if (frames.empty()) throw FormatError("video: '" + path + "': no frames decoded");
  const auto n = static_cast<index_t>(frames.size());
  Tensor<float, 4> out = Tensor<float, 4>::empty({3, n, crop_h, crop_w});
  for (index_t t = 0; t < n; ++t)
    for (index_t c = 0; c < 3; ++c) {
      const float* src = frames[static_cast<std::size_t>(t)].data() + c * plane;
      std::copy(src, src + plane, out.data() + (c * n + t) * plane);
    }
  return out;
#else
  (void)resize, (void)crop_h, (void)crop_w;
  throw IoError("'" + path + "': this r2plus1d-train was built without FFmpeg and reads .npy clips only");
#endif
}

/// The centre clip (1, 3, clip_len, crop, crop) of the video `path`.
inline r2plus1d::Tensor<float, 5> video_centre_clip(const std::string& path, const Preprocess& p) {
  const r2plus1d::Tensor<float, 4> frames = video_frames(path, p.resize, p.video_crop(), p.video_crop());
  const r2plus1d::index_t n = frames.size(1);
  return window(frames, n > p.clip_len ? (n - p.clip_len) / 2 : 0, p.clip_len);
}

}  // namespace train

#pragma once
// r2plus1d-train's videos: the one clip of a video that the head-only path
// trains on, its centre window of clip_len frames (first frame
// floor((frames - clip_len) / 2); a shorter video padded with its last frame),
// each frame preprocessed as r2plus1d-extract does (torchvision's preset:
// resize to 128x171, centre crop 112x112, normalise). Without FFmpeg a video
// is an error, so that its entry is skipped.

#include <r2plus1d/r2plus1d.hpp>
#ifdef R2PLUS1D_TRAIN_VIDEO
#include <r2plus1d/io/video.hpp>
#endif

#include <string>
#include <vector>

namespace train {

/// The centre clip (1, 3, clip_len, 112, 112) of the video `path`.
inline r2plus1d::Tensor<float, 5> video_centre_clip(const std::string& path, r2plus1d::index_t clip_len) {
  using namespace r2plus1d;
#ifdef R2PLUS1D_TRAIN_VIDEO
  io::VideoReader reader(path, io::VideoReaderOptions().threads(1));
  io::VideoClassification preset;
  const index_t ch = preset.crop_size()[0], cw = preset.crop_size()[1], plane = ch * cw;
  std::vector<std::vector<float>> frames;
  io::VideoFrame f;
  while (reader.read(f)) {
    frames.emplace_back(static_cast<std::size_t>(3 * plane));
    preset.frame(f.rgb.data(), f.height, f.width, frames.back().data(), plane);
  }
  if (frames.empty()) throw FormatError("video: '" + path + "': no frames decoded");
  const auto n = static_cast<index_t>(frames.size());
  const index_t start = n > clip_len ? (n - clip_len) / 2 : 0;
  Tensor<float, 5> clip = Tensor<float, 5>::empty({1, 3, clip_len, ch, cw});
  for (index_t t = 0; t < clip_len; ++t) {
    const auto& src = frames[static_cast<std::size_t>(std::min(start + t, n - 1))];
    for (index_t c = 0; c < 3; ++c)
      std::copy(src.data() + c * plane, src.data() + (c + 1) * plane, clip.data() + (c * clip_len + t) * plane);
  }
  return clip;
#else
  (void)clip_len;
  throw IoError("'" + path + "': this r2plus1d-train was built without FFmpeg and reads .npy clips only");
#endif
}

}  // namespace train

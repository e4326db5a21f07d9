#pragma once
/// \file
/// Where the clips of a video start for video-level evaluation: K windows of
/// `clip_len` frames spread uniformly over the video, their first frames
/// floor(torch.linspace(0, n - clip_len, K)): the clips torchvision's
/// UniformClipSampler picks among a video's clips of one frame's step, as its
/// video classification reference evaluates Kinetics-400.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::io {

/// The first frames of `clips` windows of `clip_len` frames over a video of
/// `n_frames` frames: floor(torch.linspace(0, n_frames - clip_len, clips)),
/// computed as torch.linspace computes it on the CPU in float32 (its default
/// dtype): step = (end - start) / (clips - 1) in float, start + step * i for
/// the first half, end - step * (clips - 1 - i) for the second. One clip
/// starts at 0. More clips than there are distinct windows (clips >
/// n_frames - clip_len + 1) repeat starts, as linspace does. A video shorter
/// than one clip (n_frames < clip_len) gives a single start, 0, whatever
/// `clips` is: its one clip is padded with its last frame by the caller, as
/// r2plus1d-extract does with short videos (torchvision's UniformClipSampler
/// gives such a video no clip at all). OptionError unless n_frames,
/// clip_len and clips are all positive.
inline std::vector<index_t> uniform_clip_starts(index_t n_frames, index_t clip_len, index_t clips) {
  if (n_frames < 1 || clip_len < 1 || clips < 1)
    throw OptionError("uniform_clip_starts: expected positive n_frames, clip_len and clips, got " +
                      std::to_string(n_frames) + ", " + std::to_string(clip_len) + " and " + std::to_string(clips));
  if (n_frames < clip_len) return {0};
  std::vector<index_t> starts(static_cast<std::size_t>(clips), 0);
  if (clips == 1) return starts;
  const float end = static_cast<float>(n_frames - clip_len);
  const float step = end / static_cast<float>(clips - 1);
  const index_t halfway = clips / 2;
  for (index_t i = 0; i < clips; ++i) {
    const float v = i < halfway ? step * static_cast<float>(i) : end - step * static_cast<float>(clips - 1 - i);
    starts[static_cast<std::size_t>(i)] = static_cast<index_t>(std::floor(v));
  }
  return starts;
}

}  // namespace r2plus1d::io

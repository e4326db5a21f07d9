#pragma once
// r2plus1d-train's augmentation on the whole network's path (--augment crop
// or crop+flip), torchvision's video classification recipe: each epoch, each
// training video gives a random window of --clip-len frames (resized to
// --resize), a random --crop square of it, mirrored left to right with
// probability 1/2 under crop+flip. A video is decoded again for every batch
// it is in, so memory stays that of a batch; an in-memory .npy clip keeps its
// frames and gets the random crop and flip. The draws of a clip depend only on
// the seed, the epoch and the clip's number: the same command trains the same
// weights, and a resumed run draws what the uninterrupted one would have.

#include <r2plus1d/io/video_crops.hpp>
#include <r2plus1d/r2plus1d.hpp>

#include "train_data.hpp"
#include "train_video.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace train {

/// --augment and what it draws from.
struct Augment {
  bool enabled = false;  ///< crop or crop+flip
  bool flip = false;     ///< crop+flip
  std::uint64_t seed = 0;
};

/// A generator for clip `clip` in epoch `epoch` (0-based), from the seed.
inline r2plus1d::Generator augment_draws(std::uint64_t seed, std::int64_t epoch, r2plus1d::index_t clip) {
  std::uint64_t z = seed ^ (0xA0761D6478BD642Full * static_cast<std::uint64_t>(epoch + 1)) ^
                    (0xE7037ED1A0B428DBull * static_cast<std::uint64_t>(clip + 1));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;  // splitmix64's finaliser
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return r2plus1d::Generator(z ^ (z >> 31));
}

/// An integer uniform in [0, n].
inline r2plus1d::index_t draw_upto(r2plus1d::Generator& g, r2plus1d::index_t n) {
  return std::min(n, static_cast<r2plus1d::index_t>(g.next_unit() * double(n + 1)));
}

/// Training clip `i` of `d` in epoch `epoch` as (3, T, crop, crop).
inline r2plus1d::Tensor<float, 4> augmented_clip(const Dataset& d, r2plus1d::index_t i, std::int64_t epoch,
                                                 const Preprocess& p, const Augment& a) {
  using namespace r2plus1d;
  Generator g = augment_draws(a.seed, epoch, i);
  const std::string& path = d.path[static_cast<std::size_t>(i)];
  if (!path.empty()) {
    const Tensor<float, 4> frames = video_frames(path, p.resize, p.resize[0], p.resize[1]);
    const index_t n = frames.size(1), size = p.video_crop();
    const index_t start = draw_upto(g, std::max<index_t>(n - p.clip_len, 0));
    const Tensor<float, 5> clip = window(frames, start, p.clip_len);
    io::Crop crop{draw_upto(g, clip.size(3) - size), draw_upto(g, clip.size(4) - size), false};
    crop.flip = a.flip && g.next_unit() < 0.5;
    const TensorView<const float, 4> v(clip.data(), {3, p.clip_len, clip.size(3), clip.size(4)});
    return io::apply_crop(v, crop, size);
  }
  const Tensor<float, 5>& src = d.uncropped.numel() > 0 ? d.uncropped : d.clips;
  const index_t per = src.numel() / src.size(0), h = src.size(3), w = src.size(4);
  io::Crop crop{draw_upto(g, h - p.crop), draw_upto(g, w - p.crop), false};
  crop.flip = a.flip && g.next_unit() < 0.5;
  const TensorView<const float, 4> v(src.data() + i * per, {src.size(1), src.size(2), h, w});
  return io::apply_crop(v, crop, p.crop);
}

/// The training batch of clips `idx` in epoch `epoch`: (|idx|, 3, T, crop, crop).
inline r2plus1d::Tensor<float, 5> augmented_batch(const Dataset& d, const std::vector<r2plus1d::index_t>& idx,
                                                  std::int64_t epoch, const Preprocess& p, const Augment& a) {
  using namespace r2plus1d;
  Tensor<float, 5> out;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const Tensor<float, 4> c = augmented_clip(d, idx[k], epoch, p, a);
    if (k == 0) out = Tensor<float, 5>::empty({static_cast<index_t>(idx.size()), c.size(0), c.size(1), c.size(2), c.size(3)});
    if (c.numel() * static_cast<index_t>(idx.size()) != out.numel())
      throw ShapeError("--augment: clips of shape " + format_shape<4>(c.shape()) + " beside " +
                       format_shape<5>(out.shape()) + " in one batch (videos and .npy clips of other sizes?)");
    std::copy(c.data(), c.data() + c.numel(), out.data() + static_cast<index_t>(k) * c.numel());
  }
  return out;
}

}  // namespace train

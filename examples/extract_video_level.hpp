#pragma once
// r2plus1d-extract's video-level evaluation, FFmpeg-free: K clips spread
// uniformly over a video (--clips-per-video), several crops of each clip
// (--crops), and the batching of the crops for the network. The definitions
// (io::uniform_clip_starts, io::video_crops, io::average_clips) are the
// library's.

#include "extract_index.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace extract {

using r2plus1d::index_t;

/// A batch of clips (B, 3, T, H, W) and the index rows of its clips.
using ClipBatch = std::function<void(const r2plus1d::Tensor<float, 5>&, std::vector<ClipRecord>)>;

/// Cuts the crops `crops` (size x size) out of every clip added, in clip
/// order then crop order, and gives them to `run` `batch` at a time; each crop
/// keeps its clip's index row.
class CropBatcher {
 public:
  CropBatcher(std::vector<r2plus1d::io::Crop> crops, index_t size, index_t batch, ClipBatch run)
      : crops_(std::move(crops)), size_(size), batch_(batch), run_(std::move(run)) {}

  /// Clips (B, 3, T, H, W) and their B index rows.
  void add(const r2plus1d::Tensor<float, 5>& clips, const std::vector<ClipRecord>& records) {
    const index_t B = clips.size(0), C = clips.size(1), T = clips.size(2), H = clips.size(3), W = clips.size(4);
    for (index_t b = 0; b < B; ++b) {
      const r2plus1d::TensorView<const float, 4> clip(clips.data() + b * C * T * H * W, {C, T, H, W});
      for (const auto& crop : crops_) {
        r2plus1d::Tensor<float, 4> x = r2plus1d::io::apply_crop(clip, crop, size_);
        if (pending_.empty()) shape_ = x.shape();
        pending_.emplace_back(x.data(), x.data() + x.numel());
        records_.push_back(records[static_cast<std::size_t>(b)]);
        if (static_cast<index_t>(pending_.size()) == batch_) flush();
      }
    }
  }

  /// Runs the crops still pending.
  void flush() {
    if (pending_.empty()) return;
    const auto n = static_cast<index_t>(pending_.size());
    const index_t per = shape_[0] * shape_[1] * shape_[2] * shape_[3];
    r2plus1d::Tensor<float, 5> x = r2plus1d::Tensor<float, 5>::empty({n, shape_[0], shape_[1], shape_[2], shape_[3]});
    for (index_t i = 0; i < n; ++i) std::copy_n(pending_[static_cast<std::size_t>(i)].data(), per, x.data() + i * per);
    pending_.clear();
    std::vector<ClipRecord> recs;
    recs.swap(records_);
    run_(x, std::move(recs));
  }

 private:
  std::vector<r2plus1d::io::Crop> crops_;
  index_t size_, batch_;
  ClipBatch run_;
  r2plus1d::Shape<4> shape_{};
  std::vector<std::vector<float>> pending_;
  std::vector<ClipRecord> records_;
};

/// `clips` clips of `clip_len` frames per video at io::uniform_clip_starts
/// over a stream of frames preprocessed to (3, H, W): push() every frame of the
/// sampled stream in order (a frame repeated by resampling is kept once);
/// flush() at the end cuts the clips and gives them to `run` `batch` at a
/// time. A stream shorter than one clip gives one clip padded with its last
/// frame, as ClipSampler does. The stream's frames are held until flush().
class UniformClipSampler {
 public:
  UniformClipSampler(index_t clip_len, index_t clips, index_t batch, index_t height, index_t width, ClipBatch run)
      : clip_len_(clip_len), clips_(clips), batch_(batch), h_(height), w_(width), run_(std::move(run)) {}

  /// The next frame of the sampled stream: source frame `source_index` at `time` seconds.
  void push(const std::vector<float>& frame, index_t source_index, double time) {
    if (frames_.empty() || frames_.back().source != source_index) frames_.push_back({frame, source_index, time});
    order_.push_back(frames_.size() - 1);
  }

  /// Frames pushed so far.
  index_t frames() const { return static_cast<index_t>(order_.size()); }

  /// Ends the stream and runs its clips; returns the frame count of a padded short stream, or 0.
  index_t flush() {
    const index_t n = frames();
    if (n == 0) return 0;
    const std::vector<index_t> starts = r2plus1d::io::uniform_clip_starts(n, clip_len_, clips_);
    const index_t plane = h_ * w_, per = 3 * clip_len_ * plane;
    for (std::size_t first = 0; first < starts.size(); first += static_cast<std::size_t>(batch_)) {
      const std::size_t b = std::min(starts.size() - first, static_cast<std::size_t>(batch_));
      r2plus1d::Tensor<float, 5> x =
          r2plus1d::Tensor<float, 5>::empty({static_cast<index_t>(b), 3, clip_len_, h_, w_});
      std::vector<ClipRecord> records;
      for (std::size_t i = 0; i < b; ++i) {
        const index_t s = starts[first + i];
        float* c = x.data() + static_cast<index_t>(i) * per;
        for (index_t t = 0; t < clip_len_; ++t) {
          const Frame& f = frames_[order_[static_cast<std::size_t>(std::min(s + t, n - 1))]];
          for (index_t ch = 0; ch < 3; ++ch)
            std::copy_n(f.data.data() + ch * plane, plane, c + (ch * clip_len_ + t) * plane);
        }
        const Frame& f0 = frames_[order_[static_cast<std::size_t>(s)]];
        const Frame& f1 = frames_[order_[static_cast<std::size_t>(std::min(s + clip_len_ - 1, n - 1))]];
        records.push_back({static_cast<index_t>(first + i), f0.source, f0.time, f1.source, f1.time});
      }
      run_(x, std::move(records));
    }
    frames_.clear();
    order_.clear();
    return n < clip_len_ ? n : 0;
  }

 private:
  struct Frame {
    std::vector<float> data;
    index_t source;
    double time;
  };

  index_t clip_len_, clips_, batch_, h_, w_;
  ClipBatch run_;
  std::vector<Frame> frames_;       // distinct source frames, in order
  std::vector<std::size_t> order_;  // sampled frame j -> its entry in frames_
};

}  // namespace extract

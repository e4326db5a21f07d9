#pragma once
// r2plus1d-extract's dataset side, FFmpeg-free: clip sampling over a stream
// of preprocessed frames and the progress display on stderr. Inputs are in
// extract_inputs.hpp, the output directory in extract_output_dir.hpp, the
// index in extract_index.hpp and file writing in extract_files.hpp.

#include "extract_index.hpp"
#include "extract_inputs.hpp"
#include "extract_output_dir.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace extract {

using r2plus1d::index_t;

/// Clips of `clip_len` frames every `step` frames over a stream of frames
/// already preprocessed to (3, H, W): push() each frame; full clips go to the
/// batch; flush() at the end pads a stream shorter than one clip by repeating
/// its last frame. `run` gets each batch (B, 3, clip_len, H, W).
class ClipSampler {
 public:
  using Batch = std::function<void(const r2plus1d::Tensor<float, 5>&, std::vector<ClipRecord>)>;

  ClipSampler(index_t clip_len, index_t step, index_t batch, index_t height, index_t width, Batch run)
      : clip_len_(clip_len), step_(step), batch_(batch), h_(height), w_(width), run_(std::move(run)) {}

  /// Whether frame `j` of the sampled stream belongs to some clip (others need no preprocessing).
  bool wanted(index_t j) const { return j % step_ < clip_len_ || next_ == 0; }

  /// Frame `j` of the sampled stream (j = 0, 1, ...; only wanted ones need pushing).
  void push(index_t j, std::vector<float> frame, index_t source_index, double time) {
    frames_.push_back({j, std::move(frame), source_index, time});
    seen_ = j + 1;
    while (start() + clip_len_ <= seen_) {
      emit(start(), clip_len_);
      ++next_;
      while (!frames_.empty() && frames_.front().j < start()) frames_.pop_front();
    }
  }

  /// Ends the stream; returns the frame count of a padded short stream, or 0.
  index_t flush() {
    index_t padded = 0;
    if (next_ == 0 && !frames_.empty()) {
      padded = static_cast<index_t>(frames_.size());
      emit(0, padded);
      ++next_;
    }
    if (!pending_.empty()) run_batch();
    return padded;
  }

  index_t clips() const { return next_; }

 private:
  struct Frame {
    index_t j;
    std::vector<float> data;
    index_t source;
    double time;
  };

  index_t start() const { return next_ * step_; }

  // Adds the clip of frames [first, first + have) to the batch, the last repeated up to clip_len.
  void emit(index_t first, index_t have) {
    std::vector<const Frame*> clip;
    for (const auto& f : frames_)
      if (f.j >= first && f.j < first + have) clip.push_back(&f);
    while (static_cast<index_t>(clip.size()) < clip_len_) clip.push_back(clip.back());
    pending_.push_back({});
    auto& c = pending_.back();
    const index_t plane = h_ * w_;
    c.resize(static_cast<std::size_t>(3 * clip_len_ * plane));
    for (index_t t = 0; t < clip_len_; ++t)
      for (index_t ch = 0; ch < 3; ++ch)
        std::copy_n(clip[static_cast<std::size_t>(t)]->data.data() + ch * plane, plane,
                    c.data() + (ch * clip_len_ + t) * plane);
    // The last frame of the clip (that of a padded clip is its last frame, repeated).
    records_.push_back({next_, clip[0]->source, clip[0]->time, clip.back()->source, clip.back()->time});
    if (static_cast<index_t>(pending_.size()) == batch_) run_batch();
  }

  void run_batch() {
    const auto b = static_cast<index_t>(pending_.size());
    r2plus1d::Tensor<float, 5> x = r2plus1d::Tensor<float, 5>::empty({b, 3, clip_len_, h_, w_});
    const index_t per = 3 * clip_len_ * h_ * w_;
    for (index_t i = 0; i < b; ++i) std::copy_n(pending_[static_cast<std::size_t>(i)].data(), per, x.data() + i * per);
    pending_.clear();
    run_(x, std::move(records_));
    records_.clear();
  }

  index_t clip_len_, step_, batch_, h_, w_;
  Batch run_;
  std::deque<Frame> frames_;
  std::vector<std::vector<float>> pending_;
  std::vector<ClipRecord> records_;
  index_t next_ = 0;  // index of the next clip
  index_t seen_ = 0;
};

/// Progress on stderr: a line redrawn in place on a terminal, an occasional
/// plain line otherwise; nothing with --quiet. Other messages go through
/// message() so that they do not run into the bar.
class Progress {
 public:
  Progress(bool enabled, bool tty, std::size_t videos)
      : enabled_(enabled), tty_(tty), videos_(videos), t0_(Clock::now()), last_(t0_) {}

  void message(const std::string& line) {
    clear();
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }

  /// Work so far: `done_videos` finished, `clips` clips in all, and the clips
  /// expected of the video being run (estimate) and of those finished.
  void update(std::size_t done_videos, index_t clips, index_t current_expected, index_t current_done) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (since < (tty_ ? 0.25 : 15.0)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - t0_).count();
    const double rate = secs > 0 ? static_cast<double>(clips) / secs : 0;
    // Clips left: the rest of this video, then the others at the mean so far.
    const double per_video = done_videos > 0 ? static_cast<double>(clips - current_done) / static_cast<double>(done_videos)
                                             : static_cast<double>(std::max<index_t>(current_expected, 1));
    const double left_videos = static_cast<double>(videos_ - std::min(videos_, done_videos + 1));
    const double left = std::max<double>(0, static_cast<double>(current_expected - current_done)) + left_videos * per_video;
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zu/%zu videos, %lld clips, %.2f clips/s, %s left", done_videos, videos_,
                  static_cast<long long>(clips), rate, rate > 0 ? duration(left / rate).c_str() : "?");
    if (tty_) {
      std::fprintf(stderr, "\r%-78s", buf);
      shown_ = true;
    } else {
      std::fprintf(stderr, "r2plus1d-extract: progress: %s\n", buf);
    }
    std::fflush(stderr);
  }

  void clear() {
    if (shown_) std::fprintf(stderr, "\r%78s\r", "");
    shown_ = false;
  }

  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  using Clock = std::chrono::steady_clock;

  static std::string duration(double s) {
    char buf[32];
    const long t = static_cast<long>(s + 0.5);
    if (t >= 3600)
      std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
      std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    return buf;
  }

  bool enabled_, tty_;
  std::size_t videos_;
  Clock::time_point t0_, last_;
  bool shown_ = false;
};

}  // namespace extract

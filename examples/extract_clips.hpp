#pragma once
// r2plus1d-extract's work on one input: the network over the clips of an .npy
// file or of a video (decoded, resampled, cut into clips and preprocessed as
// torchvision's preset), `batch` clips at a time, and the timings the run's
// summary reports. The built-in clip stands in when there is no input.

#include "extract_args.hpp"
#include "extract_dataset.hpp"
#include "extract_index.hpp"
#include "extract_video_level.hpp"

#include <r2plus1d/r2plus1d.hpp>
#ifdef R2PLUS1D_EXTRACT_VIDEO
#include <r2plus1d/io/video.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace extract {

// A deterministic clip with structure in space and time: coloured waves that
// drift from frame to frame, roughly in the range of normalised video.
inline r2plus1d::Tensor<float, 5> builtin_clip() {
  const r2plus1d::index_t T = 16, H = 112, W = 112;
  r2plus1d::Tensor<float, 5> x = r2plus1d::Tensor<float, 5>::empty({1, 3, T, H, W});
  for (r2plus1d::index_t c = 0; c < 3; ++c)
    for (r2plus1d::index_t t = 0; t < T; ++t)
      for (r2plus1d::index_t h = 0; h < H; ++h)
        for (r2plus1d::index_t w = 0; w < W; ++w)
          x(0, c, t, h, w) = static_cast<float>(
              1.5 * std::sin(0.11 * static_cast<double>(w + 3 * t) + 0.7 * static_cast<double>(c)) *
              std::cos(0.07 * static_cast<double>(h - 2 * t) - 0.3 * static_cast<double>(c)));
  return x;
}

// The network on a batch of clips: (B, 3, T, H, W) -> (B, D) features or scores.
using ForwardFn = std::function<r2plus1d::Tensor<float, 2>(r2plus1d::TensorView<const float, 5>)>;

// Timings of a dataset run, for the closing summary.
struct Stats {
  double decode_s = 0;  // decoding and preprocessing
  double net_s = 0;     // the network
  index_t frames = 0;   // frames decoded
  index_t clips = 0;
  std::size_t damaged = 0;  // videos truncated or with damaged packets, run on what decoded
};

// Forward passes of `batch` clips at a time, rows gathered into one (clips, D) tensor.
class Rows {
 public:
  void add(const r2plus1d::Tensor<float, 2>& y) {
    dim_ = y.size(1);
    data_.insert(data_.end(), y.data(), y.data() + y.numel());
  }
  r2plus1d::Tensor<float, 2> take() const {
    const index_t n = dim_ > 0 ? static_cast<index_t>(data_.size()) / dim_ : 0;
    r2plus1d::Tensor<float, 2> y = r2plus1d::Tensor<float, 2>::empty({n, dim_});
    std::copy(data_.begin(), data_.end(), y.data());
    return y;
  }

 private:
  std::vector<float> data_;
  index_t dim_ = 0;
};

// Runs the network on `x`, timing it.
inline r2plus1d::Tensor<float, 2> timed_forward(const ForwardFn& forward, r2plus1d::TensorView<const float, 5> x,
                                                Stats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  r2plus1d::Tensor<float, 2> y = forward(x);
  st.net_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.clips += x.size(0);
  return y;
}

// Clips (N, 3, T, H, W) of an .npy file, `batch` at a time.
inline r2plus1d::Tensor<float, 2> run_npy(const std::string& path, const Args& a, const ForwardFn& forward, Stats& st,
                                          std::vector<extract::ClipRecord>& records) {
  using namespace r2plus1d;
  if (a.clips_per_video > 0 || a.crops != 1)
    throw OptionError("--clips-per-video and --crops apply to videos; '" + path +
                      "' holds clips already cut (--video-level averages them)");
  const Tensor<float, 5> x = io::load_npy<float, 5>(path);
  if (x.size(0) == 0)
    throw FormatError("'" + path + "' holds no clips: shape " + format_shape<5>(x.shape()) +
                      ", expected (N, 3, T, H, W) with N >= 1");
  Rows rows;
  const index_t per = x.numel() / std::max<index_t>(x.size(0), 1);
  for (index_t b = 0; b < x.size(0); b += a.batch) {
    const index_t n = std::min(a.batch, x.size(0) - b);
    TensorView<const float, 5> v(x.data() + b * per, {n, x.size(1), x.size(2), x.size(3), x.size(4)});
    rows.add(timed_forward(forward, v, st));
  }
  for (index_t n = 0; n < x.size(0); ++n) records.push_back({n, -1, -1});
  return rows.take();
}

// A video: decoded, resampled to --fps, cut into clips, preprocessed as
// torchvision's preset, and run `batch` clips at a time.
inline r2plus1d::Tensor<float, 2> run_video_file(const std::string& path, const Args& a, const ForwardFn& forward,
                                                 Stats& st, std::vector<extract::ClipRecord>& records,
                                                 extract::Progress& progress, std::size_t done_videos) {
  using namespace r2plus1d;
#ifdef R2PLUS1D_EXTRACT_VIDEO
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  io::VideoReader reader(path, io::VideoReaderOptions().threads(1).max_pixels(a.max_pixels));
  const io::VideoInfo& info = reader.info();
  double ratio = 1;  // source frames per sampled frame
  if (a.fps > 0) {
    if (info.fps <= 0) throw FormatError("video: '" + path + "': its frame rate is unknown, so --fps cannot resample it");
    ratio = info.fps / a.fps;
  }
  const auto sampled = static_cast<index_t>(static_cast<double>(info.frames) / ratio);
  const index_t per_step = sampled > a.clip_len ? (sampled - a.clip_len) / a.step + 1 : 1;
  // With --crops 3 or 10 the frames keep the preset's whole resize, and the crops are cut from it.
  io::VideoClassification preset;
  const index_t size = preset.crop_size()[0];
  if (a.crops != 1) preset.crop_size(preset.resize_size()[0], preset.resize_size()[1]);
  const index_t ch = preset.crop_size()[0], cw = preset.crop_size()[1];
  const index_t expected = (a.clips_per_video > 0 ? a.clips_per_video : per_step) * a.crops;
  Rows rows;
  const index_t clips_before = st.clips;
  const double rate = a.fps > 0 ? a.fps : info.fps;  // of the sampled stream; unknown: <= 0
  const extract::ClipBatch run = [&](const Tensor<float, 5>& x, std::vector<extract::ClipRecord> recs) {
    rows.add(timed_forward(forward, x.cview(), st));
    for (auto& r : recs) r.fps = rate;
    records.insert(records.end(), recs.begin(), recs.end());
    progress.update(done_videos, st.clips, expected, st.clips - clips_before);
  };
  extract::CropBatcher cropper(io::video_crops(a.crops, ch, cw, size), size, a.batch, run);
  const extract::ClipBatch clips =
      a.crops == 1 ? run : [&](const Tensor<float, 5>& x, std::vector<extract::ClipRecord> recs) { cropper.add(x, recs); };
  const bool uniform = a.clips_per_video > 0;
  extract::ClipSampler sampler(a.clip_len, a.step, a.batch, ch, cw, clips);
  extract::UniformClipSampler spread(a.clip_len, std::max<index_t>(a.clips_per_video, 1), a.batch, ch, cw, clips);
  io::VideoFrame f;
  std::vector<float> last;  // the last preprocessed frame, reused when --fps repeats it
  index_t last_index = -1, j = 0;
  double decode = std::chrono::duration<double>(Clock::now() - t0).count();
  for (;;) {
    t0 = Clock::now();
    if (!reader.read(f)) break;
    ++st.frames;
    decode += std::chrono::duration<double>(Clock::now() - t0).count();
    // Sampled frame j shows source frame floor(j * ratio), as torchvision's resampling.
    while (static_cast<index_t>(std::floor(static_cast<double>(j) * ratio + 1e-9)) == f.index) {
      if (uniform || sampler.wanted(j)) {
        t0 = Clock::now();
        if (last_index != f.index) {
          last.resize(static_cast<std::size_t>(3 * ch * cw));
          preset.frame(f.rgb.data(), f.height, f.width, last.data(), ch * cw);
          last_index = f.index;
        }
        decode += std::chrono::duration<double>(Clock::now() - t0).count();
        if (uniform)
          spread.push(last, f.index, f.time);
        else
          sampler.push(j, last, f.index, f.time);
      }
      ++j;
    }
  }
  const index_t padded = uniform ? spread.flush() : sampler.flush();
  cropper.flush();
  st.decode_s += decode;
  // A file cut short decodes fewer frames than its container lists, often
  // without a decoding error; damaged data shows as rejected packets.
  std::string damage;
  if (reader.frames_missing() > 0)
    damage = "truncated: decoded " + std::to_string(reader.frames_read()) + " of " +
             (info.frames_exact ? "the " : "about ") + std::to_string(reader.frames_read() + reader.frames_missing()) +
             (info.frames_exact ? " frames its container lists" : " frames (by its container's duration)");
  if (reader.decode_errors() > 0)
    damage += (damage.empty() ? "" : "; ") + std::string("skipped ") + std::to_string(reader.decode_errors()) +
              " damaged packet(s)";
  if (!damage.empty()) {
    if (a.strict) throw FormatError("video: '" + path + "': " + damage + " (--strict)");
    ++st.damaged;
    progress.message(std::string(kTool) + ": warning: '" + path + "': " + damage +
                     "; its clips cover the frames decoded (--strict makes this an error)");
  }
  if (padded > 0)
    progress.message(std::string(kTool) + ": note: '" + path + "' has " + std::to_string(padded) + " frame(s)" +
                     (a.fps > 0 ? " at --fps" : "") + ", fewer than --clip-len " + std::to_string(a.clip_len) +
                     "; its one clip repeats the last frame");
  return rows.take();
#else
  (void)a, (void)forward, (void)st, (void)records, (void)progress, (void)done_videos;
  throw IoError("'" + path + "': this r2plus1d-extract was built without FFmpeg and reads only .npy clips");
#endif
}

}  // namespace extract

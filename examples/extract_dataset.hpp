#pragma once
// r2plus1d-extract's dataset side, FFmpeg-free: which inputs to run (files,
// directories, list files, shards), where their outputs go, the index CSV,
// clip sampling over a stream of preprocessed frames, and the progress
// display on stderr.

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace extract {

namespace fs = std::filesystem;
using r2plus1d::index_t;

/// File name extensions (lower case) taken from a directory given as input.
inline bool is_video_name(const fs::path& p) {
  static const std::set<std::string> kExt = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                                             ".mpe", ".flv", ".wmv", ".ogv", ".ogg", ".3gp", ".3g2", ".ts",
                                             ".mts", ".m2ts", ".vob", ".gif", ".y4m", ".nut", ".asf", ".dv"};
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExt.count(e) != 0;
}

inline bool is_npy_name(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".npy";
}

/// The lines of a list file: one path per line; blank lines and lines starting
/// with '#' are ignored, surrounding whitespace trimmed.
inline std::vector<std::string> read_list(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw r2plus1d::IoError("--input-list: cannot open '" + path + "': not a file");
  std::ifstream in(path);
  if (!in) throw r2plus1d::IoError("--input-list: cannot open '" + path + "'");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const auto e = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(b, e - b + 1));
  }
  return out;
}

/// Inputs in order, each directory replaced by its videos (sorted by name, not
/// recursive), duplicates dropped.
inline std::vector<std::string> expand_inputs(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& p) {
    if (seen.insert(p).second) out.push_back(p);
  };
  for (const auto& g : given) {
    std::error_code ec;
    if (fs::is_directory(g, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(g, ec))
        if (e.is_regular_file(ec) && is_video_name(e.path())) found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      for (const auto& f : found) add(f);
    } else {
      add(g);
    }
  }
  return out;
}

/// "K/N" -> {K, N} with 0 <= K < N.
inline std::pair<long, long> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  long k = -1, n = 0;
  const bool well_formed = s.find_first_not_of("0123456789/") == std::string::npos && slash != std::string::npos &&
                           slash > 0 && slash + 1 < s.size() && s.find('/', slash + 1) == std::string::npos;
  if (well_formed) {
    try {
      k = std::stol(s.substr(0, slash));
      n = std::stol(s.substr(slash + 1));
    } catch (const std::exception&) {  // out of range
      k = -1;
    }
  }
  if (k < 0 || n < 1 || k >= n)
    throw r2plus1d::OptionError("--shard: expected K/N with 0 <= K < N, like 0/4, got '" + s + "'");
  return {k, n};
}

/// One row of the index: where clip `clip` of `video` starts.
struct ClipRecord {
  index_t clip = 0;
  index_t start_frame = -1;  ///< in the video's own frames; -1 for .npy clips
  double start_time = -1;    ///< seconds; -1 for .npy clips
};

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

/// The first field of a CSV line (quoted or not).
inline std::string csv_first_field(const std::string& line) {
  if (line.empty() || line[0] != '"') return line.substr(0, line.find(','));
  std::string out;
  for (std::size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '"') {
      if (i + 1 < line.size() && line[i + 1] == '"') {
        out += '"';
        ++i;
      } else {
        break;
      }
    } else {
      out += line[i];
    }
  }
  return out;
}

/// The index CSV of an output directory: video, output, clip, start_frame,
/// start_time. Rows of earlier runs are kept; a video run again replaces its
/// rows. Rows are appended as each video finishes (an interrupted run loses
/// nothing) and the file is rewritten without stale rows by finish().
class IndexCsv {
 public:
  static constexpr const char* kHeader = "video,output,clip,start_frame,start_time";

  explicit IndexCsv(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_);
    std::string line;
    if (in && std::getline(in, line) && line == kHeader)
      while (std::getline(in, line))
        if (!line.empty()) add_line(csv_first_field(line), line);
  }

  const std::string& path() const { return path_; }

  void add(const std::string& video, const std::string& output, const std::vector<ClipRecord>& records) {
    std::vector<std::string> lines;
    char buf[96];
    for (const auto& r : records) {
      std::string line = csv_field(video) + "," + csv_field(output) + "," + std::to_string(r.clip) + ",";
      if (r.start_frame >= 0) {
        std::snprintf(buf, sizeof buf, "%lld,%.6f", static_cast<long long>(r.start_frame), r.start_time);
        line += buf;
      } else {
        line += ",";
      }
      lines.push_back(line);
    }
    const auto known = rows_.find(video);
    if (known != rows_.end()) {
      stale_ = true;
      known->second.clear();
    }
    for (const auto& l : lines) add_line(video, l);
    const bool fresh = !fs::exists(path_);
    std::ofstream out(path_, std::ios::app);
    if (!out) throw r2plus1d::IoError("index: cannot write '" + path_ + "'");
    if (fresh) out << kHeader << "\n";
    for (const auto& l : lines) out << l << "\n";
    if (!out) throw r2plus1d::IoError("index: cannot write '" + path_ + "'");
  }

  /// Rewrites the file when a video's older rows are still in it.
  void finish() {
    if (!stale_) return;
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp);
      out << kHeader << "\n";
      for (const auto& v : order_)
        for (const auto& l : rows_[v]) out << l << "\n";
      if (!out) throw r2plus1d::IoError("index: cannot write '" + tmp + "'");
    }
    fs::rename(tmp, path_);
    stale_ = false;
  }

 private:
  void add_line(const std::string& video, const std::string& line) {
    if (!rows_.count(video)) order_.push_back(video);
    rows_[video].push_back(line);
  }

  std::string path_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<std::string>> rows_;
  bool stale_ = false;
};

/// Writes (clips, D) features as .npy or as CSV text (one clip per line), each
/// through a temporary file renamed into place, so that a file that exists is
/// complete.
inline void write_features(const std::string& path, const r2plus1d::Tensor<float, 2>& y, bool csv) {
  if (!csv) {
    r2plus1d::io::save_npy<float, 2>(path, y.cview());
    return;
  }
  const std::string tmp = path + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) throw r2plus1d::IoError("cannot write '" + tmp + "'");
    for (index_t n = 0; n < y.size(0); ++n)
      for (index_t k = 0; k < y.size(1); ++k) std::fprintf(f, k + 1 < y.size(1) ? "%.9g," : "%.9g\n", double(y(n, k)));
    const bool ok = std::ferror(f) == 0;
    if (std::fclose(f) != 0 || !ok) throw r2plus1d::IoError("cannot write '" + tmp + "'");
  }
  fs::rename(tmp, path);
}

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
    records_.push_back({next_, clip[0]->source, clip[0]->time});
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

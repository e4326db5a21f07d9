#pragma once
// r2plus1d-train's data: labelled clips from CLIPS.npy (N, 3, T, H, W) with
// LABELS.npy (N,) int64, from a labelled list ("path label" per line, paths
// relative to the list's folder; UCF101's 1-based lists with classInd.txt),
// or from a directory with one subfolder per class. List and folder entries
// are videos (see train_video.hpp) or .npy files of one video's clips,
// (3, T, H, W) or (K, 3, T, H, W). With --crop, .npy clips larger than the
// crop are centre-cropped to it, as videos are.

#include <r2plus1d/io/labelled_list.hpp>
#include <r2plus1d/io/video_crops.hpp>
#include <r2plus1d/r2plus1d.hpp>

#include "train_video.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace train {

namespace fs = std::filesystem;

/// Clips with their labels and the video each comes from.
struct Dataset {
  r2plus1d::Tensor<float, 5> clips;        ///< (N, 3, T, H, W)
  std::vector<std::int64_t> labels;        ///< N labels in [0, classes)
  std::vector<std::int64_t> video;         ///< N video numbers, for video-level accuracy
  std::int64_t videos = 0;                 ///< How many videos
  std::vector<std::string> class_names;    ///< Empty when unknown
  std::int64_t skipped = 0;                ///< Entries skipped as unreadable
  std::vector<std::string> path;           ///< N: the video a clip was decoded from, "" for .npy clips
  r2plus1d::Tensor<float, 5> uncropped;    ///< The .npy clips before --crop, when augmentation needs them
};

/// Appends the clips of one entry to `rows`: an .npy file's ((3, T, H, W) or
/// (K, 3, T, H, W)), or a video's centre clip.
inline void append_entry(const std::string& path, const Preprocess& p, std::vector<r2plus1d::Tensor<float, 5>>& rows) {
  if (fs::path(path).extension() != ".npy") {
    rows.push_back(video_centre_clip(path, p));
    return;
  }
  const r2plus1d::io::NpyArray a = r2plus1d::io::read_npy(path);
  if (a.shape.size() == 4) {
    r2plus1d::Tensor<float, 4> c = r2plus1d::io::load_npy<float, 4>(path);
    r2plus1d::Tensor<float, 5> t = r2plus1d::Tensor<float, 5>::empty({1, c.size(0), c.size(1), c.size(2), c.size(3)});
    std::copy(c.data(), c.data() + c.numel(), t.data());
    rows.push_back(std::move(t));
  } else {
    rows.push_back(r2plus1d::io::load_npy<float, 5>(path));
  }
}

/// Concatenates clips along N; ShapeError when their shapes differ.
inline r2plus1d::Tensor<float, 5> concat(const std::vector<r2plus1d::Tensor<float, 5>>& rows, const std::string& what) {
  r2plus1d::index_t n = 0;
  for (const auto& r : rows) {
    if (r.size(1) != rows[0].size(1) || r.size(2) != rows[0].size(2) || r.size(3) != rows[0].size(3) ||
        r.size(4) != rows[0].size(4))
      throw r2plus1d::ShapeError(what + ": clips of shape " + r2plus1d::format_shape<5>(r.shape()) + " beside " +
                                 r2plus1d::format_shape<5>(rows[0].shape()));
    n += r.size(0);
  }
  const auto& s = rows[0].shape();
  r2plus1d::Tensor<float, 5> out = r2plus1d::Tensor<float, 5>::empty({n, s[1], s[2], s[3], s[4]});
  float* dst = out.data();
  for (const auto& r : rows) dst = std::copy(r.data(), r.data() + r.numel(), dst);
  return out;
}

/// The .npy clips of `d` centre-cropped to --crop where they are larger (the
/// uncropped ones kept when `keep_uncropped`); OptionError when the crop is
/// larger than the clips.
inline void crop_npy_clips(Dataset& d, const Preprocess& p, bool keep_uncropped, const std::string& what) {
  using namespace r2plus1d;
  const index_t h = d.clips.size(3), w = d.clips.size(4);
  if (p.crop == 0 || std::find(d.path.begin(), d.path.end(), std::string()) == d.path.end()) return;
  if (p.crop > h || p.crop > w)
    throw OptionError("--crop " + std::to_string(p.crop) + " is larger than the " + std::to_string(h) + "x" +
                      std::to_string(w) + " clips of " + what);
  if (p.crop == h && p.crop == w) return;
  const io::Crop c = io::center_crop(h, w, p.crop);
  const index_t n = d.clips.size(0), per = d.clips.numel() / n;
  Tensor<float, 5> out = Tensor<float, 5>::empty({n, d.clips.size(1), d.clips.size(2), p.crop, p.crop});
  for (index_t i = 0; i < n; ++i) {
    const Tensor<float, 4> one = io::apply_crop(
        TensorView<const float, 4>(d.clips.data() + i * per, {d.clips.size(1), d.clips.size(2), h, w}), c, p.crop);
    std::copy(one.data(), one.data() + one.numel(), out.data() + i * one.numel());
  }
  if (keep_uncropped) d.uncropped = std::move(d.clips);
  d.clips = std::move(out);
}

/// Labelled entries (path, label) read into a Dataset; an unreadable entry is
/// skipped with a warning on stderr and counted.
inline Dataset load_entries(const std::vector<std::pair<std::string, std::int64_t>>& entries, const std::string& what,
                            const Preprocess& p, const char* tool) {
  Dataset d;
  std::vector<r2plus1d::Tensor<float, 5>> rows;
  for (const auto& [path, label] : entries) {
    const std::size_t before = rows.size();
    try {
      append_entry(path, p, rows);
    } catch (const r2plus1d::Error& e) {
      std::cerr << tool << ": warning: skipping '" << path << "': " << e.what() << "\n";
      ++d.skipped;
      continue;
    }
    const bool npy = fs::path(path).extension() == ".npy";
    for (r2plus1d::index_t k = 0; k < rows.back().size(0); ++k) {
      d.labels.push_back(label);
      d.video.push_back(d.videos);
      d.path.push_back(npy ? std::string() : path);
    }
    if (rows.size() > before) ++d.videos;
  }
  if (rows.empty()) throw r2plus1d::IoError(what + ": no readable clips");
  d.clips = concat(rows, what);
  return d;
}

/// A labelled list or a directory of class folders (io::read_labelled_list:
/// "path label" lines, UCF101's lists with classInd.txt, or one folder per
/// class), its entries read into a Dataset.
inline Dataset load_labelled(const std::string& path, const std::string& class_index, const Preprocess& p,
                             const char* tool) {
  const r2plus1d::io::LabelledList list = r2plus1d::io::read_labelled_list(path, class_index);
  std::vector<std::pair<std::string, std::int64_t>> entries;
  for (const auto& v : list.videos) entries.emplace_back(v.path, v.label);
  Dataset d = load_entries(entries, "'" + path + "'", p, tool);
  d.class_names = list.classes;
  return d;
}

/// CLIPS.npy (N, 3, T, H, W) with LABELS.npy (N,) int64; each clip its own video.
inline Dataset load_npy_clips(const std::string& clips, const std::string& labels, const std::string& flag) {
  if (labels.empty()) throw r2plus1d::OptionError("'" + clips + "' holds clips; give their labels with " + flag);
  Dataset d;
  d.clips = r2plus1d::io::load_npy<float, 5>(clips);
  const r2plus1d::Tensor<std::int64_t, 1> l = r2plus1d::io::load_npy<std::int64_t, 1>(labels);
  if (l.size(0) != d.clips.size(0))
    throw r2plus1d::ShapeError(flag + ": '" + labels + "' has " + std::to_string(l.size(0)) + " labels for " +
                               std::to_string(d.clips.size(0)) + " clips in '" + clips + "'");
  if (l.size(0) == 0) throw r2plus1d::ShapeError("'" + clips + "' holds no clips");
  for (r2plus1d::index_t i = 0; i < l.size(0); ++i) {
    if (l(i) < 0) throw r2plus1d::FormatError(flag + ": label " + std::to_string(l(i)) + " of clip " + std::to_string(i) + " is negative");
    d.labels.push_back(l(i));
    d.video.push_back(i);
    d.path.emplace_back();
  }
  d.videos = l.size(0);
  return d;
}

/// TRAIN or VAL as given: .npy clips (with `labels`), a directory, or a list,
/// preprocessed by `p`; `keep_uncropped` keeps .npy clips as they were before
/// --crop, for augmentation.
inline Dataset load_dataset(const std::string& path, const std::string& labels, const std::string& labels_flag,
                            const std::string& class_index, const Preprocess& p, bool keep_uncropped, const char* tool) {
  std::error_code ec;
  Dataset d = !fs::is_directory(path, ec) && fs::path(path).extension() == ".npy"
                  ? load_npy_clips(path, labels, labels_flag)
                  : load_labelled(path, class_index, p, tool);
  crop_npy_clips(d, p, keep_uncropped, "'" + path + "'");
  return d;
}

}  // namespace train

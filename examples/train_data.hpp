#pragma once
// r2plus1d-train's data: labelled clips from CLIPS.npy (N, 3, T, H, W) with
// LABELS.npy (N,) int64, from a labelled list ("path label" per line, paths
// relative to the list's folder; UCF101's 1-based lists with classInd.txt),
// or from a directory with one subfolder per class. List and folder entries
// are videos (see train_video.hpp) or .npy files of one video's clips,
// (3, T, H, W) or (K, 3, T, H, W).

#include <r2plus1d/io/labelled_list.hpp>
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
};

/// Appends the clips of one entry to `rows`: an .npy file's ((3, T, H, W) or
/// (K, 3, T, H, W)), or a video's centre clip of `clip_len` frames.
inline void append_entry(const std::string& path, r2plus1d::index_t clip_len,
                         std::vector<r2plus1d::Tensor<float, 5>>& rows) {
  if (fs::path(path).extension() != ".npy") {
    rows.push_back(video_centre_clip(path, clip_len));
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

/// Labelled entries (path, label) read into a Dataset; an unreadable entry is
/// skipped with a warning on stderr and counted.
inline Dataset load_entries(const std::vector<std::pair<std::string, std::int64_t>>& entries, const std::string& what,
                            r2plus1d::index_t clip_len, const char* tool) {
  Dataset d;
  std::vector<r2plus1d::Tensor<float, 5>> rows;
  for (const auto& [path, label] : entries) {
    const std::size_t before = rows.size();
    try {
      append_entry(path, clip_len, rows);
    } catch (const r2plus1d::Error& e) {
      std::cerr << tool << ": warning: skipping '" << path << "': " << e.what() << "\n";
      ++d.skipped;
      continue;
    }
    for (r2plus1d::index_t k = 0; k < rows.back().size(0); ++k) {
      d.labels.push_back(label);
      d.video.push_back(d.videos);
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
inline Dataset load_labelled(const std::string& path, const std::string& class_index, r2plus1d::index_t clip_len,
                             const char* tool) {
  const r2plus1d::io::LabelledList list = r2plus1d::io::read_labelled_list(path, class_index);
  std::vector<std::pair<std::string, std::int64_t>> entries;
  for (const auto& v : list.videos) entries.emplace_back(v.path, v.label);
  Dataset d = load_entries(entries, "'" + path + "'", clip_len, tool);
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
  }
  d.videos = l.size(0);
  return d;
}

/// TRAIN or VAL as given: .npy clips (with `labels`), a directory, or a list.
inline Dataset load_dataset(const std::string& path, const std::string& labels, const std::string& labels_flag,
                            const std::string& class_index, r2plus1d::index_t clip_len, const char* tool) {
  std::error_code ec;
  if (!fs::is_directory(path, ec) && fs::path(path).extension() == ".npy")
    return load_npy_clips(path, labels, labels_flag);
  return load_labelled(path, class_index, clip_len, tool);
}

}  // namespace train

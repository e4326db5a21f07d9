#pragma once
// r2plus1d-extract --labels: accuracy of the class scores an output directory
// holds against a labelled list. Clip level: each row of an output (a clip,
// or a clip's crop) on its own. Video level: the mean of the rows' softmax
// probabilities (an output written with --video-level already is that mean).
// Top-1 and top-5, per-class top-1 and the most confused pairs, as JSON and a
// summary line.

#include "extract_files.hpp"

#include <r2plus1d/io/labelled_list.hpp>
#include <r2plus1d/r2plus1d.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>
#include <string>
#include <utility>
#include <vector>

namespace extract {

using r2plus1d::index_t;

/// Accumulates the accuracy of videos' class scores.
class Evaluation {
 public:
  Evaluation(index_t classes, std::vector<std::string> names) : classes_(classes), names_(std::move(names)) {
    per_class_.assign(static_cast<std::size_t>(classes_), {0, 0});
  }

  /// The scores of one video, (rows, classes): logits per clip, or with
  /// `probabilities` the one row of a --video-level output.
  void add(const std::string& video, index_t label, const r2plus1d::Tensor<float, 2>& rows, bool probabilities) {
    if (rows.size(1) != classes_)
      throw r2plus1d::ShapeError("--labels: '" + video + "' has scores for " + std::to_string(rows.size(1)) +
                                 " classes, but the labels name " + std::to_string(classes_));
    if (label < 0 || label >= classes_)
      throw r2plus1d::OptionError("--labels: '" + video + "' has label " + std::to_string(label) + ", not below " +
                                  std::to_string(classes_));
    std::vector<double> mean(static_cast<std::size_t>(classes_), 0.0);
    for (index_t r = 0; r < rows.size(0); ++r) {
      const float* row = rows.data() + r * classes_;
      if (!probabilities) {
        const index_t rank = rank_of(row, label);
        clip_top1_ += rank < 1;
        clip_top5_ += rank < 5;
        ++clips_;
      }
      // The softmax of the row, in double, shifted by its largest value.
      const double top = *std::max_element(row, row + classes_);
      double sum = 0;
      std::vector<double> p(static_cast<std::size_t>(classes_));
      for (index_t k = 0; k < classes_; ++k) sum += p[static_cast<std::size_t>(k)] = probabilities ? row[k] : std::exp(row[k] - top);
      for (index_t k = 0; k < classes_; ++k) mean[static_cast<std::size_t>(k)] += p[static_cast<std::size_t>(k)] / sum / rows.size(0);
    }
    std::vector<float> m(mean.begin(), mean.end());
    const index_t rank = rank_of(m.data(), label);
    const index_t pred = static_cast<index_t>(std::max_element(m.begin(), m.end()) - m.begin());
    video_top1_ += rank < 1;
    video_top5_ += rank < 5;
    ++videos_;
    per_class_[static_cast<std::size_t>(label)].first += 1;
    per_class_[static_cast<std::size_t>(label)].second += rank < 1;
    if (rank >= 1) ++confused_[{label, pred}];
  }

  index_t videos() const { return videos_; }

  /// The figures as JSON: counts, accuracies, per class and the ten most confused pairs.
  nlohmann::json json(index_t not_evaluated) const {
    nlohmann::json j;
    j["videos"] = videos_;
    j["not_evaluated"] = not_evaluated;
    j["clips"] = clips_;
    if (clips_ > 0) {
      j["clip_top1"] = ratio(clip_top1_, clips_);
      j["clip_top5"] = ratio(clip_top5_, clips_);
    }
    j["video_top1"] = ratio(video_top1_, videos_);
    j["video_top5"] = ratio(video_top5_, videos_);
    nlohmann::json per = nlohmann::json::array();
    for (index_t k = 0; k < classes_; ++k) {
      const auto& [n, right] = per_class_[static_cast<std::size_t>(k)];
      if (n == 0) continue;
      per.push_back({{"label", k}, {"name", name(k)}, {"videos", n}, {"top1", ratio(right, n)}});
    }
    j["per_class"] = per;
    std::vector<std::pair<std::pair<index_t, index_t>, index_t>> pairs(confused_.begin(), confused_.end());
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    nlohmann::json conf = nlohmann::json::array();
    for (std::size_t i = 0; i < pairs.size() && i < 10; ++i)
      conf.push_back({{"label", pairs[i].first.first}, {"name", name(pairs[i].first.first)},
                      {"predicted", pairs[i].first.second}, {"predicted_name", name(pairs[i].first.second)},
                      {"videos", pairs[i].second}});
    j["most_confused"] = conf;
    return j;
  }

  /// One line: the videos and clips counted and their top-1 / top-5.
  std::string summary() const {
    char buf[300];
    if (clips_ > 0)
      std::snprintf(buf, sizeof buf, "%lld video(s), %lld clip(s): video top-1 %.4f, top-5 %.4f; clip top-1 %.4f, top-5 %.4f",
                    static_cast<long long>(videos_), static_cast<long long>(clips_), ratio(video_top1_, videos_),
                    ratio(video_top5_, videos_), ratio(clip_top1_, clips_), ratio(clip_top5_, clips_));
    else
      std::snprintf(buf, sizeof buf, "%lld video(s): video top-1 %.4f, top-5 %.4f", static_cast<long long>(videos_),
                    ratio(video_top1_, videos_), ratio(video_top5_, videos_));
    return buf;
  }

 private:
  // How many classes score strictly higher than `label` (0: top-1).
  index_t rank_of(const float* row, index_t label) const {
    index_t above = 0;
    for (index_t k = 0; k < classes_; ++k) above += row[k] > row[label];
    return above;
  }
  static double ratio(index_t a, index_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }
  std::string name(index_t k) const {
    return k < static_cast<index_t>(names_.size()) ? names_[static_cast<std::size_t>(k)] : std::to_string(k);
  }

  index_t classes_;
  std::vector<std::string> names_;
  index_t videos_ = 0, clips_ = 0, clip_top1_ = 0, clip_top5_ = 0, video_top1_ = 0, video_top5_ = 0;
  std::vector<std::pair<index_t, index_t>> per_class_;  // (videos, top-1 right)
  std::map<std::pair<index_t, index_t>, index_t> confused_;  // (label, predicted) -> videos
};

}  // namespace extract

namespace extract {

/// The labels of a run's inputs, by canonical path, from a labelled list.
class LabelMap {
 public:
  explicit LabelMap(const r2plus1d::io::LabelledList& list) : classes_(list.classes), count_(list.num_classes()) {
    for (const auto& v : list.videos) by_path_[key(v.path)] = v.label;
  }
  /// The label of `path`; OptionError when the list has none.
  index_t label(const std::string& path, const std::string& list) const {
    const auto it = by_path_.find(key(path));
    if (it == by_path_.end())
      throw r2plus1d::OptionError("--labels: '" + path + "' has no label in '" + list +
                                  "'; evaluate the inputs the list names (give no inputs to take them all)");
    return it->second;
  }
  index_t num_classes() const { return count_; }
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  static std::string key(const std::string& path) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(path, ec);
    return ec ? path : p.string();
  }
  std::vector<std::string> classes_;
  index_t count_;
  std::map<std::string, index_t> by_path_;
};

}  // namespace extract

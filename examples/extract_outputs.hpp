#pragma once
// r2plus1d-extract's output files in their formats, written and read back:
// .npy (float32, (rows, D)) and CSV (a header line naming the columns, then
// one row per line). Each is written through
// a temporary file renamed into place (extract_files.hpp); --merge counts
// their rows and --labels reads their class scores back through the readers
// here.

#include "extract_files.hpp"
#include "extract_index.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace extract {

using r2plus1d::index_t;

/// The formats of --format.
inline bool is_format(const std::string& f) { return f == "npy" || f == "csv"; }

/// What an output's rows are: what the CSV header says beside the numbers.
struct OutputRows {
  std::string format = "npy";  ///< npy or csv
  bool scores = false;         ///< class scores (--logits, --topk) rather than features
  bool video_level = false;    ///< one row per video: mean class probabilities or mean features
};

/// The CSV header's column names: f0.. (features), logit0.. (class scores),
/// prob0.. (a video's mean class probabilities).
inline std::string csv_column_prefix(const OutputRows& o) {
  return !o.scores ? "f" : o.video_level ? "prob" : "logit";
}

/// (rows, D) values as CSV text: a header line naming the columns, then one row per line.
inline std::string features_csv(const r2plus1d::Tensor<float, 2>& y, const std::string& prefix) {
  std::string s;
  for (index_t k = 0; k < y.size(1); ++k) s += (k ? "," : "") + prefix + std::to_string(k);
  s += "\n";
  char buf[32];
  for (index_t n = 0; n < y.size(0); ++n)
    for (index_t k = 0; k < y.size(1); ++k) {
      std::snprintf(buf, sizeof buf, k + 1 < y.size(1) ? "%.9g," : "%.9g\n", double(y(n, k)));
      s += buf;
    }
  return s;
}

/// Writes (rows, D) values in `o.format`, through a temporary file renamed
/// into place, and syncs them.
inline void write_output(const std::string& path, const r2plus1d::Tensor<float, 2>& y, const OutputRows& o) {
  if (o.format == "csv") {
    write_file(path, features_csv(y, csv_column_prefix(o)));
  } else {
    r2plus1d::io::save_npy<float, 2>(path, y.cview());
    sync_file(path);
  }
}

namespace detail {

// Whether a CSV output's first line is its header (files of earlier versions have none):
// its first field is no number.
inline bool csv_header_line(const std::string& text) {
  const std::size_t end = text.find_first_of(",\n");
  const std::string first = text.substr(0, end == std::string::npos ? text.size() : end);
  char* stop = nullptr;
  std::strtod(first.c_str(), &stop);
  return first.empty() || stop != first.c_str() + first.size();
}

// The lines of an output's text, each ended by LF; an error when the last is cut.
inline std::vector<std::string> output_lines(const std::string& path, const std::string& text) {
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    if (end == std::string::npos) throw r2plus1d::IoError("'" + path + "' ends inside a line: it was cut");
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

}  // namespace detail

/// The rows of an output of `format` as write_output writes it, or an error.
inline index_t rows_of(const std::string& path, const std::string& format) {
  if (format == "npy") return r2plus1d::io::load_npy<float, 2>(path).size(0);
  const std::optional<std::string> text = read_file(path);
  if (!text) throw r2plus1d::IoError("cannot read '" + path + "'");
  std::vector<std::string> lines = detail::output_lines(path, *text);
  if (!lines.empty() && detail::csv_header_line(lines.front())) lines.erase(lines.begin());
  std::size_t fields = 0;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto k = static_cast<std::size_t>(std::count(lines[n].begin(), lines[n].end(), ',')) + 1;
    if (n > 0 && k != fields) throw r2plus1d::IoError("'" + path + "' has lines of different lengths");
    fields = k;
  }
  return static_cast<index_t>(lines.size());
}

/// The (rows, classes) scores of an output of `format` as write_output wrote it.
inline r2plus1d::Tensor<float, 2> load_scores(const std::string& path, const std::string& format) {
  if (format == "npy") return r2plus1d::io::load_npy<float, 2>(path);
  const std::optional<std::string> text = read_file(path);
  if (!text) throw r2plus1d::IoError("cannot read '" + path + "'");
  std::vector<std::string> lines = detail::output_lines(path, *text);
  if (!lines.empty() && detail::csv_header_line(lines.front())) lines.erase(lines.begin());
  std::vector<float> values;
  index_t cols = 0;
  for (std::size_t r = 0; r < lines.size(); ++r) {
    index_t n = 0;
    const std::string& line = lines[r];
    for (std::size_t f = 0; f <= line.size();) {
      const std::size_t comma = std::min(line.find(',', f), line.size());
      values.push_back(std::strtof(line.substr(f, comma - f).c_str(), nullptr));
      ++n;
      f = comma + 1;
    }
    if (r > 0 && n != cols) throw r2plus1d::FormatError("'" + path + "' has lines of different lengths");
    cols = n;
  }
  r2plus1d::Tensor<float, 2> y = r2plus1d::Tensor<float, 2>::empty({static_cast<index_t>(lines.size()), cols});
  std::copy(values.begin(), values.end(), y.data());
  return y;
}

}  // namespace extract

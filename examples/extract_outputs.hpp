#pragma once
// r2plus1d-extract's output files in their three formats, written and read
// back: .npy (float32, (rows, D)), CSV (a header line naming the columns, then
// one row per line) and JSON Lines (one object per row: where its clip lies in
// its input, then its features or its top classes). Each is written through
// a temporary file renamed into place (extract_files.hpp); --merge counts
// their rows and --labels reads their class scores back through the readers
// here.

#include "extract_files.hpp"
#include "extract_index.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace extract {

using r2plus1d::index_t;

/// The formats of --format.
inline bool is_format(const std::string& f) { return f == "npy" || f == "csv" || f == "jsonl"; }

/// What an output's rows are, and where they come from: what the CSV header
/// and the JSON objects say beside the numbers.
struct OutputRows {
  std::string format = "npy";  ///< npy, csv or jsonl
  bool scores = false;         ///< class scores (--logits, --topk) rather than features
  bool video_level = false;    ///< one row per video: mean class probabilities or mean features
  bool full_scores = false;    ///< jsonl: every class's score too, beside the top ones (--logits, --labels)
  int topk = 5;                ///< jsonl: the top classes of each row
  int crops = 1;               ///< rows per clip, in crop order
  std::string input;           ///< the input, as given
  std::vector<ClipRecord> records;  ///< one per row (each crop has its clip's)
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

/// A JSON string of `s`: quotes, backslashes and control characters escaped,
/// bytes that are not UTF-8 (a path's may not be) replaced by U+FFFD.
inline std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// A float as JSON: "%.9g" (it reads back as the same float), null for NaN and infinities.
inline std::string json_float(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// The name of class `c` of `classes`: Kinetics-400's for 400-class heads, else "class c" (as --topk prints).
inline std::string class_name(index_t c, index_t classes) {
  return classes == 400 ? std::string(r2plus1d::kKinetics400Categories[static_cast<std::size_t>(c)])
                        : "class " + std::to_string(c);
}

/// The rows as JSON Lines, one object per row.
inline std::string features_jsonl(const r2plus1d::Tensor<float, 2>& y, const OutputRows& o) {
  const std::string input = json_string(o.input);
  const index_t D = y.size(1);
  std::string s;
  for (index_t n = 0; n < y.size(0); ++n) {
    const auto at = static_cast<std::size_t>(n);
    const ClipRecord r = at < o.records.size() ? o.records[at] : ClipRecord{n};
    s += "{\"input\":" + input + ",\"clip\":" + std::to_string(r.clip);
    if (o.crops > 1 && !o.video_level) s += ",\"crop\":" + std::to_string(n % o.crops);
    s += ",\"start_frame\":" + (r.start_frame >= 0 ? std::to_string(r.start_frame) : "null");
    s += ",\"end_frame\":" + (r.end_frame >= 0 ? std::to_string(r.end_frame) : "null");
    s += ",\"start_time\":" + (r.start_frame >= 0 ? index_number(r.start_time) : "null");
    s += ",\"end_time\":" + (r.end_frame >= 0 ? index_number(r.end_time) : "null");
    s += ",\"fps\":" + (r.fps > 0 ? index_number(r.fps) : "null");
    const float* row = y.data() + n * D;
    if (o.scores) {
      // Probabilities: the softmax of a clip's scores, a video's mean as it is.
      std::vector<double> p(static_cast<std::size_t>(D));
      double top = -std::numeric_limits<double>::infinity(), sum = 0;
      for (index_t c = 0; c < D; ++c) top = std::max(top, double(row[c]));
      for (index_t c = 0; c < D; ++c) {
        p[static_cast<std::size_t>(c)] = o.video_level ? double(row[c]) : std::exp(double(row[c]) - top);
        sum += p[static_cast<std::size_t>(c)];
      }
      if (!o.video_level)
        for (auto& v : p) v /= sum;
      std::vector<index_t> order(static_cast<std::size_t>(D));
      for (index_t c = 0; c < D; ++c) order[static_cast<std::size_t>(c)] = c;
      const auto kk = static_cast<std::ptrdiff_t>(std::min<index_t>(std::max(o.topk, 1), D));
      std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                        [&](index_t a, index_t b) { return row[a] > row[b]; });
      s += ",\"topk\":[";
      for (std::ptrdiff_t k = 0; k < kk; ++k) {
        const index_t c = order[static_cast<std::size_t>(k)];
        s += std::string(k ? "," : "") + "{\"label\":" + json_string(class_name(c, D)) +
             ",\"index\":" + std::to_string(c) + ",\"prob\":" + json_float(p[static_cast<std::size_t>(c)]) + "}";
      }
      s += "]";
    }
    if (!o.scores || o.full_scores) {
      s += !o.scores ? ",\"features\":[" : o.video_level ? ",\"probs\":[" : ",\"logits\":[";
      for (index_t k = 0; k < D; ++k) s += (k ? "," : "") + json_float(row[k]);
      s += "]";
    }
    s += "}\n";
  }
  return s;
}

/// Writes (rows, D) values in `o.format`, through a temporary file renamed
/// into place, and syncs them.
inline void write_output(const std::string& path, const r2plus1d::Tensor<float, 2>& y, const OutputRows& o) {
  if (o.format == "csv") {
    write_file(path, features_csv(y, csv_column_prefix(o)));
  } else if (o.format == "jsonl") {
    write_file(path, features_jsonl(y, o));
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

// The object of line `n` (0-based) of a JSON Lines output.
inline nlohmann::json jsonl_object(const std::string& path, const std::string& line, std::size_t n) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw r2plus1d::FormatError("'" + path + "' line " + std::to_string(n + 1) + ": not JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !(j.contains("features") || j.contains("topk")))
    throw r2plus1d::FormatError("'" + path + "' line " + std::to_string(n + 1) +
                                ": not an object with \"features\" or \"topk\"");
  return j;
}

}  // namespace detail

/// The rows of an output of `format` as write_output writes it, or an error.
inline index_t rows_of(const std::string& path, const std::string& format) {
  if (format == "npy") return r2plus1d::io::load_npy<float, 2>(path).size(0);
  const std::optional<std::string> text = read_file(path);
  if (!text) throw r2plus1d::IoError("cannot read '" + path + "'");
  std::vector<std::string> lines = detail::output_lines(path, *text);
  if (format == "jsonl") {
    for (std::size_t n = 0; n < lines.size(); ++n) detail::jsonl_object(path, lines[n], n);
    return static_cast<index_t>(lines.size());
  }
  if (!lines.empty() && detail::csv_header_line(lines.front())) lines.erase(lines.begin());
  std::size_t fields = 0;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto k = static_cast<std::size_t>(std::count(lines[n].begin(), lines[n].end(), ',')) + 1;
    if (n > 0 && k != fields) throw r2plus1d::IoError("'" + path + "' has lines of different lengths");
    fields = k;
  }
  return static_cast<index_t>(lines.size());
}

/// The (rows, classes) scores of an output of `format` as write_output wrote
/// it (a JSON Lines output holds them with --logits: its "logits" or "probs").
inline r2plus1d::Tensor<float, 2> load_scores(const std::string& path, const std::string& format) {
  if (format == "npy") return r2plus1d::io::load_npy<float, 2>(path);
  const std::optional<std::string> text = read_file(path);
  if (!text) throw r2plus1d::IoError("cannot read '" + path + "'");
  std::vector<std::string> lines = detail::output_lines(path, *text);
  if (format == "csv" && !lines.empty() && detail::csv_header_line(lines.front())) lines.erase(lines.begin());
  std::vector<float> values;
  index_t cols = 0;
  for (std::size_t r = 0; r < lines.size(); ++r) {
    index_t n = 0;
    if (format == "jsonl") {
      const nlohmann::json j = detail::jsonl_object(path, lines[r], r);
      const char* key = j.contains("logits") ? "logits" : "probs";
      if (!j.contains(key) || !j[key].is_array())
        throw r2plus1d::FormatError("'" + path + "' holds no class scores (\"logits\" or \"probs\")");
      for (const auto& v : j[key]) {
        values.push_back(v.is_number() ? v.get<float>() : std::numeric_limits<float>::quiet_NaN());
        ++n;
      }
    } else {
      const std::string& line = lines[r];
      for (std::size_t f = 0; f <= line.size();) {
        const std::size_t comma = std::min(line.find(',', f), line.size());
        values.push_back(std::strtof(line.substr(f, comma - f).c_str(), nullptr));
        ++n;
        f = comma + 1;
      }
    }
    if (r > 0 && n != cols) throw r2plus1d::FormatError("'" + path + "' has lines of different lengths");
    cols = n;
  }
  r2plus1d::Tensor<float, 2> y = r2plus1d::Tensor<float, 2>::empty({static_cast<index_t>(lines.size()), cols});
  std::copy(values.begin(), values.end(), y.data());
  return y;
}

}  // namespace extract

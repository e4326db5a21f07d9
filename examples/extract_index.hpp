#pragma once
// r2plus1d-extract's index of clips: CSV as RFC 4180 writes and reads it, the
// rows of each output kept beside it (the ledger), and index.csv rebuilt from
// those rows, so that an output and its rows are stored as one unit and a run
// repairs what an interrupted or failed one left.

#include "extract_files.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace extract {

namespace fs = std::filesystem;
using r2plus1d::index_t;

/// One row of the index: where clip `clip` of `video` starts and ends.
struct ClipRecord {
  index_t clip = 0;
  index_t start_frame = -1;  ///< in the video's own frames; -1 for .npy clips
  double start_time = -1;    ///< seconds; -1 for .npy clips
  index_t end_frame = -1;    ///< the video's frame shown last in the clip (inclusive); -1 for .npy clips
  double end_time = -1;      ///< the time of that frame, seconds; -1 for .npy clips
  double fps = -1;           ///< the rate the clip was sampled at (--fps or the video's); -1 for .npy clips
};

/// A CSV field, quoted when it holds a comma, quote, CR or LF (RFC 4180).
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

inline std::string csv_line(const std::vector<std::string>& fields) {
  std::string s;
  for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + csv_field(fields[i]);
  return s + "\n";
}

/// The records of CSV text as csv_line writes it (quoted fields may hold
/// commas, quotes and line breaks; lines end in LF or CRLF). A last record
/// cut inside a quoted field or before its line end is dropped.
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> rec;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"')
        field += c;
      else if (i + 1 < text.size() && text[i + 1] == '"')
        field += text[++i];
      else
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rec.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rec.push_back(std::move(field));
      field.clear();
      out.push_back(std::move(rec));
      rec.clear();
    } else {
      field += c;
    }
  }
  return out;
}

constexpr const char* kIndexHeader = "video,output,clip,start_frame,start_time,end_frame,end_time,fps";
constexpr std::size_t kIndexFields = 8;
// The index of earlier versions: its first five fields, without the clip's end and rate.
constexpr const char* kOldIndexHeader = "video,output,clip,start_frame,start_time";
constexpr std::size_t kOldIndexFields = 5;

/// The rows of index CSV text: its records of eight fields after the header.
/// Rows of the earlier five-field form (an index or rows file written by an
/// earlier version) are read too, their end_frame, end_time and fps left
/// empty: what those were is not recorded anywhere.
inline std::vector<std::vector<std::string>> index_records(const std::string& text) {
  std::vector<std::vector<std::string>> recs = parse_csv(text);
  if (!recs.empty() && (csv_line(recs.front()) == std::string(kIndexHeader) + "\n" ||
                        csv_line(recs.front()) == std::string(kOldIndexHeader) + "\n"))
    recs.erase(recs.begin());
  recs.erase(std::remove_if(recs.begin(), recs.end(),
                            [](const auto& r) { return r.size() != kIndexFields && r.size() != kOldIndexFields; }),
             recs.end());
  for (auto& r : recs) r.resize(kIndexFields);
  return recs;
}

/// "index.csv" or "index.K-of-N.csv": the names an index takes.
inline bool is_index_name(const std::string& name) {
  if (name == "index.csv") return true;
  const std::string pre = "index.", post = ".csv";
  if (name.size() <= pre.size() + post.size() || name.rfind(pre, 0) != 0 ||
      name.compare(name.size() - post.size(), post.size(), post) != 0)
    return false;
  const std::string mid = name.substr(pre.size(), name.size() - pre.size() - post.size());
  const auto of = mid.find("-of-");
  const auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  return of != std::string::npos && digits(mid.substr(0, of)) && digits(mid.substr(of + 4));
}

/// "%.6f" of `v`, the form of the index's times and rates.
inline std::string index_number(double v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

/// The index rows of one output: video, output, clip, start_frame,
/// start_time, end_frame, end_time, fps (the last five empty for .npy clips).
inline std::string index_rows(const std::string& video, const std::string& output,
                              const std::vector<ClipRecord>& records) {
  std::string s;
  for (const auto& r : records) {
    std::string frame, time, end_frame, end_time, fps;
    if (r.start_frame >= 0) {
      frame = std::to_string(r.start_frame);
      time = index_number(r.start_time);
    }
    if (r.end_frame >= 0) {
      end_frame = std::to_string(r.end_frame);
      end_time = index_number(r.end_time);
    }
    if (r.fps > 0) fps = index_number(r.fps);
    s += csv_line({video, output, std::to_string(r.clip), frame, time, end_frame, end_time, fps});
  }
  return s;
}

/// The rows of each output of an output directory, one small CSV file per
/// output under `rows_dir` (`rows_dir/<output name>.csv`), and the index
/// files built from them. An output counts as done when its rows file exists:
/// the rows are staged before the output is renamed into place and committed
/// after it.
class Ledger {
 public:
  Ledger(std::string output_dir, std::string rows_dir)
      : dir_(std::move(output_dir)), rows_dir_(std::move(rows_dir)) {}

  /// What the directory holds for the output named `name` (relative to it).
  enum class State {
    absent,      ///< no output: compute it
    done,        ///< the output and its rows: skip it
    unfinished,  ///< an earlier run stopped between the two: compute it again
    foreign,     ///< a file not written by this tool (or whose rows were lost): keep it
  };

  State state(const std::string& name) const {
    std::error_code ec;
    if (!fs::exists(output_path(name), ec)) return State::absent;
    if (fs::exists(rows_path(name) + ".tmp", ec)) return State::unfinished;
    return fs::exists(rows_path(name), ec) ? State::done : State::foreign;
  }

  std::string output_path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string rows_path(const std::string& name) const { return (fs::path(rows_dir_) / name).string() + ".csv"; }

  /// Writes the rows of output `name` to a temporary file, to commit() once the
  /// output is in place; returns its name.
  std::string stage(const std::string& name, const std::string& rows) const {
    const std::string path = rows_path(name);
    make_parent_dirs(path);
    return write_temporary(path, std::string(kIndexHeader) + "\n" + rows);
  }

  void commit(const std::string& staged, const std::string& name) const { extract::commit(staged, rows_path(name)); }

  /// Rewrites the index file `index` with the rows of the outputs `names`, in
  /// that order, or of every output in the directory (sorted by name) when
  /// `names` is null; rows of outputs that no longer exist are left out. An
  /// index that does not exist is written only when there are rows. Returns
  /// the number of rows.
  std::size_t write_index(const std::string& index, const std::vector<std::string>* names) const {
    std::vector<std::string> all;
    if (names == nullptr) {
      std::error_code ec;
      const bool any = fs::is_directory(rows_dir_, ec);
      ec.clear();
      if (any)
        for (fs::recursive_directory_iterator it(rows_dir_, ec), end; !ec && it != end; it.increment(ec)) {
          const std::string rel = it->path().lexically_relative(rows_dir_).generic_string();
          if (it->is_regular_file(ec) && rel.size() > 4 && rel.compare(rel.size() - 4, 4, ".csv") == 0)
            all.push_back(rel.substr(0, rel.size() - 4));
        }
      if (ec) throw r2plus1d::IoError("cannot read the directory '" + rows_dir_ + "' (" + ec.message() + ")");
      std::sort(all.begin(), all.end());
      names = &all;
    }
    std::string text = std::string(kIndexHeader) + "\n";
    std::size_t rows = 0;
    for (const auto& name : *names) {
      std::error_code ec;
      if (!fs::exists(output_path(name), ec)) continue;
      const std::optional<std::string> kept = read_file(rows_path(name));
      if (!kept) continue;
      for (const auto& rec : index_records(*kept)) {
        text += csv_line(rec);
        ++rows;
      }
    }
    std::error_code ec;
    if (rows > 0 || fs::exists(index, ec) || fs::is_symlink(index, ec)) write_file(index, text);
    return rows;
  }

  /// Keeps the rows of an index written before rows were kept per output (by
  /// an earlier version of this tool): each output it names that exists, and
  /// has no rows file (staged or committed), gets one. An index written since
  /// names only outputs with rows, so this finds nothing to do there.
  void adopt(const std::string& index) const {
    std::error_code ec;
    if (!fs::is_regular_file(index, ec)) return;
    const std::optional<std::string> text = read_file(index);
    std::map<std::string, std::string> rows;  // output name -> rows
    const fs::path base = fs::weakly_canonical(dir_, ec);
    for (const auto& rec : index_records(text ? *text : "")) {
      const std::string name = fs::weakly_canonical(rec[1], ec).lexically_relative(base).generic_string();
      if (!ec && !name.empty() && name.rfind("..", 0) != 0 && !is_index_name(name)) rows[name] += csv_line(rec);
    }
    for (const auto& [name, text_rows] : rows)
      if (state(name) == State::foreign && fs::is_regular_file(output_path(name), ec))
        commit(stage(name, text_rows), name);
  }

 private:
  std::string dir_, rows_dir_;
};

}  // namespace extract

#pragma once
/// \file
/// Labelled video lists, as action-recognition datasets ship them:
/// read_labelled_list gives (path, 0-based label) pairs and the class names
/// from
///
/// - a list file of `path label` lines, paths relative to the list's folder.
///   With a class index (`classInd.txt` beside the list, or given), UCF101's
///   format: `1 ApplyEyeMakeup` lines name the classes, labels are 1-based,
///   and a line with a path only (UCF101's testlist) takes its class from
///   the path's first folder. Without one, labels are 0-based integers;
/// - a directory holding one folder per class (classes sorted by name), each
///   with its videos, in folders below it too.
///
/// Blank lines and lines starting with '#' are skipped. A label out of range,
/// a folder that names no class, or an empty list is a FormatError naming the
/// file and line; a missing file is an IoError.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::io {

/// One labelled video: its path (resolved against the list's folder) and label.
struct LabelledVideo {
  std::string path;   ///< as found: relative paths of a list joined to its folder
  index_t label = 0;  ///< 0-based class
};

/// The videos of a labelled list and the names of its classes.
struct LabelledList {
  std::vector<LabelledVideo> videos;  ///< in the list's order (a directory's: by path)
  std::vector<std::string> classes;   ///< class names, by label; empty when the list gives none
  /// The number of classes: the names', or one past the largest label.
  index_t num_classes() const {
    if (!classes.empty()) return static_cast<index_t>(classes.size());
    index_t n = 0;
    for (const auto& v : videos) n = std::max(n, v.label + 1);
    return n;
  }
};

namespace detail {

inline std::vector<std::string> split_blanks(const std::string& line) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < line.size()) {
    const std::size_t b = line.find_first_not_of(" \t\r", at);
    if (b == std::string::npos) break;
    const std::size_t e = std::min(line.find_first_of(" \t\r", b), line.size());
    out.push_back(line.substr(b, e - b));
    at = e;
  }
  return out;
}

inline std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

inline bool parse_index(const std::string& s, index_t& out) {
  if (s.empty() || s.size() > 15 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoll(s);
  return true;
}

inline std::vector<std::string> read_lines(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw IoError(std::string(what) + " '" + path + "': no such file");
  std::ifstream in(path);
  if (!in) throw IoError(std::string(what) + " '" + path + "': cannot open it");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline bool is_video_file(const std::filesystem::path& p) {
  static const char* const kExt[] = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                                     ".flv", ".wmv", ".ogv", ".3gp", ".ts",  ".y4m", ".gif", ".npy"};
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(std::begin(kExt), std::end(kExt), e) != std::end(kExt);
}

}  // namespace detail

/// UCF101's class index: `1 ApplyEyeMakeup` lines, numbered 1..K in order.
inline std::vector<std::string> read_class_index(const std::string& path) {
  std::vector<std::string> names;
  const auto lines = detail::read_lines(path, "class index");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto f = detail::split_blanks(lines[i]);
    if (f.empty() || f[0][0] == '#') continue;
    index_t k = 0;
    if (f.size() != 2 || !detail::parse_index(f[0], k) || k != static_cast<index_t>(names.size()) + 1)
      throw FormatError("class index '" + path + "' line " + std::to_string(i + 1) + ": expected '" +
                        std::to_string(names.size() + 1) + " ClassName', got '" + lines[i] + "'");
    names.push_back(f[1]);
  }
  if (names.empty()) throw FormatError("class index '" + path + "' names no class");
  return names;
}

/// Reads a labelled list file or class-folder directory (see the file
/// comment). `class_index` names UCF101's classInd.txt; empty: the one beside
/// the list, if any.
inline LabelledList read_labelled_list(const std::string& list, const std::string& class_index = "") {
  namespace fs = std::filesystem;
  std::error_code ec;
  LabelledList out;
  if (fs::is_directory(list, ec)) {
    for (fs::directory_iterator it(list, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) out.classes.push_back(it->path().filename().string());
    std::sort(out.classes.begin(), out.classes.end());
    for (std::size_t k = 0; k < out.classes.size(); ++k) {
      std::vector<std::string> found;
      const fs::path dir = fs::path(list) / out.classes[k];
      for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec) && detail::is_video_file(it->path())) found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      for (auto& f : found) out.videos.push_back({std::move(f), static_cast<index_t>(k)});
    }
    if (ec) throw IoError("labelled directory '" + list + "': cannot read it (" + ec.message() + ")");
    if (out.videos.empty())
      throw FormatError("labelled directory '" + list + "' holds no videos in class folders (one folder per class)");
    return out;
  }
  const auto lines = detail::read_lines(list, "labelled list");
  const fs::path base = fs::path(list).parent_path();
  std::string index_path = class_index;
  if (index_path.empty() && fs::is_regular_file(base / "classInd.txt", ec)) index_path = (base / "classInd.txt").string();
  if (!index_path.empty()) out.classes = read_class_index(index_path);
  std::map<std::string, index_t> by_name;
  for (std::size_t k = 0; k < out.classes.size(); ++k) by_name[out.classes[k]] = static_cast<index_t>(k);
  const index_t K = static_cast<index_t>(out.classes.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto f = detail::split_blanks(lines[i]);
    if (f.empty() || f[0][0] == '#') continue;
    const std::string where = "labelled list '" + list + "' line " + std::to_string(i + 1) + ": ";
    index_t label = 0;
    fs::path path;
    if (f.size() >= 2 && detail::parse_index(f.back(), label)) {
      const std::string line = detail::trim(lines[i]);
      path = detail::trim(line.substr(0, line.find_last_of(" \t")));  // a path may hold blanks
      if (K > 0) {
        if (label < 1 || label > K)
          throw FormatError(where + "label " + f.back() + " is not one of the " + std::to_string(K) + " classes of '" +
                            index_path + "' (numbered from 1)");
        label -= 1;
      }
    } else if (f.size() == 1 && K > 0) {
      path = f[0];
      const std::string cls = path.begin()->string();
      const auto it = by_name.find(cls);
      if (it == by_name.end() || path.begin() == std::prev(path.end()))
        throw FormatError(where + "'" + f[0] + "' has no label, and its first folder '" + cls +
                          "' is not a class of '" + index_path + "'");
      label = it->second;
    } else if (f.size() >= 2) {
      throw FormatError(where + "unknown label '" + f.back() + "' (expected a class number" +
                        std::string(K > 0 ? ", 1 to " + std::to_string(K) : ", from 0") + ")");
    } else {
      throw FormatError(where + "expected 'path label'" +
                        std::string(K > 0 ? "" : " (a 0-based label; or give the class index for UCF101's lists)") +
                        ", got '" + lines[i] + "'");
    }
    if (path.empty()) throw FormatError(where + "no path before the label");
    out.videos.push_back({(path.is_absolute() ? path : base / path).string(), label});
  }
  if (out.videos.empty()) throw FormatError("labelled list '" + list + "' names no videos");
  return out;
}

}  // namespace r2plus1d::io

#pragma once
// r2plus1d-extract's inputs: which files to run (files, directories read
// recursively, list files), the shard of them one process takes, and the
// output name of each.

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace extract {

namespace fs = std::filesystem;

inline std::string lower_extension(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

/// File name extensions (lower case) taken from a directory given as input.
inline bool is_video_name(const fs::path& p) {
  static const std::set<std::string> kExt = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                                             ".mpe", ".flv", ".wmv", ".ogv", ".ogg", ".3gp", ".3g2", ".ts",
                                             ".mts", ".m2ts", ".vob", ".gif", ".y4m", ".nut", ".asf", ".dv"};
  return kExt.count(lower_extension(p)) != 0;
}

inline bool is_npy_name(const fs::path& p) { return lower_extension(p) == ".npy"; }

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

/// One input and the name of its output without the extension: the file's
/// stem, or for a file found in a directory its path below that directory
/// ("sub/y" for dir/sub/y.mp4), so that equal names in different folders
/// have different outputs.
struct Input {
  std::string path;
  std::string name;
};

/// Inputs in order, each directory replaced by the videos in it and in its
/// subdirectories (sorted by path; symbolic links to directories are not
/// followed), duplicates dropped.
inline std::vector<Input> expand_inputs(const std::vector<std::string>& given) {
  std::vector<Input> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& p, std::string name) {
    if (seen.insert(p).second) out.push_back({p, std::move(name)});
  };
  for (const auto& g : given) {
    std::error_code ec;
    if (!fs::is_directory(g, ec)) {
      add(g, fs::path(g).stem().string());
      continue;
    }
    std::vector<fs::path> found;
    for (fs::recursive_directory_iterator it(g, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec) && is_video_name(it->path())) found.push_back(it->path());
    if (ec) throw r2plus1d::IoError("cannot read the directory '" + g + "' (" + ec.message() + ")");
    std::sort(found.begin(), found.end());
    for (const auto& f : found) {
      fs::path rel = f.lexically_relative(g);
      add(f.string(), rel.replace_extension().generic_string());
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

/// The --shard of a process of an array job: "K/N" as given, or for "auto"
/// K and N from the job's environment: Slurm's SLURM_ARRAY_TASK_ID (counted
/// from SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP) and
/// SLURM_ARRAY_TASK_COUNT, or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX
/// with `shard_count` (--shard-count) as N. `env` reads a variable (nullptr
/// when unset), std::getenv by default.
inline std::string resolve_shard(const std::string& spec, long shard_count,
                                 const char* (*env)(const char*) = [](const char* v) -> const char* {
                                   return std::getenv(v);
                                 }) {
  if (spec != "auto") {
    if (shard_count > 0) throw r2plus1d::OptionError("--shard-count goes with --shard auto, not --shard " + spec);
    return spec;
  }
  const auto number = [&](const char* var, long& out) {
    const char* v = env(var);
    if (v == nullptr) return false;
    const std::string s = v;
    std::size_t used = 0;
    try {
      out = std::stol(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (s.empty() || used != s.size() || out < 0)
      throw r2plus1d::OptionError(std::string("--shard auto: ") + var + "='" + s + "' is not a number");
    return true;
  };
  long k = 0, n = 0, min = 0, step = 1;
  if (number("SLURM_ARRAY_TASK_ID", k)) {
    if (!number("SLURM_ARRAY_TASK_COUNT", n))
      throw r2plus1d::OptionError("--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT");
    if (shard_count > 0 && shard_count != n)
      throw r2plus1d::OptionError("--shard-count " + std::to_string(shard_count) + " differs from the array's " +
                                  std::to_string(n) + " tasks (SLURM_ARRAY_TASK_COUNT); leave it out");
    number("SLURM_ARRAY_TASK_MIN", min);
    number("SLURM_ARRAY_TASK_STEP", step);
    if (k < min || step < 1 || (k - min) % step != 0 || (k - min) / step >= n)
      throw r2plus1d::OptionError("--shard auto: array task " + std::to_string(k) +
                                  " is not one of an evenly spaced array (SLURM_ARRAY_TASK_MIN " + std::to_string(min) +
                                  ", STEP " + std::to_string(step) + ", COUNT " + std::to_string(n) +
                                  "); give --array as a range such as 0-7, or --shard K/N");
    k = (k - min) / step;
  } else if (number("JOB_COMPLETION_INDEX", k)) {
    if (shard_count < 1)
      throw r2plus1d::OptionError("--shard auto in a Kubernetes Indexed Job needs --shard-count N (the Job's "
                                  "completions)");
    n = shard_count;
    if (k >= n)
      throw r2plus1d::OptionError("--shard auto: JOB_COMPLETION_INDEX " + std::to_string(k) +
                                  " is not below --shard-count " + std::to_string(n));
  } else {
    throw r2plus1d::OptionError("--shard auto: not in a Slurm array job (no SLURM_ARRAY_TASK_ID) nor a Kubernetes "
                                "Indexed Job (no JOB_COMPLETION_INDEX); give --shard K/N");
  }
  return std::to_string(k) + "/" + std::to_string(n);
}

}  // namespace extract

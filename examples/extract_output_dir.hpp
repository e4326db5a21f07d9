#pragma once
// r2plus1d-extract's output directory: made and found writable before any
// work, locked against a second process writing the same index, and the
// settings its outputs were made with, so that a run with others is refused.
// The tool's own files live in DIR/.r2plus1d-extract/: the settings, the lock
// files and the rows of each output (see extract_index.hpp).

#include "extract_files.hpp"
#include "extract_index.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/file.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

namespace extract {

namespace fs = std::filesystem;

constexpr const char* kMetaDir = ".r2plus1d-extract";

/// Settings that decide what an output holds, as key (the flag) and value.
using Settings = std::vector<std::pair<std::string, std::string>>;

/// Settings recorded only since a later version, with the value the outputs
/// of a directory that does not record them were made with.
inline const Settings& later_settings() {
  static const Settings s = {{"clips-per-video", "unused"}, {"crops", "1"}, {"video-level", "no"}};
  return s;
}

/// An output directory made ready for a run: created, checked writable,
/// locked for the index `index_name`, its settings checked. The lock is held
/// while the object lives (and released by the OS when the process ends).
class OutputDir {
 public:
  OutputDir(std::string dir, const std::string& index_name) : dir_(std::move(dir)) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    std::error_code ec2;
    if (!fs::is_directory(dir_, ec2))
      throw r2plus1d::IoError("--output-dir: cannot create '" + dir_ + "' (" + (ec ? ec : ec2).message() + ")");
    probe();
    fs::create_directories(meta(), ec);
    if (!fs::is_directory(meta(), ec2))
      throw r2plus1d::IoError("--output-dir: cannot create '" + meta() + "' (" + ec.message() + ")");
    lock_ = lock(meta(index_name + ".lock"), index_name);
  }
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  ~OutputDir() {
    if (lock_ >= 0) ::close(lock_);
  }

  /// DIR/.r2plus1d-extract/<name>.
  std::string meta(const std::string& name = "") const {
    return name.empty() ? (fs::path(dir_) / kMetaDir).string() : (fs::path(dir_) / kMetaDir / name).string();
  }

  /// Whether the output name `name` (relative to the directory) is one of the
  /// tool's own files or inside its folder.
  static bool reserved(const std::string& name) {
    const std::string first = name.substr(0, name.find('/'));
    return first == kMetaDir || (first == name && is_index_name(name));
  }

  /// Checks `want` against the settings recorded in the directory: records
  /// them when there are none (or, with `overwrite`, when they differ) and
  /// throws an OptionError naming the differences otherwise. Returns whether
  /// recorded settings were replaced.
  bool check_settings(const Settings& want, bool overwrite) const {
    // Shards of one dataset share the directory: one process at a time here.
    const int fd = ::open(meta("settings.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) throw r2plus1d::IoError("--output-dir: cannot write '" + meta("settings.lock") + "'" + os_error(errno));
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    const std::string path = meta("settings");
    const std::optional<std::string> have = read_file(path);
    std::string text = "# the settings of the outputs in this directory; r2plus1d-extract refuses others\n";
    for (const auto& [k, v] : want) text += k + "=" + v + "\n";
    if (have && *have == text) return false;
    if (have) {
      std::string diff;
      for (const auto& [k, v] : want) {
        const std::string there = value(*have, k);
        if (k == "weights-file" || there == v || (!recorded(*have, k) && v == later_default(k))) continue;
        const std::string file = k == "weights" ? value(*have, "weights-file") : "";
        diff += std::string(diff.empty() ? "" : ", ") + "--" + k + " " + shown(there) +
                (file.empty() ? "" : " ('" + file + "')") + " there, " + shown(v) + " here";
      }
      if (diff.empty()) return false;  // only the informational lines differ
      if (!overwrite)
        throw r2plus1d::OptionError("--output-dir '" + dir_ + "' holds outputs made with other settings (" + diff +
                                    "; recorded in " + path + "); give another --output-dir, or --overwrite to "
                                    "recompute the given inputs with these settings");
    }
    write_file(path, text);
    return have.has_value();
  }

 private:
  static std::string value(const std::string& text, const std::string& key) {
    std::size_t at = 0;
    while (at < text.size()) {
      const std::size_t end = std::min(text.find('\n', at), text.size());
      const std::size_t from = at + key.size() + 1;
      if (text.compare(at, key.size() + 1, key + "=") == 0) return text.substr(from, end - from);
      at = end + 1;
    }
    return "";
  }

  static bool recorded(const std::string& text, const std::string& key) {
    return text.rfind(key + "=", 0) == 0 || text.find("\n" + key + "=") != std::string::npos;
  }

  // The value of a setting of later_settings() in a directory that does not record it; for the others a value no setting has.
  static std::string later_default(const std::string& key) {
    for (const auto& [k, v] : later_settings())
      if (k == key) return v;
    return "\x01";
  }

  static std::string shown(const std::string& v) { return v.empty() ? "(none)" : v; }

  // Creates and removes a file in the directory: a read-only or full one is
  // an error now, before any input is run.
  void probe() const {
    const std::string p = (fs::path(dir_) / (std::string(kMetaDir) + "-probe-" + std::to_string(::getpid()))).string();
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) throw r2plus1d::IoError("--output-dir: cannot write in '" + dir_ + "'" + os_error(errno));
    const bool ok = write_all(fd, "probe\n") && ::fsync(fd) == 0;
    const int e = errno;
    ::close(fd);
    ::unlink(p.c_str());
    if (!ok) throw r2plus1d::IoError("--output-dir: cannot write in '" + dir_ + "'" + os_error(e));
  }

  // Takes the lock file `path` (flock, not waiting) and writes our pid in it.
  int lock(const std::string& path, const std::string& index_name) const {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) throw r2plus1d::IoError("--output-dir: cannot write '" + path + "'" + os_error(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      char buf[32] = {};
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      if (e == EWOULDBLOCK)
        throw r2plus1d::IoError("--output-dir '" + dir_ + "' is in use by another r2plus1d-extract" +
                                (pid.empty() ? "" : " (pid " + pid + ")") + " writing " + index_name +
                                "; wait for it to end, or give another --output-dir (or --shard K/N to split "
                                "the inputs)");
      throw r2plus1d::IoError("--output-dir: cannot lock '" + path + "'" + os_error(e));
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()) ||
        ::fsync(fd) != 0) {
      const int e = errno;
      ::close(fd);
      throw r2plus1d::IoError("--output-dir: cannot write '" + path + "'" + os_error(e));
    }
    return fd;
  }

  std::string dir_;
  int lock_ = -1;
};

}  // namespace extract

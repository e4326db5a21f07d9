#pragma once
// r2plus1d-train's output directory: the checkpoint files and the record
// that makes them a checkpoint. DIR/train_state.txt is written last, through
// a temporary file renamed into place; it names the completed epoch, the
// settings of the run and a fingerprint of each checkpoint file, so that a
// resume trusts only files that one completed epoch wrote together.

#include "extract_files.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <iterator>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace train {

/// The files of a checkpoint, relative to the output directory.
inline const std::vector<std::string>& checkpoint_files() {
  static const std::vector<std::string> f = {"last.safetensors", "optimizer.safetensors", "scheduler.safetensors"};
  return f;
}

constexpr const char* kStateFile = "train_state.txt";

/// An exclusive lock on DIR/.lock, held while the object lives (the OS drops
/// it when the process ends): a second run on the same directory is refused.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / ".lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) throw r2plus1d::IoError("--output-dir: cannot create '" + path + "'" + extract::os_error(errno));
    int rc;
    while ((rc = ::flock(fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
      ::close(fd_);
      throw r2plus1d::IoError("--output-dir: '" + dir + "' is in use by another r2plus1d-train");
    }
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

/// Where a run stands after a completed epoch.
struct TrainState {
  std::int64_t epoch = 0;      ///< Epochs completed
  std::int64_t step = 0;       ///< Optimizer steps taken
  double best_val = -1;        ///< Best validation accuracy so far (-1: none)
  std::string settings;        ///< The run's settings, one "key=value" per line
};

/// Writes DIR/train_state.txt for `s`, with the fingerprints of the checkpoint files.
inline void write_state(const std::string& dir, const TrainState& s) {
  namespace fs = std::filesystem;
  std::ostringstream out;
  out.precision(17);
  out << "epoch " << s.epoch << "\nstep " << s.step << "\nbest_val " << s.best_val << "\n";
  for (const auto& f : checkpoint_files()) {
    const std::string p = (fs::path(dir) / f).string();
    extract::sync_file(p);
    out << "file " << f << ' ' << extract::file_fingerprint(p) << "\n";
  }
  out << "settings\n" << s.settings;
  extract::write_file((fs::path(dir) / kStateFile).string(), out.str());
}

/// Reads DIR/train_state.txt and checks that the checkpoint files are those it
/// names and the settings are `settings`; IoError saying why not.
inline TrainState read_state(const std::string& dir, const std::string& settings) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / kStateFile).string();
  const auto text = extract::read_file(path);
  if (!text) throw r2plus1d::IoError("--resume: '" + dir + "' holds no completed epoch (no " + kStateFile + ")");
  TrainState s;
  std::istringstream in(*text);
  std::map<std::string, std::string> prints;
  for (std::string key; in >> key;) {
    if (key == "epoch") in >> s.epoch;
    else if (key == "step") in >> s.step;
    else if (key == "best_val") in >> s.best_val;
    else if (key == "file") {
      std::string f, h;
      in >> f >> h;
      prints[f] = h;
    } else if (key == "settings") {
      std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      s.settings = rest.empty() ? rest : rest.substr(1);
      break;
    } else {
      throw r2plus1d::FormatError("--resume: '" + path + "' is damaged (unknown entry '" + key + "')");
    }
  }
  if (!in.eof() && in.fail()) throw r2plus1d::FormatError("--resume: '" + path + "' is damaged");
  for (const auto& f : checkpoint_files()) {
    const std::string p = (fs::path(dir) / f).string();
    std::error_code ec;
    if (prints.count(f) == 0 || !fs::exists(p, ec) || extract::file_fingerprint(p) != prints[f])
      throw r2plus1d::IoError("--resume: '" + p + "' is not the one epoch " + std::to_string(s.epoch) +
                              " wrote (a run stopped while writing it?); start again with --overwrite");
  }
  if (s.settings != settings) {
    std::istringstream a(s.settings), b(settings);
    std::string la, lb;
    while (std::getline(a, la) && std::getline(b, lb))
      if (la != lb) break;
    throw r2plus1d::OptionError("--resume: '" + dir + "' was trained with " + la + ", not " + lb +
                                " (give the same settings, or --overwrite)");
  }
  return s;
}

}  // namespace train

#pragma once
// r2plus1d-extract's file writing: every file through a temporary one that is
// written, synced and closed, each step checked, then renamed into place, so
// that a file that exists is complete and a failure says the OS error.

#include <r2plus1d/r2plus1d.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace extract {

namespace fs = std::filesystem;

/// " (No space left on device)" for errno `e`.
inline std::string os_error(int e) { return std::string(" (") + std::strerror(e) + ")"; }

/// Writes all of `data` to `fd`; false with errno set on failure.
inline bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Syncs the directory that holds `path`, so that a rename in it is kept.
inline void sync_parent(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw r2plus1d::IoError("cannot open the directory of '" + path + "'" + os_error(errno));
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0 && e != EINVAL) throw r2plus1d::IoError("cannot sync the directory of '" + path + "'" + os_error(e));
}

/// Creates the directories above `path` that do not exist.
inline void make_parent_dirs(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (parent.empty() || fs::is_directory(parent, ec)) return;
  fs::create_directories(parent, ec);
  if (ec) throw r2plus1d::IoError("cannot create the directory '" + parent.string() + "' (" + ec.message() + ")");
}

/// Writes `data` to `path + ".tmp"` (synced and closed) and returns that name;
/// on failure removes it and throws an IoError naming `path`.
inline std::string write_temporary(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw r2plus1d::IoError("cannot write '" + path + "'" + os_error(errno));
  bool ok = write_all(fd, data) && ::fsync(fd) == 0;
  int e = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    e = errno;
  }
  if (ok) return tmp;
  std::error_code ec;
  fs::remove(tmp, ec);
  throw r2plus1d::IoError("cannot write '" + path + "'" + os_error(e));
}

/// Renames `tmp` (from write_temporary) over `path` and syncs its directory;
/// on failure removes `tmp`.
inline void commit(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    throw r2plus1d::IoError("cannot rename '" + tmp + "' to '" + path + "'" + os_error(e));
  }
  sync_parent(path);
}

/// Writes `data` as the whole of `path`, or leaves `path` as it was.
inline void write_file(const std::string& path, const std::string& data) { commit(write_temporary(path, data), path); }

/// The whole of a small file, or nullopt when it does not exist.
inline std::optional<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw r2plus1d::IoError("cannot read '" + path + "'" + os_error(errno));
  std::string s;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  const int e = errno;
  std::fclose(f);
  if (bad) throw r2plus1d::IoError("cannot read '" + path + "'" + os_error(e));
  return s;
}

/// 64-bit FNV-1a of a file's bytes, as 16 hex digits: enough to tell two
/// weights files apart.
inline std::string file_fingerprint(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw r2plus1d::IoError("cannot read '" + path + "'" + os_error(errno));
  std::uint64_t h = 14695981039346656037ull;
  static thread_local unsigned char buf[1 << 20];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
    for (std::size_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ull;
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw r2plus1d::IoError("cannot read '" + path + "'");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

/// Syncs the file `path` to its disk.
inline void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw r2plus1d::IoError("cannot open '" + path + "'" + os_error(errno));
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0) throw r2plus1d::IoError("cannot write '" + path + "'" + os_error(e));
}

}  // namespace extract

#pragma once
/// \file
/// File helpers shared by the io readers and writers: opening a regular file
/// with IoErrors that name it, positioned reads that never run past what the
/// file holds, and writing through a temporary file that is renamed into place.

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "r2plus1d/core/error.hpp"

namespace r2plus1d::io::detail {

/// " (No such file or directory)" for the current errno, or "" when errno is 0.
inline std::string errno_suffix() {
  const int e = errno;
  return e != 0 ? std::string(" (") + std::strerror(e) + ")" : std::string();
}

/// Opens `path` for binary reading and returns its size in bytes. Throws IoError
/// naming the file when it is missing, a directory, or cannot be opened.
inline std::uint64_t open_for_reading(const std::string& who, const std::string& path, std::ifstream& in) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) throw IoError(who + ": cannot open '" + path + "': no such file");
  if (std::filesystem::is_directory(st)) throw IoError(who + ": cannot open '" + path + "': it is a directory");
  errno = 0;
  in.open(path, std::ios::binary);
  if (!in) throw IoError(who + ": cannot open '" + path + "'" + errno_suffix());
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  in.seekg(0, std::ios::beg);
  if (end < 0 || !in) throw IoError(who + ": cannot read '" + path + "'" + errno_suffix());
  return static_cast<std::uint64_t>(end);
}

/// Reads up to `n` bytes at `offset` into `dst`; returns how many were read
/// (fewer when the file is shorter than it was when opened).
inline std::uint64_t read_at(std::ifstream& in, std::uint64_t offset, void* dst, std::uint64_t n) {
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset), std::ios::beg);
  if (!in) return 0;
  std::uint64_t done = 0;
  char* p = static_cast<char*>(dst);
  while (done < n) {
    const std::uint64_t chunk = std::min<std::uint64_t>(n - done, std::uint64_t{1} << 30);
    in.read(p + done, static_cast<std::streamsize>(chunk));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    done += static_cast<std::uint64_t>(got);
    if (!in) break;
  }
  return done;
}

/// Writes a file through `path + ".tmp"`, renamed over `path` once `write(out)`
/// has written everything; the temporary file is removed on failure. `who` and
/// `path` name the file in IoErrors.
template <class Writer>
void write_file_atomic(const std::string& who, const std::string& path, Writer&& write) {
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError(who + ": cannot write '" + path + "': it is a directory");
  try {
    errno = 0;
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(who + ": cannot write '" + path + "'" + errno_suffix());
    write(out);
    out.flush();
    if (!out) throw IoError(who + ": writing '" + path + "' failed" + errno_suffix());
    out.close();
    if (!out) throw IoError(who + ": writing '" + path + "' failed" + errno_suffix());
    errno = 0;
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw IoError(who + ": cannot rename '" + tmp + "' to '" + path + "'" + errno_suffix());
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace r2plus1d::io::detail

#pragma once
/// \file
/// The exception hierarchy. Every problem a caller or a file can cause throws a
/// subclass of r2plus1d::Error; nothing in the library aborts or returns codes.
///
///     Error
///     +-- ShapeError      wrong rank (from a file), channel count, features; input
///     |                   smaller than an unpadded kernel; zero-size clip
///     +-- OptionError     non-positive sizes, strides, dilations, groups, threads;
///     |                   negative padding; groups that do not divide the channels
///     +-- IoError         a path that does not exist, is a directory, cannot be
///     |                   opened, read, written or renamed
///     +-- FormatError     truncated file, bad magic or JSON, header over 100 MB
///     |   |               or nested too deep, another format (a PyTorch
///     |   |               checkpoint), offsets out of the data or overlapping,
///     |   |               bad shapes, video frames over max_pixels
///     |   +-- DTypeError  a dtype the format or the conversion does not support
///     +-- StateDictError  missing, unexpected or mis-shaped keys (all counted in
///                         one message), or a key's dtype that cannot convert
///
/// Messages are one line, start with the function or module ("Conv3d: ",
/// "npy: 'path': ") and say what was expected and what was found. NaN and Inf
/// are not errors: they propagate through every layer as in PyTorch.
/// std::bad_alloc is the only other exception, for memory exhaustion. Names
/// that come from files are quoted with quote(), so that no byte of theirs can
/// cut or split a message.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace r2plus1d {

/// Longest part of a name that quote() copies into a message, in bytes.
inline constexpr std::size_t kMaxQuotedBytes = 200;

/// `name` in single quotes for an error message: control bytes (NUL
/// included), DEL, the quote and the backslash written as `\xNN`, ``\'`` and `\\`,
/// and a name longer than kMaxQuotedBytes cut there, with its length said
/// ('abc...' (5000 bytes)). Other bytes, UTF-8 included, are kept.
inline std::string quote(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  std::size_t n = name.size() > kMaxQuotedBytes ? kMaxQuotedBytes : name.size();
  while (n < name.size() && n > 0 && (static_cast<unsigned char>(name[n]) & 0xc0) == 0x80) --n;  // whole UTF-8 characters
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += n < name.size() ? "...' (" + std::to_string(name.size()) + " bytes)" : "'";
  return out;
}

/// Base of every exception the library throws.
class Error : public std::runtime_error {
 public:
  /// An error whose what() is `what`.
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// A tensor has the wrong rank, size, channel count or is too small for a kernel.
class ShapeError : public Error {
 public:
  using Error::Error;  ///< Takes the message, as Error does.
};

/// A constructor option or function argument is out of its valid range
/// (non-positive sizes, groups that do not divide the channels, ...).
class OptionError : public Error {
 public:
  using Error::Error;  ///< Takes the message, as Error does.
};

/// A file could not be opened, read or written (missing, a directory, I/O failure).
class IoError : public Error {
 public:
  using Error::Error;  ///< Takes the message, as Error does.
};

/// A file's contents do not follow its format (truncated, bad header, bad offsets).
class FormatError : public Error {
 public:
  using Error::Error;  ///< Takes the message, as Error does.
};

/// A tensor's element type is not one this operation supports.
class DTypeError : public FormatError {
 public:
  using FormatError::FormatError;
};

/// A state dict does not fit a module: missing keys, unexpected keys, shape mismatches.
class StateDictError : public Error {
 public:
  using Error::Error;  ///< Takes the message, as Error does.
};

}  // namespace r2plus1d

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
///     +-- FormatError     truncated file, bad magic or JSON, header over 100 MB,
///     |   |               offsets out of the data or overlapping, bad shapes
///     |   +-- DTypeError  a dtype the format or the conversion does not support
///     +-- StateDictError  missing, unexpected or mis-shaped keys (all listed in
///                         one message), or a key's dtype that cannot convert
///
/// Messages are one line, start with the function or module ("Conv3d: ",
/// "npy: 'path': ") and say what was expected and what was found. NaN and Inf
/// are not errors: they propagate through every layer as in PyTorch.
/// std::bad_alloc is the only other exception, for memory exhaustion.

#include <stdexcept>
#include <string>

namespace r2plus1d {

/// Base of every exception the library throws.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// A tensor has the wrong rank, size, channel count or is too small for a kernel.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A constructor option or function argument is out of its valid range
/// (non-positive sizes, groups that do not divide the channels, ...).
class OptionError : public Error {
 public:
  using Error::Error;
};

/// A file could not be opened, read or written (missing, a directory, I/O failure).
class IoError : public Error {
 public:
  using Error::Error;
};

/// A file's contents do not follow its format (truncated, bad header, bad offsets).
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A tensor's element type is not one this operation supports.
class DTypeError : public FormatError {
 public:
  using FormatError::FormatError;
};

/// A state dict does not fit a module: missing keys, unexpected keys, shape mismatches.
class StateDictError : public Error {
 public:
  using Error::Error;
};

}  // namespace r2plus1d

#pragma once
/// \file
/// NumPy .npy arrays: read_npy / parse_npy (format versions 1.0, 2.0 and 3.0,
/// little-endian '<f2' '<f4' '<f8' '<i8' '<i4' '<i2' '|i1' '|u1' '|b1', C order),
/// load_npy into a Tensor<T, R>, and save_npy writing the bytes np.save writes.
/// The header, a Python dict literal, is parsed by a small bounded parser (no
/// evaluation); every malformed file throws FormatError, an unsupported element
/// type DTypeError, a missing or unreadable file IoError.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "r2plus1d/core/dtype.hpp"
#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/io/file.hpp"

namespace r2plus1d::io {

/// An array read from a .npy file: element type, shape (outermost first) and its
/// contiguous C-order data in 64-byte aligned storage. Movable, not copyable.
struct NpyArray {
  DType dtype = DType::F32;    ///< The element type, from the header's descr.
  std::vector<index_t> shape;  ///< The sizes, outermost first.
  /// The elements, nbytes() of them, owned by the array.
  std::unique_ptr<unsigned char, r2plus1d::detail::AlignedFree> storage;

  /// The number of elements, the product of the sizes.
  index_t numel() const { return shape_numel(shape); }
  /// The size of the data in bytes.
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  ///@{
  /// The first element (null for an empty array).
  void* data() { return storage.get(); }
  const void* data() const { return storage.get(); }
  ///@}
  /// The array as a TensorRef (for convert_elements and state dicts).
  TensorRef ref() { return TensorRef{dtype, data(), shape}; }
};

namespace detail {

/// numpy's name of a type ("<f4"), or nullptr for BF16, which numpy lacks.
inline const char* npy_descr(DType t) {
  switch (t) {
    case DType::F64: return "<f8";
    case DType::F32: return "<f4";
    case DType::F16: return "<f2";
    case DType::I64: return "<i8";
    case DType::I32: return "<i4";
    case DType::I16: return "<i2";
    case DType::I8: return "|i1";
    case DType::U8: return "|u1";
    case DType::BOOL: return "|b1";
    case DType::BF16: return nullptr;
  }
  return nullptr;
}

/// A value of the header's Python literal: a string, bool, None, integer or tuple/list.
struct PyValue {
  enum class Kind { Str, Bool, None, Int, Seq } kind = Kind::None;
  std::string str;
  bool boolean = false;
  bool negative = false;
  std::uint64_t integer = 0;
  std::vector<PyValue> items;
};

/// Parses the dict literal of an .npy header; FormatError on anything else.
class PyDictParser {
 public:
  PyDictParser(const std::string& text, std::string where)
      : p_(text.data()), end_(p_ + text.size()), where_(std::move(where)) {}

  std::map<std::string, PyValue> parse_dict() {
    std::map<std::string, PyValue> out;
    if (!eat('{')) fail("expected '{'");
    for (;;) {
      if (eat('}')) break;
      PyValue key = value(1);
      if (key.kind != PyValue::Kind::Str) fail("dictionary keys must be strings");
      if (!eat(':')) fail("expected ':' after '" + key.str + "'");
      if (!out.emplace(key.str, value(1)).second) fail("key '" + key.str + "' appears twice");
      if (eat(',')) continue;
      if (eat('}')) break;
      fail("expected ',' or '}'");
    }
    skip_space();
    if (p_ != end_) fail("unexpected characters after the dictionary");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(where_ + "malformed header: " + what); }
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) {
    skip_space();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool eat_word(const char* w) {
    const std::size_t n = std::strlen(w);
    if (static_cast<std::size_t>(end_ - p_) >= n && std::memcmp(p_, w, n) == 0) {
      p_ += n;
      return true;
    }
    return false;
  }

  PyValue value(int depth) {
    if (depth > 8) fail("nested too deeply");
    skip_space();
    if (p_ >= end_) fail("unexpected end of header");
    PyValue v;
    const char c = *p_;
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::Str;
      for (++p_; p_ < end_ && *p_ != c; ++p_) {
        if (*p_ == '\\') fail("escapes in strings are not supported");
        v.str += *p_;
      }
      if (p_ >= end_) fail("unterminated string");
      ++p_;
    } else if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      v.kind = PyValue::Kind::Seq;
      ++p_;
      for (;;) {
        if (eat(close)) break;
        v.items.push_back(value(depth + 1));
        if (eat(',')) continue;
        if (eat(close)) break;
        fail(std::string("expected ',' or '") + close + "'");
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = PyValue::Kind::Int;
      if (c == '-') {
        v.negative = true;
        ++p_;
      }
      if (p_ >= end_ || *p_ < '0' || *p_ > '9') fail("expected a digit");
      for (; p_ < end_ && *p_ >= '0' && *p_ <= '9'; ++p_) {
        const std::uint64_t d = static_cast<std::uint64_t>(*p_ - '0');
        if (v.integer > (std::numeric_limits<std::uint64_t>::max() - d) / 10) fail("integer too large");
        v.integer = v.integer * 10 + d;
      }
      if (p_ < end_ && *p_ == 'L') ++p_;  // Python 2 long, as in old files' shapes
    } else if (eat_word("True")) {
      v.kind = PyValue::Kind::Bool;
      v.boolean = true;
    } else if (eat_word("False")) {
      v.kind = PyValue::Kind::Bool;
    } else if (eat_word("None")) {
      v.kind = PyValue::Kind::None;
    } else {
      fail("unexpected character '" + std::string(1, (c >= 32 && c < 127) ? c : '?') + "'");
    }
    return v;
  }

  const char* p_;
  const char* end_;
  std::string where_;
};

/// The DType for a numpy descr; DTypeError for big-endian and unsupported types.
inline DType parse_npy_descr(const std::string& d, const std::string& where) {
  const std::string expected = ", expected one of <f2, <f4, <f8, <i8, <i4, <i2, |i1, |u1, |b1";
  if (d.size() >= 2 && d[0] == '>' && d.substr(1) != "i1" && d.substr(1) != "u1" && d.substr(1) != "b1")
    throw DTypeError(where + "big-endian data ('" + d + "') is not supported, expected little-endian");
  if (d.size() == 3 && (d[0] == '<' || d[0] == '=')) {
    const std::string t = d.substr(1);
    if (t == "f2") return DType::F16;
    if (t == "f4") return DType::F32;
    if (t == "f8") return DType::F64;
    if (t == "i8") return DType::I64;
    if (t == "i4") return DType::I32;
    if (t == "i2") return DType::I16;
  }
  if (d.size() == 3 && (d[0] == '|' || d[0] == '<' || d[0] == '>' || d[0] == '=')) {
    const std::string t = d.substr(1);
    if (t == "i1") return DType::I8;
    if (t == "u1") return DType::U8;
    if (t == "b1") return DType::BOOL;
  }
  throw DTypeError(where + "unsupported dtype '" + d + "'" + expected);
}

inline std::uint32_t load_le(const unsigned char* p, int n) {
  std::uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Parses an .npy file of `size` bytes served by `read_at(offset, dst, n) -> bytes read`.
template <class ReadAt>
NpyArray parse_npy_from(const std::string& where, std::uint64_t size, ReadAt&& read_at) {
  unsigned char pre[12];
  if (size < 10) throw FormatError(where + "file is " + std::to_string(size) + " bytes, too short for an .npy header");
  if (read_at(0, pre, 10) != 10) throw FormatError(where + "file is truncated: cannot read the .npy prefix");
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) throw FormatError(where + "not an .npy file (bad magic)");
  const int major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    throw FormatError(where + "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor) +
                      ", expected 1.0, 2.0 or 3.0");
  std::uint64_t prefix = 10, hlen = load_le(pre + 8, 2);
  if (major > 1) {
    if (size < 12 || read_at(10, pre + 10, 2) != 2)
      throw FormatError(where + "file is truncated: cannot read the header length");
    prefix = 12;
    hlen = load_le(pre + 8, 4);
  }
  if (prefix + hlen > size)
    throw FormatError(where + "file is truncated: header length " + std::to_string(hlen) + " exceeds file size " +
                      std::to_string(size));
  std::string text(static_cast<std::size_t>(hlen), '\0');
  if (read_at(prefix, text.data(), hlen) != hlen)
    throw FormatError(where + "file is truncated: cannot read the header");

  std::map<std::string, PyValue> dict = PyDictParser(text, where).parse_dict();
  for (const auto& kv : dict)
    if (kv.first != "descr" && kv.first != "fortran_order" && kv.first != "shape")
      throw FormatError(where + "malformed header: unexpected key '" + kv.first + "'");
  for (const char* k : {"descr", "fortran_order", "shape"})
    if (dict.count(k) == 0) throw FormatError(where + "malformed header: missing '" + k + "'");
  const PyValue& fortran = dict["fortran_order"];
  if (fortran.kind != PyValue::Kind::Bool)
    throw FormatError(where + "malformed header: 'fortran_order' must be True or False");
  if (fortran.boolean) throw FormatError(where + "fortran order is not supported, expected a C-order array");
  const PyValue& descr = dict["descr"];
  if (descr.kind == PyValue::Kind::Seq) throw DTypeError(where + "structured dtypes are not supported");
  if (descr.kind != PyValue::Kind::Str) throw FormatError(where + "malformed header: 'descr' must be a string");

  NpyArray a;
  a.dtype = parse_npy_descr(descr.str, where);
  const PyValue& shape = dict["shape"];
  if (shape.kind != PyValue::Kind::Seq) throw FormatError(where + "malformed header: 'shape' must be a tuple");
  const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()) / 8;
  std::uint64_t numel = 1;
  bool zero = false;
  for (const PyValue& d : shape.items) {
    if (d.kind != PyValue::Kind::Int || d.negative)
      throw FormatError(where + "malformed header: 'shape' must hold non-negative integers");
    if (d.integer == 0)
      zero = true;
    else if (d.integer > limit || numel > limit / d.integer)
      throw FormatError(where + "shape has too many elements");
    else
      numel *= d.integer;
    a.shape.push_back(static_cast<index_t>(d.integer));
  }
  if (zero) numel = 0;
  const std::uint64_t want = numel * dtype_size(a.dtype);
  const std::uint64_t have = size - prefix - hlen;
  if (have != want)
    throw FormatError(where + (have < want ? "file is truncated: " : "") + "data is " + std::to_string(have) +
                      " bytes, expected " + std::to_string(want) + " for '" + descr.str + "' shape " +
                      format_shape(a.shape));
  a.storage.reset(static_cast<unsigned char*>(r2plus1d::detail::aligned_alloc_bytes(static_cast<std::size_t>(want))));
  if (want > 0 && read_at(prefix + hlen, a.storage.get(), want) != want)
    throw FormatError(where + "file is truncated: cannot read " + std::to_string(want) + " data bytes");
  return a;
}

}  // namespace detail

/// Reads the .npy file `path` whole.
inline NpyArray read_npy(const std::string& path) {
  std::ifstream in;
  const std::uint64_t size = detail::open_for_reading("npy", path, in);
  return detail::parse_npy_from("npy: '" + path + "': ", size, [&](std::uint64_t off, void* dst, std::uint64_t n) {
    return detail::read_at(in, off, dst, n);
  });
}

/// Parses an .npy file held in memory (for fuzzers and tests); messages name it "<memory>".
inline NpyArray parse_npy(const std::vector<std::uint8_t>& bytes) {
  return detail::parse_npy_from("npy: '<memory>': ", bytes.size(),
                                [&](std::uint64_t off, void* dst, std::uint64_t n) -> std::uint64_t {
                                  if (off >= bytes.size()) return 0;
                                  n = std::min<std::uint64_t>(n, bytes.size() - off);
                                  if (n > 0) std::memcpy(dst, bytes.data() + off, static_cast<std::size_t>(n));
                                  return n;
                                });
}

/// Reads the .npy file `path` as a Tensor<T, R>: ShapeError unless the array has
/// R dimensions; floating data ('<f2', '<f4', '<f8') converts to a floating T,
/// integer data to an integer T, and any other pairing is a DTypeError.
template <class T, int R>
Tensor<T, R> load_npy(const std::string& path) {
  NpyArray a = read_npy(path);
  const std::string where = "npy: '" + path + "': ";
  if (a.shape.size() != static_cast<std::size_t>(R))
    throw ShapeError(where + "expected a " + std::to_string(R) + "-D array, got shape " + format_shape(a.shape));
  if (!dtype_convertible(a.dtype, dtype_of<T>()))
    throw DTypeError(where + "cannot load '" + detail::npy_descr(a.dtype) + "' data as " + dtype_name(dtype_of<T>()));
  Shape<R> s{};
  std::copy(a.shape.begin(), a.shape.end(), s.begin());
  Tensor<T, R> t = Tensor<T, R>::empty(s);
  convert_elements(a.data(), a.dtype, t.data(), dtype_of<T>(), a.numel());
  return t;
}

/// Writes `t` (any dtype but BF16) as an .npy file, byte for byte what np.save
/// writes: version 1.0 (2.0 for a header over 64 KiB), C order, header padded so
/// the data starts at a multiple of 64 bytes. Writes `path + ".tmp"`, then renames.
inline void save_npy(const std::string& path, const TensorRef& t) {
  const char* descr = detail::npy_descr(t.dtype);
  if (descr == nullptr) throw DTypeError("save_npy: '" + path + "': numpy has no " + dtype_name(t.dtype) + " type");
  std::string shape = "(";
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 0) throw ShapeError("save_npy: '" + path + "': negative size in shape " + format_shape(t.shape));
    shape += (i ? ", " : "") + std::to_string(t.shape[i]);
  }
  shape += t.shape.size() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  if (!t.shape.empty()) header.append(21 - std::to_string(t.shape[0]).size(), ' ');  // numpy's room to grow
  int version = 1;
  std::size_t hlen = header.size() + 1;
  std::size_t pad = 64 - (10 + hlen) % 64;
  if (hlen + pad > 65535) {
    version = 2;
    pad = 64 - (12 + hlen) % 64;
  }
  header.append(pad, ' ');
  header += '\n';
  detail::write_file_atomic("save_npy", path, [&](std::ofstream& out) {
    out.write("\x93NUMPY", 6);
    const char ver[2] = {static_cast<char>(version), 0};
    out.write(ver, 2);
    const std::uint32_t n = static_cast<std::uint32_t>(header.size());
    const char len[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                         static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
    out.write(len, version == 1 ? 2 : 4);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    if (t.nbytes() > 0) out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.nbytes()));
  });
}

/// Writes a tensor view as an .npy file ('<f4', '<f8', '<i8' or '<i4'); see save_npy(path, TensorRef).
template <class T, int R>
void save_npy(const std::string& path, TensorView<const T, R> t) {
  save_npy(path, TensorRef{dtype_of<T>(), const_cast<std::remove_const_t<T>*>(t.data()),
                           std::vector<index_t>(t.shape().begin(), t.shape().end())});
}

/// Writes a view of mutable elements as an .npy file; see save_npy(path, TensorRef).
template <class T, int R, class = std::enable_if_t<!std::is_const_v<T>>>
void save_npy(const std::string& path, TensorView<T, R> t) {
  save_npy<T, R>(path, TensorView<const T, R>(t));
}

/// Writes a tensor as an .npy file; see save_npy(path, TensorRef).
template <class T, int R>
void save_npy(const std::string& path, const Tensor<T, R>& t) {
  save_npy<T, R>(path, t.view());
}

}  // namespace r2plus1d::io

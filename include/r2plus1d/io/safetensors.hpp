#pragma once
/// \file
/// safetensors files: SafetensorsReader (header parsed and validated up front,
/// each tensor read from the file on demand), save_safetensors, and
/// load_safetensors for a whole file in memory. The layout, as written by
/// tools/convert_checkpoint.py and the Rust/Python `safetensors` packages:
///
///     [u64 little-endian N][N bytes of JSON header, space-padded][data section]
///
/// The header maps each tensor name to {"dtype", "shape", "data_offsets":
/// [begin, end]} (byte offsets into the data section) and may hold a
/// "__metadata__" object of string -> string. Data is contiguous, row-major,
/// little-endian (this library assumes a little-endian host).

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "r2plus1d/core/dtype.hpp"
#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/io/file.hpp"

namespace r2plus1d::io {

/// Largest header a reader accepts, in bytes (a guard against absurd lengths).
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
/// Deepest nesting of arrays and objects a header may have. A valid header
/// needs 3 (the header, a tensor's entry, its shape); deeper ones are refused
/// before parsing, so that no deep value is ever built or printed.
inline constexpr int kMaxHeaderDepth = 32;

namespace detail {

/// Parses a safetensors dtype name; false when it names no supported type.
inline bool parse_dtype_name(const std::string& s, DType& out) {
  for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16, DType::I8,
                  DType::U8, DType::BOOL}) {
    if (s == dtype_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

/// Most bytes of a JSON value that a message quotes.
inline constexpr std::size_t kMaxExcerptBytes = 80;

/// Appends `j` as compact JSON to `out`, stopping soon after `out` reaches
/// `limit` bytes: a big value costs no more than its excerpt.
inline void append_json(const nlohmann::ordered_json& j, std::string& out, std::size_t limit) {
  using json = nlohmann::ordered_json;
  if (out.size() > limit) return;
  if (j.is_array() || j.is_object()) {
    out += j.is_array() ? '[' : '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out.size() <= limit; ++it) {
      if (!first) out += ',';
      first = false;
      if (j.is_object()) {
        append_json(json(it.key()), out, limit);
        out += ':';
      }
      append_json(it.value(), out, limit);
    }
    out += j.is_array() ? ']' : '}';
  } else if (j.is_string() && j.get_ref<const std::string&>().size() > limit) {
    const std::string& v = j.get_ref<const std::string&>();
    out += json(v.substr(0, limit)).dump(-1, ' ', true, json::error_handler_t::replace);
  } else {
    out += j.dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

/// A JSON value as text for messages, cut to kMaxExcerptBytes. Its nesting is
/// bounded by the reader's depth check (kMaxHeaderDepth).
inline std::string json_excerpt(const nlohmann::ordered_json& j) {
  std::string s;
  append_json(j, s, kMaxExcerptBytes);
  return s.size() > kMaxExcerptBytes ? s.substr(0, kMaxExcerptBytes - 3) + "..." : s;
}

/// How deep the JSON text `text` nests arrays and objects (brackets outside
/// strings), counting at most to `limit + 1`; the byte offset where it first
/// passes `limit` goes to `where`.
inline int json_depth(const std::string& text, int limit, std::size_t& where) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (depth > limit) {
        where = i;
        return depth;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// What a file that is not safetensors is, from its first 8 bytes: a PyTorch
/// checkpoint (torch.save's zip archive, or its older pickle format) or a
/// NumPy array; "" when the bytes say nothing.
inline std::string foreign_format(const unsigned char* b) {
  if (b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return "a PyTorch checkpoint (torch.save's zip archive)";
  if (b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
    return "a PyTorch checkpoint (a pickle, as torch.save wrote before PyTorch 1.6)";
  if (b[0] == 0x93 && std::memcmp(b + 1, "NUMPY", 5) == 0) return "a NumPy .npy array";
  return "";
}

inline std::uint64_t load_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace detail

class LoadedTensors;
inline LoadedTensors load_safetensors(const std::string& path);

/// Reads a safetensors file. The constructor reads and validates the header only
/// (dtypes, shapes, offsets inside the data section, no overlaps); read() and
/// tensor() then seek to and read one tensor at a time, so the file is never held
/// in memory whole. It is a tensor source for Module::load_state_dict.
/// Every problem throws: IoError (cannot open), FormatError (malformed),
/// DTypeError (unsupported dtype), StateDictError (no such tensor).
class SafetensorsReader {
 public:
  /// Opens `path` and validates its header.
  explicit SafetensorsReader(const std::string& path) : path_(path) {
    std::ifstream in;
    const std::uint64_t size = detail::open_for_reading("safetensors", path, in);
    parse(size, [&](std::uint64_t off, void* dst, std::uint64_t n) { return detail::read_at(in, off, dst, n); });
  }

  /// A reader over an in-memory file (for fuzzers and tests); reads are served
  /// from `bytes`, which the reader keeps. Messages name the file "<memory>".
  static SafetensorsReader from_bytes(std::vector<std::uint8_t> bytes) {
    SafetensorsReader r;
    r.path_ = "<memory>";
    r.memory_ = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
    const std::vector<std::uint8_t>& m = *r.memory_;
    r.parse(m.size(), [&m](std::uint64_t off, void* dst, std::uint64_t n) -> std::uint64_t {
      if (off >= m.size()) return 0;
      n = std::min<std::uint64_t>(n, m.size() - off);
      if (n > 0) std::memcpy(dst, m.data() + off, static_cast<std::size_t>(n));
      return n;
    });
    return r;
  }

  /// The file's path ("<memory>" for from_bytes).
  const std::string& path() const { return path_; }
  /// Number of tensors.
  std::size_t size() const { return entries_.size(); }
  /// Name, dtype and shape of every tensor, in header order.
  std::vector<TensorInfo> infos() const {
    std::vector<TensorInfo> v;
    v.reserve(entries_.size());
    for (const Entry& e : entries_) v.push_back(e.info);
    return v;
  }
  /// The "__metadata__" object (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// Whether a tensor called `name` exists.
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// Name, dtype and shape of the tensor `name`; StateDictError when absent.
  const TensorInfo& info(const std::string& name) const { return entry(name).info; }

  /// Reads tensor `name` into `dst`, converting its elements (F16/BF16/F32/F64 to
  /// F32/F64, integers to I64/I32). `dst` must have as many elements as the tensor
  /// (StateDictError otherwise); a pair that does not convert is a DTypeError.
  void read(const std::string& name, const TensorRef& dst) const {
    const Entry& e = entry(name);
    const index_t n = shape_numel(e.info.shape);
    if (n != dst.numel())
      throw StateDictError(where() + quote(name) + " has " + std::to_string(n) + " elements, expected " +
                           std::to_string(dst.numel()));
    const DType from = e.info.dtype;
    if (!dtype_convertible(from, dst.dtype))
      throw DTypeError(where() + quote(name) + " holds " + dtype_name(from) + " elements, cannot load them as " +
                       dtype_name(dst.dtype));
    if (n == 0) return;
    std::ifstream in;
    if (!memory_) {
      errno = 0;
      in.open(path_, std::ios::binary);
      if (!in) throw IoError("safetensors: cannot open '" + path_ + "'" + detail::errno_suffix());
    }
    if (from == dst.dtype) {
      fetch(in, name, e.begin, dst.data, e.end - e.begin);
      return;
    }
    const std::size_t ss = dtype_size(from), ds = dtype_size(dst.dtype);
    const index_t chunk = std::min<index_t>(n, index_t{1} << 16);
    std::vector<unsigned char> buf(static_cast<std::size_t>(chunk) * ss);
    for (index_t i = 0; i < n; i += chunk) {
      const index_t k = std::min(chunk, n - i);
      fetch(in, name, e.begin + static_cast<std::uint64_t>(i) * ss, buf.data(), static_cast<std::uint64_t>(k) * ss);
      convert_elements(buf.data(), from, static_cast<unsigned char*>(dst.data) + static_cast<std::size_t>(i) * ds,
                       dst.dtype, k);
    }
  }

  /// Tensor `name` as a Tensor<T, R>, converting its elements to T. ShapeError
  /// when the stored tensor's rank is not R.
  template <class T, int R>
  Tensor<T, R> tensor(const std::string& name) const {
    const TensorInfo& i = info(name);
    if (i.shape.size() != static_cast<std::size_t>(R))
      throw ShapeError(where() + quote(name) + " is a " + std::to_string(i.shape.size()) + "-D tensor " +
                       format_shape(i.shape) + ", expected a " + std::to_string(R) + "-D tensor");
    Shape<R> s{};
    std::copy(i.shape.begin(), i.shape.end(), s.begin());
    Tensor<T, R> t = Tensor<T, R>::empty(s);
    read(name, TensorRef{dtype_of<T>(), static_cast<void*>(t.data()), i.shape});
    return t;
  }

 private:
  struct Entry {
    TensorInfo info;
    std::uint64_t begin = 0, end = 0;  // relative to the data section
  };
  using json = nlohmann::ordered_json;

  SafetensorsReader() = default;

  std::string where() const { return "safetensors: '" + path_ + "': "; }

  const Entry& entry(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) throw StateDictError(where() + "no tensor named " + quote(name));
    return entries_[it->second];
  }

  /// Reads `n` bytes at data-section offset `off`; FormatError when fewer arrive.
  void fetch(std::ifstream& in, const std::string& name, std::uint64_t off, void* dst, std::uint64_t n) const {
    std::uint64_t got = 0;
    const std::uint64_t pos = data_start_ + off;
    if (memory_) {
      const std::vector<std::uint8_t>& m = *memory_;
      got = pos >= m.size() ? 0 : std::min<std::uint64_t>(n, m.size() - pos);
      if (got > 0) std::memcpy(dst, m.data() + pos, static_cast<std::size_t>(got));
    } else {
      got = detail::read_at(in, pos, dst, n);
    }
    if (got != n)
      throw FormatError(where() + "file is truncated: read " + std::to_string(got) + " of " + std::to_string(n) +
                        " bytes of " + quote(name) + " at offset " + std::to_string(pos));
  }

  template <class ReadAt>
  void parse(std::uint64_t size, ReadAt&& read_at) {
    if (size < 8)
      throw FormatError(where() +
                        (size == 0 ? std::string("file is empty") : "file is " + std::to_string(size) + " bytes") +
                        ", too short for the 8-byte header length");
    unsigned char len[8];
    if (read_at(0, len, 8) != 8) throw FormatError(where() + "file is truncated: cannot read the header length");
    const std::uint64_t n = detail::load_u64_le(len);
    // Another format's magic bytes read as a length that no file could hold.
    const std::string foreign = n > kMaxHeaderBytes || 8 + n > size ? detail::foreign_format(len) : "";
    if (!foreign.empty()) {
      const bool torch = foreign.find("torch") != std::string::npos;
      throw FormatError(where() + "this is " + foreign + ", not a safetensors file" +
                        (torch ? "; convert it with r2plus1d's tools/convert_checkpoint.py (python3 "
                                 "tools/convert_checkpoint.py model.pth model.safetensors)"
                               : ""));
    }
    if (n > kMaxHeaderBytes)
      throw FormatError(where() + "header length " + std::to_string(n) + " exceeds the limit of " +
                        std::to_string(kMaxHeaderBytes) + " bytes");
    if (8 + n > size)
      throw FormatError(where() + "header length " + std::to_string(n) + " exceeds file size " + std::to_string(size));
    std::string text(static_cast<std::size_t>(n), '\0');
    if (read_at(8, text.data(), n) != n) throw FormatError(where() + "file is truncated: cannot read the header");
    data_start_ = 8 + n;
    parse_header(text, size - data_start_);
  }

  void parse_header(const std::string& text, std::uint64_t data_size) {
    std::size_t deep_at = 0;
    if (detail::json_depth(text, kMaxHeaderDepth, deep_at) > kMaxHeaderDepth)
      throw FormatError(where() + "header nests arrays and objects deeper than " + std::to_string(kMaxHeaderDepth) +
                        " levels (at byte " + std::to_string(deep_at) + " of the header); a valid header needs 3");
    std::set<std::string> seen;
    std::string duplicate;
    json h;
    try {
      h = json::parse(text, [&](int depth, json::parse_event_t ev, json& parsed) {
        if (ev == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second)
          duplicate = parsed.get<std::string>();
        return true;
      });
    } catch (const json::exception& e) {
      std::string what = e.what();
      const std::size_t p = what.find("] ");
      throw FormatError(where() + "header is not valid JSON: " + (p == std::string::npos ? what : what.substr(p + 2)));
    }
    if (!h.is_object()) throw FormatError(where() + "expected the header to be a JSON object, got " + h.type_name());
    if (!duplicate.empty()) throw FormatError(where() + "header names " + quote(duplicate) + " more than once");
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (it.key() == "__metadata__") {
        parse_metadata(it.value());
      } else {
        index_[it.key()] = entries_.size();
        entries_.push_back(parse_entry(it.key(), it.value(), data_size));
      }
    }
    check_overlaps();
  }

  void parse_metadata(const json& m) {
    if (!m.is_object())
      throw FormatError(where() + "\"__metadata__\" must be an object of strings, got " + m.type_name());
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it.value().is_string())
        throw FormatError(where() + "\"__metadata__\" value of " + quote(it.key()) + " must be a string, got " +
                          it.value().type_name());
      metadata_[it.key()] = it.value().get<std::string>();
    }
  }

  Entry parse_entry(const std::string& name, const json& v, std::uint64_t data_size) const {
    const std::string at = where() + quote(name) + ": ";
    if (!v.is_object())
      throw FormatError(at + "expected an object with dtype, shape and data_offsets, got " + v.type_name());
    auto field = [&](const char* f) -> const json& {
      const auto it = v.find(f);
      if (it == v.end()) throw FormatError(at + "missing \"" + f + "\"");
      return *it;
    };
    Entry e;
    e.info.name = name;
    const json& dt = field("dtype");
    if (!dt.is_string()) throw FormatError(at + "\"dtype\" must be a string, got " + detail::json_excerpt(dt));
    if (!detail::parse_dtype_name(dt.get<std::string>(), e.info.dtype))
      throw DTypeError(at + "unsupported dtype " + detail::json_excerpt(dt) +
                       ", expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
    const json& sh = field("shape");
    const std::string bad_shape = at + "\"shape\" must be an array of non-negative integers, got ";
    if (!sh.is_array()) throw FormatError(bad_shape + detail::json_excerpt(sh));
    // Bound the element count so that numel * 8 cannot overflow index_t.
    const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()) / 8;
    std::uint64_t numel = 1;
    bool zero = false;
    for (const json& d : sh) {
      if (!d.is_number_unsigned()) throw FormatError(bad_shape + detail::json_excerpt(sh));
      const std::uint64_t s = d.get<std::uint64_t>();
      if (s == 0) {
        zero = true;
      } else if (s > limit || numel > limit / s) {
        throw FormatError(at + "shape " + detail::json_excerpt(sh) + " has too many elements");
      } else {
        numel *= s;
      }
      e.info.shape.push_back(static_cast<index_t>(s));
    }
    if (zero) numel = 0;
    const json& off = field("data_offsets");
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw FormatError(at + "\"data_offsets\" must be [begin, end] with non-negative integers, got " +
                        detail::json_excerpt(off));
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    const std::string offs = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.end < e.begin) throw FormatError(at + offs + " end before begin");
    if (e.end > data_size)
      throw FormatError(at + offs + " run past the end of the " + std::to_string(data_size) + "-byte data section");
    const std::uint64_t want = numel * dtype_size(e.info.dtype);
    if (e.end - e.begin != want)
      throw FormatError(at + offs + " hold " + std::to_string(e.end - e.begin) + " bytes, expected " +
                        std::to_string(want) + " for " + dtype_name(e.info.dtype) + " shape " +
                        format_shape(e.info.shape));
    return e;
  }

  void check_overlaps() const {
    std::vector<const Entry*> order;
    for (const Entry& e : entries_)
      if (e.end > e.begin) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < order.size(); ++i) {
      const Entry& a = *order[i - 1];
      const Entry& b = *order[i];
      if (b.begin < a.end)
        throw FormatError(where() + quote(a.info.name) + " and " + quote(b.info.name) + " overlap (data_offsets [" +
                          std::to_string(a.begin) + ", " + std::to_string(a.end) + "] and [" + std::to_string(b.begin) +
                          ", " + std::to_string(b.end) + "])");
    }
  }

  std::string path_;
  std::shared_ptr<const std::vector<std::uint8_t>> memory_;  // set by from_bytes
  std::uint64_t data_start_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Writes `tensors` to `path` in safetensors layout, in the state dict's order,
/// with `metadata` as "__metadata__" (omitted when empty); the same bytes as
/// tools/convert_checkpoint.py's save_safetensors for the same input. Writes
/// `path + ".tmp"` and renames it over `path`. IoError when writing fails,
/// StateDictError for a repeated or reserved ("__metadata__") name.
inline void save_safetensors(const std::string& path, const StateDict& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  using json = nlohmann::ordered_json;
  const std::string where = "save_safetensors: '" + path + "': ";
  json h = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& kv : metadata) m[kv.first] = kv.second;
    h["__metadata__"] = std::move(m);
  }
  std::uint64_t offset = 0;
  for (const NamedTensor& e : tensors) {
    if (e.name == "__metadata__") throw StateDictError(where + "'__metadata__' is reserved and cannot name a tensor");
    if (h.contains(e.name)) throw StateDictError(where + "the state dict names " + quote(e.name) + " more than once");
    for (index_t s : e.ref.shape)
      if (s < 0) throw ShapeError(where + quote(e.name) + " has negative size in shape " + format_shape(e.ref.shape));
    const std::uint64_t nb = e.ref.nbytes();
    json entry = json::object();
    entry["dtype"] = dtype_name(e.ref.dtype);
    entry["shape"] = e.ref.shape;
    entry["data_offsets"] = json::array({offset, offset + nb});
    h[e.name] = std::move(entry);
    offset += nb;
  }
  std::string text = h.dump(-1, ' ', true);
  text.append((8 - text.size() % 8) % 8, ' ');
  detail::write_file_atomic("save_safetensors", path, [&](std::ofstream& out) {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const NamedTensor& e : tensors)
      if (e.ref.nbytes() > 0)
        out.write(static_cast<const char*>(e.ref.data), static_cast<std::streamsize>(e.ref.nbytes()));
  });
}

/// Every tensor of a safetensors file, held in memory (64-byte aligned buffers,
/// stored dtypes kept) and exposed as a StateDict. It is a tensor source for
/// Module::load_state_dict. Movable, not copyable.
class LoadedTensors {
 public:
  /// The tensors, in file order.
  const StateDict& state_dict() const { return dict_; }
  /// The "__metadata__" object (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// Number of tensors.
  std::size_t size() const { return dict_.size(); }
  /// Whether a tensor called `name` exists.
  bool contains(const std::string& name) const { return dict_.contains(name); }
  /// The tensor `name`; StateDictError when absent.
  const TensorRef& at(const std::string& name) const { return dict_.at(name); }
  /// Tensor-source interface: name, dtype and shape of every tensor.
  std::vector<TensorInfo> infos() const { return dict_.infos(); }
  /// Tensor-source interface: copies `name` into `dst`, converting elements.
  void read(const std::string& name, const TensorRef& dst) const { dict_.read(name, dst); }

 private:
  friend LoadedTensors load_safetensors(const std::string& path);
  std::vector<std::unique_ptr<unsigned char, r2plus1d::detail::AlignedFree>> buffers_;
  StateDict dict_;
  std::map<std::string, std::string> metadata_;
};

/// Reads the whole safetensors file `path` into memory; see SafetensorsReader for the checks.
inline LoadedTensors load_safetensors(const std::string& path) {
  const SafetensorsReader reader(path);
  LoadedTensors out;
  out.metadata_ = reader.metadata();
  for (const TensorInfo& i : reader.infos()) {
    TensorRef ref{i.dtype, nullptr, i.shape};
    out.buffers_.emplace_back(static_cast<unsigned char*>(r2plus1d::detail::aligned_alloc_bytes(ref.nbytes())));
    ref.data = out.buffers_.back().get();
    reader.read(i.name, ref);
    out.dict_.add(i.name, std::move(ref));
  }
  return out;
}

}  // namespace r2plus1d::io

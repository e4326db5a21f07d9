#pragma once
/// \file
/// Element types as safetensors names them, half-precision conversions, and
/// TensorRef: a dynamic-rank, type-erased reference to a module's tensor, the
/// element type of state dicts.

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d {

/// Element types of stored tensors, with safetensors' names.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

/// Size of one element in bytes.
inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
      return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return 1;
  }
  return 0;
}

/// safetensors' name of the type: "F32", "BF16", "I64", ...
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

/// The DType of a C++ element type.
template <class T>
constexpr DType dtype_of() {
  using U = std::remove_const_t<T>;
  static_assert(std::is_same_v<U, float> || std::is_same_v<U, double> || std::is_same_v<U, std::int64_t> ||
                    std::is_same_v<U, std::int32_t>,
                "dtype_of: unsupported element type");
  if constexpr (std::is_same_v<U, float>) return DType::F32;
  else if constexpr (std::is_same_v<U, double>) return DType::F64;
  else if constexpr (std::is_same_v<U, std::int64_t>) return DType::I64;
  else return DType::I32;
}

/// IEEE binary16 bits to float (exact).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// float to IEEE binary16 bits, rounding to nearest even (as torch's .half()).
inline std::uint16_t float_to_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
  if (ax >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (ax < 0x38800000u) {                                                   // subnormal or zero
    if (ax < 0x33000000u) return sign;
    const std::uint32_t e = ax >> 23;
    const std::uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // 14..24 (so that the result is m >> (shift))
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t r = ((ax >> 13) - ((127 - 15) << 10));
  const std::uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}

/// bfloat16 bits to float (exact).
inline float bf16_to_float(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// float to bfloat16 bits, rounding to nearest even; NaN stays NaN.
inline std::uint16_t float_to_bf16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  const std::uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<std::uint16_t>(x >> 16);
}

/// A non-owning, dynamic-rank, type-erased reference to a contiguous tensor:
/// what state dicts hold, so that weights of any rank and type share one list.
struct TensorRef {
  DType dtype = DType::F32;    ///< The element type.
  void* data = nullptr;        ///< The first element, row-major.
  std::vector<index_t> shape;  ///< The sizes, outermost first.

  /// The number of elements, the product of the sizes.
  index_t numel() const { return shape_numel(shape); }
  /// The size of the data in bytes.
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  /// The data as `T*`; throws DTypeError when `T` is not the referenced type.
  template <class T>
  T* data_as() const {
    if (dtype_of<T>() != dtype)
      throw DTypeError(std::string("tensor holds ") + dtype_name(dtype) + ", requested " + dtype_name(dtype_of<T>()));
    return static_cast<T*>(data);
  }
};

}  // namespace r2plus1d

namespace r2plus1d {

namespace detail {
template <class T>
T load_unaligned(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline double load_as_double(const unsigned char* p, DType t) {
  switch (t) {
    case DType::F64: return load_unaligned<double>(p);
    case DType::F32: return static_cast<double>(load_unaligned<float>(p));
    case DType::F16: return static_cast<double>(half_to_float(load_unaligned<std::uint16_t>(p)));
    case DType::BF16: return static_cast<double>(bf16_to_float(load_unaligned<std::uint16_t>(p)));
    case DType::I64: return static_cast<double>(load_unaligned<std::int64_t>(p));
    case DType::I32: return static_cast<double>(load_unaligned<std::int32_t>(p));
    case DType::I16: return static_cast<double>(load_unaligned<std::int16_t>(p));
    case DType::I8: return static_cast<double>(load_unaligned<std::int8_t>(p));
    case DType::U8: return static_cast<double>(load_unaligned<std::uint8_t>(p));
    case DType::BOOL: return *p != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

inline bool is_floating(DType t) { return t == DType::F64 || t == DType::F32 || t == DType::F16 || t == DType::BF16; }
inline bool is_integral(DType t) { return t == DType::I64 || t == DType::I32 || t == DType::I16 || t == DType::I8 || t == DType::U8; }
}  // namespace detail

/// Whether elements of type `from` may be loaded into a tensor of type `to`:
/// any floating type into F32/F64 (F16/BF16/F32 -> F64 is exact), and any
/// integer type into I64/I32 (as torch accepts an I64 num_batches_tracked).
inline bool dtype_convertible(DType from, DType to) {
  if (to == DType::F32 || to == DType::F64) return detail::is_floating(from);
  if (to == DType::I64 || to == DType::I32) return detail::is_integral(from);
  return from == to;
}

/// Converts `n` elements from `src` (type `from`, any alignment) into `dst`
/// (type `to`, any alignment). Throws DTypeError when the pair is not convertible.
inline void convert_elements(const void* src, DType from, void* dst, DType to, index_t n) {
  if (!dtype_convertible(from, to))
    throw DTypeError(std::string("cannot convert ") + dtype_name(from) + " elements to " + dtype_name(to));
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  const std::size_t n_bytes = static_cast<std::size_t>(n) * dtype_size(from);
  if (from == to) {
    if (n_bytes > 0) std::memcpy(d, s, n_bytes);
    return;
  }
  const std::size_t ss = dtype_size(from), ds = dtype_size(to);
  for (index_t i = 0; i < n; ++i, s += ss, d += ds) {
    if (to == DType::F32) {
      float v = (from == DType::F64) ? static_cast<float>(detail::load_unaligned<double>(s))
                                     : static_cast<float>(detail::load_as_double(s, from));
      std::memcpy(d, &v, sizeof v);
    } else if (to == DType::F64) {
      double v = detail::load_as_double(s, from);
      std::memcpy(d, &v, sizeof v);
    } else if (to == DType::I64) {
      std::int64_t v = (from == DType::I64) ? detail::load_unaligned<std::int64_t>(s)
                                            : static_cast<std::int64_t>(detail::load_as_double(s, from));
      std::memcpy(d, &v, sizeof v);
    } else {
      std::int32_t v = static_cast<std::int32_t>(detail::load_as_double(s, from));
      std::memcpy(d, &v, sizeof v);
    }
  }
}

}  // namespace r2plus1d

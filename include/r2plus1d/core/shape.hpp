#pragma once
/// \file
/// Index type, fixed-rank shapes, PyTorch-style int-or-triple arguments and
/// shape formatting for error messages ("[1, 3, 16, 112, 112]").

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"

namespace r2plus1d {

/// Signed index type used for every size and offset, as torch's int64_t.
using index_t = std::int64_t;

/// The sizes of a rank-`Rank` tensor, outermost first.
template <int Rank>
using Shape = std::array<index_t, static_cast<std::size_t>(Rank)>;

/// A (depth, height, width) triple, built from one int or three, as torch's _triple.
struct Triple {
  ///@{
  /// Depth (time), height and width.
  index_t d = 0, h = 0, w = 0;
  ///@}
  /// (0, 0, 0).
  constexpr Triple() = default;
  /// (v, v, v).
  constexpr Triple(index_t v) : d(v), h(v), w(v) {}  // NOLINT: implicit like torch's int-or-tuple
  /// (d_, h_, w_).
  constexpr Triple(index_t d_, index_t h_, index_t w_) : d(d_), h(h_), w(w_) {}
  /// `{v}` or `{d, h, w}`; throws OptionError for another count of values.
  Triple(std::initializer_list<index_t> l) {
    if (l.size() == 1) {
      d = h = w = *l.begin();
    } else if (l.size() == 3) {
      auto it = l.begin();
      d = it[0];
      h = it[1];
      w = it[2];
    } else {
      throw OptionError("expected 1 or 3 values for a size triple, got " + std::to_string(l.size()));
    }
  }
  /// d, h or w for i = 0, 1 or 2 (w for any other i).
  constexpr index_t operator[](int i) const { return i == 0 ? d : (i == 1 ? h : w); }
  /// d * h * w, e.g. the taps of a kernel.
  constexpr index_t product() const { return d * h * w; }
  ///@{
  /// Equal when d, h and w all are.
  constexpr bool operator==(const Triple& o) const { return d == o.d && h == o.h && w == o.w; }
  constexpr bool operator!=(const Triple& o) const { return !(*this == o); }
  ///@}
};

namespace detail {
template <class It>
std::string join_sizes(It first, It last) {
  std::string s = "[";
  for (It it = first; it != last; ++it) {
    if (it != first) s += ", ";
    s += std::to_string(*it);
  }
  return s + "]";
}
}  // namespace detail

/// "[1, 3, 16, 112, 112]".
template <int Rank>
std::string format_shape(const Shape<Rank>& s) {
  return detail::join_sizes(s.begin(), s.end());
}
/// "[1, 3, 16, 112, 112]" for a dynamic-rank shape.
inline std::string format_shape(const std::vector<index_t>& s) { return detail::join_sizes(s.begin(), s.end()); }
/// "(1, 7, 7)".
inline std::string format_triple(const Triple& t) {
  return "(" + std::to_string(t.d) + ", " + std::to_string(t.h) + ", " + std::to_string(t.w) + ")";
}

/// Product of the sizes.
template <class Container>
index_t shape_numel(const Container& s) {
  index_t n = 1;
  for (index_t v : s) n *= v;
  return n;
}

}  // namespace r2plus1d

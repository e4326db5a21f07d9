#pragma once
// Lists of positive integers on the command-line tools' options: --layers,
// the blocks per residual layer of the seed's R2Plus1DNet (2,2,2,2), and
// --resize, a frame's height and width (128,171).

#include <r2plus1d/r2plus1d.hpp>

#include <array>
#include <exception>
#include <sstream>
#include <string>

namespace cli {

/// "a,b,..." of exactly N positive integers; OptionError naming `flag` and
/// `example` for anything else.
template <std::size_t N>
std::array<r2plus1d::index_t, N> parse_positive_list(const std::string& s, const std::string& flag,
                                                     const std::string& example) {
  const auto fail = [&] {
    return r2plus1d::OptionError(flag + ": expected " + std::to_string(N) + " positive integers like " + example +
                                 ", got '" + s + "'");
  };
  std::array<r2plus1d::index_t, N> out{};
  std::stringstream ss(s);
  std::string item;
  std::size_t n = 0;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (n >= N || used != item.size() || item.empty() || v < 1) throw fail();
    out[n++] = v;
  }
  if (n != N) throw fail();
  return out;
}

/// "2,2,2,2" -> {2, 2, 2, 2}.
inline std::array<r2plus1d::index_t, 4> parse_layers(const std::string& s) {
  return parse_positive_list<4>(s, "--layers", "2,2,2,2");
}

}  // namespace cli

#pragma once
// --layers of the command-line tools: the blocks per residual layer of the
// seed's R2Plus1DNet, four positive integers like 2,2,2,2.

#include <r2plus1d/r2plus1d.hpp>

#include <array>
#include <exception>
#include <sstream>
#include <string>

namespace cli {

/// "2,2,2,2" -> {2, 2, 2, 2}; OptionError for anything but four positive integers.
inline std::array<r2plus1d::index_t, 4> parse_layers(const std::string& s) {
  std::array<r2plus1d::index_t, 4> out{};
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
    if (n >= 4 || used != item.size() || item.empty() || v < 1)
      throw r2plus1d::OptionError("--layers: expected four positive integers like 2,2,2,2, got '" + s + "'");
    out[n++] = v;
  }
  if (n != 4) throw r2plus1d::OptionError("--layers: expected four positive integers like 2,2,2,2, got '" + s + "'");
  return out;
}

}  // namespace cli

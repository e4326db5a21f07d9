#pragma once
/// \file
/// match_architecture: which of the library's networks a set of weights was
/// saved from, told by its keys and a few shapes, so that a failed load can
/// say which network the weights would load into.

#include <array>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/state_dict.hpp"

namespace r2plus1d {

/// A network of the library, named as r2plus1d-extract's --arch names it.
struct Architecture {
  std::string arch;                  ///< "seed", "r2plus1d_18", "r2plus1d_34", "r3d_18" or "mc3_18"
  std::array<index_t, 4> layers{};   ///< blocks per residual layer (2, 2, 2, 2 for the *_18; 3, 4, 6, 3 for r2plus1d_34)
  bool classifier = false;           ///< seed: R2Plus1DClassifier keys ("res2plus1d.*", "linear.*")
};

namespace detail {

/// Blocks of each of four layers, from keys "<layer><L><sep><K>." (K counted
/// once, L from 1 to 4 after `first`); a layer without a block gives 0.
inline std::array<index_t, 4> count_blocks(const std::vector<TensorInfo>& infos, const std::string& layer, int first,
                                           const std::string& sep, index_t extra) {
  std::array<std::set<std::string>, 4> seen;
  for (const TensorInfo& i : infos)
    for (int l = 0; l < 4; ++l) {
      const std::string p = layer + std::to_string(first + l) + sep;
      if (i.name.compare(0, p.size(), p) != 0) continue;
      const std::size_t dot = i.name.find('.', p.size());
      if (dot != std::string::npos && dot > p.size())
        seen[static_cast<std::size_t>(l)].insert(i.name.substr(p.size(), dot - p.size()));
    }
  std::array<index_t, 4> n{};
  for (std::size_t l = 0; l < 4; ++l) n[l] = static_cast<index_t>(seen[l].size()) + (seen[l].empty() ? 0 : extra);
  return n;
}

}  // namespace detail

/// The network whose state_dict keys `source` (a StateDict,
/// io::SafetensorsReader or any tensor source) holds: R2Plus1DNet or
/// R2Plus1DClassifier ("seed", with its layer sizes) when it has
/// "conv1.spatial_conv.weight" (under "res2plus1d." for a classifier);
/// torchvision's r2plus1d_18, r3d_18 or mc3_18 when it has "stem.0.weight" and
/// two blocks per layer (told apart by the stem's and layer2's kernel shapes);
/// r2plus1d_34 for the (2+1)D stem and blocks (3, 4, 6, 3).
/// std::nullopt for anything else. It reads names and shapes only, and is a
/// hint for messages, not a check: the load itself still checks every key.
template <class Source>
std::optional<Architecture> match_architecture(const Source& source) {
  const std::vector<TensorInfo> infos = source.infos();
  auto find = [&infos](const std::string& name) -> const TensorInfo* {
    for (const TensorInfo& i : infos)
      if (i.name == name) return &i;
    return nullptr;
  };
  Architecture a;
  for (const char* prefix : {"", "res2plus1d."}) {
    const std::string p = prefix;
    if (find(p + "conv1.spatial_conv.weight") == nullptr) continue;
    std::vector<TensorInfo> inner;
    for (const TensorInfo& i : infos)
      if (i.name.compare(0, p.size(), p) == 0) inner.push_back({i.name.substr(p.size()), i.dtype, i.shape});
    a.arch = "seed";
    a.classifier = !p.empty();
    // Layer L's first block is "convL.block1.", the others "convL.blocks.K.".
    a.layers = detail::count_blocks(inner, "conv", 2, ".blocks.", 1);
    for (std::size_t l = 0; l < 4; ++l)
      if (a.layers[l] == 0 && find(p + "conv" + std::to_string(l + 2) + ".block1.conv1.spatial_conv.weight") != nullptr)
        a.layers[l] = 1;
    for (index_t n : a.layers)
      if (n == 0) return std::nullopt;
    return a;
  }
  const TensorInfo* stem = find("stem.0.weight");
  if (stem == nullptr || stem->shape.size() != 5) return std::nullopt;
  a.layers = detail::count_blocks(infos, "layer", 1, ".", 0);
  const bool r2plus1d_stem = stem->shape[2] == 1 && find("stem.3.weight") != nullptr;
  if (r2plus1d_stem && a.layers == std::array<index_t, 4>{3, 4, 6, 3}) {
    a.arch = "r2plus1d_34";
    return a;
  }
  if (a.layers != std::array<index_t, 4>{2, 2, 2, 2}) return std::nullopt;
  if (r2plus1d_stem) {
    a.arch = "r2plus1d_18";
    return a;
  }
  const TensorInfo* l2 = find("layer2.0.conv1.0.weight");
  if (l2 == nullptr || l2->shape.size() != 5) return std::nullopt;
  a.arch = l2->shape[2] == 1 ? "mc3_18" : "r3d_18";
  return a;
}

}  // namespace r2plus1d

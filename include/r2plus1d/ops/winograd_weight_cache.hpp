#pragma once
/// \file
/// One convolution's Winograd-transformed weights, kept from one call to the
/// next. Each call of the banded (2+1)D path (conv2plus1d_banded.hpp)
/// otherwise transforms both convs' weights anew: about 2% of r2plus1d_18's
/// forward at batch 1, and more than F(4x4, 3x3) saves over F(2x2, 3x3) on
/// layer3's 14x14 frames, whose transformed weights are 17-21 MB per conv.
/// With a cache for its spatial conv the pair runs F(4x4, 3x3) from 14x14 on
/// (kWinogradCachedMinPositions).
///
/// The cache knows the weights by address, shape and transform, not by
/// value: whoever writes into the weights in place clears it (nn::Conv3d does
/// on train(), load_state_dict() and set_weight_cache()). Calls from several
/// threads at once may share one cache: each transform is handed out as a
/// shared pointer, so a transform replaced or cleared while a call still
/// reads it lives until that call ends.

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops {

/// One convolution's transformed weights, kept between calls (see the file
/// comment): at most one transform per tile size, each known by the address
/// and shape of the weights it came from.
template <class T>
class WinogradWeightCache {
 public:
  /// A kept transform, alive while any holder keeps it.
  using Transform = std::shared_ptr<const std::vector<T>>;

  WinogradWeightCache() = default;
  /// A copy starts empty: it belongs to another module, with other weights.
  WinogradWeightCache(const WinogradWeightCache&) {}
  /// Assigning a copy empties the cache, for the same reason.
  WinogradWeightCache& operator=(const WinogradWeightCache& other) {
    if (this != &other) clear();
    return *this;
  }
  /// A moved cache keeps the transforms (its module keeps its weights); the
  /// one moved from is left empty.
  WinogradWeightCache(WinogradWeightCache&& other) noexcept {
    std::lock_guard<std::mutex> lock(other.mutex_);
    entries_.swap(other.entries_);
  }
  /// As the move constructor; what this cache held is forgotten.
  WinogradWeightCache& operator=(WinogradWeightCache&& other) noexcept {
    if (this != &other) {
      std::scoped_lock lock(mutex_, other.mutex_);
      entries_.clear();
      entries_.swap(other.entries_);
    }
    return *this;
  }

  /// Forgets every kept transform (each freed once no call reads it).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.clear();
  }
  /// Whether nothing is kept.
  bool empty() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.empty();
  }
  /// Bytes kept.
  index_t bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t n = 0;
    for (const Entry& e : entries_) n += e.u->size();
    return static_cast<index_t>(n * sizeof(T));
  }

  /// The kept transform of the weights at w, of this shape, for output tiles
  /// of `tile` (the m of F(m, 3)), or null.
  Transform find(index_t tile, const T* w, const Shape<5>& shape) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_)
      if (e.tile == tile && e.w == w && e.shape == shape) return e.u;
    return nullptr;
  }
  /// Keeps `u` as the transform of the weights at w (shape, tile), in place
  /// of any other kept for that tile, and returns it.
  Transform keep(index_t tile, const T* w, const Shape<5>& shape, std::vector<T>&& u) {
    Transform t = std::make_shared<const std::vector<T>>(std::move(u));
    std::lock_guard<std::mutex> lock(mutex_);
    for (Entry& e : entries_)
      if (e.tile == tile) {
        e = Entry{tile, w, shape, t};
        return t;
      }
    entries_.push_back(Entry{tile, w, shape, t});
    return t;
  }

 private:
  struct Entry {
    index_t tile;
    const T* w;
    Shape<5> shape;
    Transform u;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace r2plus1d::ops

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
/// on train(), load_state_dict() and set_weight_cache()). Not for two threads
/// at once.

#include <utility>
#include <vector>

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops {

template <class T>
class WinogradWeightCache {
 public:
  WinogradWeightCache() = default;
  /// A copy starts empty: it belongs to another module, with other weights.
  WinogradWeightCache(const WinogradWeightCache&) {}
  WinogradWeightCache& operator=(const WinogradWeightCache& other) {
    if (this != &other) clear();
    return *this;
  }
  WinogradWeightCache(WinogradWeightCache&& other) noexcept { *this = std::move(other); }
  WinogradWeightCache& operator=(WinogradWeightCache&& other) noexcept {
    if (this != &other) {
      tile_ = std::exchange(other.tile_, 0);
      w_ = std::exchange(other.w_, nullptr);
      shape_ = other.shape_;
      u_ = std::move(other.u_);
      other.clear();
    }
    return *this;
  }

  /// Forgets the transformed weights and frees their memory.
  void clear() {
    tile_ = 0;
    w_ = nullptr;
    std::vector<T>().swap(u_);
  }
  /// Whether nothing is kept.
  bool empty() const { return tile_ == 0; }
  /// Bytes kept.
  index_t bytes() const { return static_cast<index_t>(u_.size() * sizeof(T)); }

  /// The kept transform of the weights at w, of this shape, for output tiles
  /// of `tile` (the m of F(m, 3)), or null if the cache holds no such thing.
  const T* find(index_t tile, const T* w, const Shape<5>& shape) const {
    return tile != 0 && tile_ == tile && w_ == w && shape_ == shape ? u_.data() : nullptr;
  }
  /// Room for `size` values of a new transform, from now on known as that
  /// of the weights at w (shape, tile); the caller fills it before any find.
  T* reset(index_t tile, const T* w, const Shape<5>& shape, index_t size) {
    clear();
    u_.resize(static_cast<std::size_t>(size));
    tile_ = tile;
    w_ = w;
    shape_ = shape;
    return u_.data();
  }

 private:
  index_t tile_ = 0;
  const T* w_ = nullptr;
  Shape<5> shape_{};
  std::vector<T> u_;
};

}  // namespace r2plus1d::ops

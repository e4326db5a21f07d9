#pragma once
/// \file
/// Tensor<T, Rank>: an owning, contiguous, row-major (C order, as PyTorch's
/// contiguous NCDHW) array with 64-byte aligned storage, and TensorView<T, Rank>:
/// a cheap non-owning view of the same layout. `T` of a view may be const.

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/storage.hpp"

namespace r2plus1d {

namespace detail {

template <int Rank>
index_t checked_numel(const Shape<Rank>& shape) {
  index_t n = 1;
  for (index_t v : shape) {
    if (v < 0) throw ShapeError("tensor: negative size in shape " + format_shape<Rank>(shape));
    n *= v;
  }
  return n;
}

template <int Rank>
Shape<Rank> contiguous_strides(const Shape<Rank>& shape) {
  Shape<Rank> st{};
  index_t s = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    st[static_cast<std::size_t>(i)] = s;
    s *= shape[static_cast<std::size_t>(i)];
  }
  return st;
}
}  // namespace detail

/// Non-owning view of a contiguous row-major rank-`Rank` array. `T` may be const.
/// Copying a view copies the pointer, never the data.
template <class T, int Rank>
class TensorView {
  static_assert(Rank >= 0, "TensorView: rank must be non-negative");

 public:
  using Scalar = std::remove_const_t<T>;
  static constexpr int rank = Rank;

  TensorView() = default;
  TensorView(T* data, const Shape<Rank>& shape) : data_(data), shape_(shape) {}
  /// A view of const elements from a view of mutable ones.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  TensorView(const TensorView<U, Rank>& other) : data_(other.data()), shape_(other.shape()) {}  // NOLINT

  T* data() const { return data_; }
  const Shape<Rank>& shape() const { return shape_; }
  index_t size(int dim) const { return shape_[static_cast<std::size_t>(dim)]; }
  index_t numel() const { return shape_numel(shape_); }
  Shape<Rank> strides() const { return detail::contiguous_strides<Rank>(shape_); }

  /// Element at the given indices (one per dimension); bounds are checked in debug builds only.
  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) == static_cast<std::size_t>(Rank), "TensorView: wrong number of indices");
    return data_[offset(static_cast<index_t>(idx)...)];
  }

  /// The sub-tensor at index `i` of the first dimension, one rank lower.
  TensorView<T, Rank - 1> operator[](index_t i) const {
    static_assert(Rank >= 1, "TensorView: cannot index a rank-0 view");
    Shape<Rank - 1> s{};
    std::copy(shape_.begin() + 1, shape_.end(), s.begin());
    return TensorView<T, Rank - 1>(data_ + i * shape_numel(s), s);
  }

  /// The same elements under another shape with the same number of elements.
  template <int NewRank>
  TensorView<T, NewRank> reshaped(const Shape<NewRank>& s) const {
    if (shape_numel(s) != numel())
      throw ShapeError("reshape: cannot view " + format_shape<Rank>(shape_) + " as " + format_shape<NewRank>(s));
    return TensorView<T, NewRank>(data_, s);
  }

 private:
  template <class... I>
  index_t offset(I... idx) const {
    const index_t ids[] = {idx..., 0};
    index_t off = 0;
    for (std::size_t d = 0; d < static_cast<std::size_t>(Rank); ++d) off = off * shape_[d] + ids[d];
    return off;
  }

  T* data_ = nullptr;
  Shape<Rank> shape_{};
};

/// Owning, contiguous, row-major rank-`Rank` tensor with 64-byte aligned storage.
/// Copies are deep; moves are cheap.
template <class T, int Rank>
class Tensor {
  static_assert(std::is_arithmetic_v<T>, "Tensor: element type must be arithmetic");
  static_assert(Rank >= 0, "Tensor: rank must be non-negative");

 public:
  using Scalar = T;
  static constexpr int rank = Rank;

  /// An empty tensor (every size 0 for Rank > 0, one element for Rank == 0).
  Tensor() : Tensor(Shape<Rank>{}) {}
  /// A zero-filled tensor of the given shape, as torch.zeros.
  explicit Tensor(const Shape<Rank>& shape) : Tensor(shape, T(0)) {}
  /// A tensor of the given shape with every element equal to `value`.
  Tensor(const Shape<Rank>& shape, T value) : Tensor(uninitialized(shape)) { fill(value); }

  /// A tensor of the given shape whose elements are left uninitialised (for kernels
  /// that overwrite every element).
  static Tensor empty(const Shape<Rank>& shape) { return uninitialized(shape); }
  static Tensor zeros(const Shape<Rank>& shape) { return Tensor(shape, T(0)); }
  static Tensor full(const Shape<Rank>& shape, T value) { return Tensor(shape, value); }
  /// A deep copy of a view's elements.
  static Tensor from(TensorView<const T, Rank> v) {
    Tensor t = uninitialized(v.shape());
    if (v.numel() > 0) std::memcpy(t.data(), v.data(), sizeof(T) * static_cast<std::size_t>(v.numel()));
    return t;
  }

  Tensor(const Tensor& o) : Tensor(from(o.view())) {}
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(const Tensor& o) {
    if (this != &o) *this = Tensor(o);
    return *this;
  }
  Tensor& operator=(Tensor&&) noexcept = default;
  ~Tensor() = default;

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  const Shape<Rank>& shape() const { return shape_; }
  index_t size(int dim) const { return shape_[static_cast<std::size_t>(dim)]; }
  index_t numel() const { return numel_; }
  Shape<Rank> strides() const { return detail::contiguous_strides<Rank>(shape_); }

  TensorView<T, Rank> view() { return TensorView<T, Rank>(data(), shape_); }
  TensorView<const T, Rank> view() const { return TensorView<const T, Rank>(data(), shape_); }
  TensorView<const T, Rank> cview() const { return view(); }
  operator TensorView<T, Rank>() { return view(); }              // NOLINT: implicit, as Eigen's Map
  operator TensorView<const T, Rank>() const { return view(); }  // NOLINT

  template <class... I>
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
  const T& operator()(I... idx) const {
    return view()(idx...);
  }
  TensorView<T, Rank - 1> operator[](index_t i) { return view()[i]; }
  TensorView<const T, Rank - 1> operator[](index_t i) const { return view()[i]; }

  void fill(T value) { std::fill(data(), data() + numel_, value); }

  /// The same elements under a new shape; the tensor keeps its storage (moved).
  template <int NewRank>
  Tensor<T, NewRank> reshape(const Shape<NewRank>& s) && {
    if (shape_numel(s) != numel_)
      throw ShapeError("reshape: cannot view " + format_shape<Rank>(shape_) + " as " + format_shape<NewRank>(s));
    Tensor<T, NewRank> out;
    out.adopt(std::move(data_), s);
    numel_ = 0;
    shape_ = Shape<Rank>{};
    return out;
  }

 private:
  template <class, int>
  friend class Tensor;

  static Tensor uninitialized(const Shape<Rank>& shape) {
    Tensor t(NoInit{});
    t.shape_ = shape;
    t.numel_ = detail::checked_numel<Rank>(shape);
    const detail::StorageBlock b =
        detail::StorageCache::instance().allocate(sizeof(T) * static_cast<std::size_t>(t.numel_));
    t.data_ = std::unique_ptr<T[], detail::StorageRelease>(static_cast<T*>(b.data), detail::StorageRelease{b.bytes});
    return t;
  }
  struct NoInit {};
  explicit Tensor(NoInit) {}

  void adopt(std::unique_ptr<T[], detail::StorageRelease>&& d, const Shape<Rank>& s) {
    data_ = std::move(d);
    shape_ = s;
    numel_ = shape_numel(s);
  }

  std::unique_ptr<T[], detail::StorageRelease> data_;
  Shape<Rank> shape_{};
  index_t numel_ = 0;
};

}  // namespace r2plus1d

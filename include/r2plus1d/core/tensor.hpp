#pragma once
/// \file
/// Tensor<T, Rank>: an owning, contiguous, row-major (C order, as PyTorch's
/// contiguous NCDHW) array with 64-byte aligned storage, and TensorView<T, Rank>:
/// a cheap non-owning view of the same layout. `T` of a view may be const.
///
/// Views are always contiguous (they carry no strides, so every kernel reads
/// them as they lie). The view operations of libtorch therefore come in two
/// kinds here:
/// - views, sharing the elements: `reshape` (-1 infers one size), `unsqueeze`,
///   `squeeze`, `operator[]`, and `narrow` / `slice` / `select` where the result
///   is contiguous: on the first dimension, or on a later one when every
///   dimension before it has size 1 (e.g. frames 0-15 of (T, H, W, 3), or
///   channel 0 of a (1, 3, T, H, W) clip). Elsewhere they throw ShapeError;
/// - copies, as torch's `.contiguous()` of the view: `narrow_copy`, `permute`
///   and `clone`, for any dimension.
/// Dimensions may be negative, counted from the end, as in torch.

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/storage.hpp"

namespace r2plus1d {

template <class T, int Rank>
class Tensor;

namespace detail {

/// `dim` in [-rank, rank) as a dimension in [0, rank), as torch's maybe_wrap_dim.
inline int wrap_dim(const char* op, int dim, int rank) {
  if (dim < -rank || dim >= rank)
    throw ShapeError(std::string(op) + ": dimension " + std::to_string(dim) + " is out of range for a " +
                     std::to_string(rank) + "-D tensor (expected [" + std::to_string(-rank) + ", " +
                     std::to_string(rank - 1) + "])");
  return dim < 0 ? dim + rank : dim;
}

/// `s` with one size given as -1 inferred from `numel`, as torch's reshape.
template <int Rank, int NewRank>
Shape<NewRank> infer_shape(const Shape<Rank>& from, Shape<NewRank> s) {
  const index_t numel = shape_numel(from);
  int infer = -1;
  index_t known = 1;
  for (int d = 0; d < NewRank; ++d) {
    const index_t v = s[static_cast<std::size_t>(d)];
    if (v == -1 && infer < 0) {
      infer = d;
    } else if (v < 0) {
      throw ShapeError("reshape: invalid shape " + format_shape<NewRank>(s) +
                       " (one size may be -1, no other negative)");
    } else {
      known *= v;
    }
  }
  if (infer >= 0 && known != 0 && numel % known == 0) s[static_cast<std::size_t>(infer)] = numel / known;
  if (infer >= 0 ? (known == 0 || numel % known != 0) : shape_numel(s) != numel)
    throw ShapeError("reshape: cannot view " + format_shape<Rank>(from) + " as " + format_shape<NewRank>(s));
  return s;
}

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
  /// The element type without const.
  using Scalar = std::remove_const_t<T>;
  /// The number of dimensions, Rank.
  static constexpr int rank = Rank;

  /// A view of nothing (null data, every size 0).
  TensorView() = default;
  /// A view of the `shape_numel(shape)` elements at `data`, which must outlive it.
  TensorView(T* data, const Shape<Rank>& shape) : data_(data), shape_(shape) {}
  /// A view of const elements from a view of mutable ones.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  TensorView(const TensorView<U, Rank>& other) : data_(other.data()), shape_(other.shape()) {}  // NOLINT

  ///@{
  /// The first element, the sizes, the size of dimension `dim` (in [0, Rank),
  /// unchecked), the number of elements, and the strides in elements (row-major).
  T* data() const { return data_; }
  const Shape<Rank>& shape() const { return shape_; }
  index_t size(int dim) const { return shape_[static_cast<std::size_t>(dim)]; }
  index_t numel() const { return shape_numel(shape_); }
  Shape<Rank> strides() const { return detail::contiguous_strides<Rank>(shape_); }
  ///@}

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

  /// The same elements under another shape with the same number of elements;
  /// one size may be -1 (inferred), as torch's reshape.
  template <int NewRank>
  TensorView<T, NewRank> reshape(const Shape<NewRank>& s) const {
    return TensorView<T, NewRank>(data_, detail::infer_shape<Rank, NewRank>(shape_, s));
  }
  /// reshape with the sizes as arguments: `v.reshape(1, 3, -1, 112, 112)`.
  template <class... I, class = std::enable_if_t<(sizeof...(I) > 0) && (std::is_integral_v<I> && ...)>>
  TensorView<T, static_cast<int>(sizeof...(I))> reshape(I... sizes) const {
    return reshape<static_cast<int>(sizeof...(I))>({static_cast<index_t>(sizes)...});
  }
  /// The same as reshape.
  template <int NewRank>
  TensorView<T, NewRank> reshaped(const Shape<NewRank>& s) const {
    return reshape<NewRank>(s);
  }

  /// A size-1 dimension inserted at `dim` (in [-Rank-1, Rank]), as torch's unsqueeze.
  TensorView<T, Rank + 1> unsqueeze(int dim) const {
    const int d = detail::wrap_dim("unsqueeze", dim, Rank + 1);
    Shape<Rank + 1> s{};
    for (int i = 0, j = 0; i < Rank + 1; ++i)
      s[static_cast<std::size_t>(i)] = i == d ? 1 : shape_[static_cast<std::size_t>(j++)];
    return TensorView<T, Rank + 1>(data_, s);
  }
  /// Dimension `dim`, which must have size 1, removed (torch's squeeze(dim) leaves
  /// other sizes as they are; here that is a ShapeError, since the rank is fixed).
  TensorView<T, Rank - 1> squeeze(int dim) const {
    static_assert(Rank >= 1, "TensorView: cannot squeeze a rank-0 view");
    const int d = detail::wrap_dim("squeeze", dim, Rank);
    if (shape_[static_cast<std::size_t>(d)] != 1)
      throw ShapeError("squeeze: dimension " + std::to_string(dim) + " of " + format_shape<Rank>(shape_) +
                       " has size " + std::to_string(shape_[static_cast<std::size_t>(d)]) + ", expected 1");
    Shape<Rank - 1> s{};
    for (int i = 0, j = 0; i < Rank; ++i)
      if (i != d) s[static_cast<std::size_t>(j++)] = shape_[static_cast<std::size_t>(i)];
    return TensorView<T, Rank - 1>(data_, s);
  }

  /// Elements [start, start + length) of dimension `dim`, sharing the elements,
  /// as torch's narrow. A view needs the result contiguous: `dim` is the first
  /// dimension, or every dimension before it has size 1; otherwise ShapeError
  /// (narrow_copy copies any dimension). A negative `start` counts from the end.
  TensorView<T, Rank> narrow(int dim, index_t start, index_t length) const {
    return narrow_as("narrow", dim, start, length);
  }
  /// Elements [start, end) of dimension `dim`, as torch's slice with step 1 (and
  /// Python's a[start:end]): negative bounds count from the end, bounds past the
  /// ends are clamped. A view under the same condition as narrow.
  TensorView<T, Rank> slice(int dim, index_t start, index_t end) const {
    const int d = detail::wrap_dim("slice", dim, Rank);
    const index_t n = shape_[static_cast<std::size_t>(d)];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<index_t>(start, 0, n);
    end = std::clamp<index_t>(end, start, n);
    return narrow_as("slice", d, start, end - start);
  }
  /// Index `index` of dimension `dim`, which is removed, as torch's select. A
  /// view under the same condition as narrow; a negative index counts from the end.
  TensorView<T, Rank - 1> select(int dim, index_t index) const {
    static_assert(Rank >= 1, "TensorView: cannot select from a rank-0 view");
    const int d = detail::wrap_dim("select", dim, Rank);
    const index_t n = shape_[static_cast<std::size_t>(d)];
    if (index < -n || index >= n)
      throw ShapeError("select: index " + std::to_string(index) + " is out of range for dimension " +
                       std::to_string(dim) + " of size " + std::to_string(n));
    return narrow_as("select", d, index < 0 ? index + n : index, 1).squeeze(d);
  }

  /// An owning copy of the elements, as torch's clone.
  Tensor<Scalar, Rank> clone() const;
  /// narrow for any dimension, as a contiguous copy (torch's narrow_copy).
  Tensor<Scalar, Rank> narrow_copy(int dim, index_t start, index_t length) const;
  /// The dimensions reordered (output dimension i is input dimension dims[i]),
  /// as torch's permute(dims).contiguous(): a copy, since views are contiguous.
  Tensor<Scalar, Rank> permute(const std::array<int, static_cast<std::size_t>(Rank)>& dims) const;

 private:
  template <class... I>
  index_t offset(I... idx) const {
    const index_t ids[] = {idx..., 0};
    index_t off = 0;
    for (std::size_t d = 0; d < static_cast<std::size_t>(Rank); ++d) off = off * shape_[d] + ids[d];
    return off;
  }

  TensorView<T, Rank> narrow_as(const char* op, int dim, index_t start, index_t length) const {
    const int d = narrow_bounds(op, dim, start, length);
    require_view(op, d, length);
    Shape<Rank> s = shape_;
    s[static_cast<std::size_t>(d)] = length;
    return TensorView<T, Rank>(data_ + start * inner(d), s);
  }
  // Elements per step of dimension d.
  index_t inner(int d) const {
    index_t n = 1;
    for (int i = d + 1; i < Rank; ++i) n *= shape_[static_cast<std::size_t>(i)];
    return n;
  }
  int narrow_bounds(const char* op, int dim, index_t& start, index_t length) const {
    const int d = detail::wrap_dim(op, dim, Rank);
    const index_t n = shape_[static_cast<std::size_t>(d)];
    if (start < 0 && start >= -n) start += n;
    if (start < 0 || start > n || length < 0 || start + length > n)
      throw ShapeError(std::string(op) + ": start " + std::to_string(start) + " and length " + std::to_string(length) +
                       " are out of range for dimension " + std::to_string(dim) + " of size " + std::to_string(n));
    return d;
  }
  void require_view(const char* op, int d, index_t length) const {
    bool outer_ones = true;
    for (int i = 0; i < d; ++i) outer_ones = outer_ones && shape_[static_cast<std::size_t>(i)] == 1;
    if (!outer_ones && length != shape_[static_cast<std::size_t>(d)] && numel() != 0)
      throw ShapeError(std::string(op) + ": a view of dimension " + std::to_string(d) + " of " +
                       format_shape<Rank>(shape_) +
                       " would not be contiguous (views are, so only the first dimension, or one after "
                       "dimensions of size 1, narrows as a view); use narrow_copy");
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
  /// The element type.
  using Scalar = T;
  /// The number of dimensions, Rank.
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
  /// A zero-filled tensor, as torch.zeros.
  static Tensor zeros(const Shape<Rank>& shape) { return Tensor(shape, T(0)); }
  /// A tensor with every element equal to `value`, as torch.full.
  static Tensor full(const Shape<Rank>& shape, T value) { return Tensor(shape, value); }
  /// A deep copy of a view's elements.
  static Tensor from(TensorView<const T, Rank> v) {
    Tensor t = uninitialized(v.shape());
    if (v.numel() > 0) std::memcpy(t.data(), v.data(), sizeof(T) * static_cast<std::size_t>(v.numel()));
    return t;
  }

  ///@{
  /// A copy is deep (new storage, the elements copied); a move takes over the
  /// storage and leaves the source empty.
  Tensor(const Tensor& o) : Tensor(from(o.view())) {}
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(const Tensor& o) {
    if (this != &o) *this = Tensor(o);
    return *this;
  }
  Tensor& operator=(Tensor&&) noexcept = default;
  ///@}
  ~Tensor() = default;

  ///@{
  /// The first element (64-byte aligned), the sizes, the size of dimension `dim`
  /// (in [0, Rank), unchecked), the number of elements, and the strides in
  /// elements (row-major).
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  const Shape<Rank>& shape() const { return shape_; }
  index_t size(int dim) const { return shape_[static_cast<std::size_t>(dim)]; }
  index_t numel() const { return numel_; }
  Shape<Rank> strides() const { return detail::contiguous_strides<Rank>(shape_); }
  ///@}

  ///@{
  /// A view of all the elements (const from a const tensor; cview() always),
  /// also by implicit conversion, as Eigen's Map. It dangles once the tensor is
  /// destroyed or assigned.
  TensorView<T, Rank> view() { return TensorView<T, Rank>(data(), shape_); }
  TensorView<const T, Rank> view() const { return TensorView<const T, Rank>(data(), shape_); }
  TensorView<const T, Rank> cview() const { return view(); }
  operator TensorView<T, Rank>() { return view(); }              // NOLINT: implicit, as Eigen's Map
  operator TensorView<const T, Rank>() const { return view(); }  // NOLINT
  ///@}

  ///@{
  /// Element at the given indices (one per dimension); bounds are checked in debug builds only.
  template <class... I>
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
  const T& operator()(I... idx) const {
    return view()(idx...);
  }
  ///@}
  ///@{
  /// A view of the sub-tensor at index `i` of the first dimension, one rank lower.
  TensorView<T, Rank - 1> operator[](index_t i) { return view()[i]; }
  TensorView<const T, Rank - 1> operator[](index_t i) const { return view()[i]; }
  ///@}

  /// Sets every element to `value`.
  void fill(T value) { std::fill(data(), data() + numel_, value); }

  ///@{
  /// On a tensor that is kept (an lvalue): a view of its elements under a new
  /// shape (one size may be -1), as torch's reshape of a contiguous tensor.
  template <int NewRank>
  TensorView<T, NewRank> reshape(const Shape<NewRank>& s) & {
    return view().template reshape<NewRank>(s);
  }
  template <int NewRank>
  TensorView<const T, NewRank> reshape(const Shape<NewRank>& s) const& {
    return view().template reshape<NewRank>(s);
  }
  ///@}
  /// On a temporary (an rvalue): a tensor of the new shape that takes over the storage.
  template <int NewRank>
  Tensor<T, NewRank> reshape(const Shape<NewRank>& s) && {
    const Shape<NewRank> ns = detail::infer_shape<Rank, NewRank>(shape_, s);
    Tensor<T, NewRank> out;
    out.adopt(std::move(data_), ns);
    numel_ = 0;
    shape_ = Shape<Rank>{};
    return out;
  }
  ///@{
  /// reshape with the sizes as arguments: `t.reshape(1, 3, -1, 112, 112)`; a
  /// view on a kept tensor, a tensor taking over the storage on a temporary.
  template <class... I, class = std::enable_if_t<(sizeof...(I) > 0) && (std::is_integral_v<I> && ...)>>
  TensorView<T, static_cast<int>(sizeof...(I))> reshape(I... sizes) & {
    return view().reshape(sizes...);
  }
  template <class... I, class = std::enable_if_t<(sizeof...(I) > 0) && (std::is_integral_v<I> && ...)>>
  TensorView<const T, static_cast<int>(sizeof...(I))> reshape(I... sizes) const& {
    return view().reshape(sizes...);
  }
  template <class... I, class = std::enable_if_t<(sizeof...(I) > 0) && (std::is_integral_v<I> && ...)>>
  Tensor<T, static_cast<int>(sizeof...(I))> reshape(I... sizes) && {
    return std::move(*this).template reshape<static_cast<int>(sizeof...(I))>({static_cast<index_t>(sizes)...});
  }
  ///@}

  ///@{
  /// The view operations of TensorView (see the file comment), on the tensor's
  /// elements: unsqueeze, squeeze, narrow, slice and select, each throwing
  /// ShapeError as the view's does. Only on a kept tensor, since a view of a
  /// temporary would dangle.
  TensorView<T, Rank + 1> unsqueeze(int dim) & { return view().unsqueeze(dim); }
  TensorView<const T, Rank + 1> unsqueeze(int dim) const& { return view().unsqueeze(dim); }
  ///@}
  /// On a temporary: a tensor with the size-1 dimension, taking over the storage.
  Tensor<T, Rank + 1> unsqueeze(int dim) && {
    const Shape<Rank + 1> s = view().unsqueeze(dim).shape();
    return std::move(*this).template reshape<Rank + 1>(s);
  }
  ///@{
  /// TensorView::squeeze, narrow, slice and select on a kept tensor's elements.
  TensorView<T, Rank - 1> squeeze(int dim) & { return view().squeeze(dim); }
  TensorView<const T, Rank - 1> squeeze(int dim) const& { return view().squeeze(dim); }
  TensorView<T, Rank> narrow(int dim, index_t start, index_t length) & { return view().narrow(dim, start, length); }
  TensorView<const T, Rank> narrow(int dim, index_t start, index_t length) const& {
    return view().narrow(dim, start, length);
  }
  TensorView<T, Rank> slice(int dim, index_t start, index_t end) & { return view().slice(dim, start, end); }
  TensorView<const T, Rank> slice(int dim, index_t start, index_t end) const& { return view().slice(dim, start, end); }
  TensorView<T, Rank - 1> select(int dim, index_t index) & { return view().select(dim, index); }
  TensorView<const T, Rank - 1> select(int dim, index_t index) const& { return view().select(dim, index); }
  ///@}
  // On temporaries a view would dangle: these are deleted (keep the tensor, or use narrow_copy).
  void unsqueeze(int) const&& = delete;
  void squeeze(int) && = delete;
  void narrow(int, index_t, index_t) && = delete;
  void slice(int, index_t, index_t) && = delete;
  void select(int, index_t) && = delete;
  ///@{
  /// The copying operations of TensorView: a deep copy, narrow of any
  /// dimension, and the dimensions reordered (see TensorView::permute).
  Tensor clone() const { return *this; }
  Tensor narrow_copy(int dim, index_t start, index_t length) const { return view().narrow_copy(dim, start, length); }
  Tensor permute(const std::array<int, static_cast<std::size_t>(Rank)>& dims) const { return view().permute(dims); }
  ///@}

 private:
  template <class, int>
  friend class Tensor;

  static Tensor uninitialized(const Shape<Rank>& shape) {
    Tensor t(NoInit{});
    t.shape_ = shape;
    t.numel_ = detail::checked_numel<Rank>(shape);
    const detail::StorageBlock b =
        detail::StorageCache::instance().allocate(sizeof(T) * static_cast<std::size_t>(t.numel_));
    t.data_ = std::unique_ptr<T[], detail::StorageRelease>(static_cast<T*>(b.data),
                                                           detail::StorageRelease{b.bytes, b.mapped});
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

template <class T, int Rank>
Tensor<typename TensorView<T, Rank>::Scalar, Rank> TensorView<T, Rank>::clone() const {
  return Tensor<Scalar, Rank>::from(*this);
}

template <class T, int Rank>
Tensor<typename TensorView<T, Rank>::Scalar, Rank> TensorView<T, Rank>::narrow_copy(int dim, index_t start,
                                                                                  index_t length) const {
  const int d = narrow_bounds("narrow_copy", dim, start, length);
  Shape<Rank> s = shape_;
  s[static_cast<std::size_t>(d)] = length;
  Tensor<Scalar, Rank> out = Tensor<Scalar, Rank>::empty(s);
  const index_t n = shape_[static_cast<std::size_t>(d)], in = inner(d), outer = numel() / std::max<index_t>(n * in, 1);
  const std::size_t run = sizeof(Scalar) * static_cast<std::size_t>(length * in);
  if (run > 0)
    for (index_t o = 0; o < outer; ++o) std::memcpy(out.data() + o * length * in, data_ + (o * n + start) * in, run);
  return out;
}

template <class T, int Rank>
Tensor<typename TensorView<T, Rank>::Scalar, Rank> TensorView<T, Rank>::permute(
    const std::array<int, static_cast<std::size_t>(Rank)>& dims) const {
  Shape<Rank> s{}, src_stride{};
  const Shape<Rank> st = strides();
  std::array<bool, static_cast<std::size_t>(Rank)> seen{};
  for (int i = 0; i < Rank; ++i) {
    const int d = detail::wrap_dim("permute", dims[static_cast<std::size_t>(i)], Rank);
    if (seen[static_cast<std::size_t>(d)]) throw ShapeError("permute: dimension " + std::to_string(d) + " repeats");
    seen[static_cast<std::size_t>(d)] = true;
    s[static_cast<std::size_t>(i)] = shape_[static_cast<std::size_t>(d)];
    src_stride[static_cast<std::size_t>(i)] = st[static_cast<std::size_t>(d)];
  }
  Tensor<Scalar, Rank> out = Tensor<Scalar, Rank>::empty(s);
  const index_t total = out.numel();
  Shape<Rank> idx{};
  index_t src = 0;
  for (index_t k = 0; k < total; ++k) {
    out.data()[k] = data_[src];
    for (int i = Rank - 1; i >= 0; --i) {  // odometer over the output's indices
      const auto u = static_cast<std::size_t>(i);
      src += src_stride[u];
      if (++idx[u] < s[u]) break;
      src -= src_stride[u] * s[u];
      idx[u] = 0;
    }
  }
  return out;
}

}  // namespace r2plus1d

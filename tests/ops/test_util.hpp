#pragma once
// Small helpers shared by the ops and nn unit tests: seeded random tensors,
// exact and approximate comparisons, and a guard that restores the thread count.

#include <gtest/gtest.h>

#include <r2plus1d/core/parallel.hpp>
#include <r2plus1d/core/random.hpp>
#include <r2plus1d/core/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace r2plus1d::test {

/// A tensor of values uniform in [-1, 1) from a fixed seed.
template <class T, int R>
Tensor<T, R> random_tensor(const Shape<R>& shape, std::uint64_t seed) {
  Generator g(seed);
  Tensor<T, R> t = Tensor<T, R>::empty(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(g.uniform(-1.0, 1.0));
  return t;
}

/// max |a - b| over all elements (shapes must agree).
template <class T, int R>
double max_abs_diff(TensorView<const T, R> a, TensorView<const T, R> b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (index_t i = 0; i < std::min(a.numel(), b.numel()); ++i)
    m = std::max(m, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
  return m;
}

/// Whether two tensors hold the same bits.
template <class T, int R>
bool bit_identical(TensorView<const T, R> a, TensorView<const T, R> b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.numel())) == 0;
}

/// Restores the library's thread count when it goes out of scope.
class ThreadCountGuard {
 public:
  ThreadCountGuard() : saved_(get_num_threads()) {}
  ~ThreadCountGuard() { set_num_threads(saved_); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int saved_;
};

/// Rounding bound for sums of `terms` products of values of magnitude <= 1 in T.
template <class T>
double sum_tolerance(index_t terms) {
  return static_cast<double>(terms) * (std::is_same_v<T, float> ? 1e-6 : 1e-14) + 1e-30;
}

}  // namespace r2plus1d::test

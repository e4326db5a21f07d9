#pragma once
/// \file
/// The generic microkernels: 16-byte vectors of GCC/Clang's vector extension
/// (SSE2 on x86-64, NEON on aarch64, whatever the target has elsewhere), in the
/// flags the including program compiles with. They serve every CPU without a
/// tuned set, and each build carries them.

#include <algorithm>
#include <type_traits>
#include <cstring>

#include "r2plus1d/core/prefetch.hpp"
#include "r2plus1d/ops/kernels/rows_kernels_api.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail::kernels_generic {

#if defined(__GNUC__) || defined(__clang__)
template <class T>
struct Vec {
  typedef T V __attribute__((vector_size(16)));
  static constexpr index_t L = 16 / sizeof(T);
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V set1(T x) { return V{} + x; }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  /// max(v, 0) that keeps NaN (and -0): clears the lanes below zero.
  static V relu(V v) {
    using M = decltype(v < v);
    return reinterpret_cast<V>(reinterpret_cast<M>(v) & ~(v < V{}));
  }
};
#else
/// Without the vector extension: one lane.
template <class T>
struct Vec {
  using V = T;
  static constexpr index_t L = 1;
  static V load(const T* p) { return *p; }
  static void store(T* p, V v) { *p = v; }
  static V set1(T x) { return x; }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V relu(V v) { return v < T(0) ? T(0) : v; }
};
#endif

/// The register tile (ops/tuning.hpp).
constexpr int kTileRows = kGenericRowsTile.rows;
constexpr int kTileVectors = kGenericRowsTile.vectors;

#include "r2plus1d/ops/kernels/rows_microkernels.inl"
#include "r2plus1d/ops/kernels/winograd_microkernels.inl"

}  // namespace r2plus1d::ops::detail::kernels_generic

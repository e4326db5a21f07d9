#pragma once
/// \file
/// The AVX2 + FMA microkernels (8 floats or 4 doubles a vector, 16 registers:
/// a tile of 6 channels by 2 vectors holds 12 accumulators), compiled for
/// those instructions whatever flags the including program uses; run only on
/// CPUs that have them (kernels/isa.hpp).

#include <algorithm>

#include "r2plus1d/ops/kernels/isa.hpp"
#include "r2plus1d/ops/kernels/rows_kernels_api.hpp"

#if defined(R2PLUS1D_X86_KERNELS)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace r2plus1d::ops::detail::kernels_avx2 {

template <class T>
struct Vec;
template <>
struct Vec<float> {
  using V = __m256;
  static constexpr index_t L = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  /// max(0, v) returns its second operand for NaN and for -0: v.
  static V relu(V v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }
};
template <>
struct Vec<double> {
  using V = __m256d;
  static constexpr index_t L = 4;
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V relu(V v) { return _mm256_max_pd(_mm256_setzero_pd(), v); }
};

/// The tile, measured on a 2-core AMD EPYC (Zen 4) with 1 thread, against
/// 4 x 3 (bench/compare_sources.py --stages, both in one process): 0.91-0.96
/// of its time on layer1, 0.97-0.99 on layers 2 and 3, 0.67-0.69 on layer4.
/// Each depth step loads 2 vectors of B for 12 FMAs rather than 3.
constexpr int kTileRows = 6;
constexpr int kTileVectors = 2;

#include "r2plus1d/ops/kernels/rows_microkernels.inl"
#include "r2plus1d/ops/kernels/winograd_microkernels.inl"

}  // namespace r2plus1d::ops::detail::kernels_avx2

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // R2PLUS1D_X86_KERNELS

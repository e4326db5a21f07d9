#pragma once
/// \file
/// The AVX-512 microkernels (16 floats or 8 doubles a vector, 32 registers: a
/// tile of 9 channels by 3 vectors holds 27 accumulators), compiled for
/// AVX-512F whatever flags the including program uses; run only on CPUs that
/// have it (kernels/isa.hpp).

#include <algorithm>

#include "r2plus1d/ops/kernels/isa.hpp"
#include "r2plus1d/ops/kernels/rows_kernels_api.hpp"

#if defined(R2PLUS1D_X86_KERNELS)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

namespace r2plus1d::ops::detail::kernels_avx512 {

template <class T>
struct Vec;
template <>
struct Vec<float> {
  using V = __m512;
  static constexpr index_t L = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  /// Zero in the lanes below zero; NaN and -0 stay (a masked blend, not
  /// _mm512_max_ps, whose GCC 12 definition warns under -Wall).
  static V relu(V v) {
    const V zero = _mm512_setzero_ps();
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, zero);
  }
};
template <>
struct Vec<double> {
  using V = __m512d;
  static constexpr index_t L = 8;
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V relu(V v) {
    const V zero = _mm512_setzero_pd();
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, zero, _CMP_LT_OQ), v, zero);
  }
};

/// The tile: on a 2-core AMD EPYC (Zen 4), layer1's spatial conv as gemm_rows
/// runs it (144 x 448 x 576 over gathered rows) reaches 112-116 GFLOP/s with
/// 1 thread, against an FMA peak of 115.
constexpr int kTileRows = 9;
constexpr int kTileVectors = 3;

#include "r2plus1d/ops/kernels/rows_microkernels.inl"
#include "r2plus1d/ops/kernels/winograd_microkernels.inl"

}  // namespace r2plus1d::ops::detail::kernels_avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // R2PLUS1D_X86_KERNELS

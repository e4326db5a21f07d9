#pragma once
/// \file
/// The AVX2 + FMA microkernels (8 floats or 4 doubles a vector, 16 registers:
/// a tile of 6 channels by 2 vectors holds 12 accumulators), compiled for
/// those instructions whatever flags the including program uses; run only on
/// CPUs that have them (kernels/isa.hpp).

#include <algorithm>
#include <type_traits>

#include "r2plus1d/ops/kernels/isa.hpp"
#include "r2plus1d/core/prefetch.hpp"
#include "r2plus1d/ops/kernels/rows_kernels_api.hpp"
#include "r2plus1d/ops/tuning.hpp"

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
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  /// max(0, v) returns its second operand for NaN and for -0: v.
  static V relu(V v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }
  /// This Vec has load_n, store_n, interleave4 and deinterleave4.
  static constexpr bool kInterleave4 = true;
  /// The first n (at most L) lanes from p, zeros above; nothing past p + n is read.
  static V load_n(const float* p, index_t n) { return _mm256_maskload_ps(p, lanes_below(n)); }
  /// Stores the first n (at most L) lanes of v at p; nothing past p + n is written.
  static void store_n(float* p, index_t n, V v) { _mm256_maskstore_ps(p, lanes_below(n), v); }
  /// Lane l = p[k + l] for l in [lo, hi) (0 <= lo <= hi <= L), zeros in the
  /// others, whose values are not read (p + k + l need not lie in an array).
  static V load_lanes(const float* p, index_t k, index_t lo, index_t hi) {
    return _mm256_maskload_ps(masked_load_address(p, k), _mm256_andnot_si256(lanes_below(lo), lanes_below(hi)));
  }
  /// The n (at most 4L) values p[4s + c] = v[c][s], written in order.
  static void interleave4(float* p, index_t n, const V (&v)[4]) {
    // 4 x 4 transposes inside each 128-bit lane, then the lanes paired.
    const __m256 a = _mm256_unpacklo_ps(v[0], v[1]), b = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 c = _mm256_unpacklo_ps(v[2], v[3]), d = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 e = pairs_lo(a, c), f = pairs_hi(a, c), g = pairs_lo(b, d), h = pairs_hi(b, d);
    const __m256 out[4] = {_mm256_permute2f128_ps(e, f, 0x20), _mm256_permute2f128_ps(g, h, 0x20),
                           _mm256_permute2f128_ps(e, f, 0x31), _mm256_permute2f128_ps(g, h, 0x31)};
    for (int k = 0; k < 4 && n > k * L; ++k) store_n(p + k * L, std::min<index_t>(L, n - k * L), out[k]);
  }
  /// v[c][s] = p[4s + c] from the n (at most 4L) values at p, zeros past them.
  static void deinterleave4(const float* p, index_t n, V (&v)[4]) {
    V in[4];
    for (int k = 0; k < 4; ++k) in[k] = load_n(p + k * L, std::max<index_t>(0, std::min<index_t>(L, n - k * L)));
    const __m256 e = _mm256_permute2f128_ps(in[0], in[2], 0x20), f = _mm256_permute2f128_ps(in[0], in[2], 0x31);
    const __m256 g = _mm256_permute2f128_ps(in[1], in[3], 0x20), h = _mm256_permute2f128_ps(in[1], in[3], 0x31);
    const __m256 a = _mm256_unpacklo_ps(e, f), b = _mm256_unpacklo_ps(g, h);
    const __m256 c = _mm256_unpackhi_ps(e, f), d = _mm256_unpackhi_ps(g, h);
    v[0] = pairs_lo(a, b);
    v[1] = pairs_hi(a, b);
    v[2] = pairs_lo(c, d);
    v[3] = pairs_hi(c, d);
  }

 private:
  static __m256i lanes_below(index_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::max<index_t>(0, std::min<index_t>(L, n)))),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  /// Per 128-bit lane, the low (high) 64-bit halves of a and b.
  static __m256 pairs_lo(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));
  }
  static __m256 pairs_hi(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));
  }
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
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V relu(V v) { return _mm256_max_pd(_mm256_setzero_pd(), v); }
};

/// The register tile (ops/tuning.hpp, with its measurements).
constexpr int kTileRows = kAvx2RowsTile.rows;
constexpr int kTileVectors = kAvx2RowsTile.vectors;

#include "r2plus1d/ops/kernels/rows_microkernels.inl"
#include "r2plus1d/ops/kernels/winograd_microkernels.inl"

}  // namespace r2plus1d::ops::detail::kernels_avx2

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // R2PLUS1D_X86_KERNELS

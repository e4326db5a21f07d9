#pragma once
/// \file
/// The AVX-512 microkernels (16 floats or 8 doubles a vector, 32 registers: a
/// tile of 9 channels by 3 vectors holds 27 accumulators), compiled for
/// AVX-512F whatever flags the including program uses; run only on CPUs that
/// have it (kernels/isa.hpp).

#include <algorithm>
#include <type_traits>

#include "r2plus1d/ops/kernels/isa.hpp"
#include "r2plus1d/core/prefetch.hpp"
#include "r2plus1d/ops/kernels/rows_kernels_api.hpp"
#include "r2plus1d/ops/tuning.hpp"

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
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  /// Zero in the lanes below zero; NaN and -0 stay: max(0, v) returns its
  /// second operand unless 0 > v. (The masked form, all lanes set: GCC 12's
  /// _mm512_max_ps passes _mm512_undefined_ps() and warns under -Wall.)
  static V relu(V v) { return _mm512_mask_max_ps(v, 0xFFFF, _mm512_setzero_ps(), v); }
  /// This Vec has load_n, store_n, interleave4 and deinterleave4.
  static constexpr bool kInterleave4 = true;
  /// The first n (at most L) lanes from p, zeros above; nothing past p + n is read.
  static V load_n(const float* p, index_t n) { return _mm512_maskz_loadu_ps(lanes_below(n), p); }
  /// Stores the first n (at most L) lanes of v at p; nothing past p + n is written.
  static void store_n(float* p, index_t n, V v) { _mm512_mask_storeu_ps(p, lanes_below(n), v); }
  /// Lane l = p[k + l] for l in [lo, hi) (0 <= lo <= hi <= L), zeros in the
  /// others, whose values are not read (p + k + l need not lie in an array).
  static V load_lanes(const float* p, index_t k, index_t lo, index_t hi) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>(lanes_below(hi) & ~lanes_below(lo)), masked_load_address(p, k));
  }
  /// The n (at most 4L) values p[4s + c] = v[c][s], written in order.
  static void interleave4(float* p, index_t n, const V (&v)[4]) {
    // 4 x 4 transposes inside each 128-bit lane, then of the lanes.
    const __m512 a = unpack_lo(v[0], v[1]), b = unpack_hi(v[0], v[1]);
    const __m512 c = unpack_lo(v[2], v[3]), d = unpack_hi(v[2], v[3]);
    const __m512 e = pairs_lo(a, c), f = pairs_hi(a, c), g = pairs_lo(b, d), h = pairs_hi(b, d);
    const __m512 ef_lo = lanes<0x44>(e, f), ef_hi = lanes<0xEE>(e, f);
    const __m512 gh_lo = lanes<0x44>(g, h), gh_hi = lanes<0xEE>(g, h);
    const __m512 out[4] = {lanes<0x88>(ef_lo, gh_lo), lanes<0xDD>(ef_lo, gh_lo),
                           lanes<0x88>(ef_hi, gh_hi), lanes<0xDD>(ef_hi, gh_hi)};
    for (int k = 0; k < 4 && n > k * L; ++k) store_n(p + k * L, std::min<index_t>(L, n - k * L), out[k]);
  }
  /// v[c][s] = p[4s + c] from the n (at most 4L) values at p, zeros past them.
  static void deinterleave4(const float* p, index_t n, V (&v)[4]) {
    V in[4];
    for (int k = 0; k < 4; ++k) in[k] = load_n(p + k * L, std::max<index_t>(0, std::min<index_t>(L, n - k * L)));
    const __m512 t01_lo = lanes<0x44>(in[0], in[1]), t01_hi = lanes<0xEE>(in[0], in[1]);
    const __m512 t23_lo = lanes<0x44>(in[2], in[3]), t23_hi = lanes<0xEE>(in[2], in[3]);
    const __m512 e = lanes<0x88>(t01_lo, t23_lo), f = lanes<0xDD>(t01_lo, t23_lo);
    const __m512 g = lanes<0x88>(t01_hi, t23_hi), h = lanes<0xDD>(t01_hi, t23_hi);
    const __m512 a = unpack_lo(e, f), b = unpack_lo(g, h);
    const __m512 c = unpack_hi(e, f), d = unpack_hi(g, h);
    v[0] = pairs_lo(a, b);
    v[1] = pairs_hi(a, b);
    v[2] = pairs_lo(c, d);
    v[3] = pairs_hi(c, d);
  }

 private:
  static __mmask16 lanes_below(index_t n) {
    return n >= L ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << static_cast<unsigned>(std::max<index_t>(0, n))) - 1u);
  }
  // The shuffles in their masked forms, all lanes set: GCC 12's unmasked
  // ones pass _mm512_undefined_ps() and warn under -Wall (maybe-uninitialized).
  /// Per 128-bit lane, the low (high) halves of a and b interleaved.
  static __m512 unpack_lo(__m512 a, __m512 b) { return _mm512_mask_unpacklo_ps(a, 0xFFFF, a, b); }
  static __m512 unpack_hi(__m512 a, __m512 b) { return _mm512_mask_unpackhi_ps(a, 0xFFFF, a, b); }
  /// 128-bit lanes of a (two) and b (two) as imm selects them.
  template <int imm>
  static __m512 lanes(__m512 a, __m512 b) {
    return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, imm);
  }
  /// Per 128-bit lane, the low (high) 64-bit halves of a and b.
  static __m512 pairs_lo(__m512 a, __m512 b) {
    const __m512d ad = _mm512_castps_pd(a);
    return _mm512_castpd_ps(_mm512_mask_unpacklo_pd(ad, 0xFF, ad, _mm512_castps_pd(b)));
  }
  static __m512 pairs_hi(__m512 a, __m512 b) {
    const __m512d ad = _mm512_castps_pd(a);
    return _mm512_castpd_ps(_mm512_mask_unpackhi_pd(ad, 0xFF, ad, _mm512_castps_pd(b)));
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
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V relu(V v) { return _mm512_mask_max_pd(v, 0xFF, _mm512_setzero_pd(), v); }
};

/// The register tile (ops/tuning.hpp, with its measurements).
constexpr int kTileRows = kAvx512RowsTile.rows;
constexpr int kTileVectors = kAvx512RowsTile.vectors;

#include "r2plus1d/ops/kernels/rows_microkernels.inl"
#include "r2plus1d/ops/kernels/winograd_microkernels.inl"

}  // namespace r2plus1d::ops::detail::kernels_avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // R2PLUS1D_X86_KERNELS

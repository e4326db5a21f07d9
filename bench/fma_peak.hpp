#pragma once
// The fp32 FMA peak of this CPU as the build targets it: every thread runs
// multiply-adds on 12 independent accumulators held in registers, of the
// widest vector the compiler was told it may use (AVX-512 when built for it,
// else AVX2/FMA, else NEON or SSE), with no loads or stores in the loop. It is
// the ceiling of any fp32 kernel built with the same flags, so a convolution's
// GFLOP/s divided by it says how much of the core the kernel uses.
//
// Needs no library but OpenMP (std::thread without it), so that
// r2plus1d_forward_timer, which compare_peers.py builds with a bare compiler,
// measures it the same way as r2plus1d_bench.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || defined(__FMA__) || defined(__SSE__)
#include <immintrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace r2plus1d::bench::fma {

// One vector of floats and a fused (or, on plain SSE, unfused) multiply-add.
#if defined(__AVX512F__)
using Vec = __m512;
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec madd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float lane0(Vec a) { return _mm512_cvtss_f32(a); }
inline constexpr const char* kIsa = "avx512";
inline constexpr bool kFused = true;
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec madd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float lane0(Vec a) { return _mm256_cvtss_f32(a); }
inline constexpr const char* kIsa = "avx2_fma";
inline constexpr bool kFused = true;
#elif defined(__ARM_NEON) && defined(__aarch64__)
using Vec = float32x4_t;
inline Vec splat(float x) { return vdupq_n_f32(x); }
inline Vec madd(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }
inline float lane0(Vec a) { return vgetq_lane_f32(a, 0); }
inline constexpr const char* kIsa = "neon";
inline constexpr bool kFused = true;
#elif defined(__SSE__)
using Vec = __m128;
inline Vec splat(float x) { return _mm_set1_ps(x); }
inline Vec madd(Vec a, Vec b, Vec c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline float lane0(Vec a) { return _mm_cvtss_f32(a); }
inline constexpr const char* kIsa = "sse";
inline constexpr bool kFused = false;
#else
struct Vec {
  float v[4];
};
inline Vec splat(float x) { return {{x, x, x, x}}; }
inline Vec madd(Vec a, Vec b, Vec c) {
  for (int i = 0; i < 4; ++i) c.v[i] = a.v[i] * b.v[i] + c.v[i];
  return c;
}
inline float lane0(Vec a) { return a.v[0]; }
inline constexpr const char* kIsa = "scalar";
inline constexpr bool kFused = false;
#endif

inline constexpr int kLanes = static_cast<int>(sizeof(Vec) / sizeof(float));
inline constexpr int kAccumulators = 12;
/// FLOPs of one step of the loop below (a multiply-add counts 2).
inline constexpr double kFlopsPerStep = 2.0 * kLanes * kAccumulators;

/// `steps` steps of 12 independent multiply-adds a = a * m + c; returns a sum
/// of the accumulators so that none of it can be dropped. m and c keep every
/// value finite and normal however long it runs.
inline float run(std::int64_t steps, float seed) {
  Vec a0 = splat(seed + 0.0f), a1 = splat(seed + 0.1f), a2 = splat(seed + 0.2f), a3 = splat(seed + 0.3f);
  Vec a4 = splat(seed + 0.4f), a5 = splat(seed + 0.5f), a6 = splat(seed + 0.6f), a7 = splat(seed + 0.7f);
  Vec a8 = splat(seed + 0.8f), a9 = splat(seed + 0.9f), a10 = splat(seed + 1.0f), a11 = splat(seed + 1.1f);
  const Vec m = splat(0.9999999f), c = splat(1e-7f);
  for (std::int64_t i = 0; i < steps; ++i) {
    a0 = madd(a0, m, c), a1 = madd(a1, m, c), a2 = madd(a2, m, c), a3 = madd(a3, m, c);
    a4 = madd(a4, m, c), a5 = madd(a5, m, c), a6 = madd(a6, m, c), a7 = madd(a7, m, c);
    a8 = madd(a8, m, c), a9 = madd(a9, m, c), a10 = madd(a10, m, c), a11 = madd(a11, m, c);
  }
  return ((lane0(a0) + lane0(a1)) + (lane0(a2) + lane0(a3))) + ((lane0(a4) + lane0(a5)) + (lane0(a6) + lane0(a7))) +
         ((lane0(a8) + lane0(a9)) + (lane0(a10) + lane0(a11)));
}

/// `steps` steps on each of `threads` threads at once (OpenMP's, as the
/// library's kernels use, or std::thread without OpenMP); returns the sum of
/// their results. FLOPs: threads * steps * kFlopsPerStep.
inline float run_threads(int threads, std::int64_t steps) {
  float sum = 0.0f;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : sum)
  sum += run(steps, 1.0f + 0.01f * static_cast<float>(omp_get_thread_num()));
#else
  std::vector<float> part(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back([&part, t, steps] { part[static_cast<std::size_t>(t)] = run(steps, 1.0f + 0.01f * t); });
  part[0] = run(steps, 1.0f);
  for (std::thread& th : pool) th.join();
  for (float p : part) sum += p;
#endif
  return sum;
}

/// The peak in GFLOP/s with `threads` threads, measured over about `seconds`
/// cut into `slices` equal runs: the median slice's rate (as the other
/// figures of the timer are medians) and the fastest slice's.
struct Peak {
  double median_gflops = 0;
  double best_gflops = 0;
};

inline Peak measure(int threads, double seconds = 0.2, int slices = 5) {
  using clock = std::chrono::steady_clock;
  volatile float sink = 0.0f;
  // Calibrate on this thread alone, outside any parallel region (on a busy
  // machine one descheduled thread would stretch a parallel run): the fastest
  // of 3 runs of 5+ ms gives the step rate of one core, and the slices get
  // seconds / slices each at that rate.
  std::int64_t steps = 1 << 12;
  auto time_run = [&sink](std::int64_t n) {
    const auto t0 = clock::now();
    sink = sink + run(n, 1.0f);
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  double t = time_run(steps);
  while (t < 0.005 && steps < (std::int64_t(1) << 40)) t = time_run(steps *= 2);
  t = std::min({t, time_run(steps), time_run(steps)});
  const std::int64_t slice_steps =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(steps) * (seconds / slices) / t));
  sink = sink + run_threads(threads, slice_steps / 16);  // wakes the threads
  std::vector<double> rates;
  for (int s = 0; s < slices; ++s) {
    const auto t0 = clock::now();
    sink = sink + run_threads(threads, slice_steps);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    rates.push_back(static_cast<double>(threads) * static_cast<double>(slice_steps) * kFlopsPerStep / dt / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  const std::size_t n = rates.size();
  Peak p;
  p.median_gflops = n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
  p.best_gflops = rates.back();
  return p;
}

}  // namespace r2plus1d::bench::fma

#pragma once
// The fp32 FMA peak of this CPU for an instruction set: every thread runs
// multiply-adds on 12 independent accumulators held in registers, of that
// set's vectors, with no loads or stores in the loop. It is the ceiling of any
// fp32 kernel on that set, so a convolution's GFLOP/s divided by it says how
// much of the core the kernel uses.
//
// Two kinds of loop: the one of the widest vector the compiler flags allow
// (`kIsa`, `run`: AVX-512 when built for it, else AVX2/FMA, else NEON or SSE),
// and, chosen at run time by name (`loop_for`), the loops of the sets the
// library's microkernels run on: "avx512" and "avx2" compiled with target
// attributes whatever the flags (x86-64, GCC or Clang), and "generic", 16-byte
// vectors at the build's flags, as the library's generic kernels. So a
// portable build measures the peak of the kernels it actually runs.
//
// Needs no library but OpenMP (std::thread without it), so that
// r2plus1d_forward_timer, which compare_peers.py builds with a bare compiler,
// measures it the same way as r2plus1d_bench.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
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

// The loop of the build's flags: one vector of floats and a fused (or, on
// plain SSE, unfused) multiply-add.
inline namespace build {
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
#include "fma_peak_loop.inl"
}  // namespace build

inline constexpr int kAccumulators = 12;
/// FLOPs of one step of the build's loop (a multiply-add counts 2).
inline constexpr double kFlopsPerStep = 2.0 * kLanes * kAccumulators;

/// The library's generic kernels' vectors: 16 bytes of the compiler's vector
/// extension at the build's flags (fused where the flags allow contraction).
namespace generic {
#if defined(__GNUC__) || defined(__clang__)
typedef float Vec __attribute__((vector_size(16)));
inline Vec splat(float x) { return Vec{} + x; }
inline Vec madd(Vec a, Vec b, Vec c) { return a * b + c; }
inline float lane0(Vec a) { return a[0]; }
#else
using build::lane0;
using build::madd;
using build::splat;
using build::Vec;
#endif
#include "fma_peak_loop.inl"
}  // namespace generic

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define R2PLUS1D_FMA_PEAK_X86 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif
namespace avx512 {
using Vec = __m512;
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec madd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float lane0(Vec a) { return _mm512_cvtss_f32(a); }
#include "fma_peak_loop.inl"
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
using Vec = __m256;
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec madd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float lane0(Vec a) { return _mm256_cvtss_f32(a); }
#include "fma_peak_loop.inl"
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/// One loop: its name, vector width and body.
struct Loop {
  const char* isa;
  int lanes;
  float (*run)(std::int64_t steps, float seed);
  /// FLOPs of one step (a multiply-add counts 2).
  double flops_per_step() const { return 2.0 * lanes * kAccumulators; }
};

/// The build's loop (kIsa).
inline Loop build_loop() { return {kIsa, build::kLanes, &build::run}; }

/// The loop of the library's kernel set `isa` ("avx512", "avx2" or
/// "generic"); the build's loop for any other name, or where this build has
/// no such loop. The caller makes sure the CPU runs that set.
inline Loop loop_for(const char* isa) {
  const std::string s = isa;
#if defined(R2PLUS1D_FMA_PEAK_X86)
  if (s == "avx512") return {"avx512", avx512::kLanes, &avx512::run};
  if (s == "avx2") return {"avx2_fma", avx2::kLanes, &avx2::run};
#endif
  if (s == "generic") return {"generic", generic::kLanes, &generic::run};
  return build_loop();
}

/// `steps` steps of `loop` on each of `threads` threads at once (OpenMP's, as
/// the library's kernels use, or std::thread without OpenMP); returns the sum
/// of their results. FLOPs: threads * steps * loop.flops_per_step().
inline float run_threads(const Loop& loop, int threads, std::int64_t steps) {
  float (*run)(std::int64_t, float) = loop.run;
  float sum = 0.0f;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : sum)
  sum += run(steps, 1.0f + 0.01f * static_cast<float>(omp_get_thread_num()));
#else
  std::vector<float> part(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back([&part, t, steps, run] { part[static_cast<std::size_t>(t)] = run(steps, 1.0f + 0.01f * t); });
  part[0] = run(steps, 1.0f);
  for (std::thread& th : pool) th.join();
  for (float p : part) sum += p;
#endif
  return sum;
}

/// What measure finds: GFLOP/s of the median and of the fastest slice.
struct Peak {
  double median_gflops = 0;
  double best_gflops = 0;
};

/// The build's loop on `threads` threads (kFlopsPerStep a step).
inline float run_threads(int threads, std::int64_t steps) { return run_threads(build_loop(), threads, steps); }

/// The peak in GFLOP/s of `loop` with `threads` threads, measured over about
/// `seconds` cut into `slices` equal runs: the median slice's rate (as the
/// other figures of the timer are medians) and the fastest slice's.
inline Peak measure(const Loop& loop, int threads, double seconds = 0.2, int slices = 5) {
  using clock = std::chrono::steady_clock;
  volatile float sink = 0.0f;
  // Calibrate on this thread alone, outside any parallel region (on a busy
  // machine one descheduled thread would stretch a parallel run): the fastest
  // of 3 runs of 5+ ms gives the step rate of one core, and the slices get
  // seconds / slices each at that rate.
  std::int64_t steps = 1 << 12;
  auto time_run = [&sink, &loop](std::int64_t n) {
    const auto t0 = clock::now();
    sink = sink + loop.run(n, 1.0f);
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  double t = time_run(steps);
  while (t < 0.005 && steps < (std::int64_t(1) << 40)) t = time_run(steps *= 2);
  t = std::min({t, time_run(steps), time_run(steps)});
  const std::int64_t slice_steps =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(steps) * (seconds / slices) / t));
  sink = sink + run_threads(loop, threads, slice_steps / 16);  // wakes the threads
  std::vector<double> rates;
  for (int s = 0; s < slices; ++s) {
    const auto t0 = clock::now();
    sink = sink + run_threads(loop, threads, slice_steps);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    rates.push_back(static_cast<double>(threads) * static_cast<double>(slice_steps) * loop.flops_per_step() / dt / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  const std::size_t n = rates.size();
  Peak p;
  p.median_gflops = n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
  p.best_gflops = rates.back();
  return p;
}

/// measure of the build's loop.
inline Peak measure(int threads, double seconds = 0.2, int slices = 5) {
  return measure(build_loop(), threads, seconds, slices);
}

}  // namespace r2plus1d::bench::fma

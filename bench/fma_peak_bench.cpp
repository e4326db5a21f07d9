// The first reference every ratio is measured against: the fp32 FMA peak of
// the CPU for the instruction set the library's kernels run on (fma_peak.hpp:
// 12 register accumulators of that set's vectors, no memory traffic; the set
// is active_isa(), so a portable build measures what it runs), at the thread
// counts of the other benchmarks. Unlike Eigen's sgemm (sgemm_bench.cpp, the
// second reference) it is the core's own limit, which no kernel can pass.

#include "bench_util.hpp"
#include "fma_peak.hpp"

#include <cstdint>

namespace r2plus1d::bench {
namespace {

// Steps per thread per iteration: 2^20 steps of 12 AVX-512 FMAs are 0.4
// GFLOP, a few milliseconds per iteration on one core.
constexpr std::int64_t kSteps = std::int64_t(1) << 20;

void BM_fma_peak(benchmark::State& state) {
  const int threads = use_threads(state);
  const fma::Loop loop = fma::loop_for(isa_name(active_isa()));
  float sum = fma::run_threads(loop, threads, kSteps / 16);  // wakes the threads
  for (auto _ : state) {
    sum += fma::run_threads(loop, threads, kSteps);
    benchmark::DoNotOptimize(sum);
  }
  set_flops(state, static_cast<double>(threads) * static_cast<double>(kSteps) * loop.flops_per_step());
  state.SetLabel(loop.isa);
}

const bool kContext = [] {
  benchmark::AddCustomContext("fma_peak_isa", fma::loop_for(isa_name(active_isa())).isa);
  return true;
}();

BENCHMARK(BM_fma_peak)->Name("fma_peak")->Apply(thread_args);

}  // namespace
}  // namespace r2plus1d::bench

// The reference every ratio is measured against: Eigen's own single-precision
// GEMM, C = A * B with 1024x1024 matrices, parallelised by Eigen's OpenMP.

#include <Eigen/Core>

#include "bench_util.hpp"

namespace r2plus1d::bench {
namespace {

void BM_sgemm(benchmark::State& state) {
  const int threads = use_threads(state);
  Eigen::setNbThreads(threads);
  const Eigen::Index n = state.range(1);
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n));
}
// The convolution kernels every benchmark of this binary runs on, in the
// output's context (report.py prints it with the machine).
const bool kContext = [] {
  benchmark::AddCustomContext("conv_kernels", conv_kernels_name());
  return true;
}();

BENCHMARK(BM_sgemm)
    ->Name("sgemm")
    ->ArgNames({"threads", "n"})
    ->Args({1, 1024})
    ->Args({2, 1024})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace r2plus1d::bench

#pragma once
// Shared helpers of the benchmarks: thread arguments, FLOP counters and
// deterministic inputs.

#include <benchmark/benchmark.h>

#include <r2plus1d/r2plus1d.hpp>

#include <cmath>

namespace r2plus1d::bench {

/// Thread counts every benchmark runs with (the ratios compare equal counts).
inline void thread_args(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
}

/// Sets the library's (and Eigen's) thread count from the benchmark's argument.
inline int use_threads(const benchmark::State& state, int index = 0) {
  const int n = static_cast<int>(state.range(index));
  set_num_threads(n);
  return n;
}

/// FLOP/s counter: `flops` per iteration.
inline void set_flops(benchmark::State& state, double flops) {
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

/// A tensor of the given shape filled with a smooth deterministic pattern in [-1, 1].
template <class T, int R>
Tensor<T, R> pattern(const Shape<R>& shape) {
  Tensor<T, R> t = Tensor<T, R>::empty(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(std::sin(0.013 * static_cast<double>(i)));
  return t;
}

}  // namespace r2plus1d::bench

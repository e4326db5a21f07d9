// Composite modules and whole networks in inference, at batch 1 and 8 on
// 16x112x112 clips. FLOP counts are the sum of the conv FLOPs (conv_shapes.hpp).

#include "bench_util.hpp"
#include "conv_shapes.hpp"

#include <string>

namespace r2plus1d::bench {
namespace {

/// Conv FLOPs of one forward pass at batch 1 (the table's shapes times their uses).
double network_flops(bool seed) {
  double f = 0;
  for (const ConvShape& c : kConvShapes) {
    const int uses = seed ? c.uses_seed : c.uses_r2plus1d_18;
    if (uses > 0) f += uses * ops::conv3d_flops(c.input, c.weight, {c.stride, c.padding, Triple(1), 1});
  }
  return f;
}

template <class Model>
void run_model(benchmark::State& state, Model& model, const Shape<5>& input, double flops, int thread_arg = 0) {
  use_threads(state, thread_arg);
  model.eval();
  const Tensor<float, 5> x = pattern<float, 5>(input);
  // One untimed pass first: a repetition of a whole network at batch 8 is a
  // single iteration, which would otherwise include the first touch of every
  // activation buffer and workspace.
  benchmark::DoNotOptimize(model(x.cview()).data());
  for (auto _ : state) {
    auto y = model(x.cview());
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, flops);
  state.counters["clips/s"] = benchmark::Counter(static_cast<double>(input[0]), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_spatio_temporal_conv(benchmark::State& state) {
  SpatioTemporalConv<float> m(64, 64, 3, 1, 1);
  const Shape<5> s{1, 64, 16, 56, 56};
  run_model(state, m, s,
            ops::conv3d_flops(s, {144, 64, 1, 3, 3}, {1, {0, 1, 1}, 1, 1}) +
                ops::conv3d_flops({1, 144, 16, 56, 56}, {64, 144, 3, 1, 1}, {1, {1, 0, 0}, 1, 1}));
}
BENCHMARK(BM_spatio_temporal_conv)->Name("SpatioTemporalConv/64->64/1x64x16x56x56")->Apply(thread_args);

void BM_res_block(benchmark::State& state) {
  SpatioTemporalResBlock<float> m(64, 128, 3, true);
  const Shape<5> s{1, 64, 16, 56, 56};
  double f = 0;
  for (const ConvShape& c : kConvShapes) {
    const std::string n = c.name;
    if (n == "l2.spatial/2 64->230" || n == "l2.temporal/2 230->128" || n == "l2.spatial 128->288" ||
        n == "l2.temporal 288->128" || n.rfind("seed.ds2", 0) == 0)
      f += ops::conv3d_flops(c.input, c.weight, {c.stride, c.padding, Triple(1), 1});
  }
  run_model(state, m, s, f);
}
BENCHMARK(BM_res_block)->Name("SpatioTemporalResBlock/64->128,downsample/1x64x16x56x56")->Apply(thread_args);

void network_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "threads"})->Args({1, 1})->Args({1, 2})->Args({8, 2})->UseRealTime();
  b->Unit(benchmark::kMillisecond)->MinTime(2.0);
}

void BM_r2plus1d_net(benchmark::State& state) {
  R2Plus1DNet<float> net({2, 2, 2, 2});
  const index_t batch = state.range(0);
  run_model(state, net, {batch, 3, 16, 112, 112}, static_cast<double>(batch) * network_flops(true), 1);
}
BENCHMARK(BM_r2plus1d_net)->Name("R2Plus1DNet(2,2,2,2)/16x112x112")->Apply(network_args);

void BM_r2plus1d_18(benchmark::State& state) {
  auto net = video::r2plus1d_18<float>();
  const index_t batch = state.range(0);
  run_model(state, net, {batch, 3, 16, 112, 112}, static_cast<double>(batch) * network_flops(false), 1);
}
BENCHMARK(BM_r2plus1d_18)->Name("r2plus1d_18/16x112x112")->Apply(network_args);

}  // namespace
}  // namespace r2plus1d::bench

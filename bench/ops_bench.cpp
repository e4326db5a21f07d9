// Primitives: every distinct conv shape of the networks (conv_shapes.hpp),
// BatchNorm3d in inference, ReLU and global average pooling, in GFLOP/s; and
// conv3d's input and weight gradients on the shapes r2plus1d_18 runs (each
// costs the forward's FLOPs).

#include "bench_util.hpp"
#include "conv_shapes.hpp"

namespace r2plus1d::bench {
namespace {

void BM_conv(benchmark::State& state, const ConvShape& c) {
  use_threads(state);
  const ops::Conv3dParams p{c.stride, c.padding, Triple(1), 1};
  const Tensor<float, 5> x = pattern<float, 5>(c.input);
  const Tensor<float, 5> w = pattern<float, 5>(c.weight);
  for (auto _ : state) {
    Tensor<float, 5> y = ops::conv3d<float>(x.cview(), w.cview(), nullptr, p);
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, ops::conv3d_flops(c.input, c.weight, p));
  // for report.py's per-layer table: what the conv ran on, and how often r2plus1d_18 runs it per clip
  state.SetLabel(conv_algorithm_name(c));
  state.counters["r2plus1d_18_uses"] = c.uses_r2plus1d_18;
}

/// conv3d_backward_input (`weight` false) or conv3d_backward_weight of shape c.
void BM_conv_backward(benchmark::State& state, const ConvShape& c, bool weight) {
  use_threads(state);
  const ops::Conv3dParams p{c.stride, c.padding, Triple(1), 1};
  const Tensor<float, 5> x = pattern<float, 5>(c.input);
  const Tensor<float, 5> w = pattern<float, 5>(c.weight);
  const Tensor<float, 5> dy = pattern<float, 5>(ops::conv3d_output_shape(c.input, c.weight, p));
  Tensor<float, 5> grad = Tensor<float, 5>::empty(weight ? c.weight : c.input);
  for (auto _ : state) {
    if (weight) ops::conv3d_backward_weight<float>(x.cview(), dy.cview(), p, grad.view());
    else ops::conv3d_backward_input<float>(dy.cview(), w.cview(), p, grad.view());
    benchmark::DoNotOptimize(grad.data());
  }
  set_flops(state, ops::conv3d_flops(c.input, c.weight, p));
  state.counters["r2plus1d_18_uses"] = c.uses_r2plus1d_18;
}

void BM_batch_norm(benchmark::State& state) {
  use_threads(state);
  const Shape<5> s{1, 144, 16, 56, 56};
  const Tensor<float, 5> x = pattern<float, 5>(s);
  nn::BatchNorm3d<float> bn(nn::BatchNorm3dOptions(144));
  bn.eval();
  for (auto _ : state) {
    Tensor<float, 5> y = bn(x.cview());
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, ops::batch_norm3d_flops(s));
}
BENCHMARK(BM_batch_norm)->Name("batch_norm3d/1x144x16x56x56")->Apply(thread_args);

void BM_relu(benchmark::State& state) {
  use_threads(state);
  const Shape<5> s{1, 144, 16, 56, 56};
  Tensor<float, 5> x = pattern<float, 5>(s);
  for (auto _ : state) {
    ops::relu_(x.view());
    benchmark::DoNotOptimize(x.data());
  }
  set_flops(state, ops::relu_flops<5>(s));
}
BENCHMARK(BM_relu)->Name("relu_/1x144x16x56x56")->Apply(thread_args);

void BM_pool(benchmark::State& state) {
  use_threads(state);
  const Shape<5> s{8, 512, 2, 7, 7};
  const Tensor<float, 5> x = pattern<float, 5>(s);
  for (auto _ : state) {
    Tensor<float, 5> y = ops::adaptive_avg_pool3d<float>(x.cview(), Triple(1));
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, ops::adaptive_avg_pool3d_flops(s, Triple(1)));
}
BENCHMARK(BM_pool)->Name("adaptive_avg_pool3d/8x512x2x7x7")->Apply(thread_args);

const int kConvRegistered = [] {
  for (const ConvShape& c : kConvShapes)
    benchmark::RegisterBenchmark((std::string("conv/") + c.name).c_str(),
                                 [&c](benchmark::State& st) { BM_conv(st, c); })
        ->Apply(thread_args);
  for (const ConvShape& c : kConvShapes) {
    if (c.uses_r2plus1d_18 == 0) continue;
    for (const bool weight : {false, true})
      benchmark::RegisterBenchmark((std::string(weight ? "conv_backward_weight/" : "conv_backward_input/") + c.name).c_str(),
                                   [&c, weight](benchmark::State& st) { BM_conv_backward(st, c, weight); })
          ->Apply(thread_args);
  }
  return 0;
}();

}  // namespace
}  // namespace r2plus1d::bench

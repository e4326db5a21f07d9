// r2plus1d_train_step_timer: times training steps of r2plus1d_18 (forward in
// training mode, cross-entropy, backward, an SGD step with momentum) on one
// batch, and the CPU's fp32 FMA peak at the same thread count, in one process,
// and reports the process's peak resident memory. It needs only Eigen, like
// r2plus1d_forward_timer; bench/compare_train_step.py runs it beside torch.
//
//   r2plus1d_train_step_timer [--threads N] [--repeats R] [--batch B] [--clip T,112,112] [--checkpointing] [--no-peak]
//
// Prints one JSON object: every step's time in ms (after one warm-up step),
// their median, the step's conv GFLOP (the forward's, from conv_shapes.hpp,
// scaled to T frames, T a multiple of 8; then once more for the weights'
// gradients and once more for the inputs' gradients, less the first conv's,
// whose input needs none), the FMA peak of the ISA the kernels run on,
// "peak_fraction", and "max_rss_mb" (getrusage: the whole process). With
// --checkpointing the blocks keep only their inputs and compute their forward
// again in backward (nn::Module::set_checkpointing); the GFLOP count stays
// the step's own, without the recomputation.

#include <r2plus1d/r2plus1d.hpp>

#include "conv_shapes.hpp"
#include "fma_peak.hpp"
#include "timer_args.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr const char* kTool = "r2plus1d_train_step_timer";

// Conv GFLOP of one training step on `batch` clips of `t` x 112 x 112. Every
// output size of r2plus1d_18 scales with T when T is a multiple of 8 (the
// temporal strides halve it three times), so the table's 16-frame counts scale.
double step_gflop(long batch, long t) {
  double forward = 0, first = 0;
  for (const r2plus1d::bench::ConvShape& c : r2plus1d::bench::kConvShapes) {
    const double f = r2plus1d::ops::conv3d_flops(c.input, c.weight, {c.stride, c.padding, r2plus1d::Triple(1), 1});
    forward += c.uses_r2plus1d_18 * f;
    if (std::string(c.name) == "stem.spatial") first = f;
  }
  const double scale = double(batch) * double(t) / 16.0 / 1e9;
  return (3 * forward - first) * scale;
}

}  // namespace

int main(int argc, char** argv) {
  r2plus1d::bench::TimerArgs args;
  args.batch = 8;
  long t = 8, h = 112, w = 112;
  bool peak = true, checkpointing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (r2plus1d::bench::parse_timer_arg(kTool, i, argc, argv, args)) {
      continue;
    } else if (a == "--no-peak") {
      peak = false;
    } else if (a == "--checkpointing") {
      checkpointing = true;
    } else if (a == "--clip" && has_value) {
      if (std::sscanf(argv[++i], "%ld,%ld,%ld", &t, &h, &w) != 3 || t < 8 || t % 8 != 0 || h != 112 || w != 112) {
        std::fprintf(stderr, "%s: --clip expects T,112,112 with T a multiple of 8, got '%s'\n", kTool, argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--repeats R] [--batch B] [--clip T,112,112] [--checkpointing] [--no-peak]\n",
                   kTool);
      return 2;
    }
  }
  const int threads = args.threads, repeats = args.repeats;
  const long batch = args.batch;
  if (batch < 2) {
    std::fprintf(stderr, "%s: --batch must be at least 2 (BatchNorm in training mode needs more than one value)\n",
                 kTool);
    return 2;
  }
  try {
    using namespace r2plus1d;
    set_num_threads(threads);
    Tensor<float, 5> x = Tensor<float, 5>::empty({batch, 3, t, h, w});
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.013 * double(i)));
    Tensor<std::int64_t, 1> labels({batch});
    for (index_t i = 0; i < batch; ++i) labels(i) = i % 400;
    auto net = video::r2plus1d_18<float>();
    net.train();
    net.set_checkpointing(checkpointing);
    set_storage_compact(true);  // as r2plus1d-train: resident memory follows the tensors in use
    optim::SGD<float> sgd(net.trainable_parameters<float>(), optim::SGDOptions(0.01).momentum(0.9));
    std::vector<double> ms;
    for (int i = -1; i < repeats; ++i) {  // step -1: warm-up (workspaces, page faults, momentum buffers)
      const auto t0 = clock_type::now();
      const Tensor<float, 2> logits = net.forward_train(x.cview());
      const auto ce = ops::cross_entropy(logits.cview(), labels.cview());
      sgd.zero_grad();
      net.backward(ce.grad.cview());
      sgd.step();
      const double elapsed = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
      if (!std::isfinite(ce.loss)) std::fprintf(stderr, "%s: non-finite loss\n", kTool);
      if (i >= 0) ms.push_back(elapsed);
    }
    namespace fma = bench::fma;
    const fma::Loop loop = fma::loop_for(isa_name(active_isa()));
    const fma::Peak fma_peak = peak ? fma::measure(loop, threads) : fma::Peak{};
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double gflop = step_gflop(batch, t), med = bench::median(ms);
    std::printf("{\"arch\": \"r2plus1d_18\", \"threads\": %d, \"batch\": %ld, \"clip\": [%ld, %ld, %ld], "
                "\"checkpointing\": %s, \"ms\": [",
                threads, batch, t, h, w, checkpointing ? "true" : "false");
    for (std::size_t i = 0; i < ms.size(); ++i) std::printf("%s%.1f", i ? ", " : "", ms[i]);
    std::printf("], \"median_ms\": %.1f, \"gflop\": %.1f, \"gflops\": %.2f, \"fma_isa\": \"%s\"", med, gflop,
                gflop / (med * 1e-3), loop.isa);
    if (peak)
      std::printf(", \"fma_peak_gflops\": %.2f, \"peak_fraction\": %.4f", fma_peak.median_gflops,
                  gflop / (med * 1e-3) / fma_peak.median_gflops);
    else
      std::printf(", \"fma_peak_gflops\": null, \"peak_fraction\": null");
    std::printf(", \"max_rss_mb\": %.0f}\n", double(usage.ru_maxrss) / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kTool, e.what());
    return 1;
  }
  return 0;
}

// r2plus1d_forward_timer: times r2plus1d_18's inference on one clip, and the
// references (the CPU's fp32 FMA peak and Eigen's sgemm), in one process. It needs only Eigen (no Google Benchmark),
// so bench/compare_peers.py can build it with a bare compiler on any machine
// and run it side by side with other runtimes.
//
//   r2plus1d_forward_timer [--threads N] [--repeats R] [--clip T,H,W] [--batch B] [--stages] [--no-sgemm]
//                          [--no-peak] [--no-weight-cache]
//
// The model keeps its weights' Winograd transforms between passes
// (Module::set_weight_cache, as the feature extractor runs it; "weight_cache"
// in the output) unless --no-weight-cache.
//
// Prints one JSON object: every forward time in ms (after one warm-up pass),
// their median, the network's conv GFLOP per pass (16x112x112 clips only, from
// conv_shapes.hpp and ops/flops.hpp), the FMA peak at the same thread count
// for the instruction set the kernels run on ("fma_isa"; fma_peak.hpp, about
// 0.2 s: the median of 5 slices, and the fastest),
// "peak_fraction" (the median pass's conv GFLOP/s over that peak), and the
// sgemm GFLOP/s (1024^3, Eigen's OpenMP, median) with "sgemm_fraction".
// --stages (batch 1) also times the stem, each layer and the head of every
// pass ("stages_ms") and names the algorithm of every conv ("convs": alone,
// and the streamed path of each (2+1)D pair); --no-sgemm and --no-peak leave those out (null).

#include <Eigen/Core>

#include <r2plus1d/r2plus1d.hpp>

#include "conv_shapes.hpp"
#include "fma_peak.hpp"
#include "timer_args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

using r2plus1d::bench::median;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

template <class Model>
std::vector<double> time_model(Model& model, const r2plus1d::Tensor<float, 5>& x, int repeats) {
  model.eval();
  (void)model.forward(x.cview());  // warm-up: workspaces, page faults
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = clock_type::now();
    const r2plus1d::Tensor<float, 2> y = model.forward(x.cview());
    ms.push_back(ms_since(t0));
    if (!std::isfinite(y.data()[0])) std::fprintf(stderr, "r2plus1d_forward_timer: non-finite output\n");
  }
  return ms;
}

// Forwards through r2plus1d_18 stage by stage (what features() and forward()
// run for one clip in inference), timing each stage: {stem, layer1..4, head}.
template <class Model>
std::vector<std::vector<double>> time_stages(Model& model, const r2plus1d::Tensor<float, 5>& x, int repeats) {
  model.eval();
  std::vector<std::vector<double>> ms(6);
  for (int i = -1; i < repeats; ++i) {  // pass -1: warm-up
    double t[6];
    auto t0 = clock_type::now();
    r2plus1d::Tensor<float, 5> y = model.stem()(x.cview());
    t[0] = ms_since(t0), t0 = clock_type::now();
    y = model.layer1().forward(std::move(y));
    t[1] = ms_since(t0), t0 = clock_type::now();
    y = model.layer2().forward(std::move(y));
    t[2] = ms_since(t0), t0 = clock_type::now();
    y = model.layer3().forward(std::move(y));
    t[3] = ms_since(t0), t0 = clock_type::now();
    y = model.layer4().forward(std::move(y));
    t[4] = ms_since(t0), t0 = clock_type::now();
    r2plus1d::Tensor<float, 5> pooled = r2plus1d::ops::adaptive_avg_pool3d<float>(y.cview(), r2plus1d::Triple(1));
    const r2plus1d::Shape<2> flat{pooled.size(0), pooled.size(1)};
    const r2plus1d::Tensor<float, 2> features = std::move(pooled).template reshape<2>(flat);
    const r2plus1d::Tensor<float, 2> out = model.fc()(features.cview());
    t[5] = ms_since(t0);
    if (!std::isfinite(out.data()[0])) std::fprintf(stderr, "r2plus1d_forward_timer: non-finite output\n");
    if (i >= 0)
      for (int s = 0; s < 6; ++s) ms[static_cast<std::size_t>(s)].push_back(t[s]);
  }
  return ms;
}

double sgemm_gflops(int repeats) {
  const Eigen::Index n = 1024;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  c.noalias() = a * b;
  std::vector<double> ms;
  for (int i = 0; i < std::max(3, repeats); ++i) {
    const auto t0 = clock_type::now();
    for (int k = 0; k < 10; ++k) c.noalias() = a * b;
    ms.push_back(ms_since(t0) / 10);
  }
  if (!std::isfinite(c(0, 0))) std::fprintf(stderr, "r2plus1d_forward_timer: non-finite sgemm\n");
  return 2.0 * double(n) * double(n) * double(n) / (median(ms) * 1e-3) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  r2plus1d::bench::TimerArgs args;
  args.repeats = 5;
  long t = 16, h = 112, w = 112;
  bool stages = false, sgemm = true, peak = true, weight_cache = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--version") {
      std::printf("r2plus1d_forward_timer %s\n", r2plus1d::kVersion);
      return 0;
    }
    const bool has_value = i + 1 < argc;
    if (r2plus1d::bench::parse_timer_arg("r2plus1d_forward_timer", i, argc, argv, args)) {
      continue;
    } else if (a == "--stages") {
      stages = true;
    } else if (a == "--no-sgemm") {
      sgemm = false;
    } else if (a == "--no-peak") {
      peak = false;
    } else if (a == "--no-weight-cache") {
      weight_cache = false;
    } else if (a == "--clip" && has_value) {
      if (std::sscanf(argv[++i], "%ld,%ld,%ld", &t, &h, &w) != 3 || t < 1 || h < 1 || w < 1) {
        std::fprintf(stderr, "r2plus1d_forward_timer: --clip expects T,H,W, got '%s'\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: r2plus1d_forward_timer [--threads N] [--repeats R] [--clip T,H,W] [--batch B] "
                   "[--stages] [--no-sgemm] [--no-peak] [--no-weight-cache] [--version]\n");
      return 2;
    }
  }
  const int threads = args.threads, repeats = args.repeats;
  const long batch = args.batch;
  if (stages && batch != 1) {
    std::fprintf(stderr, "r2plus1d_forward_timer: --stages times one clip: --batch must be 1\n");
    return 2;
  }
  try {
    r2plus1d::set_num_threads(threads);
    r2plus1d::Tensor<float, 5> x = r2plus1d::Tensor<float, 5>::empty({batch, 3, t, h, w});
    for (r2plus1d::index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.013 * double(i)));
    auto model = r2plus1d::video::r2plus1d_18<float>();
    model.set_weight_cache(weight_cache);
    std::vector<std::vector<double>> stage_ms;
    std::vector<double> ms;
    if (stages) {
      stage_ms = time_stages(model, x, repeats);
      for (int i = 0; i < repeats; ++i) {
        double sum = 0;
        for (const auto& s : stage_ms) sum += s[static_cast<std::size_t>(i)];
        ms.push_back(sum);
      }
    } else {
      ms = time_model(model, x, repeats);
    }
    double gflop = 0;  // conv FLOPs of the table's clip, per pass
    if (t == 16 && h == 112 && w == 112)
      for (const r2plus1d::bench::ConvShape& c : r2plus1d::bench::kConvShapes)
        gflop += double(batch) * c.uses_r2plus1d_18 *
                 r2plus1d::ops::conv3d_flops(c.input, c.weight, {c.stride, c.padding, r2plus1d::Triple(1), 1}) / 1e9;
    auto print_list = [](const std::vector<double>& v) {
      std::printf("[");
      for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%.3f", i ? ", " : "", v[i]);
      std::printf("]");
    };
    std::printf("{\"arch\": \"r2plus1d_18\", \"conv_kernels\": \"%s\", \"threads\": %d, \"batch\": %ld, "
                "\"clip\": [%ld, %ld, %ld], \"weight_cache\": %s, \"ms\": ",
                r2plus1d::conv_kernels_name(), threads, batch, t, h, w, weight_cache ? "true" : "false");
    print_list(ms);
    const double med = median(ms);
    const double gflops = gflop > 0 ? gflop / (med * 1e-3) : 0.0;  // 0: FLOPs unknown for this clip
    // the references right after the passes, at the same thread count
    namespace fma = r2plus1d::bench::fma;
    // the peak of the instruction set the kernels run on, not of the build's flags
    const fma::Loop fma_loop = fma::loop_for(r2plus1d::isa_name(r2plus1d::active_isa()));
    const fma::Peak fma_peak = peak ? fma::measure(fma_loop, threads) : fma::Peak{};
    const double sgemm_rate = sgemm ? sgemm_gflops(repeats) : 0.0;
    auto print_num = [](bool have, double v, const char* fmt) {
      if (have)
        std::printf(fmt, v);
      else
        std::printf("null");
    };
    std::printf(", \"median_ms\": %.3f, \"gflop\": %.3f, \"gflops\": ", med, gflop);
    print_num(gflops > 0, gflops, "%.2f");
    std::printf(", \"fma_isa\": \"%s\", \"fma_peak_gflops\": ", fma_loop.isa);
    print_num(peak, fma_peak.median_gflops, "%.2f");
    std::printf(", \"fma_peak_best_gflops\": ");
    print_num(peak, fma_peak.best_gflops, "%.2f");
    std::printf(", \"peak_fraction\": ");
    print_num(peak && gflops > 0, gflops / fma_peak.median_gflops, "%.4f");
    std::printf(", \"sgemm_gflops\": ");
    print_num(sgemm, sgemm_rate, "%.2f");
    std::printf(", \"sgemm_fraction\": ");
    print_num(sgemm && gflops > 0, gflops / sgemm_rate, "%.4f");
    if (stages) {
      const char* names[] = {"stem", "layer1", "layer2", "layer3", "layer4", "head"};
      std::printf(", \"stages_ms\": {");
      for (int s = 0; s < 6; ++s) {
        std::printf("%s\"%s\": ", s ? ", " : "", names[s]);
        print_list(stage_ms[static_cast<std::size_t>(s)]);
      }
      std::printf("}");
      // every conv of r2plus1d_18 on this clip size's table (1x3x16x112x112):
      // the algorithm it runs alone, and, for a spatial conv and the temporal
      // one after it, the path the pair streams on in the network
      std::printf(", \"convs\": [");
      const std::size_t n = sizeof(r2plus1d::bench::kConvShapes) / sizeof(r2plus1d::bench::kConvShapes[0]);
      bool first = true;
      for (std::size_t i = 0; i < n; ++i) {
        const r2plus1d::bench::ConvShape& c = r2plus1d::bench::kConvShapes[i];
        if (c.uses_r2plus1d_18 == 0) continue;
        std::string pair;
        if (i + 1 < n && r2plus1d::bench::is_pair(c, r2plus1d::bench::kConvShapes[i + 1]))
          pair = r2plus1d::bench::pair_algorithm_name(c, r2plus1d::bench::kConvShapes[i + 1], weight_cache);
        else if (i > 0 && r2plus1d::bench::is_pair(r2plus1d::bench::kConvShapes[i - 1], c))
          pair = r2plus1d::bench::pair_algorithm_name(r2plus1d::bench::kConvShapes[i - 1], c, weight_cache);
        std::printf("%s{\"name\": \"%s\", \"uses\": %d, \"algorithm\": \"%s\"", first ? "" : ", ", c.name,
                    c.uses_r2plus1d_18, r2plus1d::bench::conv_algorithm_name(c));
        if (!pair.empty()) std::printf(", \"pair\": \"%s\"", pair.c_str());
        std::printf("}");
        first = false;
      }
      std::printf("]");
    }
    std::printf("}\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r2plus1d_forward_timer: %s\n", e.what());
    return 1;
  }
  return 0;
}

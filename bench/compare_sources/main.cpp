// compare_sources: versions A and B of the library (side.cpp compiled against
// each) in one process, interleaved call by call. Built and run by
// bench/compare_sources.py, which documents it.
//
//   compare_sources [--threads N] [--rounds R] [--filter TEXT] [--stages]

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "side.hpp"

namespace {

using namespace compare_sources;

struct Pair {
  std::vector<double> a, b;  // ms per round

  void add(double ta, double tb) { a.push_back(ta), b.push_back(tb); }
  double fastest_a() const { return *std::min_element(a.begin(), a.end()); }
  double fastest_b() const { return *std::min_element(b.begin(), b.end()); }
  double median_ratio() const {
    std::vector<double> r;
    for (std::size_t i = 0; i < a.size(); ++i) r.push_back(b[i] / a[i]);
    std::sort(r.begin(), r.end());
    return r.size() % 2 ? r[r.size() / 2] : 0.5 * (r[r.size() / 2 - 1] + r[r.size() / 2]);
  }
};

// max |a - b| / max |a|
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double d = 0, m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
    m = std::max(m, static_cast<double>(std::fabs(a[i])));
  }
  return m > 0 ? d / m : d;
}

// Round r runs A first when r is even, B first when odd; round -1 warms both up.
template <class RunA, class RunB>
Pair interleave(int rounds, RunA&& run_a, RunB&& run_b) {
  Pair p;
  for (int r = -1; r < rounds; ++r) {
    double ta = 0, tb = 0;
    if (r % 2 == 0) {
      ta = run_a(), tb = run_b();
    } else {
      tb = run_b(), ta = run_a();
    }
    if (r >= 0) p.add(ta, tb);
  }
  return p;
}

int positive(const char* flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 100000) {
    std::fprintf(stderr, "compare_sources: %s expects a positive integer, got '%s'\n", flag, text);
    std::exit(2);
  }
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, rounds = 20;
  std::string filter;
  bool stages = false;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--threads") && has_value) threads = positive("--threads", argv[++i]);
    else if (!std::strcmp(argv[i], "--rounds") && has_value) rounds = positive("--rounds", argv[++i]);
    else if (!std::strcmp(argv[i], "--filter") && has_value) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--stages")) stages = true;
    else {
      std::fprintf(stderr, "usage: compare_sources [--threads N] [--rounds R] [--filter TEXT] [--stages]\n");
      return 2;
    }
  }
  std::vector<int> convs;
  for (int i = 0; i < conv_count_b(); ++i)
    if (std::string(conv_name_b(i)).find(filter) != std::string::npos) convs.push_back(i);
  if (!stages && convs.empty()) {
    std::fprintf(stderr, "compare_sources: no convolution's name contains '%s'\n", filter.c_str());
    return 1;
  }
  std::printf("A against B in one process, %d thread(s), %d interleaved rounds; ms, fastest round; below 1, B is "
              "faster\n\n",
              threads, rounds);
  if (stages) {
    const char* names[5] = {"stem", "layer1", "layer2", "layer3", "layer4"};
    std::printf("| r2plus1d_18 stage | A | B | B / A, fastest | B / A, median of rounds | outputs differ by |\n");
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    std::vector<float> in(static_cast<std::size_t>(3 * 16 * 112 * 112));
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
    long shape[5] = {1, 3, 16, 112, 112};
    double sum_a = 0, sum_b = 0;
    for (int s = 0; s < 5; ++s) {
      std::vector<float> out_a, out_b;
      long shape_a[5], shape_b[5];
      const Pair p = interleave(
          rounds, [&] { return stage_run_a(s, threads, in, shape, &out_a, shape_a); },
          [&] { return stage_run_b(s, threads, in, shape, &out_b, shape_b); });
      std::printf("| %s | %.2f | %.2f | %.3f | %.3f | %.1e |\n", names[s], p.fastest_a(), p.fastest_b(),
                  p.fastest_b() / p.fastest_a(), p.median_ratio(), relative_difference(out_a, out_b));
      sum_a += p.fastest_a(), sum_b += p.fastest_b();
      in = std::move(out_a);  // both sides run the next stage on A's output
      std::copy(shape_a, shape_a + 5, shape);
    }
    std::printf("| stem to layer4 | %.1f | %.1f | %.3f | | |\n", sum_a, sum_b, sum_b / sum_a);
    return 0;
  }
  std::printf("| conv | A | B | B / A, fastest | B / A, median of rounds | GFLOP/s, A | GFLOP/s, B "
              "| outputs differ by |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const int i : convs) {
    const Pair p = interleave(
        rounds, [&] { return conv_run_a(i, threads, nullptr); }, [&] { return conv_run_b(i, threads, nullptr); });
    std::vector<float> out_a, out_b;
    conv_run_a(i, threads, &out_a);
    conv_run_b(i, threads, &out_b);
    const double flops = conv_flops_b(i);
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.1e |\n", conv_name_b(i), p.fastest_a(),
                p.fastest_b(), p.fastest_b() / p.fastest_a(), p.median_ratio(), flops / p.fastest_a() / 1e6,
                flops / p.fastest_b() / 1e6, relative_difference(out_a, out_b));
  }
  return 0;
}

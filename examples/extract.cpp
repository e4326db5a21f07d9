// r2plus1d-extract: R(2+1)D features (N, 512) or class scores for clips
// (N, 3, T, H, W).
//
//   r2plus1d-extract --arch seed --layers 2,2,2,2 --weights W.safetensors
//                    --input X.npy --output Y.npy [--threads N]
//   r2plus1d-extract --arch r2plus1d_18 --weights r2plus1d_18.safetensors
//                    --input X.npy --topk 5
//
// Without --input it runs a built-in synthetic clip (1, 3, 16, 112, 112);
// without --weights it uses seeded random weights and says so on stderr.

#include <CLI/CLI.hpp>

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* kTool = "r2plus1d-extract";

struct Args {
  std::string arch = "seed";
  std::string layers = "2,2,2,2";
  std::string weights;
  std::string input;
  std::string output;
  int threads = 0;
  std::uint64_t seed = r2plus1d::Generator::kDefaultSeed;
  bool overwrite = false;
  bool logits = false;
  int topk = 0;
  long num_classes = 0;  // 0: from the weights, else 400
};

std::array<r2plus1d::index_t, 4> parse_layers(const std::string& s) {
  std::array<r2plus1d::index_t, 4> out{};
  std::stringstream ss(s);
  std::string item;
  std::size_t n = 0;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (n >= 4 || used != item.size() || item.empty() || v < 1)
      throw r2plus1d::OptionError("--layers: expected four positive integers like 2,2,2,2, got '" + s + "'");
    out[n++] = v;
  }
  if (n != 4) throw r2plus1d::OptionError("--layers: expected four positive integers like 2,2,2,2, got '" + s + "'");
  return out;
}

// A deterministic clip with structure in space and time: coloured waves that
// drift from frame to frame, roughly in the range of normalised video.
r2plus1d::Tensor<float, 5> builtin_clip() {
  const r2plus1d::index_t T = 16, H = 112, W = 112;
  r2plus1d::Tensor<float, 5> x = r2plus1d::Tensor<float, 5>::empty({1, 3, T, H, W});
  for (r2plus1d::index_t c = 0; c < 3; ++c)
    for (r2plus1d::index_t t = 0; t < T; ++t)
      for (r2plus1d::index_t h = 0; h < H; ++h)
        for (r2plus1d::index_t w = 0; w < W; ++w)
          x(0, c, t, h, w) = static_cast<float>(
              1.5 * std::sin(0.11 * static_cast<double>(w + 3 * t) + 0.7 * static_cast<double>(c)) *
              std::cos(0.07 * static_cast<double>(h - 2 * t) - 0.3 * static_cast<double>(c)));
  return x;
}

// Number of classes of the head `key` ("linear.weight", "fc.weight") in the
// weights, or `fallback` when there are no weights or no such key.
r2plus1d::index_t head_classes(const r2plus1d::io::SafetensorsReader* reader, const std::string& key,
                               r2plus1d::index_t fallback) {
  if (reader == nullptr || !reader->contains(key)) return fallback;
  const auto& shape = reader->info(key).shape;
  if (shape.size() != 2 || shape[0] < 1)
    throw r2plus1d::StateDictError("'" + key + "' has shape " + r2plus1d::format_shape(shape) +
                                   ", expected [num_classes, 512]");
  return shape[0];
}

void print_topk(const r2plus1d::Tensor<float, 2>& scores, int k) {
  const auto classes = scores.size(1);
  const auto kk = std::min<r2plus1d::index_t>(k, classes);
  for (r2plus1d::index_t n = 0; n < scores.size(0); ++n) {
    std::vector<r2plus1d::index_t> order(static_cast<std::size_t>(classes));
    for (r2plus1d::index_t c = 0; c < classes; ++c) order[static_cast<std::size_t>(c)] = c;
    std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                      [&](auto a, auto b) { return scores(n, a) > scores(n, b); });
    double top = scores(n, order[0]), sum = 0;
    for (r2plus1d::index_t c = 0; c < classes; ++c) sum += std::exp(double(scores(n, c)) - top);
    for (r2plus1d::index_t r = 0; r < kk; ++r) {
      const auto c = order[static_cast<std::size_t>(r)];
      const std::string name = classes == 400 ? std::string(r2plus1d::kKinetics400Categories[static_cast<std::size_t>(c)])
                                              : "class " + std::to_string(c);
      std::printf("clip %lld top%lld: %-32s p=%.4f score=%.4f\n", static_cast<long long>(n),
                  static_cast<long long>(r + 1), name.c_str(), std::exp(double(scores(n, c)) - top) / sum,
                  double(scores(n, c)));
    }
  }
}

void print_summary(const r2plus1d::Tensor<float, 2>& y, const char* what) {
  for (r2plus1d::index_t n = 0; n < y.size(0); ++n) {
    double norm = 0;
    for (r2plus1d::index_t k = 0; k < y.size(1); ++k) norm += double(y(n, k)) * y(n, k);
    std::printf("clip %lld: %lld-d %s, L2 norm %.6g, first values %.6g %.6g %.6g %.6g\n", static_cast<long long>(n),
                static_cast<long long>(y.size(1)), what, std::sqrt(norm), y(n, 0), y(n, 1), y(n, 2), y(n, 3));
  }
}

// Runs `model` (features or scores), then writes or prints the result.
template <class Model, class Forward>
int run_model(Model& model, const r2plus1d::io::SafetensorsReader* reader, const std::string& prefix, const Args& a,
              const r2plus1d::Tensor<float, 5>& x, Forward forward) {
  using namespace r2plus1d;
  if (reader == nullptr)
    std::cerr << kTool << ": no --weights given; using seeded random weights (seed " << a.seed << ")\n";
  else if (prefix.empty())
    model.load_state_dict(*reader);
  else
    model.load_state_dict(nn::prefixed(*reader, prefix));
  model.eval();

  const auto t0 = std::chrono::steady_clock::now();
  const Tensor<float, 2> y = forward(model, x.cview());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << kTool << ": " << x.size(0) << " clip(s) " << format_shape<5>(x.shape()) << " in " << secs << " s ("
            << get_num_threads() << " thread(s))\n";

  const bool scores = a.logits || a.topk > 0;
  if (!a.output.empty()) {
    io::save_npy<float, 2>(a.output, y.cview());
    std::cerr << kTool << ": wrote " << format_shape<2>(y.shape()) << (scores ? " class scores" : " features")
              << " to " << a.output << "\n";
  }
  if (a.topk > 0)
    print_topk(y, a.topk);
  else if (a.output.empty())
    print_summary(y, scores ? "class scores" : "features");
  return 0;
}

template <class Net>
int run_video(const Args& a, const r2plus1d::io::SafetensorsReader* reader, const r2plus1d::Tensor<float, 5>& x,
              r2plus1d::Generator& gen) {
  Net net({2, 2, 2, 2}, head_classes(reader, "fc.weight", a.num_classes > 0 ? a.num_classes : 400), gen);
  const bool scores = a.logits || a.topk > 0;
  return run_model(net, reader, "", a, x, [scores](Net& m, r2plus1d::TensorView<const float, 5> v) {
    return scores ? m.forward(v) : m.features(v);
  });
}

int run(const Args& a) {
  using namespace r2plus1d;
  if (a.arch != "seed" && a.arch != "r2plus1d_18" && a.arch != "r3d_18" && a.arch != "mc3_18")
    throw OptionError("--arch: unknown architecture '" + a.arch + "' (expected seed, r2plus1d_18, r3d_18 or mc3_18)");
  if (a.threads > 0) set_num_threads(a.threads);
  if (!a.output.empty() && !a.overwrite && std::filesystem::exists(a.output))
    throw IoError("output '" + a.output + "' exists; pass --overwrite to replace it");
  const bool scores = a.logits || a.topk > 0;

  std::optional<io::SafetensorsReader> reader;
  if (!a.weights.empty()) reader.emplace(a.weights);
  const io::SafetensorsReader* r = reader ? &*reader : nullptr;

  Tensor<float, 5> x = a.input.empty() ? builtin_clip() : io::load_npy<float, 5>(a.input);
  if (a.input.empty()) std::cerr << kTool << ": no --input given; using the built-in synthetic clip [1, 3, 16, 112, 112]\n";

  Generator gen(a.seed);
  if (a.arch == "r2plus1d_18") return run_video<video::R2Plus1D18<float>>(a, r, x, gen);
  if (a.arch == "r3d_18") return run_video<video::R3D18<float>>(a, r, x, gen);
  if (a.arch == "mc3_18") return run_video<video::MC318<float>>(a, r, x, gen);

  const auto layers = parse_layers(a.layers);
  // R2Plus1DClassifier checkpoints hold the backbone under "res2plus1d." and the head under "linear.".
  bool classifier = false;
  if (r != nullptr)
    for (const auto& info : r->infos())
      if (info.name.rfind("res2plus1d.", 0) == 0) classifier = true;
  if (scores) {
    if (r != nullptr && !classifier)
      throw StateDictError("--logits and --topk with --arch seed need R2Plus1DClassifier weights "
                           "(keys 'res2plus1d.*' and 'linear.*'); '" + a.weights + "' has none");
    R2Plus1DClassifier<float> clf(head_classes(r, "linear.weight", a.num_classes > 0 ? a.num_classes : 400), layers, gen);
    return run_model(clf, r, "", a, x, [](auto& m, TensorView<const float, 5> v) { return m.forward(v); });
  }
  R2Plus1DNet<float> net(layers, gen);
  return run_model(net, r, classifier ? "res2plus1d." : "", a, x,
                   [](auto& m, TensorView<const float, 5> v) { return m.forward(v); });
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"R(2+1)D features (N, 512) for video clips (N, 3, T, H, W), on the CPU.", kTool};
  app.add_option("--arch", a.arch,
                 "Network: seed (R2Plus1DNet / R2Plus1DClassifier), or torchvision's r2plus1d_18, r3d_18, mc3_18")
      ->capture_default_str();
  app.add_option("--layers", a.layers, "Blocks per residual layer for --arch seed, e.g. 2,2,2,2 (R(2+1)D-18)")
      ->capture_default_str();
  app.add_option("--weights", a.weights,
                 "safetensors weights for --arch (tools/convert_checkpoint.py makes them from PyTorch checkpoints, "
                 "torchvision's included); default: seeded random weights");
  app.add_option("--input", a.input,
                 ".npy clips, float32 or float64, C order, shape (N, 3, T, H, W); default: a built-in synthetic "
                 "clip (1, 3, 16, 112, 112)");
  app.add_option("--output", a.output,
                 ".npy file for the float32 (N, 512) features, or (N, classes) scores with --logits; default: a "
                 "summary on stdout");
  app.add_flag("--logits", a.logits,
               "Write class scores (fc for torchvision models, linear for R2Plus1DClassifier) instead of features");
  app.add_option("--topk", a.topk, "Print the top K classes and their probabilities per clip (Kinetics-400 names "
                                   "for 400-class heads)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--num-classes", a.num_classes,
                 "Classes of the head when the weights do not say (no --weights); default 400")
      ->check(CLI::Range(1L, 1000000L));
  app.add_flag("--overwrite", a.overwrite, "Replace --output if it exists");
  app.add_option("--threads", a.threads, "Threads for all parallel work (default: all cores)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--seed", a.seed, "Seed of the random weights used without --weights")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << kTool << ": error: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    return run(a);
  } catch (const r2plus1d::Error& e) {
    std::cerr << kTool << ": error: " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << kTool << ": error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << kTool << ": error: " << e.what() << "\n";
  }
  return 1;
}

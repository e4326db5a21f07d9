// r2plus1d-extract: R(2+1)D features (N, 512) for clips (N, 3, T, H, W).
//
//   r2plus1d-extract --arch seed --layers 2,2,2,2 --weights W.safetensors
//                    --input X.npy --output Y.npy [--threads N]
//
// Without --input it runs a built-in synthetic clip (1, 3, 16, 112, 112);
// without --weights it uses seeded random weights and says so on stderr.

#include <CLI/CLI.hpp>

#include <r2plus1d/r2plus1d.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
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

template <class Net>
void load_weights(Net& net, const std::string& path) {
  const r2plus1d::io::SafetensorsReader reader(path);
  // R2Plus1DClassifier checkpoints hold the backbone under "res2plus1d."; the head is not needed.
  bool classifier = false;
  for (const auto& info : reader.infos())
    if (info.name.rfind("res2plus1d.", 0) == 0) classifier = true;
  if (classifier)
    net.load_state_dict(r2plus1d::nn::prefixed(reader, "res2plus1d."));
  else
    net.load_state_dict(reader);
}

int run(const Args& a) {
  using namespace r2plus1d;
  if (a.arch != "seed") throw OptionError("--arch: unknown architecture '" + a.arch + "' (expected seed)");
  const auto layers = parse_layers(a.layers);
  if (a.threads < 0) throw OptionError("--threads: expected a positive count, got " + std::to_string(a.threads));
  if (a.threads > 0) set_num_threads(a.threads);
  if (!a.output.empty() && !a.overwrite && std::filesystem::exists(a.output))
    throw IoError("output '" + a.output + "' exists; pass --overwrite to replace it");

  Tensor<float, 5> x = a.input.empty() ? builtin_clip() : io::load_npy<float, 5>(a.input);
  if (a.input.empty()) std::cerr << kTool << ": no --input given; using the built-in synthetic clip [1, 3, 16, 112, 112]\n";

  Generator gen(a.seed);
  R2Plus1DNet<float> net(layers, gen);
  if (a.weights.empty())
    std::cerr << kTool << ": no --weights given; using seeded random weights (seed " << a.seed << ")\n";
  else
    load_weights(net, a.weights);
  net.eval();

  const auto t0 = std::chrono::steady_clock::now();
  const Tensor<float, 2> features = net(x);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << kTool << ": " << x.size(0) << " clip(s) " << format_shape<5>(x.shape()) << " in " << secs << " s ("
            << get_num_threads() << " thread(s))\n";

  if (!a.output.empty()) {
    io::save_npy<float, 2>(a.output, features.cview());
    std::cerr << kTool << ": wrote " << format_shape<2>(features.shape()) << " features to " << a.output << "\n";
  } else {
    for (index_t n = 0; n < features.size(0); ++n) {
      double norm = 0;
      for (index_t k = 0; k < features.size(1); ++k) norm += double(features(n, k)) * features(n, k);
      std::printf("clip %lld: 512-d features, L2 norm %.6g, first values %.6g %.6g %.6g %.6g\n",
                  static_cast<long long>(n), std::sqrt(norm), features(n, 0), features(n, 1), features(n, 2),
                  features(n, 3));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"R(2+1)D features (N, 512) for video clips (N, 3, T, H, W), on the CPU.", kTool};
  app.add_option("--arch", a.arch, "Network: seed (the reference R2Plus1DNet)")->capture_default_str();
  app.add_option("--layers", a.layers, "Blocks per residual layer for --arch seed, e.g. 2,2,2,2 (R(2+1)D-18)")
      ->capture_default_str();
  app.add_option("--weights", a.weights,
                 "safetensors weights of R2Plus1DNet or R2Plus1DClassifier (tools/convert_checkpoint.py makes them "
                 "from PyTorch); default: seeded random weights");
  app.add_option("--input", a.input,
                 ".npy clips, float32 or float64, C order, shape (N, 3, T, H, W); default: a built-in synthetic "
                 "clip (1, 3, 16, 112, 112)");
  app.add_option("--output", a.output, ".npy file for the float32 (N, 512) features; default: a summary on stdout");
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

#pragma once
// r2plus1d-extract's networks: --arch and --layers to the model (the seed's
// R2Plus1DNet or R2Plus1DClassifier, torchvision's VideoResNet family), its
// head's classes from the weights, and a hint naming the --arch the weights
// fit when they do not load; then the model over the clip mode's input or a
// dataset run's inputs.

#include "extract_args.hpp"
#include "extract_clips.hpp"
#include "extract_outputs.hpp"
#include "extract_print.hpp"
#include "extract_run.hpp"
#include "extract_run_dir.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

namespace extract {

// Number of classes of the head `key` ("linear.weight", "fc.weight") in the
// weights, or `fallback` when there are no weights or no such key.
inline r2plus1d::index_t head_classes(const r2plus1d::io::SafetensorsReader* reader, const std::string& key,
                                      r2plus1d::index_t fallback) {
  if (reader == nullptr || !reader->contains(key)) return fallback;
  const auto& shape = reader->info(key).shape;
  if (shape.size() != 2 || shape[0] < 1)
    throw r2plus1d::StateDictError("'" + key + "' has shape " + r2plus1d::format_shape(shape) +
                                   ", expected [num_classes, 512]");
  return shape[0];
}

// "these weights match --arch X[ --layers ...], not --arch Y; " when the
// weights of `reader` are those of another network than the one asked for,
// else "".
inline std::string arch_hint(const r2plus1d::io::SafetensorsReader& reader, const Args& a) {
  const std::optional<r2plus1d::Architecture> m = r2plus1d::match_architecture(reader);
  if (!m) return "";
  const std::string want = "--arch " + m->arch + layers_flag(m->arch, m->layers);
  const std::string asked = "--arch " + a.arch + (a.arch == "seed" ? layers_flag(a.arch, parse_layers(a.layers)) : "");
  if (want == asked) return "";
  return "these weights match " + want + ", not " + asked + "; ";
}


// Runs `model` (features or scores), then writes or prints the result: over
// `x` (one .npy or the built-in clip), or over the inputs of a dataset run.
template <class Model, class Forward>
int run_model(Model& model, const r2plus1d::io::SafetensorsReader* reader, const std::string& prefix, const Args& a,
              const r2plus1d::Tensor<float, 5>* clips, Forward forward) {
  using namespace r2plus1d;
  if (reader == nullptr) {
    if (!a.quiet) std::cerr << kTool << ": no --weights given; using seeded random weights (seed " << a.seed << ")\n";
  } else {
    try {
      if (prefix.empty())
        model.load_state_dict(*reader);
      else
        model.load_state_dict(nn::prefixed(*reader, prefix));
    } catch (const StateDictError& e) {
      throw StateDictError("'" + a.weights + "': " + arch_hint(*reader, a) + e.what());
    }
  }
  model.eval();
  // The weights stay as loaded for the whole run: their Winograd transforms
  // are kept from one batch to the next (93 MB for r2plus1d_18) unless asked not to.
  model.set_weight_cache(!a.no_weight_cache);
  if (clips == nullptr) return run_dataset(a, [&](TensorView<const float, 5> v) { return forward(model, v); });
  const Tensor<float, 5>& x = *clips;

  const auto t0 = std::chrono::steady_clock::now();
  const bool scores = a.logits || a.topk > 0;
  Tensor<float, 2> y = forward(model, x.cview());
  if (a.video_level) y = io::average_clips(y, scores);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet)
    std::cerr << kTool << ": " << x.size(0) << " clip(s) " << format_shape<5>(x.shape()) << " in " << secs << " s ("
              << get_num_threads() << " thread(s))\n";

  const char* what = scores ? (a.video_level ? " mean class probabilities" : " class scores") : " features";
  if (!a.output.empty()) {
    extract::OutputRows o = output_rows(a, a.input);
    for (index_t n = 0; n < y.size(0); ++n) o.records.push_back({n});
    extract::write_output(a.output, y, o);
    if (!a.quiet) std::cerr << kTool << ": wrote " << format_shape<2>(y.shape()) << what << " to " << a.output << "\n";
  }
  if (a.topk > 0)
    print_topk(y, a.topk, "", a.video_level);
  else if (a.output.empty())
    print_summary(y, what + 1, "", a.video_level);
  return 0;
}

// torchvision's VideoResNet family: the *_18 from their blocks per layer,
// r2plus1d_34 from its own options (Caffe2's BatchNorm, midplanes per layer).
template <class Net>
Net make_video_net(const std::string& arch, r2plus1d::index_t classes, r2plus1d::Generator& gen) {
  if (arch == "r2plus1d_34") return Net(r2plus1d::video::r2plus1d_34_options(classes), gen);
  return Net({2, 2, 2, 2}, classes, gen);
}

// A network of torchvision's family, its head's classes from the weights (or
// --num-classes), for features or, with --logits or --topk, class scores.
template <class Net>
int run_video(const Args& a, const r2plus1d::io::SafetensorsReader* reader, const r2plus1d::Tensor<float, 5>* x,
              r2plus1d::Generator& gen) {
  Net net = make_video_net<Net>(a.arch, head_classes(reader, "fc.weight", a.num_classes > 0 ? a.num_classes : 400), gen);
  const bool scores = a.logits || a.topk > 0;
  return run_model(net, reader, "", a, x, [scores](Net& m, r2plus1d::TensorView<const float, 5> v) {
    return scores ? m.forward(v) : m.features(v);
  });
}

// The tool once its command line is read: the options checked, the weights
// and the clip mode's input read, then the network --arch names run (or --merge).
inline int run(const Args& a) {
  using namespace r2plus1d;
  if (a.arch != "seed" && a.arch != "r2plus1d_18" && a.arch != "r2plus1d_34" && a.arch != "r3d_18" && a.arch != "mc3_18")
    throw OptionError("--arch: unknown architecture '" + a.arch +
                      "' (expected seed, r2plus1d_18, r2plus1d_34, r3d_18 or mc3_18)");
  if (a.threads > 0) set_num_threads(a.threads);
  if (!extract::is_format(a.format))
    throw OptionError("--format: expected npy, csv or jsonl, got '" + a.format + "'");
  if (!a.merge.empty()) return run_merge(a);
  if (a.shard_count > 0 && a.shard.empty()) throw OptionError("--shard-count goes with --shard auto");
  const bool dataset = !a.inputs.empty();
  if (a.clips_per_video > 0 && a.step_given)
    throw OptionError("--clips-per-video and --step: give one (--step cuts a clip every N frames, --clips-per-video "
                      "spreads K clips over each video)");
  if (!dataset && (a.clips_per_video > 0 || a.crops != 1))
    throw OptionError("--clips-per-video and --crops apply to videos; " +
                      (a.input.empty() ? std::string("the built-in clip") : "'" + a.input + "'") +
                      " holds clips already cut (--video-level averages them)");
  if (!dataset && !a.output.empty() && !a.overwrite && std::filesystem::exists(a.output))
    throw IoError("output '" + a.output + "' exists; pass --overwrite to replace it");
  const bool scores = a.logits || a.topk > 0;

  std::optional<io::SafetensorsReader> reader;
  if (!a.weights.empty()) reader.emplace(a.weights);
  const io::SafetensorsReader* r = reader ? &*reader : nullptr;

  std::optional<Tensor<float, 5>> clips;
  if (!dataset) {
    clips.emplace(a.input.empty() ? builtin_clip() : io::load_npy<float, 5>(a.input));
    if (a.input.empty() && !a.quiet)
      std::cerr << kTool << ": no --input given; using the built-in synthetic clip [1, 3, 16, 112, 112]\n";
  }
  const Tensor<float, 5>* x = clips ? &*clips : nullptr;

  Generator gen(a.seed);
  if (a.arch == "r2plus1d_18") return run_video<video::R2Plus1D18<float>>(a, r, x, gen);
  if (a.arch == "r2plus1d_34") return run_video<video::R2Plus1D34<float>>(a, r, x, gen);
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
      throw StateDictError("'" + a.weights + "': " + arch_hint(*r, a) +
                           "--logits and --topk with --arch seed need R2Plus1DClassifier weights "
                           "(keys 'res2plus1d.*' and 'linear.*'); '" + a.weights + "' has none");
    R2Plus1DClassifier<float> clf(head_classes(r, "linear.weight", a.num_classes > 0 ? a.num_classes : 400), layers, gen);
    return run_model(clf, r, "", a, x, [](auto& m, TensorView<const float, 5> v) { return m.forward(v); });
  }
  R2Plus1DNet<float> net(layers, gen);
  return run_model(net, r, classifier ? "res2plus1d." : "", a, x,
                   [](auto& m, TensorView<const float, 5> v) { return m.forward(v); });
}

}  // namespace extract

// r2plus1d-extract: R(2+1)D features (N, 512) or class scores for videos, or
// for clips (N, 3, T, H, W) in .npy files.
//
//   r2plus1d-extract --arch r2plus1d_18 --weights r2plus1d_18.safetensors
//                    --output-dir features/ videos/ more.mp4
//   r2plus1d-extract --arch seed --layers 2,2,2,2 --weights W.safetensors
//                    --input X.npy --output Y.npy [--threads N]
//
// Videos (any container and codec FFmpeg decodes, when built with FFmpeg) are
// cut into clips of --clip-len frames every --step frames (or --clips-per-video
// K spread over each video) and preprocessed as torchvision's video
// classification preset (--crops 3 or 10: several crops of each clip); each
// gives one .npy of (clips, 512) and rows in the output directory's index.csv,
// or with --video-level one (1, D) mean over its clips and crops. Without --input it
// runs a built-in synthetic clip (1, 3, 16, 112, 112); without --weights it
// uses seeded random weights and says so on stderr.

#include <CLI/CLI.hpp>

#include <r2plus1d/r2plus1d.hpp>
#ifdef R2PLUS1D_EXTRACT_VIDEO
#include <r2plus1d/io/video.hpp>
#endif

#include "cli_layers.hpp"
#include "extract_dataset.hpp"
#include "extract_eval.hpp"
#include "extract_files.hpp"
#include "extract_index.hpp"
#include "extract_inputs.hpp"
#include "extract_merge.hpp"
#include "extract_output_dir.hpp"
#include "extract_outputs.hpp"
#include "extract_video_level.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr const char* kTool = "r2plus1d-extract";
using r2plus1d::index_t;

// Exit status when some inputs failed and the others were written.
constexpr int kSomeFailed = 3;

// The video reader's default frame size limit, here too when built without FFmpeg.
constexpr std::int64_t kMaxPixels = std::int64_t{8192} * 4320;
#ifdef R2PLUS1D_EXTRACT_VIDEO
static_assert(kMaxPixels == r2plus1d::io::kDefaultMaxVideoPixels);
#endif

struct Args {
  std::string arch = "seed";
  std::string layers = "2,2,2,2";
  std::string weights;
  std::string input;  // the single .npy (or no input): the original clip mode
  std::vector<std::string> inputs;
  std::string input_list;
  std::string output;
  std::string output_dir;
  std::string format = "npy";
  std::string shard;
  long shard_count = 0;  // N of --shard auto in a Kubernetes Indexed Job
  std::string merge;     // --merge DIR
  std::string labels;       // --labels LIST: evaluate the scores
  std::string class_index;  // --class-index classInd.txt
  std::optional<r2plus1d::io::LabelledList> labelled;  // read from --labels
  index_t clip_len = 16;
  index_t step = 16;
  bool step_given = false;
  index_t clips_per_video = 0;  // 0: a clip every --step frames
  int crops = 1;
  bool video_level = false;
  double fps = 0;  // 0: the video's own rate
  std::int64_t max_pixels = kMaxPixels;
  index_t batch = 4;
  bool quiet = false;
  int threads = 0;
  std::uint64_t seed = r2plus1d::Generator::kDefaultSeed;
  bool overwrite = false;
  bool strict = false;  // a truncated or damaged video is an error
  bool logits = false;
  int topk = 0;
  long num_classes = 0;  // 0: from the weights, else 400
};

using cli::parse_layers;

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

// The top `k` classes of each row: class scores (softmax taken here), or with
// `video` one video-level row of probabilities.
void print_topk(const r2plus1d::Tensor<float, 2>& scores, int k, const std::string& prefix = "", bool video = false) {
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
      if (video) {
        std::printf("%svideo top%lld: %-32s p=%.4f\n", prefix.c_str(), static_cast<long long>(r + 1), name.c_str(),
                    double(scores(n, c)));
        continue;
      }
      std::printf("%sclip %lld top%lld: %-32s p=%.4f score=%.4f\n", prefix.c_str(), static_cast<long long>(n),
                  static_cast<long long>(r + 1), name.c_str(), std::exp(double(scores(n, c)) - top) / sum,
                  double(scores(n, c)));
    }
  }
}

void print_summary(const r2plus1d::Tensor<float, 2>& y, const char* what, const std::string& prefix = "",
                   bool video = false) {
  for (r2plus1d::index_t n = 0; n < y.size(0); ++n) {
    double norm = 0;
    for (r2plus1d::index_t k = 0; k < y.size(1); ++k) norm += double(y(n, k)) * y(n, k);
    std::printf("%s%s %lld: %lld-d %s, L2 norm %.6g, first values %.6g %.6g %.6g %.6g\n", prefix.c_str(),
                video ? "video" : "clip", static_cast<long long>(n),
                static_cast<long long>(y.size(1)), what, std::sqrt(norm), y(n, 0), y(n, 1), y(n, 2), y(n, 3));
  }
}

// " --layers 2,2,2,2" for --arch seed, "" for the others.
std::string layers_flag(const std::string& arch, const std::array<index_t, 4>& layers) {
  if (arch != "seed") return "";
  std::string s = " --layers ";
  for (std::size_t l = 0; l < 4; ++l) s += (l ? "," : "") + std::to_string(layers[l]);
  return s;
}

// "these weights match --arch X[ --layers ...], not --arch Y; " when the
// weights of `reader` are those of another network than the one asked for,
// else "".
std::string arch_hint(const r2plus1d::io::SafetensorsReader& reader, const Args& a) {
  const std::optional<r2plus1d::Architecture> m = r2plus1d::match_architecture(reader);
  if (!m) return "";
  const std::string want = "--arch " + m->arch + layers_flag(m->arch, m->layers);
  const std::string asked = "--arch " + a.arch + (a.arch == "seed" ? layers_flag(a.arch, parse_layers(a.layers)) : "");
  if (want == asked) return "";
  return "these weights match " + want + ", not " + asked + "; ";
}

using ForwardFn = std::function<r2plus1d::Tensor<float, 2>(r2plus1d::TensorView<const float, 5>)>;

// What the outputs of `input` say beside their numbers (--format csv and jsonl).
extract::OutputRows output_rows(const Args& a, const std::string& input) {
  extract::OutputRows o;
  o.format = a.format;
  o.scores = a.logits || a.topk > 0;
  o.video_level = a.video_level;
  o.full_scores = a.logits || a.labelled.has_value();
  o.topk = a.topk > 0 ? a.topk : 5;
  o.crops = a.crops;
  o.input = input;
  return o;
}

int run_dataset(const Args& a, const ForwardFn& forward);
int run_merge(const Args& a);

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

template <class Net>
int run_video(const Args& a, const r2plus1d::io::SafetensorsReader* reader, const r2plus1d::Tensor<float, 5>* x,
              r2plus1d::Generator& gen) {
  Net net = make_video_net<Net>(a.arch, head_classes(reader, "fc.weight", a.num_classes > 0 ? a.num_classes : 400), gen);
  const bool scores = a.logits || a.topk > 0;
  return run_model(net, reader, "", a, x, [scores](Net& m, r2plus1d::TensorView<const float, 5> v) {
    return scores ? m.forward(v) : m.features(v);
  });
}

int run(const Args& a) {
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


// Timings of a dataset run, for the closing summary.
struct Stats {
  double decode_s = 0;  // decoding and preprocessing
  double net_s = 0;     // the network
  index_t frames = 0;   // frames decoded
  index_t clips = 0;
  std::size_t damaged = 0;  // videos truncated or with damaged packets, run on what decoded
};

// Forward passes of `batch` clips at a time, rows gathered into one (clips, D) tensor.
class Rows {
 public:
  void add(const r2plus1d::Tensor<float, 2>& y) {
    dim_ = y.size(1);
    data_.insert(data_.end(), y.data(), y.data() + y.numel());
  }
  r2plus1d::Tensor<float, 2> take() const {
    const index_t n = dim_ > 0 ? static_cast<index_t>(data_.size()) / dim_ : 0;
    r2plus1d::Tensor<float, 2> y = r2plus1d::Tensor<float, 2>::empty({n, dim_});
    std::copy(data_.begin(), data_.end(), y.data());
    return y;
  }

 private:
  std::vector<float> data_;
  index_t dim_ = 0;
};

// Shows progress and runs the network on `x`, timing it.
r2plus1d::Tensor<float, 2> timed_forward(const ForwardFn& forward, r2plus1d::TensorView<const float, 5> x, Stats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  r2plus1d::Tensor<float, 2> y = forward(x);
  st.net_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.clips += x.size(0);
  return y;
}

// Clips (N, 3, T, H, W) of an .npy file, `batch` at a time.
r2plus1d::Tensor<float, 2> run_npy(const std::string& path, const Args& a, const ForwardFn& forward, Stats& st,
                                   std::vector<extract::ClipRecord>& records) {
  using namespace r2plus1d;
  if (a.clips_per_video > 0 || a.crops != 1)
    throw OptionError("--clips-per-video and --crops apply to videos; '" + path +
                      "' holds clips already cut (--video-level averages them)");
  const Tensor<float, 5> x = io::load_npy<float, 5>(path);
  if (x.size(0) == 0)
    throw FormatError("'" + path + "' holds no clips: shape " + format_shape<5>(x.shape()) +
                      ", expected (N, 3, T, H, W) with N >= 1");
  Rows rows;
  const index_t per = x.numel() / std::max<index_t>(x.size(0), 1);
  for (index_t b = 0; b < x.size(0); b += a.batch) {
    const index_t n = std::min(a.batch, x.size(0) - b);
    TensorView<const float, 5> v(x.data() + b * per, {n, x.size(1), x.size(2), x.size(3), x.size(4)});
    rows.add(timed_forward(forward, v, st));
  }
  for (index_t n = 0; n < x.size(0); ++n) records.push_back({n, -1, -1});
  return rows.take();
}

// A video: decoded, resampled to --fps, cut into clips, preprocessed as
// torchvision's preset, and run `batch` clips at a time.
r2plus1d::Tensor<float, 2> run_video_file(const std::string& path, const Args& a, const ForwardFn& forward, Stats& st,
                                          std::vector<extract::ClipRecord>& records, extract::Progress& progress,
                                          std::size_t done_videos) {
  using namespace r2plus1d;
#ifdef R2PLUS1D_EXTRACT_VIDEO
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  io::VideoReader reader(path, io::VideoReaderOptions().threads(1).max_pixels(a.max_pixels));
  const io::VideoInfo& info = reader.info();
  double ratio = 1;  // source frames per sampled frame
  if (a.fps > 0) {
    if (info.fps <= 0) throw FormatError("video: '" + path + "': its frame rate is unknown, so --fps cannot resample it");
    ratio = info.fps / a.fps;
  }
  const auto sampled = static_cast<index_t>(static_cast<double>(info.frames) / ratio);
  const index_t per_step = sampled > a.clip_len ? (sampled - a.clip_len) / a.step + 1 : 1;
  // With --crops 3 or 10 the frames keep the preset's whole resize, and the crops are cut from it.
  io::VideoClassification preset;
  const index_t size = preset.crop_size()[0];
  if (a.crops != 1) preset.crop_size(preset.resize_size()[0], preset.resize_size()[1]);
  const index_t ch = preset.crop_size()[0], cw = preset.crop_size()[1];
  const index_t expected = (a.clips_per_video > 0 ? a.clips_per_video : per_step) * a.crops;
  Rows rows;
  const index_t clips_before = st.clips;
  const double rate = a.fps > 0 ? a.fps : info.fps;  // of the sampled stream; unknown: <= 0
  const extract::ClipBatch run = [&](const Tensor<float, 5>& x, std::vector<extract::ClipRecord> recs) {
    rows.add(timed_forward(forward, x.cview(), st));
    for (auto& r : recs) r.fps = rate;
    records.insert(records.end(), recs.begin(), recs.end());
    progress.update(done_videos, st.clips, expected, st.clips - clips_before);
  };
  extract::CropBatcher cropper(io::video_crops(a.crops, ch, cw, size), size, a.batch, run);
  const extract::ClipBatch clips =
      a.crops == 1 ? run : [&](const Tensor<float, 5>& x, std::vector<extract::ClipRecord> recs) { cropper.add(x, recs); };
  const bool uniform = a.clips_per_video > 0;
  extract::ClipSampler sampler(a.clip_len, a.step, a.batch, ch, cw, clips);
  extract::UniformClipSampler spread(a.clip_len, std::max<index_t>(a.clips_per_video, 1), a.batch, ch, cw, clips);
  io::VideoFrame f;
  std::vector<float> last;  // the last preprocessed frame, reused when --fps repeats it
  index_t last_index = -1, j = 0;
  double decode = std::chrono::duration<double>(Clock::now() - t0).count();
  for (;;) {
    t0 = Clock::now();
    if (!reader.read(f)) break;
    ++st.frames;
    decode += std::chrono::duration<double>(Clock::now() - t0).count();
    // Sampled frame j shows source frame floor(j * ratio), as torchvision's resampling.
    while (static_cast<index_t>(std::floor(static_cast<double>(j) * ratio + 1e-9)) == f.index) {
      if (uniform || sampler.wanted(j)) {
        t0 = Clock::now();
        if (last_index != f.index) {
          last.resize(static_cast<std::size_t>(3 * ch * cw));
          preset.frame(f.rgb.data(), f.height, f.width, last.data(), ch * cw);
          last_index = f.index;
        }
        decode += std::chrono::duration<double>(Clock::now() - t0).count();
        if (uniform)
          spread.push(last, f.index, f.time);
        else
          sampler.push(j, last, f.index, f.time);
      }
      ++j;
    }
  }
  const index_t padded = uniform ? spread.flush() : sampler.flush();
  cropper.flush();
  st.decode_s += decode;
  // A file cut short decodes fewer frames than its container lists, often
  // without a decoding error; damaged data shows as rejected packets.
  std::string damage;
  if (reader.frames_missing() > 0)
    damage = "truncated: decoded " + std::to_string(reader.frames_read()) + " of " +
             (info.frames_exact ? "the " : "about ") + std::to_string(reader.frames_read() + reader.frames_missing()) +
             (info.frames_exact ? " frames its container lists" : " frames (by its container's duration)");
  if (reader.decode_errors() > 0)
    damage += (damage.empty() ? "" : "; ") + std::string("skipped ") + std::to_string(reader.decode_errors()) +
              " damaged packet(s)";
  if (!damage.empty()) {
    if (a.strict) throw FormatError("video: '" + path + "': " + damage + " (--strict)");
    ++st.damaged;
    progress.message(std::string(kTool) + ": warning: '" + path + "': " + damage +
                     "; its clips cover the frames decoded (--strict makes this an error)");
  }
  if (padded > 0)
    progress.message(std::string(kTool) + ": note: '" + path + "' has " + std::to_string(padded) + " frame(s)" +
                     (a.fps > 0 ? " at --fps" : "") + ", fewer than --clip-len " + std::to_string(a.clip_len) +
                     "; its one clip repeats the last frame");
  return rows.take();
#else
  (void)a, (void)forward, (void)st, (void)records, (void)progress, (void)done_videos;
  throw IoError("'" + path + "': this r2plus1d-extract was built without FFmpeg and reads only .npy clips");
#endif
}

// The name of the output of `in` in --output-dir: its name and the format's
// extension, or, where that would be the index's name, with the input's own
// extension kept before it ("index.mp4" -> "index.mp4.csv").
std::string output_name(const extract::Input& in, const std::string& format) {
  std::string name = in.name + "." + format;
  if (extract::OutputDir::reserved(name))
    name = in.name + std::filesystem::path(in.path).extension().string() + "." + format;
  if (extract::OutputDir::reserved(name))
    throw r2plus1d::IoError("'" + in.path + "': its output '" + name + "' would be one of the tool's own files in " +
                            extract::kMetaDir + "; rename the input or its folder");
  return name;
}

// What decides the outputs' contents, recorded in --output-dir.
extract::Settings settings_of(const Args& a) {
  const bool scores = a.logits || a.topk > 0;
  char fps[40] = "own";
  if (a.fps > 0) std::snprintf(fps, sizeof fps, "%.17g", a.fps);
  std::string weights_file = a.weights;
  std::replace(weights_file.begin(), weights_file.end(), '\n', ' ');
  return {{"arch", a.arch},
          {"layers", a.arch == "seed" ? layers_flag("seed", parse_layers(a.layers)).substr(10) : "unused"},
          {"weights", a.weights.empty() ? "random (--seed " + std::to_string(a.seed) + ")"
                                        : "fnv1a64 " + extract::file_fingerprint(a.weights)},
          {"weights-file", weights_file},
          {"logits", scores ? "yes" : "no"},
          {"num-classes", a.weights.empty() && scores ? std::to_string(a.num_classes > 0 ? a.num_classes : 400)
                                                      : "unused"},
          {"clip-len", std::to_string(a.clip_len)},
          {"step", a.clips_per_video > 0 ? "unused" : std::to_string(a.step)},
          {"fps", fps},
          {"clips-per-video", a.clips_per_video > 0 ? std::to_string(a.clips_per_video) : "unused"},
          {"crops", std::to_string(a.crops)},
          {"video-level", a.video_level ? "yes" : "no"}};
}

// --labels: the accuracy of the scores the outputs `names` of `inputs` hold
// (those that exist with their rows), written to DIR/<file> and summarised.
void evaluate(const Args& a, const std::vector<extract::Input>& inputs, const std::vector<std::string>& names,
              const extract::Ledger& ledger, const std::string& file) {
  const extract::LabelMap labels(*a.labelled);
  extract::Evaluation eval(labels.num_classes(), labels.classes());
  r2plus1d::index_t not_evaluated = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (names[i].empty() || ledger.state(names[i]) != extract::Ledger::State::done) {
      ++not_evaluated;
      continue;
    }
    eval.add(inputs[i].path, labels.label(inputs[i].path, a.labels),
             extract::load_scores(ledger.output_path(names[i]), a.format), a.video_level);
  }
  const std::string path = (std::filesystem::path(a.output_dir.empty() ? a.merge : a.output_dir) / file).string();
  nlohmann::json j = eval.json(not_evaluated);
  j["labels"] = a.labels;
  extract::write_file(path, j.dump(2) + "\n");
  std::cerr << kTool << ": evaluation: " << eval.summary()
            << (not_evaluated > 0 ? "; " + std::to_string(not_evaluated) + " input(s) without scores left out" : "")
            << "; written to " << path << "\n";
}

int run_dataset(const Args& a, const ForwardFn& forward) {
  using namespace r2plus1d;
  std::vector<extract::Input> all = extract::expand_inputs(a.inputs);
  if (all.empty()) throw IoError("no videos to run: the given directories hold no video files");
  std::string index_name = "index.csv";
  const std::string shard = a.shard.empty() ? "" : extract::resolve_shard(a.shard, a.shard_count);
  if (!shard.empty()) {
    const auto [k, n] = extract::parse_shard(shard);
    std::vector<extract::Input> mine;
    for (std::size_t i = static_cast<std::size_t>(k); i < all.size(); i += static_cast<std::size_t>(n))
      mine.push_back(all[i]);
    all.swap(mine);
    index_name = "index." + std::to_string(k) + "-of-" + std::to_string(n) + ".csv";
  }
  if (!a.output.empty() && !a.output_dir.empty())
    throw OptionError("--output and --output-dir: give one (--output takes the features of one input, --output-dir "
                      "one file per input and the index)");
  if (a.labelled) {
    if (a.output_dir.empty())
      throw OptionError("--labels evaluates the scores of an --output-dir run; give --output-dir");
    const extract::LabelMap labels(*a.labelled);
    for (const auto& in : all) labels.label(in.path, a.labels);  // every input has a label, before any runs
  }
  if (!a.output.empty() && all.size() != 1)
    throw OptionError("--output takes the features of one input, got " + std::to_string(all.size()) +
                      " inputs; use --output-dir");

  extract::Progress progress(!a.quiet, isatty(STDERR_FILENO) != 0, all.size());
  // The directory is made, found writable, locked and its settings checked before any input runs.
  std::optional<extract::OutputDir> dir;
  std::optional<extract::Ledger> ledger;
  const std::string index_path = (std::filesystem::path(a.output_dir) / index_name).string();
  if (!a.output_dir.empty()) {
    dir.emplace(a.output_dir, index_name);
    if (dir->check_settings(settings_of(a), a.overwrite) && !a.quiet)
      progress.message(std::string(kTool) + ": note: --output-dir '" + a.output_dir +
                       "': new settings recorded (--overwrite); outputs there of inputs not run now keep the old ones");
    ledger.emplace(a.output_dir, dir->meta("rows"));
    ledger->adopt(index_path);
  }

  const bool scores = a.logits || a.topk > 0;
  Stats st;
  std::size_t done = 0, skipped = 0, failed = 0;
  std::map<std::string, std::string> owner;  // output -> input
  std::vector<std::string> names;            // the output names of this run's inputs, for a shard's index
  for (const auto& in : all) {
    const std::string& input = in.path;
    try {
      std::string out = a.output, name;
      if (ledger) {
        name = output_name(in, a.format);
        out = ledger->output_path(name);
      }
      if (!out.empty()) {
        const auto [it, fresh] = owner.emplace(out, input);
        if (!fresh)
          throw IoError("'" + input + "': its output '" + out + "' is also that of '" + it->second +
                        "'; give them different names");
      }
      const auto state = ledger ? ledger->state(name) : extract::Ledger::State::absent;
      if (ledger) names.push_back(name);
      if (!a.overwrite && (state == extract::Ledger::State::done ||
                           (!ledger && !out.empty() && std::filesystem::exists(out)))) {
        ++skipped;
        if (!a.quiet)
          progress.message(std::string(kTool) + ": skipped '" + input + "': '" + out +
                           "' exists (--overwrite recomputes it)");
        continue;
      }
      if (!a.overwrite && state == extract::Ledger::State::foreign) {
        ++skipped;
        if (!a.quiet)
          progress.message(std::string(kTool) + ": skipped '" + input + "': '" + out +
                           "' exists but has no index rows, so it is kept (--overwrite replaces it)");
        continue;
      }
      if (state == extract::Ledger::State::unfinished && !a.quiet)
        progress.message(std::string(kTool) + ": note: '" + input + "': computing '" + out +
                         "' again: an earlier run stopped before its index rows were stored");
      std::vector<extract::ClipRecord> records;
      Tensor<float, 2> y = extract::is_npy_name(input)
                               ? run_npy(input, a, forward, st, records)
                               : run_video_file(input, a, forward, st, records, progress, done + skipped + failed);
      if (a.video_level) {
        // One row per video, and one index row: the start of its first clip, the end of its last.
        y = io::average_clips(y, scores);
        extract::ClipRecord whole = records.front();
        for (const auto& r : records)
          if (r.end_frame > whole.end_frame) whole.end_frame = r.end_frame, whole.end_time = r.end_time;
        records.assign(1, whole);
      }
      extract::OutputRows rows_out = output_rows(a, input);
      rows_out.records = records;
      if (ledger) {
        // The rows first (staged), then the output, then the rows committed: an output counts as done only with its rows.
        extract::make_parent_dirs(out);
        const std::string staged = ledger->stage(name, extract::index_rows(input, out, records));
        try {
          extract::write_output(out, y, rows_out);
        } catch (...) {
          std::error_code ec;
          std::filesystem::remove(staged, ec);
          throw;
        }
        ledger->commit(staged, name);
      } else if (!out.empty()) {
        extract::write_output(out, y, rows_out);
      } else {
        progress.clear();
        if (a.topk == 0)
          print_summary(y, scores ? (a.video_level ? "mean class probabilities" : "class scores") : "features",
                        input + " ", a.video_level);
      }
      if (a.topk > 0) {
        progress.clear();
        print_topk(y, a.topk, input + " ", a.video_level);
      }
      std::fflush(stdout);
      ++done;
    } catch (const std::bad_alloc&) {
      ++failed;
      progress.message(std::string(kTool) + ": error: '" + input + "': out of memory");
    } catch (const std::exception& e) {
      ++failed;
      const std::string msg = e.what();
      progress.message(std::string(kTool) + ": error: " + (msg.find(input) == std::string::npos ? "'" + input + "': " : "") + msg);
    }
    progress.update(done + skipped + failed, st.clips, 0, 0);
  }
  // The index is rebuilt from the rows of each output: those of a shard's inputs, or all the directory's.
  bool index_ok = true;
  std::size_t rows = 0;
  if (ledger) {
    try {
      rows = ledger->write_index(index_path, shard.empty() ? nullptr : &names);
    } catch (const std::exception& e) {
      index_ok = false;
      progress.message(std::string(kTool) + ": error: index: " + e.what() +
                       "; the outputs written are kept, and the next run writes the index");
    }
  }
  progress.clear();
  if (!a.quiet) {
    const double secs = progress.elapsed();
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "%s: %zu input(s): %zu done, %zu skipped, %zu failed; %lld clip(s) in %.2f s (%.2f clips/s); "
                  "decode+preprocess %.1f frames/s, network %.2f clips/s (%d thread(s))",
                  kTool, all.size(), done, skipped, failed, static_cast<long long>(st.clips), secs,
                  secs > 0 ? static_cast<double>(st.clips) / secs : 0.0,
                  st.decode_s > 0 ? static_cast<double>(st.frames) / st.decode_s : 0.0,
                  st.net_s > 0 ? static_cast<double>(st.clips) / st.net_s : 0.0, get_num_threads());
    std::fprintf(stderr, "%s\n", buf);
    if (index_ok && rows > 0) std::fprintf(stderr, "%s: index of the clips: %s\n", kTool, index_path.c_str());
  }
  if (st.damaged > 0)
    std::fprintf(stderr, "%s: warning: %zu video(s) truncated or damaged, run on the frames that decoded (named above; "
                 "--strict makes them errors)\n", kTool, st.damaged);
  if (a.labelled && ledger) {
    std::vector<std::string> outs;
    for (const auto& in : all) outs.push_back(output_name(in, a.format));
    evaluate(a, all, outs, *ledger,
             shard.empty() ? "evaluation.json" : "evaluation." + index_name.substr(6, index_name.size() - 10) + ".json");
  }
  if (!index_ok) return 1;
  return failed > 0 ? kSomeFailed : 0;
}

// --merge DIR: checks the outputs of a sharded run over the given inputs and
// writes its index.csv (see extract_merge.hpp).
int run_merge(const Args& a) {
  using namespace r2plus1d;
  if (!a.output_dir.empty() || !a.output.empty())
    throw OptionError("--merge DIR names the output directory itself; leave out --output-dir and --output");
  if (!a.shard.empty()) throw OptionError("--merge checks every shard at once; leave out --shard");
  std::vector<std::string> given = a.inputs;
  if (given.empty() && !a.input.empty()) given.push_back(a.input);
  if (given.empty())
    throw OptionError("--merge '" + a.merge + "': give the run's inputs (--input-list FILE, or the paths) to check "
                      "the directory against");
  const std::vector<extract::Input> inputs = extract::expand_inputs(given);
  const extract::MergeReport rep = extract::merge_output_dir(
      a.merge, inputs, [&](const extract::Input& in) { return output_name(in, a.format); }, a.format);
  if (a.labelled) {
    std::vector<std::string> names;
    std::set<std::string> complete(rep.complete.begin(), rep.complete.end());
    for (const auto& in : inputs) {
      const std::string name = output_name(in, a.format);
      names.push_back(complete.count(name) ? name : "");
    }
    const extract::OutputDir dir(a.merge, "index.csv");
    evaluate(a, inputs, names, extract::Ledger(a.merge, dir.meta("rows")), "evaluation.json");
  }
  for (const auto& [path, why] : rep.missing) std::cerr << kTool << ": missing: '" << path << "': " << why << "\n";
  for (const auto& [path, why] : rep.failed) std::cerr << kTool << ": failed: '" << path << "': " << why << "\n";
  const std::size_t left = rep.missing.size() + rep.failed.size();
  if (!a.quiet) {
    std::cerr << kTool << ": merged '" << a.merge << "': " << rep.inputs << " input(s): " << rep.complete.size()
              << " complete, " << rep.missing.size() << " missing, " << rep.failed.size() << " failed; "
              << rep.shard_indexes.size() << " shard index(es) found; index.csv has " << rep.rows << " row(s)\n";
    if (left > 0)
      std::cerr << kTool << ": the " << left << " input(s) to run again are listed in '"
                << (std::filesystem::path(a.merge) / extract::kIncompleteList).string()
                << "' (give it as --input-list to the same command, with --overwrite to replace the failed outputs)\n";
  }
  return left == 0 ? 0 : kSomeFailed;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::vector<std::string> given;
  CLI::App app{"R(2+1)D features (clips, 512) or class scores for videos, or for clips (N, 3, T, H, W) in .npy "
               "files, on the CPU.",
               kTool};
  app.set_version_flag("--version", r2plus1d::kVersion, "Print the version and exit");
  app.add_option("--arch", a.arch,
                 "Network: seed (R2Plus1DNet / R2Plus1DClassifier), torchvision's r2plus1d_18, r3d_18, mc3_18, "
                 "or r2plus1d_34 (the IG-65M / Kinetics R(2+1)D-34)")
      ->capture_default_str();
  app.add_option("--layers", a.layers, "Blocks per residual layer for --arch seed, e.g. 2,2,2,2 (R(2+1)D-18)")
      ->capture_default_str();
  app.add_option("--weights", a.weights,
                 "safetensors weights for --arch (tools/convert_checkpoint.py makes them from PyTorch checkpoints, "
                 "torchvision's included); default: seeded random weights");
  app.add_option("--input,inputs", given,
                 "Videos (any format FFmpeg decodes), directories of videos, or .npy clips (float32 or float64, C "
                 "order, shape (N, 3, T, H, W)); default: a built-in synthetic clip (1, 3, 16, 112, 112)");
  app.add_option("--input-list", a.input_list, "A file naming one input per line (blank and # lines ignored)");
  app.add_option("--output", a.output,
                 "File for the float32 (clips, 512) features of the one input, or (clips, classes) scores with "
                 "--logits; default: a summary on stdout");
  app.add_option("--output-dir", a.output_dir,
                 "Directory for one features file per input (named after it) and index.csv (video, output, clip, "
                 "start_frame, start_time, end_frame, end_time in seconds, fps: a clip's first and last frames and "
                 "the rate it was sampled at); inputs whose file exists are skipped, and a run with other "
                 "settings than those recorded there is refused");
  app.add_option("--format", a.format,
                 "Output format: npy, csv (a header line, then one clip per line) or jsonl (one JSON object per "
                 "clip: its input, clip, frames, times and fps, then its features, or with --logits/--topk its top "
                 "classes and, with --logits, all its scores)")
      ->capture_default_str();
  app.add_option("--clip-len", a.clip_len, "Frames per clip")->capture_default_str()->check(CLI::Range(1L, 100000L));
  CLI::Option* step = app.add_option("--step", a.step, "Frames from one clip's start to the next's")
                          ->capture_default_str()
                          ->check(CLI::Range(1L, 100000000L));
  app.add_option("--clips-per-video", a.clips_per_video,
                 "K clips per video instead of one every --step frames: their first frames are "
                 "floor(linspace(0, frames - clip-len, K)), as torchvision's evaluation samples")
      ->check(CLI::Range(1L, 100000L));
  app.add_option("--crops", a.crops,
                 "Crops per clip: 1 (the preset's centre crop), 3 (start, centre and end of the 128x171 resize's "
                 "longer side) or 10 (torchvision's TenCrop: corners, centre and their mirror images)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 3, 10}));
  app.add_flag("--video-level", a.video_level,
               "One result per video, (1, D): the mean over its clips and crops of the softmax probabilities "
               "(with --logits or --topk) or of the features");
  app.add_option("--fps", a.fps, "Resample videos to this frame rate first; default: each video's own rate")
      ->check(CLI::Validator(
          [](std::string& s) {
            return std::isnan(std::strtod(s.c_str(), nullptr)) ? "expected a frame rate, got '" + s + "'"
                                                               : std::string();
          },
          "", "not nan"))
      ->check(CLI::Range(0.001, 100000.0));
  app.add_option("--max-pixels", a.max_pixels,
                 "Largest video frame to decode, in pixels (width * height; default 8192x4320): larger ones are an "
                 "error before they take memory")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  app.add_option("--batch", a.batch, "Clips per forward pass")->capture_default_str()->check(CLI::Range(1L, 4096L));
  app.add_option("--shard", a.shard,
                 "K/N: run every N-th input starting at the K-th (0-based), e.g. 0/4; auto: K and N of the Slurm "
                 "array task (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or the Kubernetes Indexed Job "
                 "(JOB_COMPLETION_INDEX and --shard-count)");
  app.add_option("--shard-count", a.shard_count, "N of --shard auto in a Kubernetes Indexed Job (its completions)")
      ->check(CLI::Range(1L, 100000000L));
  app.add_option("--labels", a.labels,
                 "LIST: evaluate the class scores against labels: 'path label' lines (0-based, or UCF101's lists "
                 "with classInd.txt beside them: 1-based, or the class from the path's folder) or a directory of "
                 "class folders; its videos are the inputs when none are given. Writes DIR/evaluation.json (top-1 "
                 "and top-5 per clip and per video, per class, the most confused pairs) and a summary line");
  app.add_option("--class-index", a.class_index, "UCF101's classInd.txt for --labels (default: the one beside LIST)");
  app.add_option("--merge", a.merge,
                 "DIR: after the shards of a run have ended, check that every given input has its output and index "
                 "rows in DIR, write DIR/index.csv, and list the inputs left in DIR/incomplete.txt (exit 3 if any)");
  app.add_flag("--quiet,-q", a.quiet, "Print only errors and warnings on stderr (no progress, no summary)");
  app.add_flag("--logits", a.logits,
               "Write class scores (fc for torchvision models, linear for R2Plus1DClassifier) instead of features");
  app.add_option("--topk", a.topk, "Print the top K classes and their probabilities per clip (Kinetics-400 names "
                                   "for 400-class heads)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--num-classes", a.num_classes,
                 "Classes of the head when the weights do not say (no --weights); default 400")
      ->check(CLI::Range(1L, 1000000L));
  app.add_flag("--strict", a.strict,
               "A video cut short (fewer frames than its container lists) or with damaged packets is an error, its "
               "output not written; by default it is run on the frames that decode, with a warning");
  app.add_flag("--overwrite", a.overwrite,
               "Replace outputs that exist (by default they are kept, and their inputs skipped), also when made with "
               "other settings");
  app.add_option("--threads", a.threads, "Threads for all parallel work (default: all cores)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--seed", a.seed, "Seed of the random weights used without --weights")->capture_default_str();
  try {
    app.parse(argc, argv);
    a.step_given = step->count() > 0;
  } catch (const CLI::CallForVersion&) {
    std::cout << kTool << ' ' << r2plus1d::kVersion << '\n';
    return 0;
  } catch (const CLI::Success&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << kTool << ": error: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    if (!a.input_list.empty())
      for (auto& p : extract::read_list(a.input_list)) given.push_back(std::move(p));
    if (!a.labels.empty()) {
      a.labelled = r2plus1d::io::read_labelled_list(a.labels, a.class_index);
      if (given.empty())  // the list's videos are the inputs
        for (const auto& v : a.labelled->videos) given.push_back(v.path);
      if (a.topk == 0) a.logits = true;  // scores are what is evaluated
    } else if (!a.class_index.empty()) {
      throw r2plus1d::OptionError("--class-index goes with --labels");
    }
    // One .npy file (or nothing) with neither an output directory nor a list: the original clip mode.
    std::error_code ec;
    if (a.input_list.empty() && a.labels.empty() && a.output_dir.empty() && given.size() <= 1 &&
        (given.empty() || (extract::is_npy_name(given[0]) && !std::filesystem::is_directory(given[0], ec))))
      a.input = given.empty() ? "" : given[0];
    else
      a.inputs = given;
    if (a.inputs.empty() && !a.input_list.empty())
      throw r2plus1d::IoError("--input-list: '" + a.input_list + "' names no inputs");
#ifdef R2PLUS1D_EXTRACT_VIDEO
    av_log_set_level(AV_LOG_QUIET);  // errors are reported once, per file, by the tool
#endif
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

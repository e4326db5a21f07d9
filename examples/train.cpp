// r2plus1d-train: trains a video classifier on labelled clips, on the CPU.
//
//   r2plus1d-train --arch seed --layers 1,1,1,1 --weights init.safetensors
//                  --train clips.npy --train-labels labels.npy --output-dir run/
//   r2plus1d-train --arch r2plus1d_18 --weights r2plus1d_18.safetensors
//                  --train trainlist01.txt --val testlist01.txt --output-dir run/
//
// With the backbone frozen (--freeze backbone, the default) each clip's
// features are computed once, in eval mode, and kept in memory, and the epochs
// train the linear head on them; with --freeze none or parameter prefixes the
// whole network trains (BatchNorm on batch statistics), its frozen leading
// layers run without keeping activations, and --augment crop or crop+flip
// draws a random window, crop and flip of every clip each epoch
// (train_augment.hpp). Cross-entropy, SGD or AdamW, a
// StepLR or cosine schedule. After every epoch DIR holds
// last.safetensors (the whole network, torch's keys), optimizer.safetensors,
// scheduler.safetensors, log.csv and train_state.txt, from which --resume
// continues bit for bit; best.safetensors is the best on --val.

#include <CLI/CLI.hpp>

#include <r2plus1d/r2plus1d.hpp>

#include "cli_layers.hpp"
#include "cli_parse.hpp"
#include "extract_files.hpp"
#include "train_augment.hpp"
#include "train_checkpoint.hpp"
#include "train_data.hpp"
#include "train_model.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* kTool = "r2plus1d-train";
using r2plus1d::index_t;
namespace fs = std::filesystem;

struct Args {
  std::string arch = "seed";
  std::string layers = "2,2,2,2";
  long num_classes = 0;  // 0: from the class names, the weights or the labels
  std::string weights;
  std::string train, val, train_labels, val_labels, class_index;
  std::string output_dir;
  std::vector<std::string> freeze{"backbone"};
  long epochs = 10;
  index_t batch = 32;
  std::string optimizer = "sgd";
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 0;
  std::string schedule = "none";
  long lr_step = 10;
  double lr_gamma = 0.1;
  double label_smoothing = 0;
  std::string augment = "none";
  index_t clip_len = 16;
  std::string resize = "128,171";
  index_t crop = 0;  // 0: videos 112, .npy clips as they are
  bool no_shuffle = false;
  bool checkpointing = false;
  std::uint64_t seed = r2plus1d::Generator::kDefaultSeed;
  int threads = 0;
  bool resume = false;
  bool overwrite = false;
  bool quiet = false;
};

using cli::parse_layers;

// `v` joined by commas.
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

// The settings a resumed run must share with the one it continues.
std::string settings_text(const Args& a, index_t classes) {
  std::ostringstream s;
  s.precision(17);
  s << "arch=" << a.arch << "\n";
  if (a.arch == "seed") s << "layers=" << a.layers << "\n";
  s << "num-classes=" << classes << "\nfreeze=" << join(a.freeze) << "\ntrain=" << a.train << "\nbatch=" << a.batch
    << "\noptimizer=" << a.optimizer << "\nlr=" << a.lr << "\nmomentum=" << a.momentum
    << "\nweight-decay=" << a.weight_decay << "\nclip-len=" << a.clip_len << "\nschedule=" << a.schedule << "\n";
  if (a.schedule == "step") s << "lr-step=" << a.lr_step << "\nlr-gamma=" << a.lr_gamma << "\n";
  if (a.schedule == "cosine") s << "epochs=" << a.epochs << "\n";  // T_max
  s << "label-smoothing=" << a.label_smoothing << "\nshuffle=" << (a.no_shuffle ? "no" : "yes") << "\nseed=" << a.seed
    << "\n";
  // only where they differ from the defaults, so that runs from before these options resume
  if (a.resize != "128,171") s << "resize=" << a.resize << "\n";
  if (a.crop != 0) s << "crop=" << a.crop << "\n";
  if (a.augment != "none") s << "augment=" << a.augment << "\n";
  return s.str();
}

// Features (N, 512) of all clips, `batch` at a time, with a progress line.
r2plus1d::Tensor<float, 2> cache_features(train::TrainModel& model, const r2plus1d::Tensor<float, 5>& clips,
                                          index_t batch, const char* what, bool quiet) {
  using namespace r2plus1d;
  const index_t n = clips.size(0);
  const index_t per = clips.numel() / std::max<index_t>(n, 1);
  Tensor<float, 2> out;
  const auto t0 = std::chrono::steady_clock::now();
  for (index_t b = 0; b < n; b += batch) {
    const index_t m = std::min(batch, n - b);
    TensorView<const float, 5> v(clips.data() + b * per, {m, clips.size(1), clips.size(2), clips.size(3), clips.size(4)});
    const Tensor<float, 2> f = model.features(v);
    if (b == 0) out = Tensor<float, 2>::empty({n, f.size(1)});
    std::copy(f.data(), f.data() + f.numel(), out.data() + b * f.size(1));
    if (!quiet) std::cerr << "\r" << kTool << ": " << what << " features " << b + m << "/" << n << " clips" << std::flush;
  }
  if (!quiet) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cerr << " (" << s << " s)\n";
  }
  return out;
}

// Clips `idx` of `x`, a batch for the whole network's path.
r2plus1d::Tensor<float, 5> gather_clips(const r2plus1d::Tensor<float, 5>& x, const std::vector<index_t>& idx) {
  const index_t per = x.numel() / std::max<index_t>(x.size(0), 1);
  r2plus1d::Tensor<float, 5> out =
      r2plus1d::Tensor<float, 5>::empty({static_cast<index_t>(idx.size()), x.size(1), x.size(2), x.size(3), x.size(4)});
  for (std::size_t i = 0; i < idx.size(); ++i)
    std::copy(x.data() + idx[i] * per, x.data() + (idx[i] + 1) * per, out.data() + static_cast<index_t>(i) * per);
  return out;
}

// Eval-mode logits of all clips, `batch` at a time.
r2plus1d::Tensor<float, 2> eval_logits(train::TrainModel& model, const r2plus1d::Tensor<float, 5>& clips,
                                       index_t batch) {
  using namespace r2plus1d;
  const index_t n = clips.size(0), per = clips.numel() / std::max<index_t>(n, 1);
  Tensor<float, 2> out;
  for (index_t b = 0; b < n; b += batch) {
    const index_t m = std::min(batch, n - b);
    const Tensor<float, 2> y = model.forward_eval(
        TensorView<const float, 5>(clips.data() + b * per, {m, clips.size(1), clips.size(2), clips.size(3), clips.size(4)}));
    if (b == 0) out = Tensor<float, 2>::empty({n, y.size(1)});
    std::copy(y.data(), y.data() + y.numel(), out.data() + b * y.size(1));
  }
  return out;
}

// Rows `idx` of `x`.
r2plus1d::Tensor<float, 2> gather(const r2plus1d::Tensor<float, 2>& x, const std::vector<index_t>& idx) {
  r2plus1d::Tensor<float, 2> out = r2plus1d::Tensor<float, 2>::empty({static_cast<index_t>(idx.size()), x.size(1)});
  for (std::size_t i = 0; i < idx.size(); ++i)
    std::copy(x.data() + idx[i] * x.size(1), x.data() + (idx[i] + 1) * x.size(1), out.data() + i * x.size(1));
  return out;
}

index_t argmax_row(const r2plus1d::Tensor<float, 2>& y, index_t n) {
  index_t best = 0;
  for (index_t k = 1; k < y.size(1); ++k)
    if (y(n, k) > y(n, best)) best = k;
  return best;
}

// Clip accuracy and video accuracy (the mean softmax of a video's clips) of logits.
std::pair<double, double> accuracy(const r2plus1d::Tensor<float, 2>& logits, const train::Dataset& d) {
  const index_t n = logits.size(0), k = logits.size(1);
  index_t right = 0;
  std::vector<double> prob(static_cast<std::size_t>(d.videos * k), 0.0);
  std::vector<std::int64_t> label(static_cast<std::size_t>(d.videos), 0);
  for (index_t i = 0; i < n; ++i) {
    right += argmax_row(logits, i) == d.labels[static_cast<std::size_t>(i)];
    double top = logits(i, 0), sum = 0;
    for (index_t c = 0; c < k; ++c) top = std::max<double>(top, logits(i, c));
    for (index_t c = 0; c < k; ++c) sum += std::exp(double(logits(i, c)) - top);
    const auto v = d.video[static_cast<std::size_t>(i)];
    for (index_t c = 0; c < k; ++c) prob[static_cast<std::size_t>(v * k + c)] += std::exp(double(logits(i, c)) - top) / sum;
    label[static_cast<std::size_t>(v)] = d.labels[static_cast<std::size_t>(i)];
  }
  index_t vright = 0;
  for (std::int64_t v = 0; v < d.videos; ++v) {
    index_t best = 0;
    for (index_t c = 1; c < k; ++c)
      if (prob[static_cast<std::size_t>(v * k + c)] > prob[static_cast<std::size_t>(v * k + best)]) best = c;
    vright += best == label[static_cast<std::size_t>(v)];
  }
  return {double(right) / double(n), double(vright) / double(d.videos)};
}

// The order of the training clips in epoch `epoch` (0-based): a shuffle drawn
// from the seed and the epoch alone, so that a resumed run draws the same.
std::vector<index_t> epoch_order(index_t n, const Args& a, std::int64_t epoch) {
  std::vector<index_t> order(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  if (a.no_shuffle) return order;
  r2plus1d::Generator g(a.seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(epoch + 1)));
  for (index_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<index_t>(g.next_unit() * double(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(std::min(j, i))]);
  }
  return order;
}

void write_classes(const std::string& dir, const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += n + "\n";
  extract::write_file((fs::path(dir) / "classes.txt").string(), s);
}

constexpr const char* kLogHeader = "epoch,step,loss,lr,train_acc,val_acc,val_video_acc,clips_per_s\n";

// The rows of DIR/log.csv for the first `epochs` epochs.
std::string kept_log(const std::string& dir, std::int64_t epochs) {
  const auto text = extract::read_file((fs::path(dir) / "log.csv").string());
  std::string out;
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);
  for (std::int64_t e = 0; e < epochs && std::getline(in, line); ++e) out += line + "\n";
  return out;
}

int run(const Args& a) {
  using namespace r2plus1d;
  if (a.threads > 0) set_num_threads(a.threads);
  if (a.optimizer != "sgd" && a.optimizer != "adamw")
    throw OptionError("--optimizer: expected sgd or adamw, got '" + a.optimizer + "'");
  if (a.schedule != "none" && a.schedule != "step" && a.schedule != "cosine")
    throw OptionError("--schedule: expected none, step or cosine, got '" + a.schedule + "'");
  if (a.augment != "none" && a.augment != "crop" && a.augment != "crop+flip")
    throw OptionError("--augment: expected none, crop or crop+flip, got '" + a.augment + "'");
  const bool augment = a.augment != "none";
  if (augment && a.freeze.size() == 1 && a.freeze[0] == "backbone")
    throw OptionError("--augment " + a.augment +
                      ": with --freeze backbone the head trains on features computed once per clip, so there is "
                      "nothing to augment; give --freeze none (or layer prefixes) to train through the network, or "
                      "--augment none");
  train::Preprocess prep;
  prep.clip_len = a.clip_len;
  prep.crop = a.crop;
  prep.resize = cli::parse_positive_list<2>(a.resize, "--resize", "128,171");
  if (prep.video_crop() > std::min(prep.resize[0], prep.resize[1]))
    throw OptionError("--crop " + std::to_string(prep.video_crop()) + " is larger than the --resize " + a.resize +
                      " frames");
  if (a.resume && a.overwrite) throw OptionError("--resume and --overwrite: give one");
  const auto layers = parse_layers(a.layers);
  std::error_code ec;
  const bool existed = fs::exists(a.output_dir, ec);
  if (existed && !a.resume && !a.overwrite)
    throw IoError("--output-dir '" + a.output_dir + "' exists; pass --resume to continue it or --overwrite to replace it");

  train::Dataset tr =
      train::load_dataset(a.train, a.train_labels, "--train-labels", a.class_index, prep, augment, kTool);
  if (augment && a.crop == 0 && std::find(tr.path.begin(), tr.path.end(), std::string()) != tr.path.end())
    throw OptionError("--augment " + a.augment + " on .npy clips needs the crop size: give --crop S (the clips are " +
                      std::to_string(tr.clips.size(3)) + "x" + std::to_string(tr.clips.size(4)) + ")");
  std::optional<train::Dataset> va;
  if (!a.val.empty())
    va.emplace(train::load_dataset(a.val, a.val_labels, "--val-labels", a.class_index, prep, false, kTool));
  for (const train::Dataset* d : {&tr, va ? &*va : nullptr})
    if (d != nullptr && d->skipped > 0)
      std::cerr << kTool << ": warning: " << d->skipped << " skipped of " << d->skipped + d->videos << " in '"
                << (d == &tr ? a.train : a.val) << "'\n";

  std::optional<io::SafetensorsReader> reader;
  if (!a.weights.empty()) reader.emplace(a.weights);
  const std::string head_key = a.arch == "seed" ? "linear.weight" : "fc.weight";
  index_t classes = a.num_classes;
  if (classes == 0 && !tr.class_names.empty()) classes = static_cast<index_t>(tr.class_names.size());
  if (classes == 0 && reader && reader->contains(head_key)) classes = reader->info(head_key).shape.at(0);
  if (classes == 0)
    for (auto l : tr.labels) classes = std::max<index_t>(classes, l + 1);
  auto check_labels = [&](const train::Dataset& d, const std::string& what) {
    for (std::size_t i = 0; i < d.labels.size(); ++i)
      if (d.labels[i] >= classes)
        throw FormatError(what + ": label " + std::to_string(d.labels[i]) + " of clip " + std::to_string(i) +
                          " is out of range for " + std::to_string(classes) + " classes");
  };
  check_labels(tr, "--train");
  if (va) check_labels(*va, "--val");

  Generator gen(a.seed);
  std::unique_ptr<train::TrainModel> model = train::make_train_model(a.arch, layers, classes, a.freeze, a.checkpointing, gen);
  const std::string settings = settings_text(a, classes);
  train::TrainState state;
  state.settings = settings;
  const std::string dir = a.output_dir;
  auto file = [&](const std::string& f) { return (fs::path(dir) / f).string(); };
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec)) throw IoError("--output-dir: cannot create '" + dir + "'");
  const train::DirLock lock(dir);
  if (a.resume && existed) {
    state = train::read_state(dir, settings);
    model->load(io::SafetensorsReader(file("last.safetensors")));
  } else {
    if (existed) {
      for (const char* f : {"train_state.txt", "last.safetensors", "best.safetensors", "optimizer.safetensors",
                            "scheduler.safetensors", "log.csv", "classes.txt"})
        fs::remove(file(f), ec);
    }
    if (reader && reader->contains(head_key) && reader->info(head_key).shape.at(0) != classes) {
      if (!a.quiet)
        std::cerr << kTool << ": '" << a.weights << "' has a " << reader->info(head_key).shape.at(0) << "-class head; "
                  << "loading the rest, with a new " << classes << "-class head (seed " << a.seed << ")\n";
      try {
        model->load_backbone(*reader);
      } catch (const StateDictError& e) {
        throw StateDictError("'" + a.weights + "': " + e.what());
      }
    } else if (reader) {
      try {
        model->load(*reader);
      } catch (const StateDictError& e) {
        throw StateDictError("'" + a.weights + "': " + e.what());
      }
    } else if (!a.quiet) {
      std::cerr << kTool << ": no --weights given; starting from seeded random weights (seed " << a.seed << ")\n";
    }
  }
  if (!tr.class_names.empty()) write_classes(dir, tr.class_names);

  // The optimizer and schedule, stepped through these two functions.
  std::optional<optim::SGD<float>> sgd;
  std::optional<optim::AdamW<float>> adamw;
  optim::Optimizer<float>* opt = nullptr;
  if (a.optimizer == "sgd")
    opt = &sgd.emplace(model->trainable_parameters(),
                       optim::SGDOptions(a.lr).momentum(a.momentum).weight_decay(a.weight_decay));
  else
    opt = &adamw.emplace(model->trainable_parameters(), optim::AdamWOptions(a.lr).weight_decay(a.weight_decay));
  std::optional<optim::StepLR<float>> step_lr;
  std::optional<optim::CosineAnnealingLR<float>> cosine;
  optim::LRScheduler<float>* sched = nullptr;
  if (a.schedule == "step") sched = &step_lr.emplace(*opt, a.lr_step, a.lr_gamma);
  if (a.schedule == "cosine") sched = &cosine.emplace(*opt, a.epochs);
  const std::function<void()> opt_step = [&] { sgd ? sgd->step() : adamw->step(); };
  const std::function<void()> sched_step = [&] {
    if (step_lr) step_lr->step();
    if (cosine) cosine->step();
  };
  if (state.epoch > 0) {
    opt->load(file("optimizer.safetensors"));
    if (sched) sched->load(file("scheduler.safetensors"));
  }
  std::string log = state.epoch > 0 ? kept_log(dir, state.epoch) : "";

  if (state.epoch >= a.epochs) {
    if (!a.quiet) std::cerr << kTool << ": '" << dir << "' has " << state.epoch << " epoch(s) already\n";
    return 0;
  }
  // The head-only path trains on features computed once; the whole network on the clips.
  const bool cached = model->caches_features();
  Tensor<float, 2> train_f;
  std::optional<Tensor<float, 2>> val_f;
  if (cached) {
    train_f = cache_features(*model, tr.clips, a.batch, "train", a.quiet);
    if (va) val_f.emplace(cache_features(*model, va->clips, a.batch, "val", a.quiet));
  }

  const train::Augment aug{augment, a.augment == "crop+flip", a.seed};
  const index_t n = tr.clips.size(0);
  const index_t steps_per_epoch = (n + a.batch - 1) / a.batch;
  for (std::int64_t epoch = state.epoch; epoch < a.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = opt->lr();
    const std::vector<index_t> order = epoch_order(n, a, epoch);
    double loss_sum = 0;
    index_t right = 0;
    for (index_t s = 0; s < steps_per_epoch; ++s) {
      const index_t b0 = s * a.batch, m = std::min(a.batch, n - b0);
      std::vector<index_t> idx(order.begin() + b0, order.begin() + b0 + m);
      Tensor<std::int64_t, 1> labels({m});
      for (index_t i = 0; i < m; ++i) labels(i) = tr.labels[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)])];
      const Tensor<float, 2> logits =
          cached    ? model->forward_train_features(gather(train_f, idx).cview())
          : augment ? model->forward_train(train::augmented_batch(tr, idx, epoch, prep, aug).cview())
                    : model->forward_train(gather_clips(tr.clips, idx).cview());
      const auto ce = ops::cross_entropy(logits, labels, a.label_smoothing);
      if (!std::isfinite(ce.loss))
        throw Error("the loss is " + std::to_string(ce.loss) + " at epoch " + std::to_string(epoch + 1) + " step " +
                    std::to_string(state.step + 1) + "; " +
                    (state.epoch > 0 ? "'" + file("last.safetensors") + "' keeps epoch " + std::to_string(state.epoch)
                                     : std::string("no checkpoint was written")) +
                    " (check the inputs for NaN or infinity, or try a lower --lr)");
      opt->zero_grad();
      model->backward(ce.grad.cview());
      opt_step();
      ++state.step;
      loss_sum += double(ce.loss) * double(m);
      for (index_t i = 0; i < m; ++i) right += argmax_row(logits, i) == labels(i);
    }
    sched_step();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double val_acc = std::nan(""), val_video = std::nan("");
    if (va)
      std::tie(val_acc, val_video) = accuracy(
          cached ? model->forward_eval_features(val_f->cview()) : eval_logits(*model, va->clips, a.batch), *va);

    // The checkpoint: model, optimizer, schedule, best, log, then the state that names them.
    io::save_safetensors(file("last.safetensors"), model->state_dict());
    opt->save(file("optimizer.safetensors"));
    if (sched) {
      sched->save(file("scheduler.safetensors"));
    } else {
      io::save_safetensors(file("scheduler.safetensors"), StateDict{}, {{"scheduler", "none"}});
    }
    if (va && val_acc > state.best_val) {
      state.best_val = val_acc;
      io::save_safetensors(file("best.safetensors"), model->state_dict());
    }
    char row[256];
    std::snprintf(row, sizeof row, "%lld,%lld,%.9g,%.9g,%.6f,%s,%s,%.3f\n", static_cast<long long>(epoch + 1),
                  static_cast<long long>(state.step), loss_sum / double(n), lr, double(right) / double(n),
                  va ? std::to_string(val_acc).c_str() : "", va ? std::to_string(val_video).c_str() : "",
                  double(n) / std::max(secs, 1e-9));
    log += row;
    extract::write_file(file("log.csv"), kLogHeader + log);
    state.epoch = epoch + 1;
    train::write_state(dir, state);
    if (!a.quiet) {
      std::fprintf(stderr, "%s: epoch %lld/%ld step %lld loss %.6g lr %.6g train_acc %.4f", kTool,
                   static_cast<long long>(epoch + 1), a.epochs, static_cast<long long>(state.step),
                   loss_sum / double(n), lr, double(right) / double(n));
      if (va) std::fprintf(stderr, " val_acc %.4f val_video_acc %.4f", val_acc, val_video);
      std::fprintf(stderr, " (%.1f clips/s)\n", double(n) / std::max(secs, 1e-9));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains a video classifier's head on labelled clips, on the CPU.", kTool};
  app.set_version_flag("--version", r2plus1d::kVersion, "Print the version and exit");
  app.add_option("--arch", a.arch, "Network: seed (R2Plus1DClassifier), torchvision's r2plus1d_18, r3d_18 or mc3_18")
      ->capture_default_str();
  app.add_option("--layers", a.layers, "Blocks per residual layer for --arch seed, e.g. 2,2,2,2")->capture_default_str();
  app.add_option("--num-classes", a.num_classes,
                 "Classes of the head; default: the class names, else the weights' head, else the largest label + 1")
      ->check(CLI::Range(1L, 1000000L));
  app.add_option("--weights", a.weights, "Initial safetensors weights of the whole network; default: seeded random");
  app.add_option("--train", a.train,
                 "Training data: CLIPS.npy (N, 3, T, H, W) with --train-labels, a list of 'path label' lines, or a "
                 "directory with one folder per class")
      ->required();
  app.add_option("--val", a.val, "Validation data, in the same forms");
  app.add_option("--train-labels", a.train_labels, "LABELS.npy (N,) int64 of the clips of --train");
  app.add_option("--val-labels", a.val_labels, "LABELS.npy (N,) int64 of the clips of --val");
  app.add_option("--class-index", a.class_index,
                 "classInd.txt ('1 name' lines): list labels are 1-based; default: classInd.txt beside the list");
  app.add_option("--output-dir", a.output_dir, "Directory for the checkpoints and log.csv")->required();
  app.add_option("--freeze", a.freeze,
                 "Frozen parameters: backbone (all but the head, which trains on features computed once), none "
                 "(train the whole network), or parameter-name prefixes such as stem layer1 layer2 (the rest trains, "
                 "BatchNorm on batch statistics)")
      ->capture_default_str();
  app.add_option("--epochs", a.epochs, "Epochs")->capture_default_str()->check(CLI::Range(1L, 1000000L));
  app.add_option("--batch", a.batch, "Clips per optimizer step")->capture_default_str()->check(CLI::Range(1L, 1L << 20));
  app.add_option("--optimizer", a.optimizer, "sgd or adamw")->capture_default_str();
  app.add_option("--lr", a.lr, "Learning rate")->capture_default_str();
  app.add_option("--momentum", a.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", a.weight_decay, "Weight decay (SGD: L2 in the gradient; AdamW: decoupled)")
      ->capture_default_str();
  app.add_option("--schedule", a.schedule, "Learning-rate schedule per epoch: none, step or cosine (T_max = --epochs)")
      ->capture_default_str();
  app.add_option("--lr-step", a.lr_step, "Epochs per step of --schedule step")->capture_default_str();
  app.add_option("--lr-gamma", a.lr_gamma, "Factor of each step of --schedule step")->capture_default_str();
  app.add_option("--label-smoothing", a.label_smoothing, "Label smoothing of the cross-entropy")->capture_default_str();
  app.add_option("--clip-len", a.clip_len,
                 "Frames of a video's clip: its centre window, or a random one each epoch with --augment")
      ->capture_default_str()
      ->check(CLI::Range(1L, 100000L));
  app.add_option("--resize", a.resize, "H,W the videos' frames are resized to before the crop")->capture_default_str();
  app.add_option("--crop", a.crop,
                 "Square crop of the resized frames (and of larger .npy clips): the centre one, or a random one each "
                 "epoch with --augment; default: 112 for videos, .npy clips as they are")
      ->check(CLI::Range(1L, 100000L));
  app.add_option("--augment", a.augment,
                 "none, crop (a random window and crop of each training clip each epoch) or crop+flip (and a "
                 "horizontal flip of half of them); needs the whole network's path (--freeze none or prefixes)")
      ->capture_default_str();
  app.add_flag("--no-shuffle", a.no_shuffle, "Keep the clips in order instead of a shuffle per epoch");
  app.add_flag("--checkpointing", a.checkpointing,
               "Whole-network path: keep only each residual block's and the stem's input in the forward and compute "
               "them again in backward (about half the memory for about a quarter more time; the same results)");
  app.add_option("--seed", a.seed, "Seed of the random weights and the shuffles")->capture_default_str();
  app.add_option("--threads", a.threads, "Threads (default: all cores)")->check(CLI::Range(1, 4096));
  app.add_flag("--resume", a.resume, "Continue the run in --output-dir from its last completed epoch");
  app.add_flag("--overwrite", a.overwrite, "Replace the run in --output-dir");
  app.add_flag("--quiet,-q", a.quiet, "Print only errors and warnings");
  if (auto stop = cli::parse(app, argc, argv, kTool)) return *stop;
  try {
#ifdef R2PLUS1D_TRAIN_VIDEO
    av_log_set_level(AV_LOG_QUIET);  // a bad video is reported once, as a skipped entry
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

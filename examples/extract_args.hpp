#pragma once
// r2plus1d-extract's command line: the options (CLI11), their values in Args,
// and the inputs they name: the one .npy (or none) of the clip mode, or the
// list of a dataset run.

#include <CLI/CLI.hpp>

#include <r2plus1d/io/labelled_list.hpp>
#include <r2plus1d/r2plus1d.hpp>
#ifdef R2PLUS1D_EXTRACT_VIDEO
#include <r2plus1d/io/video.hpp>
#endif

#include "cli_layers.hpp"
#include "cli_parse.hpp"
#include "extract_inputs.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace extract {

inline constexpr const char* kTool = "r2plus1d-extract";
using r2plus1d::index_t;

// Exit status when some inputs failed and the others were written.
inline constexpr int kSomeFailed = 3;

// The video reader's default frame size limit, here too when built without FFmpeg.
inline constexpr std::int64_t kMaxPixels = std::int64_t{8192} * 4320;
#ifdef R2PLUS1D_EXTRACT_VIDEO
static_assert(kMaxPixels == r2plus1d::io::kDefaultMaxVideoPixels);
#endif

// The values of the command line's options (their help is in parse_command_line).
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
  bool no_weight_cache = false;  // transform the weights on every batch (see Module::set_weight_cache)
  int threads = 0;
  std::uint64_t seed = r2plus1d::Generator::kDefaultSeed;
  bool overwrite = false;
  bool strict = false;  // a truncated or damaged video is an error
  bool logits = false;
  int topk = 0;
  long num_classes = 0;  // 0: from the weights, else 400
};

using cli::parse_layers;

// " --layers 2,2,2,2" for --arch seed, "" for the others.
inline std::string layers_flag(const std::string& arch, const std::array<index_t, 4>& layers) {
  if (arch != "seed") return "";
  std::string s = " --layers ";
  for (std::size_t l = 0; l < 4; ++l) s += (l ? "," : "") + std::to_string(layers[l]);
  return s;
}

/// Parses the command line into `a`, the inputs it names (--input and the
/// positional ones) into `given`. Returns the exit status when the tool is to
/// stop here: 0 after --help or --version, 2 for a bad command line.
inline std::optional<int> parse_command_line(int argc, char** argv, Args& a, std::vector<std::string>& given) {
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
  app.add_flag("--no-weight-cache", a.no_weight_cache,
               "Transform the convolutions' weights for every batch instead of keeping their Winograd transforms "
               "for the run (r2plus1d_18: 93 MB less memory, a few percent slower)");
  app.add_option("--seed", a.seed, "Seed of the random weights used without --weights")->capture_default_str();
  if (auto stop = cli::parse(app, argc, argv, kTool)) return stop;
  a.step_given = step->count() > 0;
  return std::nullopt;
}

/// The inputs of the run: `given`, those of --input-list and, with --labels,
/// the list's videos when none are given; one .npy (or none) is the clip
/// mode's --input, anything else a dataset run's inputs.
inline void resolve_inputs(Args& a, std::vector<std::string> given) {
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
}

}  // namespace extract

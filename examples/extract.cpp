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
//
// The command line is in extract_args.hpp, the networks in extract_models.hpp,
// the work on one input in extract_clips.hpp, the dataset run in
// extract_run.hpp and its output directory and --merge in extract_run_dir.hpp.

#include "extract_args.hpp"
#include "extract_models.hpp"

#include <r2plus1d/r2plus1d.hpp>
#ifdef R2PLUS1D_EXTRACT_VIDEO
#include <r2plus1d/io/video.hpp>
#endif

#include <exception>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  using extract::kTool;
  extract::Args a;
  std::vector<std::string> given;
  if (const std::optional<int> status = extract::parse_command_line(argc, argv, a, given)) return *status;
  try {
    extract::resolve_inputs(a, std::move(given));
#ifdef R2PLUS1D_EXTRACT_VIDEO
    av_log_set_level(AV_LOG_QUIET);  // errors are reported once, per file, by the tool
#endif
    return extract::run(a);
  } catch (const r2plus1d::Error& e) {
    std::cerr << kTool << ": error: " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << kTool << ": error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << kTool << ": error: " << e.what() << "\n";
  }
  return 1;
}

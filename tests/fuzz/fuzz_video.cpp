// libFuzzer target: the video reader on arbitrary bytes (written to a scratch
// file, as the reader opens paths), reading up to 16 frames. FFmpeg's own code
// is not instrumented here; the target exercises what the library adds around
// it: probing, stream and decoder setup, the decode loop and its error
// accounting, and the conversion of each frame to RGB. Library errors
// (r2plus1d::Error) are expected outcomes; anything else (another exception, a
// crash, a hang, a leak, UB) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include "r2plus1d/io/video.hpp"

using namespace r2plus1d;

namespace {
std::string scratch_path() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/r2plus1d-fuzz-video-" +
         std::to_string(static_cast<long>(getpid()));
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  av_log_set_level(AV_LOG_QUIET);  // damaged inputs make FFmpeg talk; the findings are ours
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = scratch_path();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    io::VideoReader reader(path);
    io::VideoFrame frame;
    for (int i = 0; i < 16 && reader.read(frame); ++i) {
      if (frame.rgb.size() != static_cast<std::size_t>(frame.width) * static_cast<std::size_t>(frame.height) * 3)
        __builtin_trap();  // a frame whose pixels do not match its size
    }
  } catch (const Error&) {
  }
  std::remove(path.c_str());
  return 0;
}

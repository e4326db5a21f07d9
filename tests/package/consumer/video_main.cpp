// A user's program on r2plus1d::video: io/video.hpp links with FFmpeg's
// libraries the package brings. A missing file is an IoError.
#include <r2plus1d/io/video.hpp>

#include <cstdio>

int main() {
  try {
    r2plus1d::io::read_video("no-such-video.mp4");
  } catch (const r2plus1d::IoError& e) {
    std::printf("r2plus1d::video: %s\n", e.what());
    return 0;
  }
  return 1;
}

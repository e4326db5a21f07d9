// io::VideoReader on videos of known content made by Debian's ffmpeg: frame
// count, order, pixel values (lossless codecs), timestamps, and every way a file
// can be bad (missing, a directory, empty, random bytes, truncated, frames over
// max_pixels).

#include <gtest/gtest.h>

#include <r2plus1d/io/video.hpp>

#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using r2plus1d::index_t;

constexpr int kW = 64, kH = 48, kFrames = 10;

std::uint8_t pixel(int t, int y, int x, int c) {
  switch (c) {
    case 0: return static_cast<std::uint8_t>((x * 4 + t * 20) % 256);
    case 1: return static_cast<std::uint8_t>((y * 5 + t * 7) % 256);
    default: return static_cast<std::uint8_t>((t * 25 + x + y) % 256);
  }
}

std::string work(const std::string& name) {
  fs::create_directories(R2PLUS1D_VIDEO_WORK_DIR);
  return std::string(R2PLUS1D_VIDEO_WORK_DIR) + "/" + name;
}

// Encodes kFrames frames of `pixel` (or solid colours) with ffmpeg's `codec_args` into `name`.
std::string make_video(const std::string& name, const std::string& codec_args, bool solid = false) {
  const std::string raw = work(name + ".rgb");
  {
    std::ofstream out(raw, std::ios::binary);
    for (int t = 0; t < kFrames; ++t)
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x)
          for (int c = 0; c < 3; ++c) {
            const std::uint8_t v = solid ? static_cast<std::uint8_t>(c == t % 3 ? 200 : 30) : pixel(t, y, x, c);
            out.put(static_cast<char>(v));
          }
  }
  const std::string path = work(name);
  const std::string cmd = std::string(R2PLUS1D_FFMPEG) + " -v error -y -f rawvideo -pix_fmt rgb24 -s " +
                          std::to_string(kW) + "x" + std::to_string(kH) + " -r 25 -i '" + raw + "' " + codec_args +
                          " '" + path + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return path;
}

void expect_exact_frames(const std::string& path) {
  r2plus1d::io::VideoReader reader(path);
  EXPECT_EQ(reader.info().width, kW);
  EXPECT_EQ(reader.info().height, kH);
  EXPECT_NEAR(reader.info().fps, 25.0, 1e-9);
  r2plus1d::io::VideoFrame f;
  int t = 0;
  while (reader.read(f)) {
    ASSERT_LT(t, kFrames);
    ASSERT_EQ(f.index, t);
    ASSERT_EQ(f.width, kW);
    ASSERT_EQ(f.height, kH);
    EXPECT_NEAR(f.time, t / 25.0, 1e-6) << "frame " << t;
    int wrong = 0;
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x)
        for (int c = 0; c < 3; ++c) wrong += f.rgb[static_cast<std::size_t>((y * kW + x) * 3 + c)] != pixel(t, y, x, c);
    EXPECT_EQ(wrong, 0) << path << " frame " << t;
    ++t;
  }
  EXPECT_EQ(t, kFrames);
  EXPECT_EQ(reader.frames_read(), kFrames);
  EXPECT_EQ(reader.decode_errors(), 0);
}

TEST(VideoDecode, LosslessFfv1InMatroskaIsExact) { expect_exact_frames(make_video("ffv1.mkv", "-c:v ffv1")); }

TEST(VideoDecode, RawvideoInAviIsExact) {
  expect_exact_frames(make_video("raw.avi", "-c:v rawvideo -pix_fmt bgr24"));
}

TEST(VideoDecode, YuvCodecKeepsFrameOrder) {
  // mpeg4 in .mp4 (lossy, 4:2:0): each frame a solid colour, red, green, blue in turn.
  const auto video = r2plus1d::io::read_video(make_video("solid.mp4", "-c:v mpeg4 -q:v 1 -pix_fmt yuv420p", true));
  ASSERT_EQ(video.shape(), (r2plus1d::Shape<4>{kFrames, kH, kW, 3}));
  for (index_t t = 0; t < kFrames; ++t)
    for (index_t c = 0; c < 3; ++c) {
      const int want = c == t % 3 ? 200 : 30;
      EXPECT_NEAR(int(video(t, kH / 2, kW / 2, c)), want, 12) << "frame " << t << " channel " << c;
    }
}

TEST(VideoDecode, ReadVideoStacksFrames) {
  const auto video = r2plus1d::io::read_video(make_video("stack.mkv", "-c:v ffv1"));
  ASSERT_EQ(video.shape(), (r2plus1d::Shape<4>{kFrames, kH, kW, 3}));
  EXPECT_EQ(video(7, 5, 9, 0), pixel(7, 5, 9, 0));
  EXPECT_EQ(video(9, 47, 63, 2), pixel(9, 47, 63, 2));
}

template <class E>
void expect_error(const std::string& path, const std::string& what) {
  try {
    r2plus1d::io::read_video(path);
    ADD_FAILURE() << what << ": no exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << what << ": the message should name the file: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": wrong exception type: " << e.what();
  }
}

TEST(VideoDecode, BadFilesThrowLibraryErrors) {
  expect_error<r2plus1d::IoError>(work("missing.mp4"), "missing file");
  expect_error<r2plus1d::IoError>(R2PLUS1D_VIDEO_WORK_DIR, "directory");
  { std::ofstream(work("empty.mp4"), std::ios::binary); }
  expect_error<r2plus1d::FormatError>(work("empty.mp4"), "empty file");
  {
    std::ofstream out(work("random.mp4"), std::ios::binary);
    std::mt19937 gen(3);
    for (int i = 0; i < 100000; ++i) out.put(static_cast<char>(gen() & 0xff));
  }
  expect_error<r2plus1d::FormatError>(work("random.mp4"), "random bytes");
  const std::string good = make_video("to_truncate.mp4", "-c:v mpeg4");
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::size_t keep : {std::size_t(16), std::size_t(200)}) {
    const std::string cut = work("truncated_" + std::to_string(keep) + ".mp4");
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(std::min(keep, bytes.size())));
    expect_error<r2plus1d::FormatError>(cut, "truncated to " + std::to_string(keep) + " bytes");
  }
}

TEST(VideoDecode, TruncatedStreamGivesItsWholeFrames) {
  // Cut inside the frame data of a rawvideo .avi: the frames before the cut still decode.
  const std::string good = make_video("cut.avi", "-c:v rawvideo -pix_fmt bgr24");
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string cut = work("cut_half.avi");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  r2plus1d::io::VideoReader reader(cut);
  r2plus1d::io::VideoFrame f;
  int n = 0;
  while (reader.read(f)) {
    EXPECT_EQ(f.rgb[0], pixel(n, 0, 0, 0));
    ++n;
  }
  EXPECT_GT(n, 0);
  EXPECT_LT(n, kFrames);
  // The container lists all of them: the reader says how many did not decode.
  EXPECT_TRUE(reader.info().frames_exact);
  EXPECT_EQ(reader.info().frames, kFrames);
  EXPECT_EQ(reader.frames_missing(), kFrames - n);
}

TEST(VideoDecode, FramesMissingIsZeroForWholeFilesAndBeforeTheEnd) {
  for (const auto& [name, args] : {std::pair<std::string, std::string>{"whole.avi", "-c:v rawvideo -pix_fmt bgr24"},
                                   {"whole.mp4", "-c:v mpeg4 -movflags +faststart"},
                                   {"whole.mkv", "-c:v ffv1"}}) {
    r2plus1d::io::VideoReader reader(make_video(name, args));
    r2plus1d::io::VideoFrame f;
    ASSERT_TRUE(reader.read(f));
    EXPECT_EQ(reader.frames_missing(), 0) << name << ": not known before the end";
    while (reader.read(f)) {
    }
    EXPECT_EQ(reader.frames_read(), kFrames) << name;
    EXPECT_EQ(reader.frames_missing(), 0) << name;
  }
}

TEST(VideoDecode, MatroskaCutShortIsFoundByItsDuration) {
  // Matroska counts no frames; its duration (written in the header) tells that
  // the last 60% of a cut file is gone.
  const std::string good = make_video("cut.mkv", "-c:v ffv1");
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string cut = work("cut_part.mkv");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() * 2 / 5));
  r2plus1d::io::VideoReader reader(cut);
  EXPECT_FALSE(reader.info().frames_exact);
  r2plus1d::io::VideoFrame f;
  int n = 0;
  while (reader.read(f)) ++n;
  ASSERT_GT(n, 0);
  ASSERT_LT(n, kFrames - 2);
  EXPECT_EQ(reader.frames_missing(), kFrames - n);
}

// A PNG's bytes: its header chunk for width x height RGB and the start of an
// image data chunk, whose frame a decoder must allocate before inflating it.
std::string png_header(std::uint32_t width, std::uint32_t height) {
  auto crc32 = [](const std::string& b) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char ch : b) {
      c ^= ch;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
  };
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    return be32(static_cast<std::uint32_t>(data.size())) + type + data + be32(crc32(type + data));
  };
  const std::string ihdr = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  const std::string idat("\x78\x01\x00\x00\x01\xff\xfe\x00", 8);  // zlib: a stored block of 256 bytes, cut short
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat + std::string(256, '\0')) +
         chunk("IEND", "");
}

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

template <class E>
std::string error_of(const std::string& path, const r2plus1d::io::VideoReaderOptions& options) {
  try {
    r2plus1d::io::read_video(path, options);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

TEST(VideoDecode, FramesOverMaxPixelsAreRefusedBeforeTheyTakeMemory) {
  // 16000x16000 RGB: 768 MB a frame, in a file of 300 bytes.
  const std::string big = work("big.png");
  const std::string bytes = png_header(16000, 16000);
  std::ofstream(big, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const long before = peak_rss_kb();
  const std::string msg = error_of<r2plus1d::FormatError>(big, r2plus1d::io::VideoReaderOptions());
  EXPECT_NE(msg.find(big), std::string::npos) << msg;
  EXPECT_NE(msg.find("its frames are 16000x16000 (256000000 pixels), more than max_pixels 35389440"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("raise VideoReaderOptions::max_pixels (r2plus1d-extract: --max-pixels)"), std::string::npos)
      << msg;
  EXPECT_LT(peak_rss_kb() - before, 200 * 1024) << "KiB more at the peak";

  // Sizes the container tells (Matroska) and sizes only the decoder learns (PNG).
  const std::string mkv = make_video("limit.mkv", "-c:v ffv1");
  const std::string png = work("limit.png");
  const std::string cmd = std::string(R2PLUS1D_FFMPEG) + " -v error -y -f lavfi -i testsrc=size=64x48 -frames:v 1 '" +
                          png + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (const std::string& path : {mkv, png}) {
    const std::string m = error_of<r2plus1d::FormatError>(path, r2plus1d::io::VideoReaderOptions().max_pixels(kW * kH - 1));
    EXPECT_NE(m.find("its frames are 64x48 (3072 pixels), more than max_pixels 3071"), std::string::npos) << m;
    EXPECT_EQ(r2plus1d::io::read_video(path, r2plus1d::io::VideoReaderOptions().max_pixels(kW * kH)).size(2), kW);
  }
  EXPECT_NE(error_of<r2plus1d::OptionError>(mkv, r2plus1d::io::VideoReaderOptions().max_pixels(0))
                .find("expected a positive max_pixels, got 0"),
            std::string::npos);
}

}  // namespace

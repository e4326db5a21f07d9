#pragma once
/// \file
/// Video decoding with FFmpeg's libraries (libavformat, libavcodec, libswscale,
/// libavutil): VideoReader gives the frames of a file's best video stream, in
/// presentation order, as RGB24 (height, width, 3) at the stream's own size, as
/// torchvision's video reader does. Any container and codec FFmpeg decodes.
///
/// This header is the library's only one that needs FFmpeg: include it on its
/// own and link FFmpeg's libraries (pkg-config libavformat libavcodec libswscale
/// libavutil). A missing or unreadable file throws IoError; an empty file, one
/// FFmpeg cannot read, one without a video stream or a decodable frame, or one
/// whose frames are larger than VideoReaderOptions::max_pixels, FormatError.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/tensor.hpp"

namespace r2plus1d::io {

/// What a file says about its video stream before decoding.
struct VideoInfo {
  int width = 0;             ///< frame width in pixels
  int height = 0;            ///< frame height in pixels
  double fps = 0;            ///< average frame rate, 0 when the file does not say
  double duration = 0;       ///< seconds, 0 when the file does not say
  std::int64_t frames = 0;   ///< frame count from the container, else duration * fps, else 0
  bool frames_exact = false; ///< whether `frames` is the container's own count, not an estimate
  std::string codec;         ///< decoder name, e.g. "h264"
};

/// One decoded frame: RGB24, (height, width, 3) row-major.
struct VideoFrame {
  std::vector<std::uint8_t> rgb;  ///< height * width * 3 bytes, R, G, B per pixel
  int width = 0;                  ///< in pixels
  int height = 0;                 ///< in pixels
  std::int64_t index = 0;  ///< 0-based, in presentation order
  double time = 0;         ///< seconds since the stream's first frame
};

/// Largest frame VideoReader decodes unless told otherwise, in pixels: 8192x4320
/// (DCI 8K), more than any standard video size. One RGB frame of it takes 106 MB,
/// and a decoder holds a few frames besides.
inline constexpr std::int64_t kDefaultMaxVideoPixels = std::int64_t{8192} * 4320;

/// Options of VideoReader, with chainable setters.
class VideoReaderOptions {
 public:
  /// Decoder threads (0: FFmpeg's choice); default 1.
  VideoReaderOptions& threads(int n) {
    threads_ = n;
    return *this;
  }
  /// The decoder threads set.
  int threads() const { return threads_; }
  /// Largest frame (width * height) to decode, default kDefaultMaxVideoPixels:
  /// a video of larger frames (a 16000x16000 PNG takes 768 MB a frame) is a
  /// FormatError, raised before any of its frames is allocated. Must be positive.
  VideoReaderOptions& max_pixels(std::int64_t n) {
    max_pixels_ = n;
    return *this;
  }
  /// The largest frame set, in pixels.
  std::int64_t max_pixels() const { return max_pixels_; }

 private:
  int threads_ = 1;
  std::int64_t max_pixels_ = kDefaultMaxVideoPixels;
};

namespace detail {

struct FormatCloser {
  void operator()(AVFormatContext* p) const noexcept { avformat_close_input(&p); }
};
struct CodecFreer {
  void operator()(AVCodecContext* p) const noexcept { avcodec_free_context(&p); }
};
struct FrameFreer {
  void operator()(AVFrame* p) const noexcept { av_frame_free(&p); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct SwsFreer {
  void operator()(SwsContext* p) const noexcept { sws_freeContext(p); }
};

/// Seconds of a duration written "HH:MM:SS.fraction" (Matroska's DURATION
/// tag); 0 when it is not one.
inline double parse_duration(const char* text) {
  unsigned h = 0, m = 0;
  double sec = 0;
  if (text == nullptr || std::sscanf(text, "%u:%u:%lf", &h, &m, &sec) != 3 || m >= 60 || !(sec >= 0 && sec < 61))
    return 0;
  return 3600.0 * h + 60.0 * m + sec;
}

inline std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

}  // namespace detail

/// Decodes the best video stream of a file frame by frame (see the file comment).
class VideoReader {
 public:
  /// Opens `path`; `threads` decoder threads (0: FFmpeg's choice).
  explicit VideoReader(const std::string& path, int threads = 1)
      : VideoReader(path, VideoReaderOptions().threads(threads)) {}

  /// Opens `path` with `options`; OptionError for a non-positive max_pixels.
  VideoReader(const std::string& path, const VideoReaderOptions& options)
      : path_(path), max_pixels_(options.max_pixels()) {
    if (max_pixels_ < 1)
      throw OptionError("VideoReader: expected a positive max_pixels, got " + std::to_string(max_pixels_));
    const int threads = options.threads();
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(st)) throw IoError(where() + "no such file");
    if (std::filesystem::is_directory(st)) throw IoError(where() + "it is a directory");
    {
      std::ifstream probe(path, std::ios::binary);
      if (!probe) throw IoError(where() + "cannot open it for reading");
    }
    if (std::filesystem::file_size(path, ec) == 0 && !ec) throw FormatError(where() + "empty file (0 bytes)");

    AVFormatContext* fmt = nullptr;
    int rc = avformat_open_input(&fmt, path.c_str(), nullptr, nullptr);
    if (rc < 0) throw FormatError(where() + "not a video FFmpeg can read (" + detail::av_error(rc) + ")");
    fmt_.reset(fmt);
    // Sizes the container tells, before probing the streams (which may decode
    // frames, under the same limit, and forgets the size of a stream it refused).
    std::vector<std::pair<std::int64_t, std::int64_t>> told;
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      told.emplace_back(fmt->streams[i]->codecpar->width, fmt->streams[i]->codecpar->height);
    {
      std::vector<AVDictionary*> probe(fmt->nb_streams, nullptr);
      for (AVDictionary*& d : probe) av_dict_set_int(&d, "max_pixels", std::min<std::int64_t>(max_pixels_, INT_MAX), 0);
      rc = avformat_find_stream_info(fmt, probe.empty() ? nullptr : probe.data());
      for (AVDictionary*& d : probe) av_dict_free(&d);
    }
    if (rc < 0) throw FormatError(where() + "cannot read its streams (" + detail::av_error(rc) + ")");
    stream_ = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream_ < 0) throw FormatError(where() + "no video stream");
    AVStream* s = fmt->streams[stream_];
    check_size(told[static_cast<std::size_t>(stream_)].first, told[static_cast<std::size_t>(stream_)].second);
    check_size(s->codecpar->width, s->codecpar->height);
    const AVCodec* codec = avcodec_find_decoder(s->codecpar->codec_id);
    if (codec == nullptr)
      throw FormatError(where() + "no decoder for its codec '" + avcodec_get_name(s->codecpar->codec_id) + "'");
    codec_.reset(avcodec_alloc_context3(codec));
    frame_.reset(av_frame_alloc());
    packet_.reset(av_packet_alloc());
    if (!codec_ || !frame_ || !packet_) throw std::bad_alloc();
    rc = avcodec_parameters_to_context(codec_.get(), s->codecpar);
    if (rc < 0) throw FormatError(where() + "bad codec parameters (" + detail::av_error(rc) + ")");
    codec_->thread_count = threads < 0 ? 1 : threads;
    // Frames whose size only the decoder learns are refused when it asks for their memory.
    codec_->opaque = this;
    codec_->get_buffer2 = &VideoReader::get_buffer;
#if defined(FF_API_THREAD_SAFE_CALLBACKS) && FF_API_THREAD_SAFE_CALLBACKS
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    codec_->thread_safe_callbacks = 1;  // get_buffer is: FFmpeg before 6 asks to be told
#pragma GCC diagnostic pop
#endif
    rc = avcodec_open2(codec_.get(), codec, nullptr);
    if (rc < 0) throw FormatError(where() + "cannot open its decoder (" + detail::av_error(rc) + ")");

    time_base_ = av_q2d(s->time_base);
    info_.width = s->codecpar->width;
    info_.height = s->codecpar->height;
    info_.codec = codec->name;
    const AVRational rate = av_guess_frame_rate(fmt, s, nullptr);
    if (rate.num > 0 && rate.den > 0) info_.fps = av_q2d(rate);
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0)
      info_.duration = static_cast<double>(s->duration) * time_base_;
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
      info_.duration = static_cast<double>(fmt->duration) / AV_TIME_BASE;
    // The video stream's own duration: the stream's, Matroska's DURATION tag,
    // or the file's when it holds this stream only (not an audio track's).
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0)
      stream_duration_ = info_.duration;
    else if (const AVDictionaryEntry* tag = av_dict_get(s->metadata, "DURATION", nullptr, 0))
      stream_duration_ = detail::parse_duration(tag->value);
    else if (fmt->nb_streams == 1)
      stream_duration_ = info_.duration;
    if (s->nb_frames > 0) {
      info_.frames = s->nb_frames;
      info_.frames_exact = true;
    } else if (info_.duration > 0 && info_.fps > 0)
      info_.frames = static_cast<std::int64_t>(info_.duration * info_.fps + 0.5);
  }

  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  /// The file it reads, as given.
  const std::string& path() const { return path_; }
  /// What the file says about its video stream (read when it was opened).
  const VideoInfo& info() const { return info_; }
  /// Frames given so far.
  std::int64_t frames_read() const { return next_index_; }
  /// Packets the decoder rejected so far (damaged data it skipped).
  std::int64_t decode_errors() const { return decode_errors_; }
  /// Once read() has returned false: the frames the container lists that
  /// were not decoded, 0 when all were. A file cut short (an interrupted copy
  /// or download) or damaged past some point decodes fewer frames than its
  /// header lists, often without any decoding error. Exact where the container
  /// counts its frames (VideoInfo::frames_exact: MP4, MOV, AVI); otherwise
  /// estimated from the video stream's duration (Matroska, WebM) and counted
  /// only past two frames or 2% of it, whichever is more, so that
  /// timestamps' rounding and a variable frame rate are not taken for damage;
  /// 0 when the file says neither.
  std::int64_t frames_missing() const {
    if (!finished_) return 0;
    if (info_.frames_exact) return std::max<std::int64_t>(info_.frames - next_index_, 0);
    if (stream_duration_ <= 0 || info_.fps <= 0) return 0;
    const double covered = last_time_ + 1 / info_.fps;
    const double short_by = stream_duration_ - covered;
    if (short_by <= std::max(2 / info_.fps, 0.02 * stream_duration_)) return 0;
    return static_cast<std::int64_t>(short_by * info_.fps + 0.5);
  }

  /// The next frame into `out`; false at the end of the stream. Throws
  /// FormatError when the stream ends without a single decodable frame.
  bool read(VideoFrame& out) {
    while (!finished_) {
      const int rc = avcodec_receive_frame(codec_.get(), frame_.get());
      check_size(refused_width_.load(), refused_height_.load());
      if (rc == 0) {
        convert(out);
        av_frame_unref(frame_.get());
        return true;
      }
      if (rc == AVERROR_EOF) {
        finished_ = true;
        break;
      }
      if (rc != AVERROR(EAGAIN)) {  // a damaged frame: skip it
        ++decode_errors_;
        continue;
      }
      feed();
    }
    if (next_index_ == 0)
      throw FormatError(where() + "no frame could be decoded" +
                        (decode_errors_ > 0 ? " (" + std::to_string(decode_errors_) + " damaged packets)" : ""));
    return false;
  }

 private:
  std::string where() const { return "video: '" + path_ + "': "; }

  /// FormatError when a width x height frame is over max_pixels (0 x 0: not known).
  void check_size(std::int64_t width, std::int64_t height) const {
    if (width * height <= max_pixels_) return;
    throw FormatError(where() + "its frames are " + std::to_string(width) + "x" + std::to_string(height) + " (" +
                      std::to_string(width * height) + " pixels), more than max_pixels " +
                      std::to_string(max_pixels_) + "; raise VideoReaderOptions::max_pixels (r2plus1d-extract: "
                      "--max-pixels) to decode them");
  }

  /// The decoder's frame allocator: refuses (and records) frames over max_pixels.
  static int get_buffer(AVCodecContext* c, AVFrame* f, int flags) {
    auto* self = static_cast<VideoReader*>(c->opaque);
    if (static_cast<std::int64_t>(f->width) * f->height > self->max_pixels_) {
      self->refused_height_.store(f->height);
      self->refused_width_.store(f->width);
      return AVERROR(EINVAL);
    }
    return avcodec_default_get_buffer2(c, f, flags);
  }

  // Sends the next packet of the stream to the decoder, or the end-of-stream flush.
  void feed() {
    if (flushed_) {  // the decoder owes nothing more
      finished_ = true;
      return;
    }
    for (;;) {
      const int rc = av_read_frame(fmt_.get(), packet_.get());
      if (rc < 0) {
        // End of file, or a container damaged past this point: decode what was read.
        if (rc != AVERROR_EOF) ++decode_errors_;
        avcodec_send_packet(codec_.get(), nullptr);
        flushed_ = true;
        return;
      }
      if (packet_->stream_index != stream_) {
        av_packet_unref(packet_.get());
        continue;
      }
      const int sent = avcodec_send_packet(codec_.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) ++decode_errors_;
      return;
    }
  }

  void convert(VideoFrame& out) {
    const AVFrame* f = frame_.get();
    if (f->width < 1 || f->height < 1 || f->format < 0)
      throw FormatError(where() + "decoded a frame without a size or pixel format");
    check_size(f->width, f->height);
    sws_.reset(sws_getCachedContext(sws_.release(), f->width, f->height, static_cast<AVPixelFormat>(f->format),
                                    f->width, f->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!sws_)
      throw FormatError(where() + "cannot convert its pixel format '" +
                        av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format)) + "' to RGB");
    const int row = f->width * 3;
    const int stride = (row + 63) / 64 * 64;  // swscale may write whole SIMD blocks
    scratch_.resize(static_cast<std::size_t>(stride) * static_cast<std::size_t>(f->height) + 64);
    std::uint8_t* dst[4] = {scratch_.data(), nullptr, nullptr, nullptr};
    const int dst_stride[4] = {stride, 0, 0, 0};
    sws_scale(sws_.get(), f->data, f->linesize, 0, f->height, dst, dst_stride);
    out.width = f->width;
    out.height = f->height;
    out.rgb.resize(static_cast<std::size_t>(row) * static_cast<std::size_t>(f->height));
    for (int y = 0; y < f->height; ++y)
      std::memcpy(out.rgb.data() + static_cast<std::size_t>(y) * row, scratch_.data() + static_cast<std::size_t>(y) * stride,
                  static_cast<std::size_t>(row));
    out.index = next_index_++;
    const std::int64_t pts = f->best_effort_timestamp;
    if (pts != AV_NOPTS_VALUE) {
      if (first_pts_ == AV_NOPTS_VALUE) first_pts_ = pts;
      out.time = static_cast<double>(pts - first_pts_) * time_base_;
    } else {
      out.time = info_.fps > 0 ? static_cast<double>(out.index) / info_.fps : 0.0;
    }
    last_time_ = out.time;
  }

  std::string path_;
  std::int64_t max_pixels_ = kDefaultMaxVideoPixels;
  std::atomic<std::int64_t> refused_width_{0}, refused_height_{0};  // set by get_buffer, maybe on a decoder thread
  std::unique_ptr<AVFormatContext, detail::FormatCloser> fmt_;
  std::unique_ptr<AVCodecContext, detail::CodecFreer> codec_;
  std::unique_ptr<AVFrame, detail::FrameFreer> frame_;
  std::unique_ptr<AVPacket, detail::PacketFreer> packet_;
  std::unique_ptr<SwsContext, detail::SwsFreer> sws_;
  std::vector<std::uint8_t> scratch_;
  VideoInfo info_;
  int stream_ = -1;
  double time_base_ = 0;
  std::int64_t first_pts_ = AV_NOPTS_VALUE;
  double stream_duration_ = 0;  // seconds; 0 when unknown
  double last_time_ = 0;        // of the last frame given
  std::int64_t next_index_ = 0;
  std::int64_t decode_errors_ = 0;
  bool flushed_ = false;
  bool finished_ = false;
};

/// Every frame of `path` as (T, H, W, 3) RGB uint8, read with `options`.
/// Throws FormatError when the frame size changes within the stream.
inline Tensor<std::uint8_t, 4> read_video(const std::string& path, const VideoReaderOptions& options) {
  VideoReader reader(path, options);
  std::vector<std::uint8_t> all;
  VideoFrame f;
  int w = 0, h = 0;
  while (reader.read(f)) {
    if (f.index == 0) {
      w = f.width;
      h = f.height;
    } else if (f.width != w || f.height != h) {
      throw FormatError("video: '" + path + "': frame " + std::to_string(f.index) + " is " + std::to_string(f.width) +
                        "x" + std::to_string(f.height) + ", the first was " + std::to_string(w) + "x" +
                        std::to_string(h));
    }
    all.insert(all.end(), f.rgb.begin(), f.rgb.end());
  }
  Tensor<std::uint8_t, 4> out = Tensor<std::uint8_t, 4>::empty({reader.frames_read(), h, w, 3});
  std::memcpy(out.data(), all.data(), all.size());
  return out;
}

/// Every frame of `path` as (T, H, W, 3) RGB uint8; `threads` decoder threads.
inline Tensor<std::uint8_t, 4> read_video(const std::string& path, int threads = 1) {
  return read_video(path, VideoReaderOptions().threads(threads));
}

}  // namespace r2plus1d::io

// io::VideoClassification against torchvision's VideoClassification preset on
// the same frames (tests/reference/gen_video_preprocess.py).

#include <gtest/gtest.h>

#include <r2plus1d/io/safetensors.hpp>
#include <r2plus1d/io/video_preprocess.hpp>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace {

using r2plus1d::index_t;
using r2plus1d::Tensor;

const r2plus1d::io::SafetensorsReader& reference() {
  static const r2plus1d::io::SafetensorsReader ref(std::string(R2PLUS1D_REF_DIR) + "/video_preprocess.safetensors");
  return ref;
}

std::vector<std::string> cases() {
  std::vector<std::string> out;
  std::stringstream ss(reference().metadata().at("cases"));
  for (std::string c; std::getline(ss, c, ',');) out.push_back(c);
  return out;
}

// The reader loads U8 as a wider integer type; frames are uint8.
Tensor<std::uint8_t, 4> as_u8(const Tensor<std::int32_t, 4>& t) {
  Tensor<std::uint8_t, 4> out = Tensor<std::uint8_t, 4>::empty(t.shape());
  for (index_t i = 0; i < t.numel(); ++i) out.data()[i] = static_cast<std::uint8_t>(t.data()[i]);
  return out;
}

double max_abs_diff(const Tensor<float, 4>& a, const Tensor<float, 4>& b) {
  double worst = 0;
  for (index_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(double(a.data()[i]) - b.data()[i]));
  return worst;
}

TEST(VideoPreprocess, MatchesTorchvisionPreset) {
  const auto& ref = reference();
  const r2plus1d::io::VideoClassification preset;
  const auto names = cases();
  ASSERT_GE(names.size(), 7u);
  for (const auto& name : names) {
    const Tensor<float, 4> want = ref.tensor<float, 4>(name + ".want");
    Tensor<float, 4> got;
    if (ref.info(name + ".frames").dtype == r2plus1d::DType::U8)
      got = preset(as_u8(ref.tensor<std::int32_t, 4>(name + ".frames")).cview());
    else
      got = preset(ref.tensor<float, 4>(name + ".frames").cview());
    ASSERT_EQ(got.shape(), want.shape()) << name;
    const double err = max_abs_diff(got, want);
    std::printf("parity[video_preprocess/%s] max abs error = %.3g\n", name.c_str(), err);
    EXPECT_LE(err, 1e-5) << name;
  }
}

TEST(VideoPreprocess, LayoutIsChannelsThenTime) {
  // Two constant frames: every output of channel c, frame t is (v/255 - mean[c]) / std[c].
  Tensor<std::uint8_t, 4> frames = Tensor<std::uint8_t, 4>::empty({2, 240, 320, 3});
  for (index_t t = 0; t < 2; ++t)
    for (index_t i = 0; i < 240 * 320; ++i)
      for (index_t c = 0; c < 3; ++c) frames.data()[(t * 240 * 320 + i) * 3 + c] = static_cast<std::uint8_t>(10 + 100 * t + 20 * c);
  const r2plus1d::io::VideoClassification preset;
  const Tensor<float, 4> y = preset(frames.cview());
  ASSERT_EQ(y.shape(), (r2plus1d::Shape<4>{3, 2, 112, 112}));
  for (index_t c = 0; c < 3; ++c)
    for (index_t t = 0; t < 2; ++t) {
      const float v = static_cast<float>(10 + 100 * t + 20 * c) / 255.0f;
      const float want = (v - preset.mean()[static_cast<std::size_t>(c)]) / preset.std()[static_cast<std::size_t>(c)];
      EXPECT_FLOAT_EQ(y(c, t, 0, 0), want);
      EXPECT_FLOAT_EQ(y(c, t, 111, 111), want);
    }
}

TEST(VideoPreprocess, RejectsBadShapesAndOptions) {
  const r2plus1d::io::VideoClassification preset;
  const Tensor<std::uint8_t, 4> four_channels = Tensor<std::uint8_t, 4>::zeros({1, 8, 8, 4});
  EXPECT_THROW(preset(four_channels.cview()), r2plus1d::ShapeError);
  const Tensor<std::uint8_t, 4> empty = Tensor<std::uint8_t, 4>::zeros({1, 0, 8, 3});
  EXPECT_THROW(preset(empty.cview()), r2plus1d::ShapeError);
  r2plus1d::io::VideoClassification big;
  big.crop_size(200, 200);
  const Tensor<std::uint8_t, 4> ok = Tensor<std::uint8_t, 4>::zeros({1, 8, 8, 3});
  EXPECT_THROW(big(ok.cview()), r2plus1d::OptionError);
}

}  // namespace

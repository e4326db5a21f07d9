// io/clip_sampling.hpp, io/video_crops.hpp and io/clip_average.hpp against
// their definitions in torch and torchvision (tests/reference/gen_video_level.py)
// and on literal edge cases.

#include <gtest/gtest.h>

#include <r2plus1d/io/clip_average.hpp>
#include <r2plus1d/io/clip_sampling.hpp>
#include <r2plus1d/io/safetensors.hpp>
#include <r2plus1d/io/video_crops.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace {

using r2plus1d::index_t;
using r2plus1d::Tensor;
using r2plus1d::io::Crop;

const r2plus1d::io::SafetensorsReader& reference() {
  static const r2plus1d::io::SafetensorsReader ref(std::string(R2PLUS1D_REF_DIR) + "/video_level.safetensors");
  return ref;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string c; std::getline(ss, c, sep);) out.push_back(c);
  return out;
}

template <int R>
double max_abs(const Tensor<float, R>& a) {
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data()[i])));
  return m;
}

template <int R>
double max_abs_diff(const Tensor<float, R>& a, const Tensor<float, R>& b) {
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data()[i]) - b.data()[i]));
  return m;
}

// ---- uniform_clip_starts

TEST(UniformClipStarts, MatchesTorchLinspaceFloor) {
  const auto names = split(reference().metadata().at("starts"), ',');
  ASSERT_GE(names.size(), 10u);
  for (const auto& name : names) {
    const auto p = split(name, '_');
    const index_t n = std::stoll(p[0]), T = std::stoll(p[1]), K = std::stoll(p[2]);
    const Tensor<std::int64_t, 1> want = reference().tensor<std::int64_t, 1>("starts." + name);
    const std::vector<index_t> got = r2plus1d::io::uniform_clip_starts(n, T, K);
    ASSERT_EQ(static_cast<index_t>(got.size()), want.size(0)) << name;
    for (index_t i = 0; i < want.size(0); ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], want(i)) << name << " i=" << i;
  }
}

TEST(UniformClipStarts, EdgeCases) {
  using r2plus1d::io::uniform_clip_starts;
  EXPECT_EQ(uniform_clip_starts(100, 16, 1), (std::vector<index_t>{0}));
  EXPECT_EQ(uniform_clip_starts(100, 16, 2), (std::vector<index_t>{0, 84}));
  EXPECT_EQ(uniform_clip_starts(100, 16, 5), (std::vector<index_t>{0, 21, 42, 63, 84}));
  // More clips than windows: starts repeat, in order, ending at the last window.
  EXPECT_EQ(uniform_clip_starts(18, 16, 5), (std::vector<index_t>{0, 0, 1, 1, 2}));
  EXPECT_EQ(uniform_clip_starts(16, 16, 3), (std::vector<index_t>{0, 0, 0}));
  // Shorter than one clip: one clip at 0 (padded by the caller).
  EXPECT_EQ(uniform_clip_starts(5, 16, 5), (std::vector<index_t>{0}));
  EXPECT_THROW(uniform_clip_starts(0, 16, 5), r2plus1d::OptionError);
  EXPECT_THROW(uniform_clip_starts(10, 0, 5), r2plus1d::OptionError);
  EXPECT_THROW(uniform_clip_starts(10, 4, 0), r2plus1d::OptionError);
}

// ---- crops

Tensor<float, 5> stacked(const Tensor<float, 4>& clip, const std::vector<Crop>& crops, index_t S) {
  const index_t C = clip.size(0), D = clip.size(1);
  Tensor<float, 5> out = Tensor<float, 5>::empty({static_cast<index_t>(crops.size()), C, D, S, S});
  for (std::size_t k = 0; k < crops.size(); ++k) {
    const Tensor<float, 4> c = r2plus1d::io::apply_crop(clip, crops[k], S);
    std::copy(c.data(), c.data() + c.numel(), out.data() + static_cast<index_t>(k) * c.numel());
  }
  return out;
}

TEST(VideoCrops, MatchTorchvision) {
  const auto cases = split(reference().metadata().at("crops"), ',');
  ASSERT_GE(cases.size(), 8u);
  for (const auto& c : cases) {
    const auto p = split(c, ':');
    const std::string name = p[0];
    const index_t S = std::stoll(p[1]);
    const Tensor<float, 4> clip = reference().tensor<float, 4>("crops." + name + ".clip");
    const index_t H = clip.size(2), W = clip.size(3);
    const Tensor<float, 4> center = r2plus1d::io::apply_crop(clip, r2plus1d::io::center_crop(H, W, S), S);
    const Tensor<float, 4> want_center = reference().tensor<float, 4>("crops." + name + ".center");
    ASSERT_EQ(center.shape(), want_center.shape()) << name;
    EXPECT_EQ(max_abs_diff(center, want_center), 0.0) << name;
    for (const char* kind : {"three", "ten"}) {
      const auto crops = std::string(kind) == "three" ? r2plus1d::io::three_crops(H, W, S)
                                                      : r2plus1d::io::ten_crops(H, W, S);
      const Tensor<float, 5> got = stacked(clip, crops, S);
      const Tensor<float, 5> want = reference().tensor<float, 5>("crops." + name + "." + kind);
      ASSERT_EQ(got.shape(), want.shape()) << name << " " << kind;
      EXPECT_EQ(max_abs_diff(got, want), 0.0) << name << " " << kind;
    }
  }
}

TEST(VideoCrops, Positions) {
  using r2plus1d::io::center_crop;
  using r2plus1d::io::ten_crops;
  using r2plus1d::io::three_crops;
  // The preset's 128x171 resize: (171 - 112) / 2 = 29.5 rounds half to even, to 30.
  EXPECT_EQ(center_crop(128, 171, 112), (Crop{8, 30, false}));
  EXPECT_EQ(three_crops(128, 171, 112), (std::vector<Crop>{{8, 0, false}, {8, 30, false}, {8, 59, false}}));
  // Taller than wide: along the height.
  EXPECT_EQ(three_crops(171, 128, 112), (std::vector<Crop>{{0, 8, false}, {30, 8, false}, {59, 8, false}}));
  // 28.5 rounds to 28: the mirrored centre is at 57 - 28 = 29.
  const auto ten = ten_crops(112, 169, 112);
  ASSERT_EQ(ten.size(), 10u);
  EXPECT_EQ(ten[4], (Crop{0, 28, false}));
  EXPECT_EQ(ten[5], (Crop{0, 57, true}));
  EXPECT_EQ(ten[6], (Crop{0, 0, true}));
  EXPECT_EQ(ten[9], (Crop{0, 29, true}));
  // A crop the size of the frame: every view is the frame (flipped or not).
  for (const Crop& c : ten_crops(8, 8, 8)) EXPECT_TRUE(c.top == 0 && c.left == 0);
  for (const Crop& c : three_crops(8, 8, 8)) EXPECT_TRUE(c == (Crop{0, 0, false}));
  EXPECT_EQ(r2plus1d::io::video_crops(1, 128, 171, 112).size(), 1u);
  EXPECT_EQ(r2plus1d::io::video_crops(3, 128, 171, 112).size(), 3u);
  EXPECT_EQ(r2plus1d::io::video_crops(10, 128, 171, 112).size(), 10u);
}

TEST(VideoCrops, ApplyFlipsAndRejects) {
  Tensor<float, 4> clip = Tensor<float, 4>::empty({1, 1, 2, 3});
  for (index_t i = 0; i < 6; ++i) clip.data()[i] = static_cast<float>(i);
  const Tensor<float, 4> f = r2plus1d::io::apply_crop(clip, Crop{1, 1, true}, 1);
  EXPECT_EQ(f(0, 0, 0, 0), 4.0f);
  const Tensor<float, 4> g = r2plus1d::io::apply_crop(clip, Crop{0, 0, true}, 2);
  EXPECT_EQ(g(0, 0, 0, 0), 1.0f);
  EXPECT_EQ(g(0, 0, 1, 1), 3.0f);
  EXPECT_THROW(r2plus1d::io::apply_crop(clip, Crop{0, 2, false}, 2), r2plus1d::OptionError);
  EXPECT_THROW(r2plus1d::io::apply_crop(clip, Crop{-1, 0, false}, 1), r2plus1d::OptionError);
  EXPECT_THROW(r2plus1d::io::center_crop(7, 10, 8), r2plus1d::OptionError);
  EXPECT_THROW(r2plus1d::io::three_crops(7, 10, 0), r2plus1d::OptionError);
  EXPECT_THROW(r2plus1d::io::ten_crops(7, 10, 11), r2plus1d::OptionError);
  EXPECT_THROW(r2plus1d::io::video_crops(5, 128, 171, 112), r2plus1d::OptionError);
}

// ---- averaging

TEST(ClipAverage, MatchesTorch) {
  const Tensor<float, 2> logits = reference().tensor<float, 2>("average.logits");
  const Tensor<float, 2> probs = reference().tensor<float, 2>("average.probs");
  const Tensor<float, 2> got = r2plus1d::io::average_clips(logits, true);
  ASSERT_EQ(got.shape(), probs.shape());
  EXPECT_LE(max_abs_diff(got, probs), 1e-4 * max_abs(probs));
  double sum = 0;
  for (index_t c = 0; c < got.size(1); ++c) sum += got(0, c);
  EXPECT_NEAR(sum, 1.0, 1e-5);

  const Tensor<float, 2> features = reference().tensor<float, 2>("average.features");
  const Tensor<float, 2> mean = reference().tensor<float, 2>("average.mean");
  const Tensor<float, 2> m = r2plus1d::io::average_clips(features, false);
  ASSERT_EQ(m.shape(), mean.shape());
  EXPECT_LE(max_abs_diff(m, mean), 1e-4 * max_abs(mean));
}

TEST(ClipAverage, OneRowAndNone) {
  Tensor<float, 2> one = Tensor<float, 2>::empty({1, 2});
  one(0, 0) = 0.0f;
  one(0, 1) = std::log(3.0f);
  const Tensor<float, 2> p = r2plus1d::io::average_clips(one, true);
  EXPECT_NEAR(p(0, 0), 0.25, 1e-6);
  EXPECT_NEAR(p(0, 1), 0.75, 1e-6);
  const Tensor<float, 2> f = r2plus1d::io::average_clips(one, false);
  EXPECT_EQ(f(0, 1), one(0, 1));
  const Tensor<float, 2> none = Tensor<float, 2>::empty({0, 4});
  EXPECT_THROW(r2plus1d::io::average_clips(none, false), r2plus1d::ShapeError);
}

}  // namespace

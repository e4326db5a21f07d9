// The streamed (2+1)D pair against the two convolutions run one after the other.

#include <gtest/gtest.h>

#include <r2plus1d/ops/conv2plus1d.hpp>

#include <cmath>
#include <vector>

#include "parity.hpp"

namespace r2plus1d {
namespace {

template <int R>
Tensor<double, R> wave(const Shape<R>& s, double f) {
  Tensor<double, R> t(s);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = std::sin(f * static_cast<double>(i) + 0.3);
  return t;
}

struct PairCase {
  Shape<5> x;
  index_t mid, out, kh, kt;
  Triple s_stride, s_pad, t_stride, t_pad;
};

class Conv2Plus1dStream : public ::testing::TestWithParam<PairCase> {};

TEST_P(Conv2Plus1dStream, MatchesTwoConvs) {
  const PairCase c = GetParam();
  const Tensor<double, 5> x = wave<5>(c.x, 0.37);
  const Tensor<double, 5> ws = wave<5>({c.mid, c.x[1], 1, c.kh, c.kh}, 0.11);
  const Tensor<double, 5> wt = wave<5>({c.out, c.mid, c.kt, 1, 1}, 0.23);
  std::vector<double> s1(static_cast<std::size_t>(c.mid)), b1(s1.size()), s2(static_cast<std::size_t>(c.out)),
      b2(s2.size());
  for (std::size_t i = 0; i < s1.size(); ++i) s1[i] = 0.5 + 0.01 * double(i), b1[i] = 0.05 * std::cos(double(i));
  for (std::size_t i = 0; i < s2.size(); ++i) s2[i] = 1.5 - 0.01 * double(i), b2[i] = -0.02 * std::sin(double(i));
  const ops::Conv3dParams ps{c.s_stride, c.s_pad, Triple(1), 1}, pt{c.t_stride, c.t_pad, Triple(1), 1};
  ASSERT_TRUE(ops::conv2plus1d_streamable(ws.shape(), ps, wt.shape(), pt));
  const Tensor<double, 5> mid = ops::conv3d_fused<double>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
  const Tensor<double, 5> want = ops::conv3d_fused<double>(mid.cview(), wt.cview(), pt, s2.data(), b2.data(), false);
  const Tensor<double, 5> got = ops::conv2plus1d_fused<double>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true,
                                                               wt.cview(), pt, s2.data(), b2.data(), false);
  EXPECT_TRUE((test::matches_reference<double, 5>(got.cview(), want.cview(), "conv2plus1d/double", "stream")));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Conv2Plus1dStream,
    ::testing::Values(
        // layer1-like: large frames, one output frame per group
        PairCase{{1, 8, 7, 150, 160}, 12, 8, 3, 3, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}, {1, 0, 0}},
        // temporal stride 2 with padding, odd frame count, spatial stride 2
        PairCase{{2, 6, 9, 20, 22}, 10, 12, 3, 3, {1, 2, 2}, {0, 1, 1}, {2, 1, 1}, {1, 0, 0}},
        // kernel 1 shortcut: spatial stride (1,2,2), temporal (2,1,1)
        PairCase{{1, 5, 8, 14, 14}, 4, 9, 1, 1, {1, 2, 2}, {0, 0, 0}, {2, 1, 1}, {0, 0, 0}},
        // stem-like 7x7 spatial, temporal 3 with padding, a single frame
        PairCase{{1, 3, 1, 30, 28}, 9, 6, 7, 3, {1, 2, 2}, {0, 3, 3}, {1, 1, 1}, {1, 0, 0}},
        // no temporal padding, groups of many frames
        PairCase{{1, 4, 12, 5, 5}, 6, 7, 3, 3, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}, {0, 0, 0}},
        // large temporal padding and stride 3
        PairCase{{1, 4, 10, 96, 96}, 40, 5, 3, 5, {1, 1, 1}, {0, 1, 1}, {3, 1, 1}, {4, 0, 0}}));

TEST(Conv2Plus1dStream, InPlaceGivesTheSameBits) {
  const Tensor<float, 5> x = [] {
    Tensor<float, 5> t({2, 8, 7, 15, 16});
    for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    return t;
  }();
  Tensor<float, 5> ws({12, 8, 1, 3, 3}), wt({8, 12, 3, 1, 1});
  for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
  for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
  const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{1, 0, 0}, 1, 1};
  ASSERT_TRUE(ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt));
  const Tensor<float, 5> want =
      ops::conv2plus1d_fused<float>(x.cview(), ws.cview(), ps, nullptr, nullptr, true, wt.cview(), pt, nullptr, nullptr, false);
  Tensor<float, 5> y = x;
  ops::conv2plus1d_fused_into<float>(y.cview(), ws.cview(), ps, nullptr, nullptr, true, wt.cview(), pt, nullptr, nullptr,
                                     false, y.view());
  for (index_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data()[i], want.data()[i]) << i;
  // a temporal stride writes frames that later groups still read: refused
  const ops::Conv3dParams pt2{Triple{2, 1, 1}, Triple{1, 0, 0}, 1, 1};
  EXPECT_FALSE(ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt2));
}

TEST(Conv2Plus1dStream, RejectsNonSeparablePairs) {
  EXPECT_FALSE(ops::conv2plus1d_streamable({8, 4, 3, 3, 3}, {}, {4, 8, 3, 1, 1}, {}));
  EXPECT_FALSE(ops::conv2plus1d_streamable({8, 4, 1, 3, 3}, {}, {4, 8, 3, 3, 1}, {}));
  EXPECT_FALSE(ops::conv2plus1d_streamable({8, 4, 1, 3, 3}, {}, {4, 7, 3, 1, 1}, {}));
  const Tensor<double, 5> x({1, 4, 3, 5, 5});
  const Tensor<double, 5> ws({8, 4, 3, 3, 3}), wt({4, 8, 3, 1, 1});
  EXPECT_THROW(ops::conv2plus1d_fused<double>(x.cview(), ws.cview(), {}, nullptr, nullptr, false, wt.cview(), {},
                                              nullptr, nullptr, false),
               OptionError);
}

}  // namespace
}  // namespace r2plus1d

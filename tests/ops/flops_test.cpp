// ops/flops.hpp: each FLOP formula on shapes whose counts are worked out by hand.

#include <gtest/gtest.h>

#include <r2plus1d/ops/flops.hpp>

namespace r2plus1d {
namespace {

TEST(Flops, Conv3dCountsOneMultiplyAddPerTap) {
  ops::Conv3dParams p;
  p.stride = Triple{1, 2, 2};
  p.padding = Triple{0, 3, 3};
  // The R(2+1)D stem's spatial conv: 45 x (16 x 56 x 56) outputs, 3 x 49 taps each.
  EXPECT_DOUBLE_EQ(ops::conv3d_flops({1, 3, 16, 112, 112}, {45, 3, 1, 7, 7}, p), 2.0 * 45 * 16 * 56 * 56 * 3 * 49);
  ops::Conv3dParams g;
  g.groups = 2;
  g.padding = 1;
  // Groups: each output channel sees in / groups = 2 channels.
  EXPECT_DOUBLE_EQ(ops::conv3d_flops({2, 4, 5, 9, 11}, {8, 2, 3, 3, 3}, g), 2.0 * 2 * 8 * (5 * 9 * 11) * 2 * 27);
  EXPECT_THROW(ops::conv3d_flops({1, 4, 5, 9, 11}, {8, 3, 3, 3, 3}, {}), ShapeError);
}

TEST(Flops, Linear) { EXPECT_DOUBLE_EQ(ops::linear_flops({8, 512}, {400, 512}), 2.0 * 8 * 400 * 512); }

TEST(Flops, ElementWise) {
  EXPECT_DOUBLE_EQ(ops::batch_norm3d_flops({2, 64, 8, 56, 56}), 2.0 * 2 * 64 * 8 * 56 * 56);
  EXPECT_DOUBLE_EQ(ops::relu_flops<5>({2, 64, 8, 56, 56}), 2.0 * 64 * 8 * 56 * 56);
  EXPECT_DOUBLE_EQ(ops::relu_flops<2>({3, 7}), 21.0);
}

TEST(Flops, AdaptiveAvgPoolCountsEveryBinElementAndOneDivisionPerOutput) {
  // Global pooling of 512 x (2 x 7 x 7): 98 adds and 1 division per channel.
  EXPECT_DOUBLE_EQ(ops::adaptive_avg_pool3d_flops({1, 512, 2, 7, 7}, 1), 512.0 * (98 + 1));
  // 5 -> 2 bins [0, 3) and [2, 5) cover 6 elements; 1 -> 1 covers 1.
  EXPECT_DOUBLE_EQ(ops::adaptive_avg_pool3d_flops({2, 3, 1, 1, 5}, {1, 1, 2}), 2.0 * 3 * (6 + 2));
}

}  // namespace
}  // namespace r2plus1d

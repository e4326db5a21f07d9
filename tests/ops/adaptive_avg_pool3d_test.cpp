// ops::adaptive_avg_pool3d: torch's bins, hand-computed averages, errors, and
// parity with torch for sizes that do not divide and outputs larger than inputs.

#include <gtest/gtest.h>

#include <r2plus1d/ops/adaptive_avg_pool3d.hpp>

#include <string>
#include <vector>

#include "parity.hpp"
#include "primitives_reference.hpp"
#include "test_util.hpp"

namespace r2plus1d {
namespace {

std::vector<std::pair<index_t, index_t>> bins(index_t in, index_t out) {
  std::vector<std::pair<index_t, index_t>> v;
  for (const auto& b : ops::adaptive_pool_bins(in, out)) v.emplace_back(b.begin, b.end);
  return v;
}

TEST(AdaptivePoolBins, FloorStartCeilEnd) {
  using P = std::vector<std::pair<index_t, index_t>>;
  EXPECT_EQ(bins(5, 2), (P{{0, 3}, {2, 5}}));  // overlapping
  EXPECT_EQ(bins(7, 3), (P{{0, 3}, {2, 5}, {4, 7}}));
  EXPECT_EQ(bins(6, 3), (P{{0, 2}, {2, 4}, {4, 6}}));
  EXPECT_EQ(bins(2, 3), (P{{0, 1}, {0, 2}, {1, 2}}));  // larger output than input
  EXPECT_EQ(bins(11, 1), (P{{0, 11}}));
}

template <class T>
class AdaptiveAvgPool3dOp : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(AdaptiveAvgPool3dOp, Scalars);

TYPED_TEST(AdaptiveAvgPool3dOp, HandComputedAverages) {
  using T = TypeParam;
  Tensor<T, 5> x({1, 2, 1, 1, 5});
  for (int i = 0; i < 10; ++i) x.data()[i] = T(i);  // channel 0: 0..4, channel 1: 5..9
  const Tensor<T, 5> y = ops::adaptive_avg_pool3d<T>(x.cview(), {1, 1, 2});
  ASSERT_EQ(y.shape(), (Shape<5>{1, 2, 1, 1, 2}));
  EXPECT_EQ(y(0, 0, 0, 0, 0), T(1));  // mean(0, 1, 2)
  EXPECT_EQ(y(0, 0, 0, 0, 1), T(3));  // mean(2, 3, 4)
  EXPECT_EQ(y(0, 1, 0, 0, 0), T(6));
  const Tensor<T, 5> g = ops::adaptive_avg_pool3d<T>(x.cview(), 1);
  EXPECT_EQ(g(0, 0, 0, 0, 0), T(2));
  EXPECT_EQ(g(0, 1, 0, 0, 0), T(7));
}

TYPED_TEST(AdaptiveAvgPool3dOp, Errors) {
  using T = TypeParam;
  EXPECT_THROW(ops::adaptive_avg_pool3d<T>(Tensor<T, 5>({1, 2, 3, 3, 3}).cview(), {1, -1, 1}), OptionError);
  EXPECT_THROW(ops::adaptive_avg_pool3d<T>(Tensor<T, 5>({1, 2, 0, 3, 3}).cview(), 1), ShapeError);
  EXPECT_EQ(ops::adaptive_avg_pool3d<T>(Tensor<T, 5>({0, 2, 3, 3, 3}).cview(), 1).shape(), (Shape<5>{0, 2, 1, 1, 1}));
}

template <class T>
class AdaptiveAvgPool3dParity : public ::testing::Test {};
TYPED_TEST_SUITE(AdaptiveAvgPool3dParity, Scalars);

TYPED_TEST(AdaptiveAvgPool3dParity, MatchesTorch) {
  using T = TypeParam;
  const test::PrimitiveReference ref("adaptive_avg_pool3d");
  for (const auto& c : ref.cases()) {
    const Tensor<T, 5> x = ref.input<T, 5>(c);
    const Tensor<T, 5> y = ops::adaptive_avg_pool3d<T>(x.cview(), test::triple_of(c.at("options").at("output_size")));
    EXPECT_TRUE((test::matches_reference<T, 5>(y.cview(), ref.output<T, 5>(c).cview(),
                                               std::string("adaptive_avg_pool3d/") + test::scalar_name<T>(),
                                               "adaptive_avg_pool3d " + c.at("name").get<std::string>())));
  }
}

}  // namespace
}  // namespace r2plus1d

#include <gtest/gtest.h>

#include <r2plus1d/ops/softmax.hpp>
#include <r2plus1d/ops/topk.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace r2plus1d {
namespace {

// Golden values: torch.softmax in float64.
TEST(Softmax, MatchesTorchAlongEitherDimension) {
  Tensor<double, 2> x({2, 4});
  const double v[] = {1.0, 2.0, 3.0, 0.5, -1000.0, 0.0, 1000.0, 999.0};
  std::copy(v, v + 8, x.data());
  const Tensor<double, 2> rows = ops::softmax(x, 1);
  const double want_rows[] = {0.08536889350978889, 0.23205671194331445, 0.6307955432474668, 0.05177885129942981,
                              0.0, 0.0, 0.7310585786300049, 0.26894142136999516};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(rows.data()[i], want_rows[i], 1e-15) << i;
  const Tensor<double, 2> cols = ops::softmax(x.view(), 0);
  const double want_cols[] = {1.0, 0.8807970779778823, 0.0, 0.0, 0.0, 0.11920292202211755, 1.0, 1.0};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(cols.data()[i], want_cols[i], 1e-15) << i;
  const Tensor<double, 2> last = ops::softmax(x.cview(), -1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(last.data()[i], rows.data()[i]);
}

TEST(Softmax, FloatSumsToOneAndKeepsShape) {
  Tensor<float, 3> x({2, 3, 5});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = std::sin(0.7f * static_cast<float>(i)) * 20.0f;
  const Tensor<float, 3> y = ops::softmax(x, 1);
  EXPECT_EQ(y.shape(), x.shape());
  for (index_t a = 0; a < 2; ++a)
    for (index_t c = 0; c < 5; ++c) {
      double sum = 0;
      for (index_t b = 0; b < 3; ++b) sum += y(a, b, c);
      EXPECT_NEAR(sum, 1.0, 1e-6);
    }
}

// As torch: a NaN or +Inf makes its line NaN, and so does a line of -Inf only.
TEST(Softmax, NonFiniteLinesAsTorch) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor<float, 2> x({4, 2});
  const float v[] = {std::numeric_limits<float>::quiet_NaN(), 1.0f, -inf, -inf, inf, 1.0f, -inf, 0.0f};
  std::copy(v, v + 8, x.data());
  const Tensor<float, 2> y = ops::softmax(x, 1);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(std::isnan(y.data()[i])) << i;
  EXPECT_EQ(y(3, 0), 0.0f);
  EXPECT_EQ(y(3, 1), 1.0f);
  EXPECT_THROW(ops::softmax(x, 2), ShapeError);
}

// torch.topk(torch.tensor([3., 1., nan, 3., -2.]), 3) gives values [nan, 3, 3]
// (NaN counts as the largest); its order of the two 3s is unspecified, here by index.
TEST(TopK, LargestAndSmallestWithNaNAsTorch) {
  Tensor<float, 1> x({5});
  const float v[] = {3.0f, 1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f, -2.0f};
  std::copy(v, v + 5, x.data());
  const auto [values, indices] = ops::topk(x, 3);
  EXPECT_TRUE(std::isnan(values(0)));
  EXPECT_EQ(values(1), 3.0f);
  EXPECT_EQ(values(2), 3.0f);
  EXPECT_EQ(indices(0), 2);
  EXPECT_EQ(indices(1), 0);
  EXPECT_EQ(indices(2), 3);
  const auto smallest = ops::topk(x.view(), 3, 0, /*largest=*/false);
  EXPECT_EQ(smallest.values(0), -2.0f);
  EXPECT_EQ(smallest.values(1), 1.0f);
  EXPECT_EQ(smallest.values(2), 3.0f);
  EXPECT_EQ(smallest.indices(0), 4);
  EXPECT_EQ(smallest.indices(1), 1);
  EXPECT_EQ(smallest.indices(2), 0);
  const auto unsorted = ops::topk(x.cview(), 3, -1, true, /*sorted=*/false);
  EXPECT_EQ(unsorted.indices(0), 0);
  EXPECT_EQ(unsorted.indices(1), 2);
  EXPECT_EQ(unsorted.indices(2), 3);
}

// torch.topk(torch.arange(24.).reshape(2, 3, 4).flip(1), 2, dim=1).
TEST(TopK, AlongAnInnerDimensionAsTorch) {
  Tensor<float, 3> x({2, 3, 4});
  for (index_t a = 0; a < 2; ++a)
    for (index_t b = 0; b < 3; ++b)
      for (index_t c = 0; c < 4; ++c) x(a, b, c) = static_cast<float>(a * 12 + (2 - b) * 4 + c);
  const auto r = ops::topk(x, 2, 1);
  EXPECT_EQ(r.values.shape(), (Shape<3>{2, 2, 4}));
  EXPECT_EQ(r.indices.shape(), (Shape<3>{2, 2, 4}));
  const float want[] = {8, 9, 10, 11, 4, 5, 6, 7, 20, 21, 22, 23, 16, 17, 18, 19};
  const std::int64_t want_idx[] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(r.values.data()[i], want[i]) << i;
    EXPECT_EQ(r.indices.data()[i], want_idx[i]) << i;
  }
  EXPECT_THROW(ops::topk(x, 4, 1), ShapeError);
  EXPECT_THROW(ops::topk(x, -1, 1), ShapeError);
  EXPECT_EQ(ops::topk(x, 0, 1).values.numel(), 0);
}

}  // namespace
}  // namespace r2plus1d

// nn::AdaptiveAvgPool3d: output size option, forward through the kernel, no state.

#include <gtest/gtest.h>

#include <r2plus1d/nn/adaptive_avg_pool3d.hpp>

#include "../ops/test_util.hpp"

namespace r2plus1d {
namespace {

TEST(AdaptiveAvgPool3dModule, ForwardAndOptions) {
  nn::AdaptiveAvgPool3d<float> pool(1);
  EXPECT_EQ(pool.output_size(), Triple(1));
  EXPECT_TRUE(pool.state_dict().empty());
  const auto x = test::random_tensor<float, 5>({2, 3, 2, 7, 7}, 4);
  const Tensor<float, 5> y = pool(x);
  ASSERT_EQ(y.shape(), (Shape<5>{2, 3, 1, 1, 1}));
  double sum = 0;
  for (index_t i = 0; i < 98; ++i) sum += x.data()[98 + i];  // (n 0, c 1)
  EXPECT_NEAR(y(0, 1, 0, 0, 0), sum / 98, 1e-6);

  nn::AdaptiveAvgPool3d<double> p235({2, 3, 5});
  EXPECT_EQ(p235(test::random_tensor<double, 5>({1, 1, 5, 9, 11}, 1)).shape(), (Shape<5>{1, 1, 2, 3, 5}));
  EXPECT_THROW(nn::AdaptiveAvgPool3d<float>({1, -2, 1}), OptionError);
}

}  // namespace
}  // namespace r2plus1d

// nn::ReLU: any rank, NaN kept, no state.

#include <gtest/gtest.h>

#include <r2plus1d/nn/relu.hpp>

#include <cmath>
#include <limits>

#include "../ops/test_util.hpp"

namespace r2plus1d {
namespace {

TEST(ReLUModule, AnyRankNoState) {
  nn::ReLU<float> relu;
  Tensor<float, 2> x({1, 3});
  x(0, 0) = -1.0f;
  x(0, 1) = 2.0f;
  x(0, 2) = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float, 2> y = relu(x);
  EXPECT_EQ(y(0, 0), 0.0f);
  EXPECT_EQ(y(0, 1), 2.0f);
  EXPECT_TRUE(std::isnan(y(0, 2)));
  EXPECT_TRUE(relu.state_dict().empty());

  nn::ReLU<double> relu5;
  const auto z = test::random_tensor<double, 5>({1, 2, 3, 4, 5}, 9);
  const Tensor<double, 5> r = relu5.forward(z.cview());
  for (index_t i = 0; i < z.numel(); ++i) EXPECT_EQ(r.data()[i], std::max(0.0, z.data()[i]));
}

}  // namespace
}  // namespace r2plus1d

// ops::relu and ops::relu_: values, NaN and infinities as torch.relu, any rank,
// and parity with torch on tensors full of special values.

#include <gtest/gtest.h>

#include <r2plus1d/ops/relu.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "parity.hpp"
#include "primitives_reference.hpp"
#include "test_util.hpp"

namespace r2plus1d {
namespace {

template <class T>
class ReluOp : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ReluOp, Scalars);

TYPED_TEST(ReluOp, ClampsNegativesKeepsNaN) {
  using T = TypeParam;
  constexpr T inf = std::numeric_limits<T>::infinity();
  Tensor<T, 1> x({7});
  const T v[] = {-2, -0.0, 0, 3.5, inf, -inf, std::numeric_limits<T>::quiet_NaN()};
  for (int i = 0; i < 7; ++i) x(i) = v[i];
  const Tensor<T, 1> y = ops::relu<T, 1>(x.cview());
  EXPECT_EQ(y(0), T(0));
  EXPECT_EQ(y(1), T(0));
  EXPECT_EQ(y(2), T(0));
  EXPECT_EQ(y(3), T(3.5));
  EXPECT_EQ(y(4), inf);
  EXPECT_EQ(y(5), T(0));
  EXPECT_TRUE(std::isnan(y(6)));
  EXPECT_EQ(x(0), T(-2));  // input untouched

  ops::relu_(x.view());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(x(i), y(i)) << i;
  EXPECT_TRUE(std::isnan(x(6)));
}

TYPED_TEST(ReluOp, LargeTensorsAcrossBlocksAndThreads) {
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const auto x = test::random_tensor<T, 5>({2, 3, 5, 100, 101}, 3);  // several parallel blocks
  set_num_threads(1);
  const Tensor<T, 5> a = ops::relu<T, 5>(x.cview());
  set_num_threads(2);
  const Tensor<T, 5> b = ops::relu<T, 5>(x.cview());
  EXPECT_TRUE((test::bit_identical<T, 5>(a.cview(), b.cview())));
  for (index_t i = 0; i < x.numel(); ++i) ASSERT_EQ(a.data()[i], x.data()[i] < 0 ? T(0) : x.data()[i]) << i;
}

template <class T>
class ReluParity : public ::testing::Test {};
TYPED_TEST_SUITE(ReluParity, Scalars);

template <class T, int R>
void check_relu(const test::PrimitiveReference& ref, const nlohmann::json& c) {
  const Tensor<T, R> x = ref.input<T, R>(c);
  const Tensor<T, R> y = ops::relu<T, R>(x.cview());
  EXPECT_TRUE((test::matches_reference<T, R>(y.cview(), ref.output<T, R>(c).cview(),
                                             std::string("relu/") + test::scalar_name<T>(),
                                             "relu " + c.at("name").get<std::string>())));
  Tensor<T, R> z = x;
  ops::relu_(z.view());
  EXPECT_TRUE((test::bit_identical<T, R>(y.cview(), z.cview())));
}

TYPED_TEST(ReluParity, MatchesTorchIncludingNaNAndInf) {
  using T = TypeParam;
  const test::PrimitiveReference ref("relu");
  for (const auto& c : ref.cases()) {
    switch (c.at("rank").get<int>()) {
      case 1: check_relu<T, 1>(ref, c); break;
      case 2: check_relu<T, 2>(ref, c); break;
      case 5: check_relu<T, 5>(ref, c); break;
      default: FAIL() << "unexpected rank in " << c.dump();
    }
  }
}

}  // namespace
}  // namespace r2plus1d

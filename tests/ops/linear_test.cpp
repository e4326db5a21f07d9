// ops::linear: hand-computed values, the feature-count check, thread-count
// independence, and parity with torch.nn.functional.linear.

#include <gtest/gtest.h>

#include <r2plus1d/ops/linear.hpp>

#include <string>

#include "parity.hpp"
#include "primitives_reference.hpp"
#include "test_util.hpp"

namespace r2plus1d {
namespace {

template <class T>
class LinearOp : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(LinearOp, Scalars);

TYPED_TEST(LinearOp, HandComputedValues) {
  using T = TypeParam;
  Tensor<T, 2> x({2, 3});
  const T xv[] = {1, 2, 3, -1, 0, 2};
  for (int i = 0; i < 6; ++i) x.data()[i] = xv[i];
  Tensor<T, 2> w({2, 3});
  const T wv[] = {1, 0, -1, 0.5, 0.5, 0.5};
  for (int i = 0; i < 6; ++i) w.data()[i] = wv[i];
  const T b[] = {10, -1};
  const Tensor<T, 2> y = ops::linear<T>(x.cview(), w.cview(), b);
  ASSERT_EQ(y.shape(), (Shape<2>{2, 2}));
  EXPECT_EQ(y(0, 0), T(8));    // 1 - 3 + 10
  EXPECT_EQ(y(0, 1), T(2));    // 3 - 1
  EXPECT_EQ(y(1, 0), T(7));    // -1 - 2 + 10
  EXPECT_EQ(y(1, 1), T(-0.5));  // 0.5 - 1
  const Tensor<T, 2> z = ops::linear<T>(x.cview(), w.cview(), nullptr);
  EXPECT_EQ(z(0, 0), T(-2));
}

TYPED_TEST(LinearOp, FeatureMismatchIsAShapeError) {
  using T = TypeParam;
  try {
    ops::linear<T>(Tensor<T, 2>({1, 256}).cview(), Tensor<T, 2>({400, 512}).cview(), nullptr);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("linear: input has 256 features, expected 512"), std::string::npos) << e.what();
  }
}

TYPED_TEST(LinearOp, IndependentOfThreadCount) {
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const auto x = test::random_tensor<T, 2>({150, 300}, 11);
  const auto w = test::random_tensor<T, 2>({70, 300}, 12);
  set_num_threads(1);
  const Tensor<T, 2> a = ops::linear<T>(x.cview(), w.cview(), nullptr);
  set_num_threads(3);
  const Tensor<T, 2> b = ops::linear<T>(x.cview(), w.cview(), nullptr);
  EXPECT_TRUE((test::bit_identical<T, 2>(a.cview(), b.cview())));
}

template <class T>
class LinearParity : public ::testing::Test {};
TYPED_TEST_SUITE(LinearParity, Scalars);

TYPED_TEST(LinearParity, MatchesTorchFunctional) {
  using T = TypeParam;
  const test::PrimitiveReference ref("linear");
  for (const auto& c : ref.cases()) {
    const bool has_bias = c.at("options").at("bias");
    const Tensor<T, 2> x = ref.input<T, 2>(c);
    const Tensor<T, 2> w = ref.tensor<T, 2>(c, "state.weight");
    const Tensor<T, 1> b = has_bias ? ref.tensor<T, 1>(c, "state.bias") : Tensor<T, 1>();
    const Tensor<T, 2> y = ops::linear<T>(x.cview(), w.cview(), has_bias ? b.data() : nullptr);
    EXPECT_TRUE((test::matches_reference<T, 2>(y.cview(), ref.output<T, 2>(c).cview(),
                                               std::string("linear/") + test::scalar_name<T>(),
                                               "linear " + c.at("name").get<std::string>())));
  }
}

}  // namespace
}  // namespace r2plus1d

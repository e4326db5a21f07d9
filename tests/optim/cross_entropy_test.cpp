// ops::cross_entropy against torch.nn.functional.cross_entropy (mean, with and
// without label smoothing, rows shifted by 1000 for stability): the loss and
// its gradient with respect to the logits, within the optim tests' tolerance
// (optim_reference.hpp).

#include <gtest/gtest.h>

#include <r2plus1d/ops/cross_entropy.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "optim_reference.hpp"

namespace r2plus1d {
namespace {

template <class T>
class CrossEntropyParity : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CrossEntropyParity, Scalars);

TYPED_TEST(CrossEntropyParity, LossAndGradientMatchTorch) {
  using T = TypeParam;
  const test::OptimReference ref;
  ASSERT_EQ(ref.list("losses").size(), 4u);
  for (const auto& c : ref.list("losses")) {
    const std::string name = c.at("name"), s = test::OptimReference::suffix<T>();
    const Tensor<T, 2> logits = ref.tensor<T, 2>(name + ".logits");
    const Tensor<std::int64_t, 1> targets = ref.tensor<std::int64_t, 1>(name + ".targets");
    const ops::CrossEntropyResult<T> r = ops::cross_entropy(logits, targets, c.at("label_smoothing").get<double>());
    const Tensor<T, 1> loss(Shape<1>{1}, r.loss);
    EXPECT_TRUE((test::close_to_torch<T, 1>(loss.cview(), ref.tensor<T, 1>(name + ".loss_" + s).cview(), name + " loss")));
    EXPECT_TRUE((test::close_to_torch<T, 2>(r.grad.cview(), ref.tensor<T, 2>(name + ".grad_" + s).cview(),
                                           name + " grad")));
  }
}

TEST(CrossEntropy, Errors) {
  const Tensor<float, 2> logits({2, 3}, 0.5f);
  Tensor<std::int64_t, 1> t({2});
  t(1) = 3;
  EXPECT_THROW(ops::cross_entropy(logits, t), OptionError);
  t(1) = -1;
  EXPECT_THROW(ops::cross_entropy(logits, t), OptionError);
  t(1) = -100;  // torch's ignore_index is not supported
  EXPECT_THROW(ops::cross_entropy(logits, t), OptionError);
  t(1) = 2;
  EXPECT_THROW(ops::cross_entropy(logits, t, 1.5), OptionError);
  EXPECT_THROW(ops::cross_entropy(logits, Tensor<std::int64_t, 1>({3})), ShapeError);
  EXPECT_THROW(ops::cross_entropy(Tensor<float, 2>({2, 0}), t), ShapeError);
  const auto uniform = ops::cross_entropy(logits, t);
  EXPECT_NEAR(uniform.loss, std::log(3.0f), 1e-6f);  // equal logits: log K
  EXPECT_NEAR(uniform.grad(0, 0), (1.0f / 3 - 1) / 2, 1e-7f);
  EXPECT_TRUE(std::isnan(ops::cross_entropy(Tensor<float, 2>({0, 3}), Tensor<std::int64_t, 1>({0})).loss));
}

}  // namespace
}  // namespace r2plus1d

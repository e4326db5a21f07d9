// ops::batch_norm3d: hand-computed statistics and running updates, the error
// cases, thread-count independence, and parity with torch.nn.functional.batch_norm
// (eval with running statistics, training with the update, no running statistics).

#include <gtest/gtest.h>

#include <r2plus1d/ops/batch_norm3d.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "parity.hpp"
#include "primitives_reference.hpp"
#include "test_util.hpp"

namespace r2plus1d {
namespace {

template <class T>
class BatchNorm3dOp : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(BatchNorm3dOp, Scalars);

// Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3);
// channel 1 holds 10, 10, 10, 10.
template <class T>
Tensor<T, 5> two_channels() {
  Tensor<T, 5> x({2, 2, 1, 1, 2});
  const T v[] = {1, 2, 10, 10, 3, 4, 10, 10};  // (n, c, w)
  for (int i = 0; i < 8; ++i) x.data()[i] = v[i];
  return x;
}

TYPED_TEST(BatchNorm3dOp, TrainingUsesBatchStatisticsAndUpdatesRunningOnes) {
  using T = TypeParam;
  const Tensor<T, 5> x = two_channels<T>();
  const T weight[] = {2, 1}, bias[] = {1, -1};
  T mean[] = {0.5, 0}, var[] = {1, 2};
  const Tensor<T, 5> y = ops::batch_norm3d<T>(x.cview(), weight, bias, mean, var, true, 0.1, 0.0);
  const double s = std::sqrt(1.25);
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-15;
  EXPECT_NEAR(y(0, 0, 0, 0, 0), 2 * (1 - 2.5) / s + 1, tol);
  EXPECT_NEAR(y(1, 0, 0, 0, 1), 2 * (4 - 2.5) / s + 1, tol);
  EXPECT_NEAR(mean[0], 0.9 * 0.5 + 0.1 * 2.5, tol);
  EXPECT_NEAR(mean[1], 0.1 * 10, tol);
  EXPECT_NEAR(var[0], 0.9 * 1 + 0.1 * (5.0 / 3.0), tol);  // unbiased
  EXPECT_NEAR(var[1], 0.9 * 2, tol);
}

TYPED_TEST(BatchNorm3dOp, EvalUsesRunningStatistics) {
  using T = TypeParam;
  const Tensor<T, 5> x = two_channels<T>();
  T mean[] = {1, 10}, var[] = {4, 0.25};
  const T weight[] = {3, 1};
  const Tensor<T, 5> y = ops::batch_norm3d<T>(x.cview(), weight, nullptr, mean, var, false, 0.1, 0.0);
  EXPECT_EQ(y(0, 0, 0, 0, 1), T(1.5));  // 3 * (2 - 1) / 2
  EXPECT_EQ(y(1, 0, 0, 0, 1), T(4.5));  // 3 * (4 - 1) / 2
  EXPECT_EQ(y(1, 1, 0, 0, 0), T(0));
  EXPECT_EQ(mean[0], T(1));  // untouched
  EXPECT_EQ(var[1], T(0.25));
}

TYPED_TEST(BatchNorm3dOp, WithoutRunningStatisticsUsesTheBatch) {
  using T = TypeParam;
  const Tensor<T, 5> x = two_channels<T>();
  const Tensor<T, 5> y = ops::batch_norm3d<T>(x.cview(), nullptr, nullptr, nullptr, nullptr, false, 0.1, 1e-5);
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-15;
  EXPECT_NEAR(y(0, 0, 0, 0, 0), -1.5 / std::sqrt(1.25 + 1e-5), tol);
  EXPECT_EQ(y(1, 1, 0, 0, 1), T(0));  // a constant channel: exactly (x - mean) = 0
}

TYPED_TEST(BatchNorm3dOp, Errors) {
  using T = TypeParam;
  const Tensor<T, 5> one({1, 3, 1, 1, 1});
  T mean[3] = {}, var[3] = {1, 1, 1};
  try {
    ops::batch_norm3d<T>(one.cview(), nullptr, nullptr, mean, var, true, 0.1, 1e-5);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("expected more than 1 value per channel when training, got input [1, 3, 1, 1, 1]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(var[0], T(1));
  EXPECT_NO_THROW(ops::batch_norm3d<T>(one.cview(), nullptr, nullptr, mean, var, false, 0.1, 1e-5));  // eval is fine
  EXPECT_THROW(ops::batch_norm3d<T>(one.cview(), nullptr, nullptr, nullptr, nullptr, false, 0.1, 1e-5), ShapeError);
  EXPECT_THROW(ops::batch_norm3d<T>(two_channels<T>().cview(), nullptr, nullptr, mean, nullptr, true, 0.1, 1e-5),
               OptionError);
}

TYPED_TEST(BatchNorm3dOp, IndependentOfThreadCount) {
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const auto x = test::random_tensor<T, 5>({2, 5, 3, 17, 19}, 7);
  std::vector<T> m1(5, T(0.2)), v1(5, T(1.5)), m2 = m1, v2 = v1;
  set_num_threads(1);
  const Tensor<T, 5> a = ops::batch_norm3d<T>(x.cview(), nullptr, nullptr, m1.data(), v1.data(), true, 0.1, 1e-5);
  set_num_threads(3);
  const Tensor<T, 5> b = ops::batch_norm3d<T>(x.cview(), nullptr, nullptr, m2.data(), v2.data(), true, 0.1, 1e-5);
  EXPECT_TRUE((test::bit_identical<T, 5>(a.cview(), b.cview())));
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(v1, v2);
}

template <class T>
class BatchNorm3dParity : public ::testing::Test {};
TYPED_TEST_SUITE(BatchNorm3dParity, Scalars);

// Every case through the functional kernel, one forward pass after another, with
// the factor torch's module passes (momentum, or 1 / num_batches_tracked).
TYPED_TEST(BatchNorm3dParity, MatchesTorchFunctional) {
  using T = TypeParam;
  const test::PrimitiveReference ref("batch_norm3d");
  const std::string group = std::string("batch_norm3d/") + test::scalar_name<T>();
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    const auto& o = c.at("options");
    const bool affine = o.at("affine"), track = o.at("track_running_stats"), train = c.at("mode") == "train";
    const std::optional<double> momentum =
        o.at("momentum").is_null() ? std::nullopt : std::optional<double>(o.at("momentum").get<double>());
    Tensor<T, 1> w, b, mean, var;
    if (affine) {
      w = ref.tensor<T, 1>(c, "state.weight");
      b = ref.tensor<T, 1>(c, "state.bias");
    }
    std::int64_t tracked = 0;
    if (track) {
      mean = ref.tensor<T, 1>(c, "state.running_mean");
      var = ref.tensor<T, 1>(c, "state.running_var");
      tracked = c.at("num_batches_tracked_before");
    }
    for (int step = 0; step < c.at("steps").get<int>(); ++step) {
      double factor = momentum.value_or(0.0);
      if (train && track && !momentum) factor = 1.0 / static_cast<double>(++tracked);
      const Tensor<T, 5> x = ref.input<T, 5>(c, step);
      const Tensor<T, 5> y =
          ops::batch_norm3d<T>(x.cview(), affine ? w.data() : nullptr, affine ? b.data() : nullptr,
                               track ? mean.data() : nullptr, track ? var.data() : nullptr, train || !track, factor,
                               o.at("eps").get<double>());
      EXPECT_TRUE((test::matches_reference<T, 5>(y.cview(), ref.output<T, 5>(c, step).cview(), group,
                                                 "batch_norm3d " + name + " step " + std::to_string(step))));
    }
    if (train && track) {
      const std::string after = std::string("after_") + test::PrimitiveReference::suffix<T>() + ".";
      EXPECT_TRUE((test::matches_reference<T, 1>(mean.cview(), ref.tensor<T, 1>(c, after + "running_mean").cview(),
                                                 group, "batch_norm3d " + name + " running_mean")));
      EXPECT_TRUE((test::matches_reference<T, 1>(var.cview(), ref.tensor<T, 1>(c, after + "running_var").cview(),
                                                 group, "batch_norm3d " + name + " running_var")));
    }
  }
}

}  // namespace
}  // namespace r2plus1d

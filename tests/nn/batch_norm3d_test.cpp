// nn::BatchNorm3d: options, initial state and state_dict names for every
// affine/tracking combination, torch's running-statistics bookkeeping (momentum
// and the cumulative average of momentum None), the checked channel count, and
// parity with torch.nn.BatchNorm3d over several training steps.

#include <gtest/gtest.h>

#include <r2plus1d/nn/batch_norm3d.hpp>

#include <optional>
#include <string>
#include <vector>

#include "../ops/primitives_reference.hpp"
#include "../ops/test_util.hpp"
#include "parity.hpp"

namespace r2plus1d {
namespace {

using Keys = std::vector<std::string>;

TEST(BatchNorm3dOptions, DefaultsAndChaining) {
  const nn::BatchNorm3dOptions o(64);
  EXPECT_EQ(o.num_features(), 64);
  EXPECT_EQ(o.eps(), 1e-5);
  EXPECT_EQ(o.momentum(), std::optional<double>(0.1));
  EXPECT_TRUE(o.affine());
  EXPECT_TRUE(o.track_running_stats());
  const auto p = nn::BatchNorm3dOptions(8).eps(1e-3).momentum(std::nullopt).affine(false).track_running_stats(false);
  EXPECT_EQ(p.eps(), 1e-3);
  EXPECT_FALSE(p.momentum().has_value());
  EXPECT_FALSE(p.affine());
  EXPECT_FALSE(p.track_running_stats());
}

TEST(BatchNorm3dModule, InitialStateAndNames) {
  nn::BatchNorm3d<float> bn(nn::BatchNorm3dOptions(3));
  EXPECT_TRUE(bn.is_training());
  for (index_t c = 0; c < 3; ++c) {
    EXPECT_EQ(bn.weight()(c), 1.0f);
    EXPECT_EQ(bn.bias()(c), 0.0f);
    EXPECT_EQ(bn.running_mean()(c), 0.0f);
    EXPECT_EQ(bn.running_var()(c), 1.0f);
  }
  EXPECT_EQ(bn.num_batches_tracked()(), 0);
  EXPECT_EQ(bn.state_dict().keys(), (Keys{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.named_parameters().keys(), (Keys{"weight", "bias"}));
  EXPECT_EQ(bn.state_dict().at("num_batches_tracked").dtype, DType::I64);
  EXPECT_TRUE(bn.state_dict().at("num_batches_tracked").shape.empty());

  nn::BatchNorm3d<double> plain(nn::BatchNorm3dOptions(3).affine(false));
  EXPECT_EQ(plain.state_dict().keys(), (Keys{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(plain.weight().numel(), 0);
  nn::BatchNorm3d<double> untracked(nn::BatchNorm3dOptions(3).track_running_stats(false));
  EXPECT_EQ(untracked.state_dict().keys(), (Keys{"weight", "bias"}));
  EXPECT_EQ(untracked.running_mean().numel(), 0);
  nn::BatchNorm3d<double> bare(nn::BatchNorm3dOptions(3).affine(false).track_running_stats(false));
  EXPECT_TRUE(bare.state_dict().empty());

  EXPECT_THROW(nn::BatchNorm3d<float>(nn::BatchNorm3dOptions(0)), OptionError);
  EXPECT_THROW(nn::BatchNorm3d<float>(nn::BatchNorm3dOptions(2).eps(-1.0)), OptionError);
}

template <class T>
class BatchNorm3dModule : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(BatchNorm3dModule, Scalars);

TYPED_TEST(BatchNorm3dModule, ChecksTheChannelCount) {
  using T = TypeParam;
  nn::BatchNorm3d<T> bn(nn::BatchNorm3dOptions(64));
  try {
    bn(Tensor<T, 5>({1, 32, 8, 5, 5}));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm3d: expected input with 64 channels, got 32 (input [1, 32, 8, 5, 5])"),
              std::string::npos)
        << e.what();
  }
}

TYPED_TEST(BatchNorm3dModule, SingleValuePerChannelInTrainingChangesNothing) {
  using T = TypeParam;
  nn::BatchNorm3d<T> bn(nn::BatchNorm3dOptions(2));
  EXPECT_THROW(bn(Tensor<T, 5>({1, 2, 1, 1, 1})), ShapeError);
  EXPECT_EQ(bn.num_batches_tracked()(), 0);
  EXPECT_EQ(bn.running_var()(0), T(1));
  bn.eval();
  EXPECT_NO_THROW(bn(Tensor<T, 5>({1, 2, 1, 1, 1})));
}

// A channel holding {a, b}: batch mean (a + b) / 2, unbiased variance (a - b)^2 / 2.
template <class T>
Tensor<T, 5> pair(T a, T b) {
  Tensor<T, 5> x({1, 1, 1, 1, 2});
  x.data()[0] = a;
  x.data()[1] = b;
  return x;
}

TYPED_TEST(BatchNorm3dModule, MomentumNoneIsACumulativeAverage) {
  using T = TypeParam;
  nn::BatchNorm3d<T> bn(nn::BatchNorm3dOptions(1).momentum(std::nullopt));
  bn(pair<T>(0, 2));  // mean 1, var 2: factor 1/1 replaces the initial state
  EXPECT_EQ(bn.num_batches_tracked()(), 1);
  EXPECT_EQ(bn.running_mean()(0), T(1));
  EXPECT_EQ(bn.running_var()(0), T(2));
  bn(pair<T>(4, 4));  // mean 4, var 0: factor 1/2
  EXPECT_EQ(bn.running_mean()(0), T(2.5));
  EXPECT_EQ(bn.running_var()(0), T(1));
  bn(pair<T>(7, 7));  // mean 7, var 0: factor 1/3 -> the average of the three batches
  EXPECT_NEAR(bn.running_mean()(0), 4.0, 1e-6);
  EXPECT_NEAR(bn.running_var()(0), 2.0 / 3.0, 1e-6);
  EXPECT_EQ(bn.num_batches_tracked()(), 3);

  bn.eval();
  const Tensor<T, 5> y = bn(pair<T>(4, 5));  // running statistics now, nothing updated
  EXPECT_NEAR(y(0, 0, 0, 0, 0), 0.0, 1e-5);
  EXPECT_EQ(bn.num_batches_tracked()(), 3);

  bn.reset_running_stats();
  EXPECT_EQ(bn.num_batches_tracked()(), 0);
  EXPECT_EQ(bn.running_var()(0), T(1));
}

TYPED_TEST(BatchNorm3dModule, FixedMomentumAndUntrackedModes) {
  using T = TypeParam;
  nn::BatchNorm3d<T> bn(nn::BatchNorm3dOptions(1).momentum(0.5));
  bn(pair<T>(2, 4));  // mean 3, unbiased var 2
  EXPECT_EQ(bn.running_mean()(0), T(1.5));
  EXPECT_EQ(bn.running_var()(0), T(1.5));
  EXPECT_EQ(bn.num_batches_tracked()(), 1);

  // Not tracking: batch statistics in both modes.
  nn::BatchNorm3d<T> free(nn::BatchNorm3dOptions(1).track_running_stats(false).eps(0));
  free.eval();
  const Tensor<T, 5> y = free(pair<T>(2, 4));
  EXPECT_EQ(y(0, 0, 0, 0, 0), T(-1));
  EXPECT_EQ(y(0, 0, 0, 0, 1), T(1));
}

template <class T>
class BatchNorm3dModuleParity : public ::testing::Test {};
TYPED_TEST_SUITE(BatchNorm3dModuleParity, Scalars);

TYPED_TEST(BatchNorm3dModuleParity, MatchesTorchOverTrainingSteps) {
  using T = TypeParam;
  const test::PrimitiveReference ref("batch_norm3d");
  const std::string group = std::string("nn.BatchNorm3d/") + test::scalar_name<T>();
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    const auto& o = c.at("options");
    nn::BatchNorm3d<T> bn(nn::BatchNorm3dOptions(o.at("num_features"))
                              .eps(o.at("eps"))
                              .momentum(o.at("momentum").is_null() ? std::nullopt
                                                                   : std::optional<double>(o.at("momentum").get<double>()))
                              .affine(o.at("affine"))
                              .track_running_stats(o.at("track_running_stats")));
    EXPECT_EQ(bn.state_dict().keys(), c.at("state_keys").get<Keys>()) << name;
    bn.load_state_dict(nn::prefixed(ref.reader(), name + ".state."));
    bn.train(c.at("mode") == "train");
    for (int step = 0; step < c.at("steps").get<int>(); ++step) {
      const Tensor<T, 5> y = bn(ref.input<T, 5>(c, step));
      EXPECT_TRUE((test::matches_reference<T, 5>(y.cview(), ref.output<T, 5>(c, step).cview(), group,
                                                 "BatchNorm3d " + name + " step " + std::to_string(step))));
    }
    if (o.at("track_running_stats")) {
      EXPECT_EQ(bn.num_batches_tracked()(), c.at("num_batches_tracked_after").get<std::int64_t>()) << name;
    }
    if (c.at("mode") == "train" && o.at("track_running_stats")) {
      const std::string after = std::string("after_") + test::PrimitiveReference::suffix<T>() + ".";
      EXPECT_EQ(bn.num_batches_tracked()(), (ref.tensor<std::int64_t, 0>(c, after + "num_batches_tracked")())) << name;
      EXPECT_TRUE((test::matches_reference<T, 1>(bn.running_mean().cview(),
                                                 ref.tensor<T, 1>(c, after + "running_mean").cview(), group,
                                                 "BatchNorm3d " + name + " running_mean")));
      EXPECT_TRUE((test::matches_reference<T, 1>(bn.running_var().cview(),
                                                 ref.tensor<T, 1>(c, after + "running_var").cview(), group,
                                                 "BatchNorm3d " + name + " running_var")));
    }
  }
}

}  // namespace
}  // namespace r2plus1d

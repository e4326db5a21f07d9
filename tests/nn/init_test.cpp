// nn/init.hpp: torch's default initialisation distributions, drawn reproducibly.

#include <gtest/gtest.h>

#include <r2plus1d/nn/conv3d.hpp>
#include <r2plus1d/nn/init.hpp>
#include <r2plus1d/nn/linear.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace r2plus1d {
namespace {

struct Moments {
  double min, max, mean, var;
};

template <class T>
Moments moments(const T* p, index_t n) {
  Moments m{p[0], p[0], 0, 0};
  for (index_t i = 0; i < n; ++i) {
    m.min = std::min<double>(m.min, p[i]);
    m.max = std::max<double>(m.max, p[i]);
    m.mean += p[i];
  }
  m.mean /= static_cast<double>(n);
  for (index_t i = 0; i < n; ++i) m.var += (p[i] - m.mean) * (p[i] - m.mean);
  m.var /= static_cast<double>(n);
  return m;
}

// U(-b, b): mean 0 (standard error b / sqrt(3n)), variance b^2 / 3, extremes near +-b.
template <class T>
void expect_uniform(const T* p, index_t n, double bound) {
  const Moments m = moments(p, n);
  EXPECT_GE(m.min, -bound);
  EXPECT_LE(m.max, bound);
  EXPECT_LT(m.min, -0.99 * bound);
  EXPECT_GT(m.max, 0.99 * bound);
  EXPECT_LT(std::abs(m.mean), 5 * bound / std::sqrt(3.0 * static_cast<double>(n)));
  EXPECT_NEAR(m.var, bound * bound / 3, 0.03 * bound * bound / 3);
}

TEST(Init, KaimingUniformBound) {
  EXPECT_DOUBLE_EQ(nn::leaky_relu_gain(std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_DOUBLE_EQ(nn::leaky_relu_gain(0.0), std::sqrt(2.0));
  Generator gen(1);
  Tensor<float, 2> w({300, 400});
  nn::kaiming_uniform_(w.view(), std::sqrt(5.0), 108, gen);
  expect_uniform(w.data(), w.numel(), 1.0 / std::sqrt(108.0));  // gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
  Tensor<double, 1> v({100000});
  nn::kaiming_uniform_(v.view(), 0.0, 50, gen);
  expect_uniform(v.data(), v.numel(), std::sqrt(2.0) * std::sqrt(3.0 / 50));
}

TEST(Init, UniformAndErrors) {
  Generator gen(2);
  Tensor<double, 1> v({50000});
  nn::uniform_(v.view(), 2.0, 4.0, gen);
  const Moments m = moments(v.data(), v.numel());
  EXPECT_GE(m.min, 2.0);
  EXPECT_LT(m.max, 4.0);
  EXPECT_NEAR(m.mean, 3.0, 0.02);
  EXPECT_THROW(nn::uniform_(v.view(), 1.0, 0.0, gen), OptionError);
  EXPECT_THROW(nn::kaiming_uniform_(v.view(), 0.0, 0, gen), OptionError);
}

TEST(Init, ConvAndLinearFollowResetParameters) {
  Generator gen(3);
  nn::Conv3d<float> conv(nn::Conv3dOptions(64, 96, {3, 3, 3}).groups(2), gen);
  const double conv_bound = 1.0 / std::sqrt(32.0 * 27.0);  // fan_in = in / groups * kernel volume
  expect_uniform(conv.weight().data(), conv.weight().numel(), conv_bound);
  const Moments cb = moments(conv.bias().data(), conv.bias().numel());
  EXPECT_GE(cb.min, -conv_bound);
  EXPECT_LE(cb.max, conv_bound);

  nn::Linear<double> linear(nn::LinearOptions(512, 400), gen);
  expect_uniform(linear.weight().data(), linear.weight().numel(), 1.0 / std::sqrt(512.0));
  const Moments lb = moments(linear.bias().data(), linear.bias().numel());
  EXPECT_GE(lb.min, -1.0 / std::sqrt(512.0));
  EXPECT_LE(lb.max, 1.0 / std::sqrt(512.0));
  EXPECT_GT(lb.max - lb.min, 1.0 / std::sqrt(512.0));  // the bias is drawn, not zero
}

TEST(Init, SameSeedSameModuleDifferentSeedDifferent) {
  const auto opts = nn::Conv3dOptions(4, 8, {1, 3, 3});
  Generator g1(42), g2(42), g3(43);
  nn::Conv3d<double> a(opts, g1), b(opts, g2), c(opts, g3);
  const std::size_t bytes = sizeof(double) * static_cast<std::size_t>(a.weight().numel());
  EXPECT_EQ(std::memcmp(a.weight().data(), b.weight().data(), bytes), 0);
  EXPECT_EQ(std::memcmp(a.bias().data(), b.bias().data(), sizeof(double) * 8), 0);
  EXPECT_NE(std::memcmp(a.weight().data(), c.weight().data(), bytes), 0);
  // A module drawn later from the same generator differs from the first.
  nn::Conv3d<double> d(opts, g1);
  EXPECT_NE(std::memcmp(a.weight().data(), d.weight().data(), bytes), 0);
  // reset_parameters redraws from the generator given.
  Generator g4(42);
  d.reset_parameters(g4);
  EXPECT_EQ(std::memcmp(a.weight().data(), d.weight().data(), bytes), 0);
}

}  // namespace
}  // namespace r2plus1d

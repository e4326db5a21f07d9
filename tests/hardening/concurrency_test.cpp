// The threading contract: forward on one model in eval mode may be called from
// many threads at once and gives exactly the sequential results; results are
// bit-identical for any set_num_threads; a clip in a batch equals the clip alone.

#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

namespace r2plus1d {
namespace {

constexpr int kThreads = 8;

Tensor<float, 5> clip(Shape<5> s, std::uint64_t seed) {
  Generator g(seed);
  Tensor<float, 5> x = Tensor<float, 5>::empty(s);
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(g.uniform(-1.0, 1.0));
  return x;
}

bool bit_identical(const Tensor<float, 2>& a, const Tensor<float, 2>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0;
}

/// Runs `model` on kThreads different clips sequentially, then (after
/// `between`, if given) on all of them at once from kThreads threads (each
/// clip twice, so two threads share an input too).
template <class Model>
void expect_concurrent_equals_sequential(Model& model, Shape<5> s, const std::function<void()>& between = {}) {
  std::vector<Tensor<float, 5>> inputs;
  std::vector<Tensor<float, 2>> want;
  for (int t = 0; t < kThreads; ++t) inputs.push_back(clip(s, 100 + t / 2));
  for (int t = 0; t < kThreads; ++t) want.push_back(model.forward(inputs[t].cview()));
  if (between) between();
  std::vector<Tensor<float, 2>> got(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] { got[t] = model.forward(inputs[t].cview()); });
  for (std::thread& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(bit_identical(got[t], want[t])) << "thread " << t;
}

TEST(ThreadSafety, R2Plus1DNetFromEightThreads) {
  Generator gen(11);
  R2Plus1DNet<float> net({1, 1, 1, 1}, gen);
  net.eval();
  expect_concurrent_equals_sequential(net, {1, 3, 4, 32, 32});
}

TEST(ThreadSafety, R2Plus1D18FromEightThreads) {
  Generator gen(12);
  auto net = video::r2plus1d_18<float>(400, gen);
  net.eval();
  expect_concurrent_equals_sequential(net, {1, 3, 2, 16, 16});
}

// With set_weight_cache the threads share each pair's kept transforms: here
// the first forwards fill them from eight threads at once (layer1 and layer2
// of 4x56x56 clips run banded, layer2 on F(4x4, 3x3) through the cache).
TEST(ThreadSafety, R2Plus1D18WithWeightCacheFromEightThreads) {
  Generator gen(13);
  auto net = video::r2plus1d_18<float>(400, gen);
  net.eval().set_weight_cache(true);
  expect_concurrent_equals_sequential(net, {1, 3, 4, 56, 56}, [&net] { net.clear_weight_cache(); });
}

TEST(ThreadSafety, BatchOfClipsFromEightThreads) {
  Generator gen(13);
  R2Plus1DNet<float> net({1, 1, 1, 1}, gen);
  net.eval();
  expect_concurrent_equals_sequential(net, {2, 3, 2, 24, 24});
}

class ThreadCount : public ::testing::Test {
 protected:
  ~ThreadCount() override { set_num_threads(saved_); }
  int saved_ = get_num_threads();
};

template <class Model>
void expect_same_for_one_and_two_threads(Model& model, const Tensor<float, 5>& x) {
  set_num_threads(1);
  const Tensor<float, 2> one = model.forward(x.cview());
  set_num_threads(2);
  const Tensor<float, 2> two = model.forward(x.cview());
  EXPECT_TRUE(bit_identical(one, two));
}

TEST_F(ThreadCount, R2Plus1DNetBitIdenticalForOneAndTwoThreads) {
  Generator gen(21);
  R2Plus1DNet<float> net({1, 1, 1, 1}, gen);
  net.eval();
  expect_same_for_one_and_two_threads(net, clip({2, 3, 4, 32, 32}, 7));
}

TEST_F(ThreadCount, R2Plus1D18BitIdenticalForOneAndTwoThreads) {
  Generator gen(22);
  auto net = video::r2plus1d_18<float>(400, gen);
  net.eval();
  expect_same_for_one_and_two_threads(net, clip({1, 3, 4, 32, 32}, 8));
}

TEST_F(ThreadCount, TrainingModeBitIdenticalForOneAndTwoThreads) {
  // Training mode uses batch statistics (reductions over threads) and runs the batch whole.
  Generator gen(23);
  R2Plus1DNet<float> a({1, 1, 1, 1}, gen);
  Generator gen2(23);
  R2Plus1DNet<float> b({1, 1, 1, 1}, gen2);
  const Tensor<float, 5> x = clip({2, 3, 2, 16, 16}, 9);
  set_num_threads(1);
  const Tensor<float, 2> one = a.forward(x.cview());
  set_num_threads(2);
  const Tensor<float, 2> two = b.forward(x.cview());
  EXPECT_TRUE(bit_identical(one, two));
}

/// max |a - b| / max |b| over the row `row` of a and all of b.
double rel_err(const Tensor<float, 2>& a, index_t row, const Tensor<float, 2>& b) {
  double diff = 0, scale = 0;
  for (index_t j = 0; j < b.size(1); ++j) {
    diff = std::max(diff, std::abs(double(a(row, j)) - double(b(0, j))));
    scale = std::max(scale, std::abs(double(b(0, j))));
  }
  return diff / std::max(scale, 1e-30);
}

template <class Model>
void expect_batch_equals_alone(Model& model, Shape<5> one) {
  const index_t n = 3;
  Shape<5> s = one;
  s[0] = n;
  const Tensor<float, 5> batch = clip(s, 31);
  const Tensor<float, 2> y = model.forward(batch.cview());
  const index_t per = batch.numel() / n;
  for (index_t i = 0; i < n; ++i) {
    Tensor<float, 5> alone = Tensor<float, 5>::empty(one);
    std::memcpy(alone.data(), batch.data() + i * per, sizeof(float) * static_cast<std::size_t>(per));
    const Tensor<float, 2> z = model.forward(alone.cview());
    EXPECT_LE(rel_err(y, i, z), 1e-6) << "clip " << i;
  }
}

TEST(BatchConsistency, R2Plus1DNetClipInABatchEqualsClipAlone) {
  Generator gen(41);
  R2Plus1DNet<float> net({1, 1, 1, 1}, gen);
  net.eval();
  expect_batch_equals_alone(net, {1, 3, 4, 24, 24});
}

TEST(BatchConsistency, R2Plus1D18ClipInABatchEqualsClipAlone) {
  Generator gen(42);
  auto net = video::r2plus1d_18<float>(400, gen);
  net.eval();
  expect_batch_equals_alone(net, {1, 3, 2, 16, 16});
}

TEST(BatchConsistency, ConvClipInABatchEqualsClipAlone) {
  // The kernel itself, below the models' per-clip path.
  Generator gen(43);
  nn::Conv3d<float> conv(nn::Conv3dOptions(3, 8, 3).padding(1).stride({1, 2, 2}), gen);
  const Tensor<float, 5> batch = clip({3, 3, 4, 12, 12}, 44);
  const Tensor<float, 5> y = conv(batch.cview());
  const index_t per_in = batch.numel() / 3, per_out = y.numel() / 3;
  for (index_t i = 0; i < 3; ++i) {
    Tensor<float, 5> alone = Tensor<float, 5>::empty({1, 3, 4, 12, 12});
    std::memcpy(alone.data(), batch.data() + i * per_in, sizeof(float) * static_cast<std::size_t>(per_in));
    const Tensor<float, 5> z = conv(alone.cview());
    double diff = 0, scale = 0;
    for (index_t k = 0; k < per_out; ++k) {
      diff = std::max(diff, std::abs(double(y.data()[i * per_out + k]) - double(z.data()[k])));
      scale = std::max(scale, std::abs(double(z.data()[k])));
    }
    EXPECT_LE(diff / scale, 1e-6) << "clip " << i;
  }
}

}  // namespace
}  // namespace r2plus1d

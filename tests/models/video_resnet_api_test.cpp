// The library as a program meets it: models made ready from a weights file,
// and every callable taking tensors as well as views of either constness.

#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace r2plus1d {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "r2plus1d_api_" + name; }

Tensor<float, 5> small_clip(index_t n) {
  Tensor<float, 5> x({n, 3, 4, 16, 16});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
  return x;
}

TEST(VideoResNetFactory, LoadsAWeightsFileStrictlyInEvalMode) {
  Generator gen(7);
  auto original = video::r2plus1d_18<float>(10, gen);
  original.eval();
  const std::string path = temp_path("r2plus1d_18.safetensors");
  io::save_safetensors(path, original.state_dict());

  auto model = video::r2plus1d_18<float>(path);
  EXPECT_FALSE(model.is_training());
  EXPECT_EQ(model.num_classes(), 10);  // from fc.weight
  const Tensor<float, 5> x = small_clip(2);
  const Tensor<float, 2> want = original(x);
  const Tensor<float, 2> got = model(x);
  ASSERT_EQ(got.shape(), (Shape<2>{2, 10}));
  for (index_t i = 0; i < got.numel(); ++i) EXPECT_EQ(got.data()[i], want.data()[i]) << i;

  // Strict: r2plus1d_18's keys are not mc3_18's.
  EXPECT_THROW(video::mc3_18<float>(path), StateDictError);
  EXPECT_THROW(video::r3d_18<float>(path), StateDictError);
  EXPECT_THROW(video::r2plus1d_18<float>(temp_path("absent.safetensors")), IoError);
  std::remove(path.c_str());
}

// set_weight_cache keeps the (2+1)D pairs' transformed weights between eval
// forwards (on 112x112 clips layer3 then runs F(4x4, 3x3)); load_state_dict,
// train() and clear_weight_cache() drop them, so new or edited weights are
// what the next forward uses: the bits of a model built with those weights.
TEST(WeightCache, FollowsTheWeights) {
  Tensor<float, 5> x({1, 3, 4, 112, 112});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.013 * static_cast<double>(i)));
  Generator gen_a(3), gen_b(4);
  auto a = video::r2plus1d_18<float>(10, gen_a);
  auto b = video::r2plus1d_18<float>(10, gen_b);
  a.eval().set_weight_cache(true);
  b.eval().set_weight_cache(true);
  EXPECT_TRUE(a.layer3()[1].conv1().template get<0>().template get<0>().weight_cache_enabled());
  auto same = [](const Tensor<float, 2>& p, const Tensor<float, 2>& q, const char* what) {
    ASSERT_EQ(p.shape(), q.shape()) << what;
    for (index_t i = 0; i < p.numel(); ++i) ASSERT_EQ(p.data()[i], q.data()[i]) << what << " at " << i;
  };
  const Tensor<float, 2> b_scores = b(x);
  (void)a(x);  // fills a's caches with a's weights
  ASSERT_NE(a.layer3()[1].conv1().template get<0>().template get<0>().weight_cache(), nullptr);
  EXPECT_FALSE(a.layer3()[1].conv1().template get<0>().template get<0>().weight_cache()->empty());
  a.load_state_dict(b.state_dict());  // the same addresses, new values
  EXPECT_TRUE(a.layer3()[1].conv1().template get<0>().template get<0>().weight_cache()->empty());
  same(a(x), b_scores, "after load_state_dict");

  // edited in place: stale until cleared
  for (auto& e : a.named_parameters())
    if (e.name.find("conv") != std::string::npos) {
      float* w = e.ref.template data_as<float>();
      for (index_t i = 0; i < e.ref.numel(); ++i) w[i] *= 0.5f;
    }
  a.clear_weight_cache();
  auto c = video::r2plus1d_18<float>(10, gen_a);
  c.load_state_dict(a.state_dict());
  c.eval().set_weight_cache(true);
  same(a(x), c(x), "after clear_weight_cache");

  // train() drops them too; in training mode no cache is used
  a.train();
  EXPECT_EQ(a.layer3()[1].conv1().template get<0>().template get<0>().weight_cache(), nullptr);
  a.eval();
  EXPECT_TRUE(a.layer3()[1].conv1().template get<0>().template get<0>().weight_cache()->empty());
  same(a(x), c(x), "after train() and eval()");

  // a copy starts with empty caches, and off gives the transform of every call
  auto d = c;
  EXPECT_TRUE(d.layer3()[1].conv1().template get<0>().template get<0>().weight_cache()->empty());
  same(d(x), c(x), "a copy");
  c.set_weight_cache(false);
  EXPECT_EQ(c.layer3()[1].conv1().template get<0>().template get<0>().weight_cache(), nullptr);
}

TEST(Callables, TakeTensorsAndViewsOfEitherConstness) {
  Generator gen(3);
  nn::Linear<float> fc(nn::LinearOptions(4, 2), gen);
  Tensor<float, 2> x({3, 4}, 0.5f);
  const Tensor<float, 2>& cx = x;
  const Tensor<float, 2> a = fc(x);
  EXPECT_EQ(fc(cx).data()[0], a.data()[0]);
  EXPECT_EQ(fc(x.view()).data()[0], a.data()[0]);
  EXPECT_EQ(fc(x.cview()).data()[0], a.data()[0]);

  Tensor<std::uint8_t, 4> frames({20, 24, 32, 3});
  for (index_t i = 0; i < frames.numel(); ++i) frames.data()[i] = static_cast<std::uint8_t>((i * 7) % 256);
  const io::VideoClassification preset = io::VideoClassification().resize_size(20, 26).crop_size(16, 16);
  const Tensor<float, 4> p = preset(frames);
  EXPECT_EQ(p.shape(), (Shape<4>{3, 20, 16, 16}));
  const Tensor<float, 4> q = preset(frames.narrow(0, 0, 4));  // a mutable view
  const Tensor<float, 4> r = preset(frames.cview().narrow(0, 0, 4));
  EXPECT_EQ(q.shape(), (Shape<4>{3, 4, 16, 16}));
  for (index_t i = 0; i < q.numel(); ++i) ASSERT_EQ(q.data()[i], r.data()[i]);
  EXPECT_EQ(q(2, 3, 15, 15), p(2, 3, 15, 15));
}

// The whole classification of a clip without raw pointers: frames ->
// first 4 -> preset -> batch of one -> scores -> probabilities -> top 3.
TEST(Callables, ClassifyAClipInAFewLines) {
  Generator gen(11);
  auto model = video::r2plus1d_18<float>(5, gen);
  model.eval();
  Tensor<std::uint8_t, 4> frames({9, 20, 26, 3}, 100);
  const auto clip = io::VideoClassification().resize_size(20, 26).crop_size(16, 16)(frames.narrow(0, 0, 4));
  const Tensor<float, 2> scores = model(clip.unsqueeze(0));
  const auto [probs, classes] = ops::topk(ops::softmax(scores, 1), 3);
  ASSERT_EQ(probs.shape(), (Shape<2>{1, 3}));
  EXPECT_GE(probs(0, 0), probs(0, 1));
  EXPECT_GE(probs(0, 1), probs(0, 2));
  const auto best = ops::topk(scores, 1);
  EXPECT_EQ(classes(0, 0), best.indices(0, 0));
  double sum = 0;
  const Tensor<float, 2> all = ops::softmax(scores, 1);
  for (index_t c = 0; c < 5; ++c) sum += all(0, c);
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

}  // namespace
}  // namespace r2plus1d

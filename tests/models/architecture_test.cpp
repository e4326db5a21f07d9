// match_architecture: each network's own state dict is recognised as that
// network, and a load of another network's weights fails with a short message.

#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include <array>
#include <optional>
#include <string>

namespace r2plus1d {
namespace {

template <class M>
std::optional<Architecture> match(M& m) {
  return match_architecture(m.state_dict());
}

TEST(MatchArchitecture, SeedNetworksWithTheirLayerSizes) {
  R2Plus1DNet<float> net({1, 2, 1, 3});
  const auto a = match(net);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->arch, "seed");
  EXPECT_EQ(a->layers, (std::array<index_t, 4>{1, 2, 1, 3}));
  EXPECT_FALSE(a->classifier);
  R2Plus1DClassifier<float> clf(7, {2, 1, 1, 1});
  const auto c = match(clf);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->arch, "seed");
  EXPECT_EQ(c->layers, (std::array<index_t, 4>{2, 1, 1, 1}));
  EXPECT_TRUE(c->classifier);
}

TEST(MatchArchitecture, TorchvisionsR2Plus1D18) {
  auto m = video::r2plus1d_18<float>(10);
  const auto a = match(m);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->arch, "r2plus1d_18");
  EXPECT_EQ(a->layers, (std::array<index_t, 4>{2, 2, 2, 2}));
}

TEST(MatchArchitecture, R2Plus1D34) {
  auto m = video::r2plus1d_34<float>(359);
  const auto a = match(m);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->arch, "r2plus1d_34");
  EXPECT_EQ(a->layers, (std::array<index_t, 4>{3, 4, 6, 3}));
}

TEST(MatchArchitecture, TorchvisionsR3D18) {
  auto m = video::r3d_18<float>(10);
  ASSERT_TRUE(match(m).has_value());
  EXPECT_EQ(match(m)->arch, "r3d_18");
}

TEST(MatchArchitecture, TorchvisionsMC318) {
  auto m = video::mc3_18<float>(10);
  ASSERT_TRUE(match(m).has_value());
  EXPECT_EQ(match(m)->arch, "mc3_18");
}

TEST(MatchArchitecture, NothingForOtherKeys) {
  nn::Conv3d<float> conv(nn::Conv3dOptions(2, 2, 1));
  EXPECT_FALSE(match(conv).has_value());
  EXPECT_FALSE(match_architecture(StateDict()).has_value());
  auto block = video::BasicBlock<float, video::Conv3DSimple>(64, 64, 1, false);
  EXPECT_FALSE(match(block).has_value());
}

// torchvision's r2plus1d_18 weights into R2Plus1D-18 (the extractor's default
// --arch seed): 335 missing and 224 unexpected keys, told in a few hundred bytes.
TEST(MatchArchitecture, AnotherNetworksWeightsGiveAShortError) {
  auto tv = video::r2plus1d_18<float>(10);
  R2Plus1DNet<float> net({2, 2, 2, 2});
  try {
    net.load_state_dict(tv.state_dict());
    FAIL() << "nothing was thrown";
  } catch (const StateDictError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("missing keys (335): 'conv1.spatial_conv.weight', "), std::string::npos) << what;
    EXPECT_NE(what.find("and 330 more; unexpected keys (224): 'stem.0.weight', "), std::string::npos) << what;
    EXPECT_NE(what.find("and 219 more"), std::string::npos) << what;
    EXPECT_LT(what.size(), 1000u) << what;
  }
}

TEST(NetworkInput, ChannelCountAndChannelsLastAreNamed) {
  auto mc3 = video::mc3_18<float>(10);
  mc3.eval();
  try {
    mc3(Tensor<float, 5>({1, 8, 16, 16, 3}));
    FAIL() << "nothing was thrown";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("VideoResNet: input has 8 channels, expected 3"), std::string::npos) << what;
    EXPECT_NE(what.find("permute(0, 4, 1, 2, 3)"), std::string::npos) << what;
  }
  try {
    mc3(Tensor<float, 5>({1, 4, 16, 112, 112}));
    FAIL() << "nothing was thrown";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("input has 4 channels, expected 3"), std::string::npos) << what;
    EXPECT_EQ(what.find("permute"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace r2plus1d

// Structure of the seed's modules without the oracle: the intermediate-channel
// formula, state_dict names, mode propagation, loading errors and bad inputs.

#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <string>

namespace r2plus1d {
namespace {

bool has_key(const StateDict& sd, const std::string& k) { return sd.find(k) != nullptr; }

TEST(SpatioTemporalConv, IntermediateChannelsFollowTheFormula) {
  // floor(kt*kh*kw*in*out / (kh*kw*in + kt*out))
  EXPECT_EQ(SpatioTemporalConv<float>::intermediate_channels(64, 64, 3, false), 144);
  EXPECT_EQ(SpatioTemporalConv<float>::intermediate_channels(64, 128, 3, false), 230);    // 221184 / 960
  EXPECT_EQ(SpatioTemporalConv<float>::intermediate_channels(64, 128, 1, false), 42);     // 8192 / 192
  EXPECT_EQ(SpatioTemporalConv<float>::intermediate_channels(512, 512, 3, false), 1152);
  EXPECT_EQ(SpatioTemporalConv<float>::intermediate_channels(3, 64, Triple{1, 7, 7}, true), 45);
  EXPECT_EQ(SpatioTemporalConv<float>::intermediate_channels(6, 10, Triple{3, 5, 3}, false), 22);  // 2700 / 120
  EXPECT_THROW(SpatioTemporalConv<float>::intermediate_channels(0, 4, 3, false), OptionError);
  EXPECT_THROW(SpatioTemporalConv<float>::intermediate_channels(4, 4, Triple{0, 3, 3}, false), OptionError);
}

TEST(SpatioTemporalConv, FirstConvIsTheStem) {
  SpatioTemporalConv<float> stem(3, 64, Triple{1, 7, 7}, Triple{1, 2, 2}, Triple{0, 3, 3}, false, true);
  EXPECT_EQ(stem.intermed_channels(), 45);
  EXPECT_EQ(stem.spatial_conv().weight().shape(), (Shape<5>{45, 3, 1, 7, 7}));
  EXPECT_EQ(stem.spatial_conv().options().stride(), (Triple{1, 2, 2}));
  EXPECT_EQ(stem.spatial_conv().options().padding(), (Triple{0, 3, 3}));
  EXPECT_EQ(stem.temporal_conv().weight().shape(), (Shape<5>{64, 45, 3, 1, 1}));
  EXPECT_EQ(stem.temporal_conv().options().padding(), (Triple{1, 0, 0}));
  EXPECT_FALSE(stem.spatial_conv().has_bias());
}

TEST(SpatioTemporalConv, GeneralBranchSplitsKernelStrideAndPadding) {
  SpatioTemporalConv<float> c(8, 16, Triple{3, 5, 3}, Triple{2, 1, 2}, Triple{1, 2, 0}, true);
  const index_t mid = c.intermed_channels();
  EXPECT_EQ(c.spatial_conv().weight().shape(), (Shape<5>{mid, 8, 1, 5, 3}));
  EXPECT_EQ(c.spatial_conv().options().stride(), (Triple{1, 1, 2}));
  EXPECT_EQ(c.spatial_conv().options().padding(), (Triple{0, 2, 0}));
  EXPECT_EQ(c.temporal_conv().weight().shape(), (Shape<5>{16, mid, 3, 1, 1}));
  EXPECT_EQ(c.temporal_conv().options().stride(), (Triple{2, 1, 1}));
  EXPECT_EQ(c.temporal_conv().options().padding(), (Triple{1, 0, 0}));
  EXPECT_TRUE(c.temporal_conv().has_bias());
}

TEST(R2Plus1DNet, StateDictNamesMirrorTorch) {
  R2Plus1DNet<float> net({2, 2, 2, 2});
  const StateDict sd = net.state_dict();
  EXPECT_EQ(sd[0].name, "conv1.spatial_conv.weight");
  EXPECT_TRUE(has_key(sd, "conv2.block1.conv1.spatial_conv.weight"));
  EXPECT_TRUE(has_key(sd, "conv3.block1.downsampleconv.bn2.running_var"));
  EXPECT_TRUE(has_key(sd, "conv2.blocks.0.bn1.num_batches_tracked"));
  EXPECT_FALSE(has_key(sd, "conv2.block1.downsampleconv.bn2.running_var"));  // no downsample in conv2
  EXPECT_EQ(sd.at("conv3.block1.conv1.spatial_conv.weight").shape, (std::vector<index_t>{230, 64, 1, 3, 3}));
  EXPECT_EQ(sd.at("conv2.blocks.0.bn1.num_batches_tracked").dtype, DType::I64);
  EXPECT_TRUE(sd.at("conv2.blocks.0.bn1.num_batches_tracked").shape.empty());
  EXPECT_EQ(net.named_parameters().size() + net.named_buffers().size(), sd.size());
}

TEST(R2Plus1DNet, LayerSizesSetTheBlockCount) {
  R2Plus1DNet<float> net({1, 3, 1, 2});
  EXPECT_EQ(net.conv2().layer_size(), 1);
  EXPECT_EQ(net.conv3().layer_size(), 3);
  EXPECT_TRUE(has_key(net.state_dict(), "conv3.blocks.1.conv2.temporal_conv.weight"));
  EXPECT_FALSE(has_key(net.state_dict(), "conv2.blocks.0.conv1.spatial_conv.weight"));
  EXPECT_THROW(R2Plus1DNet<float>({2, 0, 2, 2}), OptionError);
}

TEST(R2Plus1DNet, TrainAndEvalReachEveryModule) {
  R2Plus1DNet<float> net({1, 1, 1, 1});
  EXPECT_TRUE(net.is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.conv5().block1().conv2().bn2().is_training());
  net.train();
  EXPECT_TRUE(net.conv3().block1().downsampleconv().bn1().is_training());
}

TEST(R2Plus1DNet, SeededGeneratorsMakeIdenticalModels) {
  Generator g1(7), g2(7), g3(8);
  R2Plus1DNet<float> a({1, 1, 1, 1}, g1), b({1, 1, 1, 1}, g2), c({1, 1, 1, 1}, g3);
  const auto wa = a.conv4().block1().conv1().spatial_conv().weight();
  const auto wb = b.conv4().block1().conv1().spatial_conv().weight();
  const auto wc = c.conv4().block1().conv1().spatial_conv().weight();
  EXPECT_TRUE(std::equal(wa.data(), wa.data() + wa.numel(), wb.data()));
  EXPECT_FALSE(std::equal(wa.data(), wa.data() + wa.numel(), wc.data()));
}

TEST(R2Plus1DNet, RejectsBadInputs) {
  R2Plus1DNet<float> net({1, 1, 1, 1});
  net.eval();
  EXPECT_THROW(net(Tensor<float, 5>({1, 4, 8, 32, 32})), ShapeError);
  // padding keeps every conv defined down to a single pixel and frame
  EXPECT_EQ(net(Tensor<float, 5>({1, 3, 1, 1, 1})).shape(), (Shape<2>{1, 512}));
  try {
    net(Tensor<float, 5>({1, 3, 4, 0, 8}));
    ADD_FAILURE() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 3, 4, 0, 8]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(net(Tensor<float, 5>({0, 3, 8, 32, 32})), ShapeError);
}

TEST(R2Plus1DNet, AnyBatchGivesOne512VectorPerClip) {
  R2Plus1DNet<double> net({1, 1, 1, 1});
  net.eval();
  Tensor<double, 5> x({3, 3, 4, 20, 28});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = std::sin(0.37 * static_cast<double>(i));
  const Tensor<double, 2> y = net(x);
  EXPECT_EQ(y.shape(), (Shape<2>{3, 512}));
  // each clip alone gives the same features as inside the batch
  for (index_t n = 0; n < 3; ++n) {
    const Tensor<double, 5> one = Tensor<double, 5>::from(x.cview()[n].reshaped<5>({1, 3, 4, 20, 28}));
    const Tensor<double, 2> y1 = net(one);
    for (index_t k = 0; k < 512; ++k) EXPECT_NEAR(y1(0, k), y(n, k), 1e-12) << n << "," << k;
  }
}

TEST(LoadStateDict, ReportsEveryProblemAtOnce) {
  SpatioTemporalConv<float> c(4, 8, 3, 1, 1);
  StateDict sd = c.state_dict();
  StateDict wrong;
  float junk[1] = {0};
  Tensor<float, 5> mis({1, 4, 1, 3, 3});
  for (const auto& e : sd) {
    if (e.name == "bn1.running_mean") continue;  // missing
    if (e.name == "spatial_conv.weight") {
      wrong.add(e.name, {DType::F32, mis.data(), {1, 4, 1, 3, 3}});
      continue;
    }
    wrong.add(e.name, e.ref);
  }
  wrong.add("extra.weight", {DType::F32, junk, {1}});
  try {
    c.load_state_dict(wrong);
    FAIL() << "expected StateDictError";
  } catch (const StateDictError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'bn1.running_mean'"), std::string::npos) << m;
    EXPECT_NE(m.find("'extra.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("'spatial_conv.weight' has shape [1, 4, 1, 3, 3], expected [" +
                     std::to_string(c.intermed_channels()) + ", 4, 1, 3, 3]"),
              std::string::npos)
        << m;
  }
}

TEST(LoadStateDict, ClassifierBackboneLoadsIntoTheNet) {
  Generator g1(1), g2(2);
  R2Plus1DClassifier<float> clf(5, {1, 1, 1, 1}, g1);
  R2Plus1DNet<float> net({1, 1, 1, 1}, g2);
  const StateDict src = clf.state_dict();
  EXPECT_THROW(net.load_state_dict(src), StateDictError);
  net.load_state_dict(nn::prefixed(src, "res2plus1d."));
  const auto& a = clf.res2plus1d().conv5().block1().conv2().temporal_conv().weight();
  const auto& b = net.conv5().block1().conv2().temporal_conv().weight();
  EXPECT_TRUE(std::equal(a.data(), a.data() + a.numel(), b.data()));
  EXPECT_EQ(clf.state_dict().keys().back(), "linear.bias");
}

TEST(SpatioTemporalResBlock, IdentityShortcutNeedsEqualChannels) {
  EXPECT_THROW(SpatioTemporalResBlock<float>(8, 16, 3, false), OptionError);
  EXPECT_THROW(SpatioTemporalResBlock<float>(8, 8, 3).downsampleconv(), OptionError);
}

}  // namespace
}  // namespace r2plus1d

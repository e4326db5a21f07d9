// torchvision's video ResNets without the oracle: names, shapes, parameter
// counts, midplanes, initialisation statistics and bad inputs.

#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include <cmath>

#include "parity.hpp"

namespace r2plus1d {
namespace {

TEST(VideoResNet, R2Plus1D18HasTorchvisionsParameterCountAndKeys) {
  auto m = video::r2plus1d_18<float>();
  EXPECT_EQ(m.num_parameters(), 31505325);  // torchvision's documented num_params
  const StateDict sd = m.state_dict();
  EXPECT_EQ(sd[0].name, "stem.0.weight");
  EXPECT_EQ(sd.at("stem.0.weight").shape, (std::vector<index_t>{45, 3, 1, 7, 7}));
  EXPECT_EQ(sd.at("stem.3.weight").shape, (std::vector<index_t>{64, 45, 3, 1, 1}));
  EXPECT_EQ(sd.at("layer1.0.conv1.0.0.weight").shape, (std::vector<index_t>{144, 64, 1, 3, 3}));
  EXPECT_EQ(sd.at("layer1.0.conv1.0.3.weight").shape, (std::vector<index_t>{64, 144, 3, 1, 1}));
  EXPECT_EQ(sd.at("layer2.0.conv1.0.0.weight").shape, (std::vector<index_t>{230, 64, 1, 3, 3}));
  EXPECT_EQ(sd.at("layer2.0.conv2.0.0.weight").shape, (std::vector<index_t>{230, 128, 1, 3, 3}));  // same midplanes
  EXPECT_EQ(sd.at("layer2.0.downsample.0.weight").shape, (std::vector<index_t>{128, 64, 1, 1, 1}));
  EXPECT_TRUE(sd.contains("layer4.1.conv2.1.num_batches_tracked"));
  EXPECT_FALSE(sd.contains("layer1.0.downsample.0.weight"));
  EXPECT_EQ(sd.at("fc.weight").shape, (std::vector<index_t>{400, 512}));
  EXPECT_EQ(sd.keys().back(), "fc.bias");
}

TEST(VideoResNet, R2Plus1D34HasTheCaffe2ModelsShapesAndBatchNorms) {
  auto m = video::r2plus1d_34<float>();
  EXPECT_EQ(m.num_parameters(), 63697175);  // the PyTorch port's, counted by torch
  EXPECT_EQ(video::r2plus1d_34<float>(359).num_parameters(), 63676142);
  const StateDict sd = m.state_dict();
  EXPECT_EQ(sd.at("layer1.2.conv2.0.0.weight").shape, (std::vector<index_t>{144, 64, 1, 3, 3}));
  EXPECT_FALSE(sd.contains("layer1.3.conv1.0.0.weight"));
  EXPECT_TRUE(sd.contains("layer3.5.conv2.1.weight"));
  EXPECT_FALSE(sd.contains("layer3.6.conv1.0.0.weight"));
  // The first block of layers 2-4: conv1 as torchvision, conv2 from (planes, planes).
  EXPECT_EQ(sd.at("layer2.0.conv1.0.0.weight").shape, (std::vector<index_t>{230, 64, 1, 3, 3}));
  EXPECT_EQ(sd.at("layer2.0.conv2.0.0.weight").shape, (std::vector<index_t>{288, 128, 1, 3, 3}));
  EXPECT_EQ(sd.at("layer3.0.conv2.0.3.weight").shape, (std::vector<index_t>{256, 576, 3, 1, 1}));
  EXPECT_EQ(sd.at("layer4.0.conv2.0.0.weight").shape, (std::vector<index_t>{1152, 512, 1, 3, 3}));
  EXPECT_EQ(sd.at("layer4.1.conv2.0.0.weight").shape, (std::vector<index_t>{1152, 512, 1, 3, 3}));
  EXPECT_EQ(m.layer2()[0].midplanes(), 230);
  EXPECT_EQ(m.layer2()[0].conv2_midplanes(), 288);
  // Every BatchNorm3d (the stem's and the (2+1)D convs' own too) with eps 1e-3, momentum 0.9.
  EXPECT_EQ(m.stem().get<1>().options().eps(), 1e-3);
  EXPECT_EQ(m.stem().get<4>().options().momentum(), 0.9);
  EXPECT_EQ(m.layer3()[2].conv1().get<0>().get<1>().options().eps(), 1e-3);
  EXPECT_EQ(m.layer4()[0].conv2().get<1>().options().eps(), 1e-3);
  // r2plus1d_18 keeps torchvision's.
  auto r18 = video::r2plus1d_18<float>();
  EXPECT_EQ(r18.stem().get<1>().options().eps(), 1e-5);
  EXPECT_EQ(r18.layer2()[0].conv2_midplanes(), 230);
}

TEST(VideoResNet, R3DAndMC3UseTheirBuilders) {
  auto r3d = video::r3d_18<float>(7);
  EXPECT_EQ(r3d.state_dict().at("stem.0.weight").shape, (std::vector<index_t>{64, 3, 3, 7, 7}));
  EXPECT_EQ(r3d.state_dict().at("layer3.0.conv1.0.weight").shape, (std::vector<index_t>{256, 128, 3, 3, 3}));
  EXPECT_EQ(r3d.num_classes(), 7);
  auto mc3 = video::mc3_18<float>();
  EXPECT_EQ(mc3.state_dict().at("layer1.0.conv1.0.weight").shape, (std::vector<index_t>{64, 64, 3, 3, 3}));
  EXPECT_EQ(mc3.state_dict().at("layer2.0.conv1.0.weight").shape, (std::vector<index_t>{128, 64, 1, 3, 3}));
  // MC3's downsample keeps time: stride (1, 2, 2)
  EXPECT_EQ(mc3.layer2()[0].has_downsample(), true);
  Tensor<float, 5> x({1, 3, 8, 32, 32}, 0.1f);
  mc3.eval();
  EXPECT_EQ(mc3.features(x).shape(), (Shape<2>{1, 512}));
}

TEST(VideoResNet, TorchvisionInitialisation) {
  Generator g(3);
  auto m = video::r2plus1d_18<double>(400, g);
  const StateDict block = m.layer3()[1].state_dict();
  const TensorRef& w = block.at("conv1.0.0.weight");  // (mid, 256, 1, 3, 3)
  const double* p = w.data_as<double>();
  double sum = 0, sq = 0;
  for (index_t i = 0; i < w.numel(); ++i) sum += p[i], sq += p[i] * p[i];
  const double n = static_cast<double>(w.numel());
  const double fan_out = static_cast<double>(w.shape[0] * 9);
  EXPECT_NEAR(sum / n, 0.0, 5 * std::sqrt(2.0 / fan_out / n));
  EXPECT_NEAR(std::sqrt(sq / n), std::sqrt(2.0 / fan_out), 0.02 * std::sqrt(2.0 / fan_out));
  const auto& fc = m.fc();
  double fsq = 0;
  for (index_t i = 0; i < fc.weight().numel(); ++i) fsq += fc.weight().data()[i] * fc.weight().data()[i];
  EXPECT_NEAR(std::sqrt(fsq / static_cast<double>(fc.weight().numel())), 0.01, 0.0005);
  for (index_t i = 0; i < fc.bias().numel(); ++i) EXPECT_EQ(fc.bias()(i), 0.0);
}

TEST(VideoResNet, BasicBlockMidplanes) {
  EXPECT_EQ((video::BasicBlock<float, video::Conv2Plus1D>::midplanes(64, 64)), 144);
  EXPECT_EQ((video::BasicBlock<float, video::Conv2Plus1D>::midplanes(256, 512)), 921);  // 3538944 / 3840
  EXPECT_THROW((video::BasicBlock<float, video::Conv2Plus1D>(64, 128, 1, false)), OptionError);
}

TEST(VideoResNet, RejectsBadInputs) {
  auto m = video::r3d_18<float>(5);
  m.eval();
  EXPECT_THROW(m(Tensor<float, 5>({1, 1, 8, 32, 32})), ShapeError);
  EXPECT_THROW(m(Tensor<float, 5>({1, 3, 0, 32, 32})), ShapeError);
  EXPECT_THROW(video::r3d_18<float>(0), OptionError);
}

TEST(VideoResNet, R2Plus1D18ForwardsA112x112Clip) {
  // The clip size torchvision's r2plus1d_18 is trained on, 1 x 3 x 16 x 112 x
  // 112, on the kernels this run uses. Its stem packs 45 x 147 weights, an
  // odd count, before the next ones: a build without -march (Eigen's SSE
  // kernel, which loads packed values with aligned loads) runs exactly what
  // faulted when packed blocks were not each placed aligned. The other family
  // must agree within the parity tolerance.
  auto net = video::r2plus1d_18<float>();
  net.eval();
  Tensor<float, 5> clip = Tensor<float, 5>::empty({1, 3, 16, 112, 112});
  for (index_t i = 0; i < clip.numel(); ++i) clip.data()[i] = std::sin(0.001f * static_cast<float>(i)) * 0.5f;
  const Tensor<float, 2> scores = net(clip);
  ASSERT_EQ(scores.shape(), (Shape<2>{1, 400}));
  for (index_t i = 0; i < scores.numel(); ++i) ASSERT_TRUE(std::isfinite(scores.data()[i])) << "score " << i;
  const ConvKernels used = conv_kernels();
  set_conv_kernels(used == ConvKernels::kRows ? ConvKernels::kPacked : ConvKernels::kRows);
  const Tensor<float, 2> other = net(clip);
  set_conv_kernels(ConvKernels::kAuto);
  EXPECT_TRUE((test::matches_reference<float, 2>(scores.cview(), other.cview(), "r2plus1d_18 112x112 scores")));
}

}  // namespace
}  // namespace r2plus1d

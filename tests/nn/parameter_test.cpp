// Parameters' gradients and requires_grad: lazy allocation, zero_grad,
// named_gradients, freezing by name or prefix, and what an optimizer then holds.

#include <gtest/gtest.h>

#include <r2plus1d/nn/batch_norm3d.hpp>
#include <r2plus1d/nn/conv3d.hpp>
#include <r2plus1d/nn/linear.hpp>
#include <r2plus1d/nn/sequential.hpp>
#include <r2plus1d/optim/sgd.hpp>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace r2plus1d {
namespace {

using Block = nn::Sequential<float, nn::Conv3d<float>, nn::BatchNorm3d<float>>;

Block block(index_t c) {
  return Block(nn::Conv3d<float>(nn::Conv3dOptions(c, c, 1).bias(false)), nn::BatchNorm3d<float>(nn::BatchNorm3dOptions(c)));
}

// Children "layer1", "layer10" and "fc", so that prefixes can be told apart.
struct TinyNet : nn::Module<TinyNet> {
  Block layer1 = block(2);
  Block layer10 = block(2);
  nn::Linear<float> fc{nn::LinearOptions(2, 3)};
  template <class V>
  void visit(V& v) {
    v.child("layer1", layer1);
    v.child("layer10", layer10);
    v.child("fc", fc);
  }
};

std::vector<std::string> names(const std::vector<nn::NamedParameter<float>>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.name);
  return out;
}

TEST(Parameter, GradientIsAllocatedOnFirstUseOnly) {
  nn::Conv3d<float> conv(nn::Conv3dOptions(3, 4, 3));
  EXPECT_FALSE(conv.weight_parameter().has_grad());
  EXPECT_EQ(std::as_const(conv.weight_parameter()).grad().data(), nullptr);  // no memory
  EXPECT_EQ(std::as_const(conv).weight_grad().numel(), 0);
  EXPECT_TRUE(conv.named_gradients().empty());
  EXPECT_EQ(conv.weight_parameter().flat_grad().data(), nullptr);
  conv.forward(Tensor<float, 5>({1, 3, 3, 3, 3}).cview());  // inference allocates none
  EXPECT_FALSE(conv.weight_parameter().has_grad());
  Tensor<float, 5>& g = conv.weight_grad();
  EXPECT_TRUE(conv.weight_parameter().has_grad());
  EXPECT_EQ(g.shape(), conv.weight().shape());
  for (index_t i = 0; i < g.numel(); ++i) ASSERT_EQ(g.data()[i], 0.0f);
  EXPECT_FALSE(conv.bias_parameter().has_grad());
  EXPECT_EQ(conv.named_gradients().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(conv.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
}

TEST(Parameter, AccumulateGradAddsAsAutograd) {
  nn::Linear<double> l(nn::LinearOptions(2, 1));
  Tensor<double, 2> g({1, 2});
  g(0, 0) = 1.5;
  g(0, 1) = -2.0;
  l.weight_parameter().accumulate_grad(g.cview());
  l.weight_parameter().accumulate_grad(g.cview());
  EXPECT_EQ(l.weight_grad()(0, 0), 3.0);
  EXPECT_EQ(l.weight_grad()(0, 1), -4.0);
  EXPECT_THROW(l.weight_parameter().accumulate_grad(Tensor<double, 2>({2, 1}).cview()), ShapeError);
}

TEST(Parameter, ZeroGradKeepsOrFreesTheMemory) {
  TinyNet net;
  net.fc.weight_grad().fill(2.0f);
  net.layer1.get<1>().bias_grad().fill(3.0f);
  EXPECT_EQ(net.named_gradients().keys(), (std::vector<std::string>{"layer1.1.bias", "fc.weight"}));
  const float* kept = net.fc.weight_grad().data();
  net.zero_grad();  // torch 1.13's default: set_to_none=False
  EXPECT_EQ(net.fc.weight_grad().data(), kept);
  EXPECT_EQ(net.fc.weight_grad()(2, 1), 0.0f);
  EXPECT_EQ(net.layer1.get<1>().bias_grad()(0), 0.0f);
  EXPECT_FALSE(net.fc.bias_parameter().has_grad());  // none before, none after
  net.zero_grad(true);
  EXPECT_FALSE(net.fc.weight_parameter().has_grad());
  EXPECT_TRUE(net.named_gradients().empty());
}

TEST(Parameter, FreezeByNameOrPrefix) {
  TinyNet net;
  const std::vector<std::string> all{"layer1.0.weight", "layer1.1.weight", "layer1.1.bias",  "layer10.0.weight",
                                     "layer10.1.weight", "layer10.1.bias", "fc.weight", "fc.bias"};
  EXPECT_EQ(net.named_parameters().keys(), all);
  EXPECT_EQ(names(net.trainable_parameters<float>()), all);
  net.freeze("layer1");  // not layer10
  EXPECT_EQ(names(net.trainable_parameters<float>()),
            (std::vector<std::string>{"layer10.0.weight", "layer10.1.weight", "layer10.1.bias", "fc.weight", "fc.bias"}));
  EXPECT_FALSE(net.requires_grad("layer1.1.bias"));
  EXPECT_TRUE(net.requires_grad("layer10.1.bias"));
  net.freeze("layer10.").freeze("fc.bias");
  EXPECT_EQ(names(net.trainable_parameters<float>()), (std::vector<std::string>{"fc.weight"}));
  net.unfreeze("layer10.1");
  EXPECT_EQ(names(net.trainable_parameters<float>()),
            (std::vector<std::string>{"layer10.1.weight", "layer10.1.bias", "fc.weight"}));
  EXPECT_THROW(net.freeze("layer4."), OptionError);
  EXPECT_THROW(net.freeze("fc.w"), OptionError);  // a prefix ends at a '.'
  EXPECT_THROW(net.requires_grad("fc"), OptionError);
  net.unfreeze("");
  EXPECT_EQ(names(net.trainable_parameters<float>()), all);
  EXPECT_EQ(net.state_dict().size(), all.size() + 6);  // buffers unchanged
}

TEST(Parameter, FrozenParametersAreNotUpdated) {
  TinyNet net;
  net.freeze("layer1.").freeze("fc.bias");
  optim::SGD<float> sgd(net.trainable_parameters<float>(), optim::SGDOptions(0.1));
  EXPECT_EQ(sgd.parameters().size(), 4u);
  for (const auto& p : sgd.parameters()) EXPECT_NE(p.name.rfind("layer1.", 0), 0u) << p.name;
  // Every parameter has a gradient, frozen or not; only the optimizer's move.
  net.for_each_parameter([](const std::string&, auto& p) { p.grad().fill(1.0f); });
  const Tensor<float, 5> conv1 = net.layer1.get<0>().weight();
  const Tensor<float, 1> fc_bias = net.fc.bias();
  const Tensor<float, 2> fc_weight = net.fc.weight();
  sgd.step();
  EXPECT_EQ(std::memcmp(conv1.data(), net.layer1.get<0>().weight().data(), sizeof(float) * static_cast<std::size_t>(conv1.numel())), 0);
  EXPECT_EQ(std::memcmp(fc_bias.data(), net.fc.bias().data(), sizeof(float) * static_cast<std::size_t>(fc_bias.numel())), 0);
  EXPECT_FLOAT_EQ(net.fc.weight()(0, 0), fc_weight(0, 0) - 0.1f);
}

}  // namespace
}  // namespace r2plus1d

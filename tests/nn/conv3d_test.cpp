// nn::Conv3d: options, validation, parameters and state_dict names, forward, and
// parity with torch.nn.Conv3d loaded from torch's state_dict.

#include <gtest/gtest.h>

#include <r2plus1d/nn/conv3d.hpp>

#include <string>

#include "../ops/primitives_reference.hpp"
#include "../ops/test_util.hpp"
#include "parity.hpp"

namespace r2plus1d {
namespace {

TEST(Conv3dOptions, DefaultsAndChaining) {
  const nn::Conv3dOptions o(3, 64, {1, 7, 7});
  EXPECT_EQ(o.in_channels(), 3);
  EXPECT_EQ(o.out_channels(), 64);
  EXPECT_EQ(o.kernel_size(), (Triple{1, 7, 7}));
  EXPECT_EQ(o.stride(), Triple(1));
  EXPECT_EQ(o.padding(), Triple(0));
  EXPECT_EQ(o.dilation(), Triple(1));
  EXPECT_EQ(o.groups(), 1);
  EXPECT_TRUE(o.bias());
  const auto p = nn::Conv3dOptions(4, 8, 3).stride({1, 2, 2}).padding({0, 3, 3}).dilation(2).groups(4).bias(false);
  EXPECT_EQ(p.kernel_size(), Triple(3));
  EXPECT_EQ(p.stride(), (Triple{1, 2, 2}));
  EXPECT_EQ(p.padding(), (Triple{0, 3, 3}));
  EXPECT_EQ(p.dilation(), Triple(2));
  EXPECT_EQ(p.groups(), 4);
  EXPECT_FALSE(p.bias());
}

std::string construct_error(const nn::Conv3dOptions& o) {
  try {
    nn::Conv3d<float> c(o);
  } catch (const OptionError& e) {
    return e.what();
  }
  return "(no OptionError)";
}

TEST(Conv3dModule, ValidatesOptions) {
  EXPECT_NE(construct_error(nn::Conv3dOptions(0, 8, 3)).find("Conv3d: expected positive in_channels and out_channels"),
            std::string::npos);
  EXPECT_NE(construct_error(nn::Conv3dOptions(4, 8, {1, 0, 3})).find("kernel_size, got (1, 0, 3)"), std::string::npos);
  EXPECT_NE(construct_error(nn::Conv3dOptions(4, 8, 3).stride({1, 0, 1})).find("stride"), std::string::npos);
  EXPECT_NE(construct_error(nn::Conv3dOptions(4, 8, 3).padding({0, -1, 0})).find("non-negative padding"),
            std::string::npos);
  EXPECT_NE(construct_error(nn::Conv3dOptions(4, 8, 3).dilation(0)).find("dilation"), std::string::npos);
  EXPECT_NE(construct_error(nn::Conv3dOptions(4, 8, 3).groups(0)).find("groups"), std::string::npos);
  EXPECT_NE(construct_error(nn::Conv3dOptions(6, 8, 3).groups(4))
                .find("expected in_channels and out_channels divisible by groups, got in_channels 6, out_channels 8, "
                      "groups 4"),
            std::string::npos);
  EXPECT_EQ(construct_error(nn::Conv3dOptions(4, 8, 3).groups(4)), "(no OptionError)");
}

TEST(Conv3dModule, ParametersAndStateDictNames) {
  nn::Conv3d<float> c(nn::Conv3dOptions(4, 8, {2, 3, 1}).groups(2));
  EXPECT_EQ(c.weight().shape(), (Shape<5>{8, 2, 2, 3, 1}));
  EXPECT_TRUE(c.has_bias());
  EXPECT_EQ(c.bias().shape(), (Shape<1>{8}));
  EXPECT_EQ(c.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(c.num_parameters(), 8 * 2 * 6 + 8);
  EXPECT_TRUE(c.named_buffers().empty());

  nn::Conv3d<double> n(nn::Conv3dOptions(4, 8, 1).bias(false));
  EXPECT_FALSE(n.has_bias());
  EXPECT_EQ(n.bias().shape(), (Shape<1>{0}));
  EXPECT_EQ(n.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(n.params().groups, 1);
}

template <class T>
class Conv3dModule : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Conv3dModule, Scalars);

TYPED_TEST(Conv3dModule, ForwardIsTheKernel) {
  using T = TypeParam;
  nn::Conv3d<T> c(nn::Conv3dOptions(3, 6, {1, 3, 3}).stride({1, 2, 2}).padding({0, 1, 1}));
  const auto x = test::random_tensor<T, 5>({2, 3, 4, 9, 9}, 5);
  const Tensor<T, 5> y = c(x);
  EXPECT_EQ(y.shape(), (Shape<5>{2, 6, 4, 5, 5}));
  const Tensor<T, 5> r = ops::conv3d<T>(x.cview(), c.weight().cview(), c.bias().data(), c.params());
  EXPECT_TRUE((test::bit_identical<T, 5>(y.cview(), r.cview())));
  EXPECT_THROW(c(Tensor<T, 5>({1, 4, 4, 9, 9})), ShapeError);
}

template <class T>
class Conv3dModuleParity : public ::testing::Test {};
TYPED_TEST_SUITE(Conv3dModuleParity, Scalars);

TYPED_TEST(Conv3dModuleParity, LoadsTorchStateDictAndMatches) {
  using T = TypeParam;
  const test::PrimitiveReference ref("conv3d");
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    const auto& o = c.at("options");
    nn::Conv3d<T> conv(nn::Conv3dOptions(o.at("in_channels"), o.at("out_channels"), test::triple_of(o.at("kernel_size")))
                           .stride(test::triple_of(o.at("stride")))
                           .padding(test::triple_of(o.at("padding")))
                           .dilation(test::triple_of(o.at("dilation")))
                           .groups(o.at("groups"))
                           .bias(o.at("bias")));
    EXPECT_EQ(conv.state_dict().keys(), c.at("state_keys").get<std::vector<std::string>>()) << name;
    conv.load_state_dict(nn::prefixed(ref.reader(), name + ".state."));
    const Tensor<T, 5> y = conv(ref.input<T, 5>(c));
    EXPECT_TRUE((test::matches_reference<T, 5>(y.cview(), ref.output<T, 5>(c).cview(),
                                               std::string("nn.Conv3d/") + test::scalar_name<T>(), "Conv3d " + name)));
  }
}

}  // namespace
}  // namespace r2plus1d

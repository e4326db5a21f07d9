// nn::Linear: options, validation, state_dict names, and parity with torch.nn.Linear
// loaded from torch's state_dict.

#include <gtest/gtest.h>

#include <r2plus1d/nn/linear.hpp>

#include <string>
#include <vector>

#include "../ops/primitives_reference.hpp"
#include "../ops/test_util.hpp"
#include "parity.hpp"

namespace r2plus1d {
namespace {

TEST(LinearModule, OptionsParametersAndNames) {
  const nn::LinearOptions o(512, 400);
  EXPECT_EQ(o.in_features(), 512);
  EXPECT_EQ(o.out_features(), 400);
  EXPECT_TRUE(o.bias());
  nn::Linear<float> l(o);
  EXPECT_EQ(l.weight().shape(), (Shape<2>{400, 512}));
  EXPECT_EQ(l.bias().shape(), (Shape<1>{400}));
  EXPECT_EQ(l.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
  nn::Linear<double> nb(nn::LinearOptions(3, 2).bias(false));
  EXPECT_FALSE(nb.has_bias());
  EXPECT_EQ(nb.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_THROW(nn::Linear<float>(nn::LinearOptions(0, 3)), OptionError);
  EXPECT_THROW(nb(Tensor<double, 2>({1, 4})), ShapeError);
}

template <class T>
class LinearModuleParity : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(LinearModuleParity, Scalars);

TYPED_TEST(LinearModuleParity, LoadsTorchStateDictAndMatches) {
  using T = TypeParam;
  const test::PrimitiveReference ref("linear");
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    const auto& o = c.at("options");
    nn::Linear<T> linear(nn::LinearOptions(o.at("in_features"), o.at("out_features")).bias(o.at("bias")));
    EXPECT_EQ(linear.state_dict().keys(), c.at("state_keys").get<std::vector<std::string>>()) << name;
    linear.load_state_dict(nn::prefixed(ref.reader(), name + ".state."));
    const Tensor<T, 2> y = linear(ref.input<T, 2>(c));
    EXPECT_TRUE((test::matches_reference<T, 2>(y.cview(), ref.output<T, 2>(c).cview(),
                                               std::string("nn.Linear/") + test::scalar_name<T>(), "Linear " + name)));
  }
}

}  // namespace
}  // namespace r2plus1d

#include <gtest/gtest.h>

#include <r2plus1d/core/state_dict.hpp>

namespace r2plus1d {
namespace {

TEST(StateDict, KeepsOrderAndFindsByName) {
  float a[2] = {1, 2};
  double b[1] = {3};
  StateDict sd;
  sd.add("res2plus1d.conv1.weight", {DType::F32, a, {2}});
  sd.add("linear.bias", {DType::F64, b, {1}});
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"res2plus1d.conv1.weight", "linear.bias"}));
  EXPECT_NE(sd.find("linear.bias"), nullptr);
  EXPECT_EQ(sd.find("nope"), nullptr);
  EXPECT_THROW(sd.at("nope"), StateDictError);
  StateDict inner = sd.with_prefix_stripped("res2plus1d.");
  ASSERT_EQ(inner.size(), 1u);
  EXPECT_EQ(inner[0].name, "conv1.weight");
  double out[2];
  inner.read("conv1.weight", {DType::F64, out, {2}});
  EXPECT_EQ(out[1], 2.0);
  EXPECT_THROW(inner.read("conv1.weight", {DType::F64, out, {1}}), StateDictError);
}

}  // namespace
}  // namespace r2plus1d

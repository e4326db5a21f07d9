// The seed's modules against PyTorch: the same weights and inputs through the
// C++ modules and through torch (tests/reference/gen_models.py), in float and
// double, eval and train mode, with keys, order and shapes of state_dict().

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <r2plus1d/r2plus1d.hpp>

#include <string>
#include <variant>

#include "reference_check.hpp"

namespace r2plus1d {
namespace {

using json = nlohmann::json;

Triple triple_of(const json& j) {
  if (j.is_number_integer()) return Triple(j.get<index_t>());
  return Triple{j.at(0).get<index_t>(), j.at(1).get<index_t>(), j.at(2).get<index_t>()};
}

std::array<index_t, 4> sizes_of(const json& j) {
  return {j.at(0).get<index_t>(), j.at(1).get<index_t>(), j.at(2).get<index_t>(), j.at(3).get<index_t>()};
}

template <class T>
using AnyModel = std::variant<SpatioTemporalConv<T>, SpatioTemporalResBlock<T>, SpatioTemporalResLayer<T>,
                              R2Plus1DNet<T>, R2Plus1DClassifier<T>>;

// Builds the module the reference describes, with the seed's constructor arguments.
template <class T>
AnyModel<T> build(const std::string& kind, const json& ctor) {
  const json& a = ctor.at("args");
  const json kw = ctor.value("kwargs", json::object());
  if (kind == "SpatioTemporalConv")
    return SpatioTemporalConv<T>(a.at(0).get<index_t>(), a.at(1).get<index_t>(), triple_of(a.at(2)),
                                 triple_of(kw.value("stride", json(1))), triple_of(kw.value("padding", json(0))),
                                 kw.value("bias", false), kw.value("first_conv", false));
  if (kind == "SpatioTemporalResBlock")
    return SpatioTemporalResBlock<T>(a.at(0).get<index_t>(), a.at(1).get<index_t>(), triple_of(a.at(2)),
                                     a.size() > 3 ? a.at(3).get<bool>() : false);
  if (kind == "SpatioTemporalResLayer")
    return SpatioTemporalResLayer<T>(a.at(0).get<index_t>(), a.at(1).get<index_t>(), triple_of(a.at(2)),
                                     a.at(3).get<index_t>(), kw.value("downsample", false));
  if (kind == "R2Plus1DNet") return R2Plus1DNet<T>(sizes_of(a.at(0)));
  if (kind == "R2Plus1DClassifier") return R2Plus1DClassifier<T>(a.at(0).get<index_t>(), sizes_of(a.at(1)));
  throw std::runtime_error("unknown module " + kind);
}

template <class T>
void check_case(const std::string& name) {
  const io::SafetensorsReader ref(test::reference_file("model_" + name));
  const std::string kind = ref.metadata().at("module");
  AnyModel<T> any = build<T>(kind, json::parse(ref.metadata().at("ctor")));
  std::visit([&](auto& model) { test::check_against_reference<T>(model, "model_" + name, "models"); }, any);
}

class ModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParity, Float) { check_case<float>(GetParam()); }
TEST_P(ModelParity, Double) { check_case<double>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Seed, ModelParity,
                         ::testing::Values("stconv_first", "stconv_k3", "stconv_k1_s2", "stconv_bias_mixed",
                                           "stconv_first_train", "block_identity", "block_downsample",
                                           "block_downsample_train", "layer_3_downsample", "layer_2",
                                           "net_1111_small", "classifier_1111", "net_2222_16x112x112",
                                           "net_2222_odd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace r2plus1d

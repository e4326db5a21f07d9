// The seed's modules against PyTorch: the same weights and inputs through the
// C++ modules and through torch (tests/reference/gen_models.py), in float and
// double, eval and train mode, with keys, order and shapes of state_dict().

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <r2plus1d/r2plus1d.hpp>

#include <string>
#include <variant>

#include "parity.hpp"

namespace r2plus1d {
namespace {

using json = nlohmann::json;

std::string ref_file(const std::string& name) { return std::string(R2PLUS1D_REF_DIR) + "/model_" + name + ".safetensors"; }

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

std::vector<std::string> names(const StateDict& sd) { return sd.keys(); }

template <class T>
void check_case(const std::string& name) {
  const io::SafetensorsReader ref(ref_file(name));
  const auto& meta = ref.metadata();
  const std::string kind = meta.at("module");
  const bool train = meta.at("mode") == "train";
  const std::string suffix = std::is_same_v<T, float> ? "f32" : "f64";
  const std::string group = std::string("models/") + (std::is_same_v<T, float> ? "float" : "double");

  AnyModel<T> any = build<T>(kind, json::parse(meta.at("ctor")));
  std::visit(
      [&](auto& model) {
        // Names, order and shapes exactly as torch's state_dict().
        const auto state = nn::prefixed(ref, "state.");
        std::vector<std::string> torch_keys;
        for (const auto& i : state.infos()) torch_keys.push_back(i.name);
        const StateDict sd = model.state_dict();
        ASSERT_EQ(names(sd), torch_keys);
        for (const auto& e : sd) EXPECT_EQ(e.ref.shape, ref.info("state." + e.name).shape) << e.name;
        EXPECT_EQ(names(model.named_parameters()), json::parse(meta.at("parameters")).get<std::vector<std::string>>());
        EXPECT_EQ(names(model.named_buffers()), json::parse(meta.at("buffers")).get<std::vector<std::string>>());
        EXPECT_EQ(std::to_string(model.num_parameters()), meta.at("num_parameters"));

        model.load_state_dict(state);
        model.train(train);
        const Tensor<T, 5> x = ref.tensor<T, 5>("input");
        auto y = model(x);
        using Out = decltype(y);
        const Out expected = ref.tensor<T, Out::rank>("output_" + suffix);
        EXPECT_TRUE((test::matches_reference<T, Out::rank>(y.cview(), expected.cview(), group, name + " output")));

        if (train) {  // running statistics and num_batches_tracked after one training step
          for (const auto& e : model.named_buffers()) {
            const std::string key = "after_" + suffix + "." + e.name;
            ASSERT_TRUE(ref.contains(key)) << key;
            if (e.ref.dtype == DType::I64) {
              EXPECT_EQ(*e.ref.template data_as<std::int64_t>(), (ref.tensor<std::int64_t, 0>(key)())) << key;
            } else {
              const Tensor<T, 1> want = ref.tensor<T, 1>(key);
              const TensorView<const T, 1> got(e.ref.template data_as<T>(), {e.ref.shape[0]});
              EXPECT_TRUE((test::matches_reference<T, 1>(got, want.cview(), group, name + " " + e.name)));
            }
          }
        }
      },
      any);
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

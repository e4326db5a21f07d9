#pragma once
// Checks a module against a torch reference file written by
// tests/reference/gen_models.py's run_case: state_dict keys, order and shapes,
// named_parameters / named_buffers, parameter count, the output of the same
// weights and input, and in training mode the running statistics afterwards.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <r2plus1d/r2plus1d.hpp>

#include <string>
#include <type_traits>

#include "parity.hpp"

namespace r2plus1d::test {

inline std::string reference_file(const std::string& name) {
  return std::string(R2PLUS1D_REF_DIR) + "/" + name + ".safetensors";
}

template <class T, class Model>
void check_against_reference(Model& model, const std::string& name, const std::string& group_prefix) {
  using json = nlohmann::json;
  const io::SafetensorsReader ref(reference_file(name));
  const auto& meta = ref.metadata();
  const bool train = meta.at("mode") == "train";
  const std::string suffix = std::is_same_v<T, float> ? "f32" : "f64";
  const std::string group = group_prefix + "/" + scalar_name<T>();

  // Names, order and shapes exactly as torch's state_dict().
  const auto state = nn::prefixed(ref, "state.");
  std::vector<std::string> torch_keys;
  for (const auto& i : state.infos()) torch_keys.push_back(i.name);
  const StateDict sd = model.state_dict();
  ASSERT_EQ(sd.keys(), torch_keys);
  for (const auto& e : sd) EXPECT_EQ(e.ref.shape, ref.info("state." + e.name).shape) << e.name;
  EXPECT_EQ(model.named_parameters().keys(), json::parse(meta.at("parameters")).get<std::vector<std::string>>());
  EXPECT_EQ(model.named_buffers().keys(), json::parse(meta.at("buffers")).get<std::vector<std::string>>());
  EXPECT_EQ(std::to_string(model.num_parameters()), meta.at("num_parameters"));

  model.load_state_dict(state);
  model.train(train);
  const Tensor<T, 5> x = ref.tensor<T, 5>("input");
  auto y = model(x);
  using Out = decltype(y);
  const Out expected = ref.tensor<T, Out::rank>("output_" + suffix);
  EXPECT_TRUE((matches_reference<T, Out::rank>(y.cview(), expected.cview(), group, name + " output")));
  if (!train) {  // with the weights' transforms kept (set_weight_cache): once filling them, once reading them
    model.set_weight_cache(true);
    const Out filling = model(x), reading = model(x);
    EXPECT_TRUE((matches_reference<T, Out::rank>(filling.cview(), expected.cview(), group, name + " output, cached")));
    ASSERT_EQ(filling.shape(), reading.shape());
    for (index_t i = 0; i < filling.numel(); ++i)
      ASSERT_EQ(filling.data()[i], reading.data()[i]) << name << ": from the weight cache, at " << i;
    model.set_weight_cache(false);
  }

  if (train) {  // running statistics and num_batches_tracked after one training step
    for (const auto& e : model.named_buffers()) {
      const std::string key = "after_" + suffix + "." + e.name;
      ASSERT_TRUE(ref.contains(key)) << key;
      if (e.ref.dtype == DType::I64) {
        EXPECT_EQ(*e.ref.template data_as<std::int64_t>(), (ref.tensor<std::int64_t, 0>(key)())) << key;
      } else {
        const Tensor<T, 1> want = ref.tensor<T, 1>(key);
        const TensorView<const T, 1> got(e.ref.template data_as<T>(), {e.ref.shape[0]});
        EXPECT_TRUE((matches_reference<T, 1>(got, want.cview(), group, name + " " + e.name)));
      }
    }
  }
}

}  // namespace r2plus1d::test

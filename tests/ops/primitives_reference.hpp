#pragma once
// Access to the PyTorch references that tests/reference/gen_primitives.py (and,
// for the gradients, gen_backward.py) write: one safetensors file per op, cases listed as JSON in the metadata key "cases",
// tensors named "<case>.<key>" (see the generator's docstring for the keys).
// Shared by the ops and nn tests.

#include <nlohmann/json.hpp>

#include <r2plus1d/core/tensor.hpp>
#include <r2plus1d/io/safetensors.hpp>

#include <string>
#include <type_traits>

namespace r2plus1d::test {

class PrimitiveReference {
 public:
  using json = nlohmann::json;

  /// The file "<prefix><op>.safetensors": gen_primitives.py's "primitives_",
  /// gen_backward.py's "backward_".
  explicit PrimitiveReference(const std::string& op, const std::string& prefix = "primitives_")
      : reader_(std::string(R2PLUS1D_REF_DIR) + "/" + prefix + op + ".safetensors"),
        cases_(json::parse(reader_.metadata().at("cases"))) {}

  /// The list of case descriptions (name, options, mode, steps, state_keys, ...).
  const json& cases() const { return cases_; }
  const io::SafetensorsReader& reader() const { return reader_; }

  /// Tensor "<case>.<key>" converted to T.
  template <class T, int R>
  Tensor<T, R> tensor(const json& c, const std::string& key) const {
    return reader_.tensor<T, R>(c.at("name").get<std::string>() + "." + key);
  }
  bool contains(const json& c, const std::string& key) const {
    return reader_.contains(c.at("name").get<std::string>() + "." + key);
  }
  /// torch's output of forward pass `step` in T's precision ("output_f32.<step>" / "output_f64.<step>").
  template <class T, int R>
  Tensor<T, R> output(const json& c, int step = 0) const {
    return tensor<T, R>(c, "output_" + std::string(suffix<T>()) + "." + std::to_string(step));
  }
  template <class T, int R>
  Tensor<T, R> input(const json& c, int step = 0) const {
    return tensor<T, R>(c, "input." + std::to_string(step));
  }

  template <class T>
  static const char* suffix() {
    return std::is_same_v<T, float> ? "f32" : "f64";
  }

 private:
  io::SafetensorsReader reader_;
  json cases_;
};

/// A JSON [d, h, w] as a Triple.
inline Triple triple_of(const nlohmann::json& j) {
  return Triple{j.at(0).get<index_t>(), j.at(1).get<index_t>(), j.at(2).get<index_t>()};
}

}  // namespace r2plus1d::test

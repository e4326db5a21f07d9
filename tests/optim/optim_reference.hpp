#pragma once
// Access to the PyTorch references that tests/reference/gen_optim.py writes to
// optim.safetensors (see its docstring for the keys), and the tolerance of the
// optim tests: max |ours - torch| <= tol * max |torch|, tol 1e-6 for float and
// 1e-12 for double (absolute when max |torch| is 0).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <r2plus1d/core/tensor.hpp>
#include <r2plus1d/io/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

namespace r2plus1d::test {

class OptimReference {
 public:
  using json = nlohmann::json;

  OptimReference() : reader_(std::string(R2PLUS1D_REF_DIR) + "/optim.safetensors") {}

  /// The case list under metadata key `key` ("optimizers", "schedulers", "clips", "losses").
  json list(const std::string& key) const { return json::parse(reader_.metadata().at(key)); }
  /// Optimizer steps per case.
  int steps() const { return std::stoi(reader_.metadata().at("steps")); }
  /// Tensor `name` converted to T.
  template <class T, int R>
  Tensor<T, R> tensor(const std::string& name) const {
    return reader_.tensor<T, R>(name);
  }
  /// "f32" or "f64", the suffix of torch's results in T's precision.
  template <class T>
  static const char* suffix() {
    return std::is_same_v<T, float> ? "f32" : "f64";
  }

 private:
  io::SafetensorsReader reader_;
};

/// The allowed max |ours - torch| relative to max |torch|.
template <class T>
constexpr double optim_tolerance() {
  return std::is_same_v<T, float> ? 1e-6 : 1e-12;
}

/// Whether `ours` is within optim_tolerance<T>() of torch's `ref` (see the file comment).
template <class T, int R>
::testing::AssertionResult close_to_torch(TensorView<const T, R> ours, TensorView<const T, R> ref,
                                          const std::string& what) {
  if (ours.shape() != ref.shape())
    return ::testing::AssertionFailure() << what << ": shape " << format_shape<R>(ours.shape()) << ", torch's "
                                         << format_shape<R>(ref.shape());
  double scale = 0.0, worst = 0.0;
  index_t at = 0;
  for (index_t i = 0; i < ref.numel(); ++i) {
    const double o = static_cast<double>(ours.data()[i]), r = static_cast<double>(ref.data()[i]);
    if (!std::isfinite(o) || !std::isfinite(r))
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << o << ", torch's " << r;
    scale = std::max(scale, std::abs(r));
    if (std::abs(o - r) > worst) {
      worst = std::abs(o - r);
      at = i;
    }
  }
  const double relative = scale > 0.0 ? worst / scale : worst;
  if (relative <= optim_tolerance<T>()) return ::testing::AssertionSuccess();
  std::ostringstream s;
  s.precision(17);
  s << what << ": max |ours - torch| = " << worst << " at element " << at << " (ours "
    << static_cast<double>(ours.data()[at]) << ", torch " << static_cast<double>(ref.data()[at]) << "), " << relative
    << " of max |torch| = " << scale << ", allowed " << optim_tolerance<T>();
  return ::testing::AssertionFailure() << s.str();
}

}  // namespace r2plus1d::test

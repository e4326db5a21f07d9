#pragma once
/// \file
/// The one statement of how closely results must match PyTorch, and the helper
/// every parity test uses. For a tensor, with err = max |ours - ref| and
/// scale = max |ref| (over finite elements):
///   float:  err <= 1e-4  * scale
///   double: err <= 1e-10 * scale
/// and when scale is 0 the same numbers bound err absolutely. Non-finite values
/// must sit at the same positions with the same value (NaN matches NaN only).
/// The worst relative error of every group is recorded and printed when the test
/// program ends: `parity[conv3d/float] worst relative error = 2.1e-07 over 40 tensors`.

#include <gtest/gtest.h>

#include <r2plus1d/core/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <type_traits>

namespace r2plus1d::test {

/// Allowed max |ours - ref| relative to max |ref|, per element type.
template <class T>
constexpr double parity_tolerance() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "parity_tolerance: float or double");
  return std::is_same_v<T, float> ? 1e-4 : 1e-10;
}

/// "float" or "double".
template <class T>
const char* scalar_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

/// Worst relative error and tensor count per group, printed at the end of the program.
class ParityRegistry {
 public:
  void record(const std::string& group, double relative_error) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = groups_[group];
    e.worst = std::max(e.worst, relative_error);
    ++e.tensors;
  }
  void print(std::FILE* out) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [group, e] : groups_)
      std::fprintf(out, "parity[%s] worst relative error = %.3g over %ld tensors\n", group.c_str(), e.worst,
                   static_cast<long>(e.tensors));
    std::fflush(out);
  }
  bool empty() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return groups_.empty();
  }

 private:
  struct Entry {
    double worst = 0.0;
    long tensors = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> groups_;
};

inline ParityRegistry& parity_registry() {
  static ParityRegistry r;
  return r;
}

/// Prints the registry's summary once every test has run.
class ParitySummary : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!parity_registry().empty()) parity_registry().print(stdout);
  }
};

inline ::testing::Environment* const parity_summary_environment =
    ::testing::AddGlobalTestEnvironment(new ParitySummary);

namespace detail {
template <int R>
std::string format_index(const Shape<R>& shape, index_t flat) {
  Shape<R> idx{};
  for (int d = R - 1; d >= 0; --d) {
    const auto k = static_cast<std::size_t>(d);
    idx[k] = shape[k] > 0 ? flat % shape[k] : 0;
    flat = shape[k] > 0 ? flat / shape[k] : 0;
  }
  return format_shape<R>(idx);
}

inline bool same_nonfinite(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b;  // infinities: same sign
}
}  // namespace detail

/// Whether `ours` matches the PyTorch reference `ref` within parity_tolerance<T>()
/// (see the file comment); records the relative error under `group` (e.g.
/// "conv3d/float"). On failure the message names `what`, the worst element (index,
/// ours, ref), the error and the bound.
template <class T, int R>
::testing::AssertionResult matches_reference(TensorView<const T, R> ours, TensorView<const T, R> ref,
                                             const std::string& group, const std::string& what) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (ours.shape() != ref.shape()) {
    parity_registry().record(group, kInf);
    return ::testing::AssertionFailure() << what << ": shape " << format_shape<R>(ours.shape())
                                         << ", reference shape " << format_shape<R>(ref.shape());
  }
  const index_t n = ref.numel();
  double scale = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const double r = static_cast<double>(ref.data()[i]);
    if (std::isfinite(r)) scale = std::max(scale, std::abs(r));
  }
  double worst = 0.0;
  index_t worst_at = -1;
  for (index_t i = 0; i < n; ++i) {
    const double o = static_cast<double>(ours.data()[i]), r = static_cast<double>(ref.data()[i]);
    if (!std::isfinite(o) || !std::isfinite(r)) {
      if (!detail::same_nonfinite(o, r)) {
        parity_registry().record(group, kInf);
        std::ostringstream s;
        s.precision(17);
        s << what << ": element " << detail::format_index<R>(ref.shape(), i) << " is " << o << ", reference " << r;
        return ::testing::AssertionFailure() << s.str();
      }
      continue;
    }
    const double e = std::abs(o - r);
    if (e > worst || worst_at < 0) {
      worst = e;
      worst_at = i;
    }
  }
  const double relative = scale > 0.0 ? worst / scale : worst;
  parity_registry().record(group, relative);
  if (relative <= parity_tolerance<T>()) return ::testing::AssertionSuccess();
  std::ostringstream s;
  s.precision(17);
  s << what << ": max |ours - ref| = " << worst << " at " << detail::format_index<R>(ref.shape(), worst_at)
    << " (ours " << static_cast<double>(ours.data()[worst_at]) << ", ref " << static_cast<double>(ref.data()[worst_at])
    << "), " << relative << " of max |ref| = " << scale << ", allowed " << parity_tolerance<T>();
  return ::testing::AssertionFailure() << s.str();
}

/// The same, with the group taken from `what`: its first word (up to a space or
/// '/') and the element type, e.g. "conv3d k333 output" -> "conv3d/float".
template <class T, int R>
::testing::AssertionResult matches_reference(TensorView<const T, R> ours, TensorView<const T, R> ref,
                                             const std::string& what) {
  const std::string head = what.substr(0, what.find_first_of(" /"));
  return matches_reference<T, R>(ours, ref, head + "/" + scalar_name<T>(), what);
}

}  // namespace r2plus1d::test

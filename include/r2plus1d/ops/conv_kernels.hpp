#pragma once
/// \file
/// Which family of convolution kernels runs. Both give the same convolutions
/// within the parity tolerances, and each gives the same bits for any thread
/// count:
///
/// - rows (the default): the library's own microkernels (kernels/), for the
///   best instruction set the CPU has, chosen at run time: gemm_rows reads the
///   input rows in place (gathered once per frame for spatial kernels) and
///   packs nothing but the weights; gemm_thin multiplies small frames with the
///   weights as they lie;
/// - packed: Eigen's GEMM kernel, with each convolution's columns packed into
///   its panels and the weights packed once per call. Eigen vectorises for the
///   flags the program is compiled with only (SSE2 in a build without -march).
///
/// The R2PLUS1D_CONV_KERNELS environment variable (rows, packed or auto) and
/// set_conv_kernels choose the other. conv3d_algorithms.hpp says which
/// algorithm of the family each convolution runs.

#include <atomic>
#include <cstdlib>
#include <string>

#include "r2plus1d/core/error.hpp"

namespace r2plus1d {

/// A family of convolution kernels (see the file comment): kRows, kPacked, or
/// kAuto, R2PLUS1D_CONV_KERNELS's choice, else rows.
enum class ConvKernels { kAuto, kRows, kPacked };

namespace detail {
inline std::atomic<int>& conv_kernels_setting() {
  static std::atomic<int> setting{static_cast<int>(ConvKernels::kAuto)};
  return setting;
}

/// The choice of R2PLUS1D_CONV_KERNELS, or kAuto when it is unset or empty.
/// Throws OptionError for any other value.
inline ConvKernels conv_kernels_from_environment() {
  const char* v = std::getenv("R2PLUS1D_CONV_KERNELS");
  if (v == nullptr || *v == '\0') return ConvKernels::kAuto;
  const std::string s(v);
  if (s == "rows") return ConvKernels::kRows;
  if (s == "packed") return ConvKernels::kPacked;
  if (s == "auto") return ConvKernels::kAuto;
  throw OptionError("R2PLUS1D_CONV_KERNELS: expected rows, packed or auto, got '" + s + "'");
}
}  // namespace detail

/// Sets the convolution kernels every later call uses (kAuto: the
/// environment's choice, else rows).
inline void set_conv_kernels(ConvKernels k) { detail::conv_kernels_setting().store(static_cast<int>(k)); }

/// The convolution kernels in use: set_conv_kernels's choice, else
/// R2PLUS1D_CONV_KERNELS's, else rows. Never kAuto.
inline ConvKernels conv_kernels() {
  const auto set = static_cast<ConvKernels>(detail::conv_kernels_setting().load());
  if (set != ConvKernels::kAuto) return set;
  static const ConvKernels from_environment = detail::conv_kernels_from_environment();
  if (from_environment != ConvKernels::kAuto) return from_environment;
  return ConvKernels::kRows;
}

/// "rows" or "packed": the family conv_kernels() names.
inline const char* conv_kernels_name() { return conv_kernels() == ConvKernels::kRows ? "rows" : "packed"; }

/// Which convolution algorithms may run: kFast (the default) lets the
/// stride-1 3x3 spatial convolutions on frames of 28x28 or more run Winograd's
/// F(4x4, 3x3) (ops/conv3d_winograd.hpp: four times fewer multiplies) and the
/// stride-1 (3, 1, 1) temporal ones F(4, 3) along time
/// (ops/conv3d_winograd_temporal.hpp: two times fewer), in float on the rows
/// kernels: results within the parity tolerances of the direct algorithms,
/// but not the same bits. kDirect keeps every convolution on the direct
/// algorithms, each output one in-order sum over the kernel, at their speed
/// (r2plus1d_18 on a 16x112x112 clip took 1.93x the time with 1 thread on an
/// AMD Zen 4). kAuto: R2PLUS1D_CONV_ALGORITHMS's choice (fast, direct or
/// auto), else fast.
enum class ConvAlgorithms { kAuto, kFast, kDirect };

namespace detail {
inline std::atomic<int>& conv_algorithms_setting() {
  static std::atomic<int> setting{static_cast<int>(ConvAlgorithms::kAuto)};
  return setting;
}

/// The choice of R2PLUS1D_CONV_ALGORITHMS, or kAuto when it is unset or
/// empty. Throws OptionError for any other value.
inline ConvAlgorithms conv_algorithms_from_environment() {
  const char* v = std::getenv("R2PLUS1D_CONV_ALGORITHMS");
  if (v == nullptr || *v == '\0') return ConvAlgorithms::kAuto;
  const std::string s(v);
  if (s == "fast") return ConvAlgorithms::kFast;
  if (s == "direct") return ConvAlgorithms::kDirect;
  if (s == "auto") return ConvAlgorithms::kAuto;
  throw OptionError("R2PLUS1D_CONV_ALGORITHMS: expected fast, direct or auto, got '" + s + "'");
}
}  // namespace detail

/// Sets the convolution algorithms every later call may use (kAuto: the
/// environment's choice, else fast).
inline void set_conv_algorithms(ConvAlgorithms a) {
  detail::conv_algorithms_setting().store(static_cast<int>(a));
}

/// The convolution algorithms in use: set_conv_algorithms's choice, else
/// R2PLUS1D_CONV_ALGORITHMS's, else kFast. Never kAuto.
inline ConvAlgorithms conv_algorithms() {
  const auto set = static_cast<ConvAlgorithms>(detail::conv_algorithms_setting().load());
  if (set != ConvAlgorithms::kAuto) return set;
  static const ConvAlgorithms from_environment = detail::conv_algorithms_from_environment();
  if (from_environment != ConvAlgorithms::kAuto) return from_environment;
  return ConvAlgorithms::kFast;
}

/// "fast" or "direct": the choice conv_algorithms() names.
inline const char* conv_algorithms_name() {
  return conv_algorithms() == ConvAlgorithms::kFast ? "fast" : "direct";
}

}  // namespace r2plus1d

#pragma once
/// \file
/// Which family of convolution kernels runs. Both give the same convolutions
/// within the parity tolerances, and each gives the same bits for any thread
/// count; they differ in speed from one CPU to another:
///
/// - packed: Eigen's GEMM kernel, with each convolution's columns packed into
///   its panels (straight from the input) and the weights packed once per call;
/// - rows: gemm_rows, which reads the input rows in place (gathered once per
///   frame for spatial kernels) and packs nothing but the weights.
///
/// On AMD's AVX-512 cores the rows kernels measured about 1.3x faster over
/// r2plus1d_18; on Intel's, from level to 10% slower. The default is rows on
/// AMD CPUs in builds for AVX-512 and packed elsewhere (AVX2-only CPUs were
/// not measured); the R2PLUS1D_CONV_KERNELS environment variable (rows, packed
/// or auto) and set_conv_kernels override it.

#include <atomic>
#include <cstdlib>
#include <string>

#include "r2plus1d/core/error.hpp"

namespace r2plus1d {

enum class ConvKernels { kAuto, kRows, kPacked };

namespace detail {
inline std::atomic<int>& conv_kernels_setting() {
  static std::atomic<int> setting{static_cast<int>(ConvKernels::kAuto)};
  return setting;
}

/// kRows on AMD CPUs in builds for AVX-512 (where it was measured faster),
/// kPacked elsewhere.
inline ConvKernels conv_kernels_for_this_cpu() {
#if defined(__AVX512F__) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_is("amd")) return ConvKernels::kRows;
#endif
  return ConvKernels::kPacked;
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
/// environment's choice, else the CPU's).
inline void set_conv_kernels(ConvKernels k) { detail::conv_kernels_setting().store(static_cast<int>(k)); }

/// The convolution kernels in use: set_conv_kernels's choice, else
/// R2PLUS1D_CONV_KERNELS's, else the CPU's. Never kAuto.
inline ConvKernels conv_kernels() {
  const auto set = static_cast<ConvKernels>(detail::conv_kernels_setting().load());
  if (set != ConvKernels::kAuto) return set;
  static const ConvKernels from_environment = detail::conv_kernels_from_environment();
  if (from_environment != ConvKernels::kAuto) return from_environment;
  static const ConvKernels for_cpu = detail::conv_kernels_for_this_cpu();
  return for_cpu;
}

/// "rows" or "packed": the family conv_kernels() names.
inline const char* conv_kernels_name() { return conv_kernels() == ConvKernels::kRows ? "rows" : "packed"; }

}  // namespace r2plus1d

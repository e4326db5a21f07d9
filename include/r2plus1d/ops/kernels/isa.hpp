#pragma once
/// \file
/// The instruction sets the convolution microkernels are compiled for, and
/// the one they run on. Every build carries the generic kernels (plain C++
/// vectors of 16 bytes: SSE2 on x86-64, NEON on aarch64); x86-64 builds with
/// GCC or Clang also carry AVX2+FMA and AVX-512 kernels, compiled with target
/// attributes whatever flags the including program uses. The best set the CPU
/// supports is chosen once, at run time (as oneDNN and OpenBLAS's DYNAMIC_ARCH
/// do); R2PLUS1D_ISA=generic|avx2|avx512 or set_isa asks for another that the
/// CPU supports. Results depend on the instruction set (its vector width and
/// fused multiply-adds), never on the thread count.

#include <atomic>
#include <cstdlib>
#include <string>

#include "r2plus1d/core/error.hpp"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
/// Defined when the AVX2 and AVX-512 kernels are compiled in.
#define R2PLUS1D_X86_KERNELS 1
#endif

namespace r2plus1d {

/// An instruction set with its own microkernels, from the most portable.
enum class Isa { kAuto = -1, kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

/// "generic", "avx2" or "avx512".
inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kGeneric: return "generic";
    default: return "auto";
  }
}

/// Whether this build carries kernels for `isa` and this CPU runs them.
inline bool isa_supported(Isa isa) {
  if (isa == Isa::kGeneric) return true;
#if defined(R2PLUS1D_X86_KERNELS)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::kAvx2) return avx2;
  if (isa == Isa::kAvx512) return avx2 && __builtin_cpu_supports("avx512f");
#endif
  return false;
}

namespace detail {
inline std::atomic<int>& isa_setting() {
  static std::atomic<int> setting{static_cast<int>(Isa::kAuto)};
  return setting;
}

inline Isa best_isa() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2})
    if (isa_supported(isa)) return isa;
  return Isa::kGeneric;
}

inline Isa checked_isa(Isa isa, const std::string& who) {
  if (!isa_supported(isa))
    throw OptionError(who + ": this CPU (or build) has no " + isa_name(isa) + " kernels; best available is " +
                      isa_name(best_isa()));
  return isa;
}

/// R2PLUS1D_ISA's choice, or kAuto when it is unset or empty. Throws
/// OptionError for an unknown or unsupported value.
inline Isa isa_from_environment() {
  const char* v = std::getenv("R2PLUS1D_ISA");
  if (v == nullptr || *v == '\0') return Isa::kAuto;
  const std::string s(v);
  for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512})
    if (s == isa_name(isa)) return checked_isa(isa, "R2PLUS1D_ISA");
  if (s == "auto") return Isa::kAuto;
  throw OptionError("R2PLUS1D_ISA: expected generic, avx2, avx512 or auto, got '" + s + "'");
}
}  // namespace detail

/// Makes every later convolution run on `isa`'s kernels (kAuto: the
/// environment's choice, else the best the CPU supports). Call it before
/// convolutions run, not during. Throws OptionError if the CPU lacks it.
inline void set_isa(Isa isa) {
  if (isa != Isa::kAuto) detail::checked_isa(isa, "set_isa");
  detail::isa_setting().store(static_cast<int>(isa));
}

/// The instruction set the kernels run on: set_isa's, else R2PLUS1D_ISA's,
/// else the best this CPU supports. Never kAuto.
inline Isa active_isa() {
  const auto set = static_cast<Isa>(detail::isa_setting().load());
  if (set != Isa::kAuto) return set;
  static const Isa from_environment = detail::isa_from_environment();
  if (from_environment != Isa::kAuto) return from_environment;
  static const Isa best = detail::best_isa();
  return best;
}

}  // namespace r2plus1d

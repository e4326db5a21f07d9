#pragma once
/// \file
/// A seedable random generator whose sequence is the same on every platform
/// (std::mt19937_64 is specified bit for bit; the distributions here are our own).

#include <cmath>
#include <cstdint>
#include <random>

namespace r2plus1d {

/// Seedable source of the uniform numbers that default initialisation draws.
class Generator {
 public:
  /// The seed of a default-constructed generator.
  static constexpr std::uint64_t kDefaultSeed = 0x5eed2b1dULL;

  /// A generator whose draws are fixed by `seed`.
  explicit Generator(std::uint64_t seed = kDefaultSeed) : engine_(seed) {}
  /// Restarts the draws from `seed`, as torch.manual_seed.
  void manual_seed(std::uint64_t seed) { engine_.seed(seed); }

  /// A double uniform in [0, 1), from 53 random bits.
  double next_unit() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  /// A double uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * next_unit(); }
  /// A normally distributed double (Box-Muller on two uniform draws).
  double normal(double mean, double stddev) {
    const double u1 = 1.0 - next_unit();  // (0, 1]: log is finite
    const double u2 = next_unit();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937_64 engine_;
};

/// The process-wide generator that modules draw from when none is given.
inline Generator& default_generator() {
  static Generator g;
  return g;
}

}  // namespace r2plus1d

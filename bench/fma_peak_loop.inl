// The FMA-peak loop, included once per instruction set inside a namespace
// that defines Vec, splat(x), madd(a, b, c) = a * b + c and lane0(v) (and, for
// the x86 sets, inside a target-attribute region: see fma_peak.hpp).

inline constexpr int kLanes = static_cast<int>(sizeof(Vec) / sizeof(float));

/// `steps` steps of 12 independent multiply-adds a = a * m + c; returns a sum
/// of the accumulators so that none of it can be dropped. m and c keep every
/// value finite and normal however long it runs.
inline float run(std::int64_t steps, float seed) {
  Vec a0 = splat(seed + 0.0f), a1 = splat(seed + 0.1f), a2 = splat(seed + 0.2f), a3 = splat(seed + 0.3f);
  Vec a4 = splat(seed + 0.4f), a5 = splat(seed + 0.5f), a6 = splat(seed + 0.6f), a7 = splat(seed + 0.7f);
  Vec a8 = splat(seed + 0.8f), a9 = splat(seed + 0.9f), a10 = splat(seed + 1.0f), a11 = splat(seed + 1.1f);
  const Vec m = splat(0.9999999f), c = splat(1e-7f);
  for (std::int64_t i = 0; i < steps; ++i) {
    a0 = madd(a0, m, c), a1 = madd(a1, m, c), a2 = madd(a2, m, c), a3 = madd(a3, m, c);
    a4 = madd(a4, m, c), a5 = madd(a5, m, c), a6 = madd(a6, m, c), a7 = madd(a7, m, c);
    a8 = madd(a8, m, c), a9 = madd(a9, m, c), a10 = madd(a10, m, c), a11 = madd(a11, m, c);
  }
  return ((lane0(a0) + lane0(a1)) + (lane0(a2) + lane0(a3))) + ((lane0(a4) + lane0(a5)) + (lane0(a6) + lane0(a7))) +
         ((lane0(a8) + lane0(a9)) + (lane0(a10) + lane0(a11)));
}

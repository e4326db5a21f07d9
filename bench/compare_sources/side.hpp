#pragma once
// The functions each side of compare_sources.py exports: side.cpp compiled once
// per version of the headers defines one set (suffix _a or _b), main.cpp
// calls both.

#include <vector>

#define COMPARE_SOURCES_CAT2(name, side) name##_##side
#define COMPARE_SOURCES_CAT(name, side) COMPARE_SOURCES_CAT2(name, side)

// clang-format off
#define COMPARE_SOURCES_FUNCTIONS(side)                                                                       \
  /* Entries of the convolution table, and each one's name and FLOP count. */                                 \
  int COMPARE_SOURCES_CAT(conv_count, side)();                                                                \
  const char* COMPARE_SOURCES_CAT(conv_name, side)(int i);                                                    \
  double COMPARE_SOURCES_CAT(conv_flops, side)(int i);                                                        \
  /* Runs convolution i once on its fixed input (made on first use); ms. The output into *out if not null. */ \
  double COMPARE_SOURCES_CAT(conv_run, side)(int i, int threads, std::vector<float>* out);                    \
  /* Runs stage s of r2plus1d_18 (0 stem, 1 to 4 the layers) on `in`; ms. Output and its shape out. */         \
  double COMPARE_SOURCES_CAT(stage_run, side)(int s, int threads, const std::vector<float>& in,               \
                                              const long* in_shape, std::vector<float>* out, long* out_shape);
// clang-format on

namespace compare_sources {
COMPARE_SOURCES_FUNCTIONS(a)
COMPARE_SOURCES_FUNCTIONS(b)
}  // namespace compare_sources

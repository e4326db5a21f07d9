#pragma once
/// \file
/// A hint to the cache: prefetch_run asks for the lines of a run of values
/// to be brought into the L2 cache ahead of their use, for operands whose
/// next block is known but that are read in runs too short for the
/// hardware's prefetchers to follow (a block of Winograd weights, a few
/// hundred bytes per row). Only a hint: compilers without the builtin
/// compile it to nothing.

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d {

/// Asks for the cache lines of the n values from p to be brought into the L2
/// cache for reading. Reads nothing itself: p need not be dereferenceable.
template <class T>
void prefetch_run(const T* p, index_t n) {
#if defined(__GNUC__) || defined(__clang__)
  const char* const b = reinterpret_cast<const char*>(p);
  const index_t bytes = n * static_cast<index_t>(sizeof(T));
  for (index_t k = 0; k < bytes; k += 64) __builtin_prefetch(b + k, 0, 2);
  if (bytes > 0) __builtin_prefetch(b + bytes - 1, 0, 2);
#else
  (void)p;
  (void)n;
#endif
}

/// Asks for the cache lines of the n values from p to be brought into the L1
/// cache for writing, ahead of stores to lines likely out of the near
/// caches. Writes nothing itself: p need not be dereferenceable.
template <class T>
void prefetch_run_for_write(T* p, index_t n) {
#if defined(__GNUC__) || defined(__clang__)
  char* const b = reinterpret_cast<char*>(p);
  const index_t bytes = n * static_cast<index_t>(sizeof(T));
  for (index_t k = 0; k < bytes; k += 64) __builtin_prefetch(b + k, 1, 3);
  if (bytes > 0) __builtin_prefetch(b + bytes - 1, 1, 3);
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace r2plus1d

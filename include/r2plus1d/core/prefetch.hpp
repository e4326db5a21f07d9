#pragma once
/// \file
/// Hints to the cache: prefetch_run asks for the lines of a run of values
/// to be brought into the L2 cache ahead of their use, for operands whose
/// next block is known but that are read in runs too short for the
/// hardware's prefetchers to follow (a block of Winograd weights, a few
/// hundred bytes per row); prefetch_run_for_write asks for lines about to be
/// written. Only hints: compilers without the builtin compile them to
/// nothing.

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d {

namespace detail {
/// __builtin_prefetch(line, Write, Locality) for every cache line of the
/// `bytes` from p.
template <int Write, int Locality>
void prefetch_lines(const void* p, index_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
  const char* const b = static_cast<const char*>(p);
  for (index_t k = 0; k < bytes; k += 64) __builtin_prefetch(b + k, Write, Locality);
  if (bytes > 0) __builtin_prefetch(b + bytes - 1, Write, Locality);
#else
  (void)p;
  (void)bytes;
#endif
}
}  // namespace detail

/// Asks for the cache lines of the n values from p to be brought into the L2
/// cache for reading. Reads nothing itself: p need not be dereferenceable.
template <class T>
void prefetch_run(const T* p, index_t n) {
  detail::prefetch_lines<0, 2>(p, n * static_cast<index_t>(sizeof(T)));
}

/// Asks for the cache lines of the n values from p to be brought into the L1
/// cache for writing, ahead of stores to lines likely out of the near
/// caches. Writes nothing itself: p need not be dereferenceable.
template <class T>
void prefetch_run_for_write(T* p, index_t n) {
  detail::prefetch_lines<1, 3>(p, n * static_cast<index_t>(sizeof(T)));
}

}  // namespace r2plus1d

#pragma once
/// \file
/// The library's one thread-count setting and its parallel loop. With OpenMP
/// (the CMake target links it when found) work is split statically over
/// `get_num_threads()` threads; without it everything runs on the caller's thread.

#include <algorithm>
#include <atomic>
#include <string>

#include <Eigen/Core>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace r2plus1d {

namespace detail {
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> n{0};  // 0: not set, use the hardware's count
  return n;
}
}  // namespace detail

/// Number of threads every parallel kernel uses (1 without OpenMP).
inline int get_num_threads() {
#ifdef _OPENMP
  const int n = detail::thread_setting().load();
  return n > 0 ? n : std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

/// Sets the number of threads for all of the library's parallelism, Eigen's GEMM included.
/// Throws OptionError for n < 1.
inline void set_num_threads(int n) {
  if (n < 1) throw OptionError("set_num_threads: expected a positive thread count, got " + std::to_string(n));
  detail::thread_setting().store(n);
  Eigen::setNbThreads(n);
}

/// The threads of a parallel_region: this thread's rank in [0, size()), and a
/// barrier every thread of the team must reach the same number of times.
class Team {
 public:
  /// The team parallel_region hands each of its `size` threads, as thread `rank`.
  Team(int rank, int size) : rank_(rank), size_(size) {}
  /// This thread's index in [0, size()).
  int rank() const { return rank_; }
  /// The number of threads in the team (1 without OpenMP).
  int size() const { return size_; }
  /// Waits until every thread of the team has reached it (OpenMP's barrier).
  void barrier() const {
#ifdef _OPENMP
    if (size_ > 1) {
#pragma omp barrier
    }
#endif
  }

 private:
  int rank_, size_;
};

/// The work items [0, count) of a parallel_region, each handed to whichever
/// thread of the team asks first: for items of unequal cost (a short last
/// block), which a fixed split would leave one thread waiting on. An item
/// computes the same whichever thread takes it, so results keep their bits.
class WorkQueue {
 public:
  /// A queue of the items [0, count).
  explicit WorkQueue(index_t count) : count_(count) {}
  /// Takes the next item into `item`; false once every item is taken.
  bool next(index_t& item) {
    item = next_.fetch_add(1, std::memory_order_relaxed);
    return item < count_;
  }

 private:
  std::atomic<index_t> next_{0};
  index_t count_;
};

/// Calls f(team) once on each of up to min(max_threads, get_num_threads())
/// threads; the team may be smaller than asked (always at least the caller).
/// Work must be split by team.rank() and team.size(), which f reads; f must not throw.
template <class F>
void parallel_region(index_t max_threads, F&& f) {
  if (max_threads < 1) return;
#ifdef _OPENMP
  const int nt = static_cast<int>(std::min<index_t>(get_num_threads(), max_threads));
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(nt)
    {
      const Team team(omp_get_thread_num(), omp_get_num_threads());
      f(team);
    }
    return;
  }
#endif
  f(Team(0, 1));
}

/// Calls f(i) for every i in [begin, end), split statically over the threads.
/// f must not throw; iterations must be independent.
template <class F>
void parallel_for(index_t begin, index_t end, F&& f) {
  if (end <= begin) return;
#ifdef _OPENMP
  const int nt = static_cast<int>(std::min<index_t>(get_num_threads(), end - begin));
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (index_t i = begin; i < end; ++i) f(i);
    return;
  }
#endif
  for (index_t i = begin; i < end; ++i) f(i);
}

}  // namespace r2plus1d

#pragma once
// What the two standalone timers (forward_timer.cpp, train_step_timer.cpp)
// share: the median of their passes, and their --threads, --repeats and
// --batch options, positive integers or a one-line error and exit 2.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace r2plus1d::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// `text` as a positive integer, else an error naming `tool` and `flag` and exit 2.
inline long parse_positive(const char* tool, const char* flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1) {
    std::fprintf(stderr, "%s: %s expects a positive integer, got '%s'\n", tool, flag, text);
    std::exit(2);
  }
  return v;
}

/// The timers' common options.
struct TimerArgs {
  int threads = 1;
  int repeats = 3;
  long batch = 1;
};

/// Takes argv[i] (and its value, advancing i) when it is --threads, --repeats
/// or --batch; false for any other argument.
inline bool parse_timer_arg(const char* tool, int& i, int argc, char** argv, TimerArgs& a) {
  const std::string s = argv[i];
  if (i + 1 >= argc) return false;
  if (s == "--threads") {
    a.threads = static_cast<int>(parse_positive(tool, "--threads", argv[++i]));
  } else if (s == "--repeats") {
    a.repeats = static_cast<int>(parse_positive(tool, "--repeats", argv[++i]));
  } else if (s == "--batch") {
    a.batch = parse_positive(tool, "--batch", argv[++i]);
  } else {
    return false;
  }
  return true;
}

}  // namespace r2plus1d::bench

#pragma once
// r2plus1d-extract's results on stdout, where no output file takes them: the
// top classes (--topk) or a summary line per clip or per video.

#include "extract_outputs.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace extract {

// The top `k` classes of each row: class scores (softmax taken here), or with
// `video` one video-level row of probabilities.
inline void print_topk(const r2plus1d::Tensor<float, 2>& scores, int k, const std::string& prefix = "",
                       bool video = false) {
  const auto classes = scores.size(1);
  const auto kk = std::min<r2plus1d::index_t>(k, classes);
  for (r2plus1d::index_t n = 0; n < scores.size(0); ++n) {
    std::vector<r2plus1d::index_t> order(static_cast<std::size_t>(classes));
    for (r2plus1d::index_t c = 0; c < classes; ++c) order[static_cast<std::size_t>(c)] = c;
    std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                      [&](auto a, auto b) { return scores(n, a) > scores(n, b); });
    double top = scores(n, order[0]), sum = 0;
    for (r2plus1d::index_t c = 0; c < classes; ++c) sum += std::exp(double(scores(n, c)) - top);
    for (r2plus1d::index_t r = 0; r < kk; ++r) {
      const auto c = order[static_cast<std::size_t>(r)];
      const std::string name = class_name(c, classes);
      if (video) {
        std::printf("%svideo top%lld: %-32s p=%.4f\n", prefix.c_str(), static_cast<long long>(r + 1), name.c_str(),
                    double(scores(n, c)));
        continue;
      }
      std::printf("%sclip %lld top%lld: %-32s p=%.4f score=%.4f\n", prefix.c_str(), static_cast<long long>(n),
                  static_cast<long long>(r + 1), name.c_str(), std::exp(double(scores(n, c)) - top) / sum,
                  double(scores(n, c)));
    }
  }
}

// One line per row of `y`: its size, L2 norm and first values; `what` names
// the rows ("features", "class scores").
inline void print_summary(const r2plus1d::Tensor<float, 2>& y, const char* what, const std::string& prefix = "",
                          bool video = false) {
  for (r2plus1d::index_t n = 0; n < y.size(0); ++n) {
    double norm = 0;
    for (r2plus1d::index_t k = 0; k < y.size(1); ++k) norm += double(y(n, k)) * y(n, k);
    std::printf("%s%s %lld: %lld-d %s, L2 norm %.6g, first values %.6g %.6g %.6g %.6g\n", prefix.c_str(),
                video ? "video" : "clip", static_cast<long long>(n),
                static_cast<long long>(y.size(1)), what, std::sqrt(norm), y(n, 0), y(n, 1), y(n, 2), y(n, 3));
  }
}

}  // namespace extract

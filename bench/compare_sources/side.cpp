// One side of compare_sources.py, compiled once per version of the library's
// headers: with -DCOMPARE_SOURCES_SIDE=a -Dr2plus1d=r2plus1d_a for version A,
// so that its symbols differ from B's, and with -DCOMPARE_SOURCES_SIDE=b for
// version B. Both sides fill their inputs alike.

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "../conv_shapes.hpp"
#include "side.hpp"

#define SIDE(name) COMPARE_SOURCES_CAT(name, COMPARE_SOURCES_SIDE)

namespace compare_sources {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// Values in [-0.5, 0.5), the same on both sides.
void fill(float* p, std::size_t n, std::size_t salt) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<float>(((i + salt) * 7919) % 1000) / 1000.0f - 0.5f;
}

struct ConvCase {
  r2plus1d::Tensor<float, 5> x, w, y;
  r2plus1d::ops::Conv3dParams p;
};

constexpr int kConvs = static_cast<int>(sizeof(r2plus1d::bench::kConvShapes) / sizeof(r2plus1d::bench::kConvShapes[0]));

ConvCase& conv_case(int i) {
  static std::vector<std::unique_ptr<ConvCase>> cases(kConvs);
  std::unique_ptr<ConvCase>& c = cases[static_cast<std::size_t>(i)];
  if (!c) {
    const r2plus1d::bench::ConvShape& s = r2plus1d::bench::kConvShapes[i];
    c = std::make_unique<ConvCase>();
    c->p.stride = s.stride;
    c->p.padding = s.padding;
    c->x = r2plus1d::Tensor<float, 5>::empty(s.input);
    c->w = r2plus1d::Tensor<float, 5>::empty(s.weight);
    c->y = r2plus1d::Tensor<float, 5>::empty(r2plus1d::ops::conv3d_output_shape(s.input, s.weight, c->p));
    fill(c->x.data(), static_cast<std::size_t>(c->x.numel()), 1);
    fill(c->w.data(), static_cast<std::size_t>(c->w.numel()), 2);
    for (std::size_t k = 0; k < static_cast<std::size_t>(c->w.numel()); ++k) c->w.data()[k] *= 0.05f;
  }
  return *c;
}

}  // namespace

int SIDE(conv_count)() { return kConvs; }

const char* SIDE(conv_name)(int i) { return r2plus1d::bench::kConvShapes[i].name; }

double SIDE(conv_flops)(int i) {
  const ConvCase& c = conv_case(i);
  const double taps = static_cast<double>(c.w.size(1) * c.w.size(2) * c.w.size(3) * c.w.size(4));
  return 2.0 * static_cast<double>(c.y.numel()) * taps;
}

double SIDE(conv_run)(int i, int threads, std::vector<float>* out) {
  r2plus1d::set_num_threads(threads);
  ConvCase& c = conv_case(i);
  const auto t0 = clock_type::now();
  r2plus1d::ops::conv3d_fused_into<float>(c.x.cview(), c.w.cview(), c.p, nullptr, nullptr, false, c.y.view());
  const double ms = ms_since(t0);
  if (out != nullptr) out->assign(c.y.data(), c.y.data() + c.y.numel());
  return ms;
}

// With COMPARE_SOURCES_WEIGHT_CACHE, the model keeps its weights' transforms
// between calls where its version of the library can (Module::set_weight_cache).
template <class M>
auto SIDE(keep_weight_cache)(M& m, int) -> decltype(m.set_weight_cache(true), void()) {
  m.set_weight_cache(true);
}
template <class M>
void SIDE(keep_weight_cache)(M&, long) {}

double SIDE(stage_run)(int s, int threads, const std::vector<float>& in, const long* in_shape, std::vector<float>* out,
                       long* out_shape) {
  using Model = decltype(r2plus1d::video::r2plus1d_18<float>());
  static std::unique_ptr<Model> model;
  if (!model) {
    model = std::make_unique<Model>(r2plus1d::video::r2plus1d_18<float>());
    model->eval();
#ifdef COMPARE_SOURCES_WEIGHT_CACHE
    SIDE(keep_weight_cache)(*model, 0);
#endif
  }
  r2plus1d::set_num_threads(threads);
  r2plus1d::Tensor<float, 5> x =
      r2plus1d::Tensor<float, 5>::empty({in_shape[0], in_shape[1], in_shape[2], in_shape[3], in_shape[4]});
  std::copy(in.begin(), in.end(), x.data());
  const auto t0 = clock_type::now();
  r2plus1d::Tensor<float, 5> y;
  if (s == 0) y = model->stem()(x.cview());
  else if (s == 1) y = model->layer1().forward(std::move(x));
  else if (s == 2) y = model->layer2().forward(std::move(x));
  else if (s == 3) y = model->layer3().forward(std::move(x));
  else y = model->layer4().forward(std::move(x));
  const double ms = ms_since(t0);
  out->assign(y.data(), y.data() + y.numel());
  for (int d = 0; d < 5; ++d) out_shape[d] = static_cast<long>(y.size(d));
  return ms;
}

}  // namespace compare_sources

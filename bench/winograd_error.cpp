// r2plus1d_winograd_error: the error of Winograd's F(2), F(4) and F(6) (and
// F(8) along time, where the banded path may run it) and of the direct algorithm, in float, against a float64 direct convolution, on
// every stride-1 spatial (1, 3, 3) and temporal (3, 1, 1) conv of r2plus1d_18
// (conv_shapes.hpp), for two kinds of weights and inputs:
//
//   init     torchvision's initialisation (kaiming normal, fan_out) and inputs
//            as a ReLU leaves them (|N(0, 1)|);
//   trained  the same with the dynamic range of trained networks: every
//            output channel's weights and every input channel scaled by a
//            log-normal factor (sigma 1.5: factors from about 0.01 to 100).
//
//   r2plus1d_winograd_error [--frames T]
//
// Prints a markdown table: per conv and algorithm, max |error| / max |reference|
// (the measure of the parity tests, which bound it by 1e-4). Spatial convs run
// on T frames (default 2: their error does not depend on the clip's length).

#include <r2plus1d/r2plus1d.hpp>

#include "conv_shapes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace r2plus1d;
using bench::ConvShape;

struct Data {
  Tensor<float, 5> x, w;
};

Data make_data(const ConvShape& c, index_t frames, bool trained, std::uint64_t seed) {
  Shape<5> xs = c.input;
  if (frames > 0) xs[2] = frames;
  Generator gen(seed);
  Data d{Tensor<float, 5>::empty(xs), Tensor<float, 5>::empty(c.weight)};
  nn::kaiming_normal_fan_out_(d.w.view(), gen);
  for (index_t i = 0; i < d.x.numel(); ++i) d.x.data()[i] = static_cast<float>(std::abs(gen.normal(0.0, 1.0)));
  if (trained) {
    const index_t per_out = d.w.numel() / c.weight[0], per_in = xs[2] * xs[3] * xs[4];
    for (index_t o = 0; o < c.weight[0]; ++o) {
      const float f = static_cast<float>(std::exp(gen.normal(0.0, 1.5)));
      for (index_t i = 0; i < per_out; ++i) d.w.data()[o * per_out + i] *= f;
    }
    for (index_t ch = 0; ch < xs[1]; ++ch) {
      const float f = static_cast<float>(std::exp(gen.normal(0.0, 1.5)));
      for (index_t i = 0; i < per_in; ++i) d.x.data()[ch * per_in + i] *= f;
    }
  }
  return d;
}

Tensor<double, 5> to_double(const Tensor<float, 5>& t) {
  Tensor<double, 5> d = Tensor<double, 5>::empty(t.shape());
  for (index_t i = 0; i < t.numel(); ++i) d.data()[i] = static_cast<double>(t.data()[i]);
  return d;
}

double relative_error(const Tensor<float, 5>& got, const Tensor<double, 5>& want) {
  double err = 0, ref = 0;
  for (index_t i = 0; i < want.numel(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(got.data()[i]) - want.data()[i]));
    ref = std::max(ref, std::abs(want.data()[i]));
  }
  return ref > 0 ? err / ref : err;
}

template <class F>
Tensor<float, 5> run_winograd(const ConvShape& c, const Data& d, bool spatial) {
  const ops::Conv3dParams p{c.stride, c.padding, Triple(1), 1};
  const Shape<5> os = ops::conv3d_output_shape(d.x.shape(), d.w.shape(), p);
  Tensor<float, 5> y = Tensor<float, 5>::empty(os);
  const ops::detail::Conv3dGeometry g = ops::detail::conv3d_geometry(d.x.shape(), d.w.shape(), os, p);
  if (spatial)
    ops::detail::conv3d_winograd<F, float>(g, d.x.data(), d.w.data(), {}, y.data());
  else
    ops::detail::conv3d_winograd_temporal<F, float>(g, d.x.data(), d.w.data(), {}, y.data());
  return y;
}

}  // namespace

int main(int argc, char** argv) {
  index_t frames = 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
      frames = std::atol(argv[++i]);
      if (frames < 1) {
        std::fprintf(stderr, "r2plus1d_winograd_error: --frames expects a positive integer\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: r2plus1d_winograd_error [--frames T]\n");
      return 2;
    }
  }
  std::printf("| conv | weights | direct | F(2) | F(4) | F(6) | F(8) |\n|---|---|---:|---:|---:|---:|---:|\n");
  std::uint64_t seed = 1;
  for (const ConvShape& c : bench::kConvShapes) {
    if (c.uses_r2plus1d_18 == 0 || c.stride != Triple(1)) continue;
    const bool spatial = c.weight[2] == 1 && c.weight[3] == 3 && c.weight[4] == 3;
    const bool temporal = c.weight[2] == 3 && c.weight[3] == 1 && c.weight[4] == 1;
    if (!spatial && !temporal) continue;
    for (const bool trained : {false, true}) {
      const Data d = make_data(c, spatial ? frames : 0, trained, seed++);
      const ops::Conv3dParams p{c.stride, c.padding, Triple(1), 1};
      const Tensor<double, 5> want =
          ops::conv3d<double>(to_double(d.x).cview(), to_double(d.w).cview(), nullptr, p);
      Tensor<float, 5> direct;
      {
        set_conv_algorithms(ConvAlgorithms::kDirect);
        direct = ops::conv3d<float>(d.x.cview(), d.w.cview(), nullptr, p);
        set_conv_algorithms(ConvAlgorithms::kAuto);
      }
      char f8[16] = "-";  // F(8, 3) runs along time only
      if (temporal) std::snprintf(f8, sizeof f8, "%.1e", relative_error(run_winograd<ops::WinogradF8>(c, d, false), want));
      std::printf("| %s | %s | %.1e | %.1e | %.1e | %.1e | %s |\n", c.name, trained ? "trained" : "init",
                  relative_error(direct, want), relative_error(run_winograd<ops::WinogradF2>(c, d, spatial), want),
                  relative_error(run_winograd<ops::WinogradF4>(c, d, spatial), want),
                  relative_error(run_winograd<ops::WinogradF6>(c, d, spatial), want), f8);
      std::fflush(stdout);
    }
  }
  return 0;
}

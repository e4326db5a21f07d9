// ops::conv3d: torch's output-shape rule and its errors, hand-computed values, a
// brute-force reference over many geometries, thread-count independence, and
// parity with torch.nn.functional.conv3d.

#include <gtest/gtest.h>

#include <r2plus1d/ops/conv3d.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "parity.hpp"
#include "primitives_reference.hpp"
#include "test_util.hpp"

namespace r2plus1d {
namespace {

using ops::Conv3dParams;

// Direct definition of the convolution, accumulated in double.
template <class T>
Tensor<T, 5> conv3d_naive(const Tensor<T, 5>& x, const Tensor<T, 5>& w, const T* bias, const Conv3dParams& p) {
  const Shape<5> os = ops::conv3d_output_shape(x.shape(), w.shape(), p);
  Tensor<T, 5> y(os);
  const index_t og = w.size(0) / p.groups, cg = w.size(1);
  for (index_t n = 0; n < os[0]; ++n)
    for (index_t o = 0; o < os[1]; ++o)
      for (index_t d = 0; d < os[2]; ++d)
        for (index_t h = 0; h < os[3]; ++h)
          for (index_t v = 0; v < os[4]; ++v) {
            double s = bias != nullptr ? static_cast<double>(bias[o]) : 0.0;
            for (index_t c = 0; c < cg; ++c)
              for (index_t i = 0; i < w.size(2); ++i)
                for (index_t j = 0; j < w.size(3); ++j)
                  for (index_t l = 0; l < w.size(4); ++l) {
                    const index_t id = d * p.stride.d - p.padding.d + i * p.dilation.d;
                    const index_t ih = h * p.stride.h - p.padding.h + j * p.dilation.h;
                    const index_t iw = v * p.stride.w - p.padding.w + l * p.dilation.w;
                    if (id < 0 || ih < 0 || iw < 0 || id >= x.size(2) || ih >= x.size(3) || iw >= x.size(4)) continue;
                    s += static_cast<double>(x(n, (o / og) * cg + c, id, ih, iw)) * static_cast<double>(w(o, c, i, j, l));
                  }
            y(n, o, d, h, v) = static_cast<T>(s);
          }
  return y;
}

Conv3dParams params(Triple stride, Triple padding, Triple dilation = 1, index_t groups = 1) {
  Conv3dParams p;
  p.stride = stride;
  p.padding = padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(Conv3dShape, FollowsTorchRule) {
  // The R(2+1)D stem's spatial conv on a 16x112x112 clip.
  EXPECT_EQ(ops::conv3d_output_shape({1, 3, 16, 112, 112}, {45, 3, 1, 7, 7}, params({1, 2, 2}, {0, 3, 3})),
            (Shape<5>{1, 45, 16, 56, 56}));
  // floor((in + 2p - d(k-1) - 1) / s) + 1 per dimension.
  EXPECT_EQ(ops::conv3d_output_shape({2, 4, 5, 9, 11}, {8, 2, 2, 3, 4}, params({2, 1, 3}, {1, 0, 2}, {1, 2, 1}, 2)),
            (Shape<5>{2, 8, 3, 5, 4}));
  EXPECT_EQ(ops::conv3d_output_shape({1, 4, 5, 9, 11}, {8, 4, 3, 3, 3}, params(1, 0, 2)), (Shape<5>{1, 8, 1, 5, 7}));
  EXPECT_EQ(ops::conv3d_output_shape({0, 4, 5, 9, 11}, {8, 4, 1, 1, 1}, {}), (Shape<5>{0, 8, 5, 9, 11}));
}

TEST(Conv3dShape, RejectsBadParameters) {
  const Shape<5> x{1, 4, 5, 5, 5}, w{8, 4, 3, 3, 3};
  EXPECT_THROW(ops::conv3d_output_shape(x, w, params(0, 0)), OptionError);
  EXPECT_THROW(ops::conv3d_output_shape(x, w, params(1, {0, -1, 0})), OptionError);
  EXPECT_THROW(ops::conv3d_output_shape(x, w, params(1, 0, {1, 0, 1})), OptionError);
  EXPECT_THROW(ops::conv3d_output_shape(x, w, params(1, 0, 1, 0)), OptionError);
  EXPECT_NE(message_of([&] { ops::conv3d_output_shape(x, w, params(0, 0)); })
                .find("conv3d: expected a positive stride, got (0, 0, 0)"),
            std::string::npos);
}

TEST(Conv3dShape, RejectsShapesThatDoNotFit) {
  EXPECT_NE(message_of([] { ops::conv3d_output_shape({1, 4, 16, 112, 112}, {64, 3, 1, 7, 7}, {}); })
                .find("conv3d: input has 4 channels, expected 3 (weight [64, 3, 1, 7, 7], groups 1)"),
            std::string::npos);
  EXPECT_NE(message_of([] { ops::conv3d_output_shape({1, 3, 16, 5, 5}, {64, 3, 3, 7, 7}, {}); })
                .find("conv3d: input size (16, 5, 5) (padded (16, 5, 5)) is smaller than the dilated kernel (3, 7, 7)"),
            std::string::npos);
  EXPECT_THROW(ops::conv3d_output_shape({1, 3, 4, 4, 4}, {64, 3, 1, 3, 3}, params(1, 0, 2)), ShapeError);  // 5 > 4
  EXPECT_NO_THROW(ops::conv3d_output_shape({1, 3, 4, 4, 4}, {64, 3, 1, 3, 3}, params(1, 1, 2)));
  EXPECT_THROW(ops::conv3d_output_shape({1, 4, 4, 4, 4}, {6, 1, 1, 1, 1}, params(1, 0, 1, 4)), ShapeError);
  EXPECT_THROW(ops::conv3d_output_shape({1, 4, 4, 4, 4}, {6, 2, 0, 1, 1}, params(1, 0, 1, 2)), ShapeError);
  EXPECT_THROW(ops::conv3d<float>(Tensor<float, 5>({1, 2, 3, 3, 3}).cview(), Tensor<float, 5>({1, 3, 1, 1, 1}).cview(),
                                  nullptr, {}),
               ShapeError);
}

template <class T>
class Conv3dOp : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Conv3dOp, Scalars);

TYPED_TEST(Conv3dOp, HandComputedValues) {
  using T = TypeParam;
  Tensor<T, 5> x({1, 1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x.data()[i] = T(i + 1);  // 1..9
  Tensor<T, 5> w({1, 1, 1, 2, 2});
  for (int i = 0; i < 4; ++i) w.data()[i] = T(i + 1);  // [[1, 2], [3, 4]]
  const T bias = T(0.5);
  const Tensor<T, 5> y = ops::conv3d<T>(x.cview(), w.cview(), &bias, {});
  ASSERT_EQ(y.shape(), (Shape<5>{1, 1, 1, 2, 2}));
  EXPECT_EQ(y(0, 0, 0, 0, 0), T(37.5));
  EXPECT_EQ(y(0, 0, 0, 0, 1), T(47.5));
  EXPECT_EQ(y(0, 0, 0, 1, 0), T(67.5));
  EXPECT_EQ(y(0, 0, 0, 1, 1), T(77.5));
  // Padding 1: (3 + 2 - 2) + 1 = 4 positions per side; with stride 2 the corners see
  // only the taps that land inside the image.
  EXPECT_EQ((ops::conv3d<T>(x.cview(), w.cview(), nullptr, params(1, {0, 1, 1})).shape()), (Shape<5>{1, 1, 1, 4, 4}));
  const Tensor<T, 5> s = ops::conv3d<T>(x.cview(), w.cview(), nullptr, params({1, 2, 2}, {0, 1, 1}));
  ASSERT_EQ(s.shape(), (Shape<5>{1, 1, 1, 2, 2}));
  EXPECT_EQ(s(0, 0, 0, 0, 0), T(4));
  EXPECT_EQ(s(0, 0, 0, 0, 1), T(18));
  EXPECT_EQ(s(0, 0, 0, 1, 0), T(36));
  EXPECT_EQ(s(0, 0, 0, 1, 1), T(77));
}

TYPED_TEST(Conv3dOp, GroupsSeeOnlyTheirChannels) {
  using T = TypeParam;
  Tensor<T, 5> x({1, 2, 1, 1, 3});
  for (int i = 0; i < 6; ++i) x.data()[i] = T(i + 1);
  Tensor<T, 5> w({2, 1, 1, 1, 1});
  w.data()[0] = T(2);
  w.data()[1] = T(-1);
  const Tensor<T, 5> y = ops::conv3d<T>(x.cview(), w.cview(), nullptr, params(1, 0, 1, 2));
  const T want[] = {2, 4, 6, -4, -5, -6};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data()[i], want[i]) << i;
}

struct Geometry {
  Shape<5> x, w;
  Conv3dParams p;
  bool bias;
};

// A geometry's random input, weights and epilogue (scale, shift, and a ReLU
// when geo.bias), with the expected output: the direct definition, then the
// epilogue.
template <class T>
struct EpilogueCase {
  Tensor<T, 5> x, w;
  Tensor<T, 1> scale, shift;
  Shape<5> out;
  ops::detail::Conv3dGeometry g;
  Tensor<T, 5> want;
  ops::detail::ConvEpilogue<T> epilogue;

  EpilogueCase(const Geometry& geo, std::uint64_t& seed)
      : x(test::random_tensor<T, 5>(geo.x, seed++)),
        w(test::random_tensor<T, 5>(geo.w, seed++)),
        scale(test::random_tensor<T, 1>({geo.w[0]}, seed++)),
        shift(test::random_tensor<T, 1>({geo.w[0]}, seed++)),
        out(ops::conv3d_output_shape(geo.x, geo.w, geo.p)),
        g(ops::detail::conv3d_geometry(geo.x, geo.w, out, geo.p)),
        want(conv3d_naive(x, w, static_cast<const T*>(nullptr), geo.p)),
        epilogue{scale.data(), shift.data(), geo.bias} {
    const index_t plane = g.out_plane();
    for (index_t i = 0; i < want.numel(); ++i) {
      const index_t o = (i / plane) % g.out_channels;
      const T v = want.data()[i] * scale(o) + shift(o);
      want.data()[i] = geo.bias && v < T(0) ? T(0) : v;
    }
  }
};

// Runs conv(y) with 1, 2, 3 and 5 threads: with one it must match the direct
// definition with its epilogue, and every other count must give the same
// bits. Returns the one-thread output.
template <class T, class Conv>
Tensor<T, 5> expect_definition_with_any_threads(const EpilogueCase<T>& k, const Geometry& geo, Conv&& conv) {
  Tensor<T, 5> first;
  for (const int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    Tensor<T, 5> y = Tensor<T, 5>::empty(k.out);
    conv(y.data());
    if (threads == 1) {
      EXPECT_LE((test::max_abs_diff<T, 5>(y.cview(), k.want.cview())), test::sum_tolerance<T>(k.g.depth()) * 2)
          << "input " << format_shape<5>(geo.x) << " weight " << format_shape<5>(geo.w);
      first = y;
    } else {
      EXPECT_TRUE((test::bit_identical<T, 5>(first.cview(), y.cview())))
          << threads << " threads, input " << format_shape<5>(geo.x) << " weight " << format_shape<5>(geo.w);
    }
  }
  return first;
}

std::vector<Geometry> geometries() {
  return {
      {{2, 4, 5, 9, 11}, {8, 4, 3, 3, 3}, params(1, 1), true},
      {{1, 4, 5, 9, 11}, {8, 2, 2, 3, 4}, params({2, 1, 3}, {1, 0, 2}, {1, 2, 1}, 2), true},
      {{2, 4, 5, 9, 11}, {8, 1, 1, 1, 1}, params({1, 2, 2}, 0, 1, 4), false},
      {{2, 4, 5, 9, 11}, {8, 4, 1, 1, 1}, params(1, 0), true},             // no vol2col at all
      {{1, 4, 5, 9, 11}, {6, 4, 1, 1, 1}, params(2, 1), true},             // strided gather with padding
      {{1, 3, 6, 30, 30}, {16, 3, 1, 7, 7}, params({1, 2, 2}, {0, 3, 3}), false},
      {{1, 96, 3, 12, 12}, {24, 96, 3, 3, 3}, params(1, 1), true},         // chunks bounded by the budget
      {{3, 5, 3, 4, 5}, {7, 5, 3, 1, 1}, params({2, 1, 1}, {1, 0, 0}, 2), false},
      {{1, 2, 1, 1, 1}, {3, 2, 1, 1, 1}, params(1, 0), true},
      // few work items with packed weights: more threads cut the row blocks into pieces
      {{2, 8, 3, 6, 6}, {70, 8, 1, 3, 3}, params(1, {0, 1, 1}), true},
      {{2, 8, 5, 16, 16}, {40, 8, 3, 1, 1}, params(1, {1, 0, 0}), false},  // direct temporal taps
      // 4 chunks of 196 positions: more threads cut them at the kernel's column panels, then the rows
      {{1, 16, 4, 14, 14}, {40, 16, 1, 3, 3}, params(1, {0, 1, 1}), true},
      // one chunk, weights not kept packed: columns packed once for several row blocks
      {{1, 8, 2, 5, 5}, {70, 8, 1, 3, 3}, params(1, {0, 1, 1}), true},
      {{1, 16, 2, 4, 4}, {96, 16, 1, 1, 1}, params(1, 0), false},           // from the input itself
      {{1, 8, 2, 5, 5}, {128, 4, 1, 3, 3}, params(1, {0, 1, 1}, 1, 2), true},  // a pack per group
      {{1, 128, 1, 7, 7}, {70, 128, 1, 3, 3}, params(1, {0, 1, 1}), false},  // depth blocks of 49 columns
      // weights over the packing budget at batch 2: each image's columns packed by the whole team in turn
      {{2, 96, 1, 4, 4}, {1900, 96, 1, 3, 3}, params(1, {0, 1, 1}), true},
  };
}

TYPED_TEST(Conv3dOp, MatchesDirectDefinition) {
  using T = TypeParam;
  std::uint64_t seed = 1;
  for (const Geometry& g : geometries()) {
    const auto x = test::random_tensor<T, 5>(g.x, seed++);
    const auto w = test::random_tensor<T, 5>(g.w, seed++);
    const auto b = test::random_tensor<T, 1>({g.w[0]}, seed++);
    const T* bias = g.bias ? b.data() : nullptr;
    const Tensor<T, 5> y = ops::conv3d<T>(x.cview(), w.cview(), bias, g.p);
    const Tensor<T, 5> r = conv3d_naive(x, w, bias, g.p);
    const index_t taps = g.w[1] * g.w[2] * g.w[3] * g.w[4];
    EXPECT_LE((test::max_abs_diff<T, 5>(y.cview(), r.cview())), test::sum_tolerance<T>(taps))
        << "input " << format_shape<5>(g.x) << " weight " << format_shape<5>(g.w);
  }
}

TYPED_TEST(Conv3dOp, IndependentOfThreadCount) {
  using T = TypeParam;
  test::ThreadCountGuard guard;
  std::uint64_t seed = 100;
  for (const Geometry& g : geometries()) {
    const auto x = test::random_tensor<T, 5>(g.x, seed++);
    const auto w = test::random_tensor<T, 5>(g.w, seed++);
    set_num_threads(1);
    const Tensor<T, 5> one = ops::conv3d<T>(x.cview(), w.cview(), nullptr, g.p);
    for (int threads : {2, 3, 4, 6, 16}) {
      set_num_threads(threads);
      const Tensor<T, 5> many = ops::conv3d<T>(x.cview(), w.cview(), nullptr, g.p);
      EXPECT_TRUE((test::bit_identical<T, 5>(one.cview(), many.cview())))
          << threads << " threads, input " << format_shape<5>(g.x) << " weight " << format_shape<5>(g.w);
    }
  }
}

// The first 64-byte aligned element of v (Eigen's packing stores whole aligned packets).
template <class T>
T* aligned_in(std::vector<T>& v) {
  const auto at = reinterpret_cast<std::uintptr_t>(v.data());
  return v.data() + ((64 - at % 64) % 64) / sizeof(T);
}

TYPED_TEST(Conv3dOp, ColumnPackerEqualsGatherThenPack) {
  // Packing columns straight from the input must give exactly the values of
  // vol2col_chunk followed by Eigen's own packing, in every panel width the
  // packing cuts a block into (wide panels, half and quarter packets, single
  // columns), for blocks that start anywhere in the positions and the depth.
  using T = TypeParam;
  std::uint64_t seed = 300;
  std::vector<Geometry> gs = geometries();
  gs.push_back({{1, 3, 2, 23, 29}, {4, 3, 2, 5, 3}, params({1, 2, 3}, {1, 2, 1}, {1, 1, 2}), false});
  gs.push_back({{1, 2, 3, 56, 56}, {4, 2, 1, 3, 3}, params(1, {0, 1, 1}), false});  // runs across output rows
  // width stride 2: input rows split into even and odd elements, odd widths, dilated taps of either parity
  gs.push_back({{1, 2, 3, 9, 61}, {4, 2, 2, 3, 5}, params({1, 2, 2}, {1, 1, 3}, {1, 1, 3}), false});
  gs.push_back({{1, 3, 4, 40, 40}, {8, 3, 1, 7, 7}, params({1, 2, 2}, {0, 3, 3}), false});  // the stem's
  for (const Geometry& geo : gs) {
    const auto x = test::random_tensor<T, 5>(geo.x, seed++);
    const Shape<5> out = ops::conv3d_output_shape(geo.x, geo.w, geo.p);
    const ops::detail::Conv3dGeometry g = ops::detail::conv3d_geometry(geo.x, geo.w, out, geo.p);
    const index_t P = g.out_plane(), K = g.depth();
    const index_t group = g.groups - 1;  // the last group's channels
    const T* xg = x.data() + group * g.in_per_group() * g.in_cstride();
    std::vector<T> col(static_cast<std::size_t>(K * P));
    for (const index_t p0 : {index_t(0), P / 3, P - std::min<index_t>(P, 61)}) {
      const index_t count = P - p0;
      ops::detail::vol2col_chunk(g, xg, p0, count, col.data());
      ops::detail::ColumnPacker<T> packer(g, xg, p0);
      for (const index_t kc : {K, std::max<index_t>(1, K / 3 + 1)}) {
        for (const index_t nc : {count, std::max<index_t>(1, count / 2 + 5)}) {
          for (index_t i2 = 0; i2 < count; i2 += nc) {
            for (index_t k2 = 0; k2 < K; k2 += kc) {
              const index_t bn = std::min(nc, count - i2), bk = std::min(kc, K - k2);
              std::vector<T> want(static_cast<std::size_t>(bn * bk) + 64), got(want.size());
              T* w_at = aligned_in(want);
              T* g_at = aligned_in(got);
              ops::detail::pack_b_columns(col.data(), count, i2, k2, bn, bk, w_at);
              packer(g_at, i2, k2, bn, bk);
              const auto same_bits = [](T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; };
              ASSERT_TRUE(std::equal(w_at, w_at + bn * bk, g_at, same_bits))
                  << "input " << format_shape<5>(geo.x) << " weight " << format_shape<5>(geo.w) << " p0 " << p0
                  << " block (" << i2 << ", " << k2 << ") of " << bn << " x " << bk;
            }
          }
        }
      }
    }
  }
}

TYPED_TEST(Conv3dOp, StridedWeightPackingEqualsEigenPacking) {
  // One tap of weights in their (out, in, tap) order, packed straight from
  // there, must hold exactly Eigen's own packing of that tap copied out, for
  // row ranges cut at the kernel's row panels and depth blocks that split the
  // channels (the last one short).
  using T = TypeParam;
  constexpr index_t step = ops::detail::packed_a_row_step<T>();
  std::uint64_t seed = 400;
  for (const index_t m : {1, 3, 4, 13, 37})
    for (const index_t k : {1, 5, 23})
      for (const index_t kt : {2, 3}) {
        const auto w = test::random_tensor<T, 3>({m, k, kt}, seed++);
        for (index_t i = 0; i < kt; ++i) {
          std::vector<T> tap(static_cast<std::size_t>(m * k));
          for (index_t r = 0; r < m; ++r)
            for (index_t c = 0; c < k; ++c) tap[static_cast<std::size_t>(r * k + c)] = w(r, c, i);
          for (const index_t kc : {k, k / 2 + 1, index_t(1)}) {
            const ops::detail::GemmBlocking blocking{kc, 64};
            std::vector<T> want(static_cast<std::size_t>(ops::detail::packed_a_size<T>(m, k, blocking))),
                got(want.size());
            ops::detail::pack_a(m, k, tap.data(), k, blocking, want.data());
            const index_t cut = std::min(m, step);  // rows [0, cut) and [cut, m) packed separately
            ops::detail::pack_a_rows(m, k, w.data() + i, k * kt, kt, blocking, 0, cut, got.data());
            ops::detail::pack_a_rows(m, k, w.data() + i, k * kt, kt, blocking, cut, m - cut, got.data());
            EXPECT_EQ(0, std::memcmp(want.data(), got.data(), sizeof(T) * want.size()))
                << m << " x " << k << " tap " << i << " of " << kt << ", depth blocks of " << kc;
          }
        }
      }
}

TYPED_TEST(Conv3dOp, PackedGemmAtOddSizesAndRowRanges) {
  // Weight matrices of odd sizes packed back to back in one workspace, as the
  // convolutions keep several (a (2+1)D pair's 45 x 147 stem weights, then its
  // temporal ones), and multiplied over row ranges that start at the kernel's
  // row panels. Eigen's kernel loads packed values with aligned loads (built
  // without -march, SSE's, which fault on less than 16 bytes), so every depth
  // block of every PackedA must start kPackedAlignment-aligned, whatever the
  // sizes before it; and every product must match the definition.
  using T = TypeParam;
  constexpr index_t step = ops::detail::packed_a_row_step<T>();
  constexpr auto align = static_cast<std::uintptr_t>(ops::detail::kPackedAlignment);
  std::uint64_t seed = 900;
  for (const index_t m : {1, 5, 45, 67})
    for (const index_t k : {3, 135, 147})
      for (const index_t n : {1, 7, 61}) {
        const auto a = test::random_tensor<T, 2>({m, k}, seed++);
        const auto b = test::random_tensor<T, 2>({k, n}, seed++);
        std::vector<double> want(static_cast<std::size_t>(m * n), 0.0);
        for (index_t r = 0; r < m; ++r)
          for (index_t d = 0; d < k; ++d)
            for (index_t j = 0; j < n; ++j)
              want[static_cast<std::size_t>(r * n + j)] += double(a(r, d)) * double(b(d, j));
        for (const index_t kc : {k, k / 2 + 1, index_t(7)}) {
          for (const index_t nc : {n, index_t(5)}) {
            const ops::detail::GemmBlocking blocking{kc, nc};
            const index_t size = ops::detail::packed_a_size<T>(m, k, blocking);
            Tensor<T, 1> storage({3 * size}, T(0));
            std::vector<ops::detail::PackedA<T>> packs;
            for (index_t j = 0; j < 3; ++j) {
              packs.push_back(ops::detail::pack_a(m, k, a.data(), k, blocking, storage.data() + j * size));
              for (index_t k2 = 0; k2 < k; k2 += kc)
                ASSERT_EQ(0u, reinterpret_cast<std::uintptr_t>(packs.back().block(k2)) % align)
                    << m << " x " << k << ", depth blocks of " << kc << ": pack " << j << ", block at " << k2;
            }
            Tensor<T, 1> work({ops::detail::packed_gemm_work_size(packs.back())}, T(0));
            for (index_t r0 = 0; r0 < m; r0 += step) {
              for (const index_t rows : {std::min(step, m - r0), m - r0}) {
                Tensor<T, 2> c({m, n}, T(0));
                ops::detail::gemm_packed_accumulate(packs.back(), n, b.data(), n, c.data(), n, work.data(), r0, rows);
                for (index_t r = 0; r < m; ++r)
                  for (index_t j = 0; j < n; ++j) {
                    const double expect = r >= r0 && r < r0 + rows ? want[static_cast<std::size_t>(r * n + j)] : 0.0;
                    ASSERT_NEAR(expect, double(c(r, j)), test::sum_tolerance<T>(k))
                        << m << " x " << k << " x " << n << ", blocks " << kc << " x " << nc << ", rows [" << r0
                        << ", " << r0 + rows << "): C(" << r << ", " << j << ")";
                  }
              }
            }
          }
        }
      }
}

TYPED_TEST(Conv3dOp, TemporalFramesUnderEveryCut) {
  // The path for temporal kernels over frames packed once, under blockings
  // small enough to force every cut it makes: several depth blocks (the last
  // one short), pieces of positions, blocks of rows and of output frames,
  // with temporal stride, padding and dilation, and output frames that read
  // only padding. Each blocking must match the direct definition with its
  // epilogue, and give the same bits with any thread count.
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const std::vector<Geometry> gs = {
      {{2, 9, 7, 5, 13}, {11, 9, 3, 1, 1}, params(1, {1, 0, 0}), true},
      {{1, 10, 8, 7, 9}, {21, 10, 3, 1, 1}, params({2, 1, 1}, {1, 0, 0}, {2, 1, 1}), false},
      {{1, 6, 5, 11, 11}, {9, 6, 2, 1, 1}, params(1, 0), true},
      {{1, 5, 2, 3, 3}, {7, 5, 3, 1, 1}, params(1, {3, 0, 0}), true},
  };
  std::uint64_t seed = 500;
  for (const Geometry& geo : gs) {
    const EpilogueCase<T> k(geo, seed);
    const auto& [x, w, out, g, want, epilogue] = std::tie(k.x, k.w, k.out, k.g, k.want, k.epilogue);
    ASSERT_TRUE(ops::detail::temporal_frames_ok(g, sizeof(T)));
    for (const ops::detail::TemporalFramesBlocking& b :
         {ops::detail::temporal_frames_blocking<T>(g), ops::detail::TemporalFramesBlocking{4, 50, 1},
          ops::detail::TemporalFramesBlocking{7, 100, 600}}) {
      set_num_threads(1);
      Tensor<T, 5> one = Tensor<T, 5>::empty(out);
      ops::detail::conv3d_temporal_frames(g, x.data(), w.data(), epilogue, one.data(), b);
      EXPECT_LE((test::max_abs_diff<T, 5>(one.cview(), want.cview())), test::sum_tolerance<T>(g.depth()) * 2)
          << "input " << format_shape<5>(geo.x) << " weight " << format_shape<5>(geo.w) << " depth blocks of " << b.kc;
      for (int threads : {2, 3, 5}) {
        set_num_threads(threads);
        Tensor<T, 5> many = Tensor<T, 5>::empty(out);
        ops::detail::conv3d_temporal_frames(g, x.data(), w.data(), epilogue, many.data(), b);
        EXPECT_TRUE((test::bit_identical<T, 5>(one.cview(), many.cview())))
            << threads << " threads, input " << format_shape<5>(geo.x) << " depth blocks of " << b.kc;
      }
    }
  }
}

TYPED_TEST(Conv3dOp, PhaseRowsUnderEveryCut) {
  // The path for spatial and pointwise kernels that multiplies the input rows
  // in place (conv3d_phase_rows): strides of 1 to 3 with every tap phase
  // (dilated taps, a kernel shorter than the stride), padding wider than the
  // kernel, odd widths, a one-column output, temporal stride and padding
  // (frames that read only padding), and both ways of cutting the work, with
  // items of 1, 2 and 3 output rows. Each must match the direct definition
  // with its epilogue, and every cut and thread count must give the same bits.
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const std::vector<Geometry> gs = {
      {{1, 3, 3, 23, 21}, {5, 3, 1, 7, 7}, params({1, 2, 2}, {0, 3, 3}), true},
      {{2, 4, 3, 9, 11}, {11, 4, 1, 3, 3}, params(1, {0, 1, 1}), false},
      {{1, 5, 4, 10, 9}, {7, 5, 1, 1, 1}, params({2, 2, 2}, 0), true},
      {{1, 6, 3, 11, 13}, {10, 6, 1, 1, 1}, params({1, 2, 2}, {1, 0, 0}), true},
      {{1, 2, 2, 13, 12}, {19, 2, 1, 3, 3}, params({1, 2, 3}, {0, 2, 1}, {1, 2, 2}), true},
      {{1, 3, 2, 14, 10}, {4, 3, 1, 2, 4}, params({1, 3, 2}, {0, 1, 3}), false},
      {{1, 2, 2, 6, 5}, {3, 2, 1, 3, 2}, params(1, {0, 4, 3}), true},
      {{1, 4, 2, 9, 3}, {9, 4, 1, 3, 3}, params({1, 1, 3}, {0, 1, 0}), true},
  };
  std::uint64_t seed = 700;
  for (const Geometry& geo : gs) {
    const EpilogueCase<T> k(geo, seed);
    const auto& [x, w, out, g, want, epilogue] = std::tie(k.x, k.w, k.out, k.g, k.want, k.epilogue);
    ASSERT_TRUE(ops::detail::phase_rows_ok(g));
    set_num_threads(1);
    Tensor<T, 5> first = Tensor<T, 5>::empty(out);
    ops::detail::conv3d_phase_rows(g, x.data(), w.data(), epilogue, first.data());
    EXPECT_LE((test::max_abs_diff<T, 5>(first.cview(), want.cview())), test::sum_tolerance<T>(g.depth()) * 2)
        << "input " << format_shape<5>(geo.x) << " weight " << format_shape<5>(geo.w);
    for (const int threads : {1, 2, 3, 5})
      for (const index_t rows : {index_t(0), index_t(1), index_t(2), index_t(3)})
        for (const int by_channels : {0, 1}) {
          set_num_threads(threads);
          Tensor<T, 5> y = Tensor<T, 5>::empty(out);
          ops::detail::conv3d_phase_rows(g, x.data(), w.data(), epilogue, y.data(), rows, by_channels);
          EXPECT_TRUE((test::bit_identical<T, 5>(first.cview(), y.cview())))
              << threads << " threads, items of " << rows << " rows, by channels " << by_channels << ", input "
              << format_shape<5>(geo.x) << " weight " << format_shape<5>(geo.w);
        }
  }
}

TYPED_TEST(Conv3dOp, ThinKernelMatchesItsDefinition) {
  // gemm_thin against the sum in double: every height of a short last block
  // of rows, columns in whole packets and with 1 to packet - 1 more (the
  // transposed tail), depths in one block and in several with a remainder, an
  // empty depth (the epilogue of 0), and each epilogue. Whole-packet columns
  // are one in-order sum: the same bits whatever the depth blocks and however
  // the rows are shared out.
  using T = TypeParam;
  const index_t L = ops::detail::rows_packet_size<T>();
  const index_t mr = ops::detail::rows_tile<T>(), nr = ops::detail::cols_tile<T>();
  std::uint64_t seed = 1100;
  for (const index_t m : {index_t(1), mr - 1, mr, mr + 1, 3 * mr + 2})
    for (const index_t n : {index_t(1), L - 1, L, nr, nr + 1, 2 * nr + L + 3})
      for (const index_t k : {index_t(0), index_t(1), index_t(19), index_t(2 * L + 5)}) {
        const auto a = test::random_tensor<T, 2>({m, std::max<index_t>(k, 1)}, seed++);
        const auto b = test::random_tensor<T, 2>({std::max<index_t>(k, 1), n}, seed++);
        const index_t whole = n / L * L;
        std::vector<T> bt(static_cast<std::size_t>(std::max<index_t>(1, (n - whole) * k)));
        for (index_t t = whole; t < n; ++t)
          for (index_t s = 0; s < k; ++s) bt[static_cast<std::size_t>((t - whole) * k + s)] = b(s, t);
        const auto scale = test::random_tensor<T, 1>({m}, seed++);
        const auto shift = test::random_tensor<T, 1>({m}, seed++);
        const index_t lda = std::max<index_t>(k, 1), ldc = n + 2;
        for (int variant = 0; variant < 3; ++variant) {
          const ops::detail::RowsEpilogue<T> e{variant == 2 ? scale.data() : nullptr,
                                               variant >= 1 ? shift.data() : nullptr, variant == 2};
          auto run = [&](index_t split, index_t depth_block) {
            std::vector<T> c(static_cast<std::size_t>(m * ldc), T(-7));
            ops::detail::gemm_thin(0, split, n, k, a.data(), lda, b.data(), n, bt.data(), k, c.data(), ldc, e,
                                   depth_block);
            ops::detail::gemm_thin(split, m, n, k, a.data(), lda, b.data(), n, bt.data(), k, c.data(), ldc, e,
                                   depth_block);
            return c;
          };
          const std::vector<T> c = run(m, ops::detail::kThinDepthBlock);
          const std::string at = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                                 " epilogue " + std::to_string(variant);
          for (index_t i = 0; i < m; ++i) {
            for (index_t q = 0; q < n; ++q) {
              double sum = 0;
              for (index_t r = 0; r < k; ++r) sum += static_cast<double>(a(i, r)) * static_cast<double>(b(r, q));
              if (e.scale != nullptr) sum *= static_cast<double>(scale(i));
              if (e.shift != nullptr) sum += static_cast<double>(shift(i));
              if (e.relu && sum < 0) sum = 0;
              ASSERT_LE(std::abs(static_cast<double>(c[static_cast<std::size_t>(i * ldc + q)]) - sum),
                        test::sum_tolerance<T>(std::max<index_t>(k, 1)) * 2)
                  << at << " at (" << i << ", " << q << ")";
            }
            for (index_t q = n; q < ldc; ++q) ASSERT_EQ(c[static_cast<std::size_t>(i * ldc + q)], T(-7)) << at;
          }
          for (const index_t split : {index_t(0), std::min(m, mr), m / 2})
            for (const index_t depth_block : {index_t(5), index_t(16), ops::detail::kThinDepthBlock}) {
              const std::vector<T> other = run(split, depth_block);
              for (index_t i = 0; i < m; ++i) {
                const index_t upto = depth_block == ops::detail::kThinDepthBlock ? n : whole;
                ASSERT_EQ(0, std::memcmp(c.data() + i * ldc, other.data() + i * ldc, sizeof(T) * upto))
                    << at << " rows split at " << split << ", depth blocks of " << depth_block << ", row " << i;
              }
            }
        }
      }
}

TYPED_TEST(Conv3dOp, ThinUnderEveryCut) {
  // Small frames on the rows kernels (conv3d_thin): layer4's spatial conv on
  // 7x7 frames, a strided 1x1 shortcut, a strided and padded temporal kernel,
  // a full 3x3x3 kernel with groups and dilation, frames that read only
  // padding, and one whose columns exceed the gathering budget (two or more
  // chunks). Each must match the direct definition with its epilogue, with
  // the same bits for 1 to 5 threads.
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const std::vector<Geometry> gs = {
      {{1, 12, 2, 7, 7}, {23, 12, 1, 3, 3}, params(1, {0, 1, 1}), true},
      {{2, 10, 4, 14, 14}, {19, 10, 1, 1, 1}, params({2, 2, 2}, 0), false},
      {{1, 21, 4, 7, 7}, {13, 21, 3, 1, 1}, params({2, 1, 1}, {1, 0, 0}), true},
      {{1, 8, 5, 6, 9}, {10, 4, 3, 3, 3}, params(1, {1, 2, 1}, {1, 2, 1}, 2), true},
      {{1, 5, 2, 5, 5}, {9, 5, 3, 1, 1}, params(1, {3, 0, 0}), false},
      {{1, 64, 13, 10, 10}, {5, 64, 3, 3, 3}, params(1, 1), true},
  };
  std::uint64_t seed = 1300;
  for (const Geometry& geo : gs) {
    const EpilogueCase<T> k(geo, seed);
    expect_definition_with_any_threads(k, geo, [&](T* y) {
      ops::detail::conv3d_thin(k.g, k.x.data(), k.w.data(), k.epilogue, y);
    });
  }
  // The last geometry is gathered in more than one chunk of columns.
  const index_t K = 64 * 27, P = 13 * 100;
  EXPECT_GT(K * P * index_t(sizeof(T)), ops::detail::kThinColumnBudgetBytes);
}

TYPED_TEST(Conv3dOp, TemporalRowsUnderEveryCut) {
  // Temporal kernels on gemm_rows over the input in place
  // (conv3d_temporal_rows): temporal stride, dilation, groups, padding wide
  // enough that some output frames read only padding, frames whose size is no
  // multiple of a packet (the unpadded tail), and a channel stride larger than
  // the clip (a view into a longer one). Each must match the direct
  // definition with its epilogue, with the same bits for 1 to 5 threads
  // (which cut the frames into different pieces).
  using T = TypeParam;
  test::ThreadCountGuard guard;
  const std::vector<Geometry> gs = {
      {{2, 5, 6, 13, 11}, {7, 5, 3, 1, 1}, params(1, {1, 0, 0}), true},
      {{1, 6, 9, 20, 16}, {11, 6, 3, 1, 1}, params({2, 1, 1}, {1, 0, 0}, {2, 1, 1}), false},
      {{1, 8, 4, 17, 19}, {6, 4, 2, 1, 1}, params(1, {2, 0, 0}, 1, 2), true},
      {{1, 3, 2, 23, 29}, {5, 3, 3, 1, 1}, params(1, {4, 0, 0}), true},
  };
  std::uint64_t seed = 900;
  for (const Geometry& geo : gs) {
    const EpilogueCase<T> k(geo, seed);
    const auto& [x, w, out, g, want, epilogue] = std::tie(k.x, k.w, k.out, k.g, k.want, k.epilogue);
    ASSERT_TRUE(g.temporal_whole_frames());
    const Tensor<T, 5> first = expect_definition_with_any_threads(
        k, geo, [&](T* y) { ops::detail::conv3d_temporal_rows(k.g, k.x.data(), k.w.data(), k.epilogue, y); });
    // The same clip as frames [1, 1 + D) of a longer one: channels further apart.
    Tensor<T, 5> longer = Tensor<T, 5>::empty({geo.x[0], geo.x[1], geo.x[2] + 2, geo.x[3], geo.x[4]});
    const index_t plane = geo.x[3] * geo.x[4];
    for (index_t nc = 0; nc < geo.x[0] * geo.x[1]; ++nc)
      std::copy(x.data() + nc * geo.x[2] * plane, x.data() + (nc + 1) * geo.x[2] * plane,
                longer.data() + (nc * (geo.x[2] + 2) + 1) * plane);
    ops::detail::Conv3dGeometry gl = g;
    gl.in_channel_stride = (geo.x[2] + 2) * plane;
    Tensor<T, 5> y = Tensor<T, 5>::empty(out);
    ops::detail::conv3d_temporal_rows(gl, longer.data() + plane, w.data(), epilogue, y.data());
    EXPECT_TRUE((test::bit_identical<T, 5>(first.cview(), y.cview()))) << "input " << format_shape<5>(geo.x);
  }
}

TYPED_TEST(Conv3dOp, RowsKernelMatchesItsDefinition) {
  // gemm_rows against the sum in double: A's rows lda apart with NaN between
  // them (which a read past a row would carry into C), B rows at scattered
  // offsets (some overlapping), sizes off the register tile in both
  // directions, and each epilogue, NaN kept through the ReLU.
  using T = TypeParam;
  const index_t L = ops::detail::rows_packet_size<T>();
  const index_t mr = ops::detail::rows_tile<T>();
  std::uint64_t seed = 800;
  std::vector<index_t> ms;  // every height of a last, short block of rows, and whole blocks
  for (index_t r = 1; r <= mr; ++r) ms.push_back(mr + r);
  ms.push_back(1);
  for (const index_t m : ms)
    for (const index_t n : {index_t(1), L - 1, 3 * L, 3 * L + 1, 7 * L + 5})
      for (const index_t k : {index_t(1), index_t(17)}) {
        if (m < 1) continue;
        const auto a = test::random_tensor<T, 2>({m, k}, seed++);
        const auto pool = test::random_tensor<T, 1>({4 * n + 64}, seed++);
        std::vector<index_t> offsets(static_cast<std::size_t>(k));
        for (index_t s = 0; s < k; ++s) offsets[static_cast<std::size_t>(s)] = (s * 37 + 5) % (3 * n + 1);
        const index_t lda = k + 3;
        std::vector<T> a_strided(static_cast<std::size_t>((m - 1) * lda + k), std::numeric_limits<T>::quiet_NaN());
        for (index_t i = 0; i < m; ++i) std::copy(a.data() + i * k, a.data() + (i + 1) * k, a_strided.data() + i * lda);
        const auto scale = test::random_tensor<T, 1>({m}, seed++);
        const auto shift = test::random_tensor<T, 1>({m}, seed++);
        for (int variant = 0; variant < 3; ++variant) {
          const ops::detail::RowsEpilogue<T> e{variant == 2 ? scale.data() : nullptr,
                                               variant >= 1 ? shift.data() : nullptr, variant == 2};
          const index_t ldc = n + 3;
          std::vector<T> c(static_cast<std::size_t>(m * ldc), T(-7));
          ops::detail::gemm_rows(m, n, k, ops::detail::RowsA<T>::plain(a_strided.data(), lda, k), pool.data(), offsets.data(), c.data(), ldc, e);
          // Unpadded rows: nothing past the last run is read (an exact-size
          // copy, for the sanitizers), and the bits are the same.
          const index_t end = *std::max_element(offsets.begin(), offsets.end()) + n;
          std::vector<T> exact(pool.data(), pool.data() + end), unpadded(c.size(), T(-7));
          ops::detail::gemm_rows(m, n, k, ops::detail::RowsA<T>::plain(a_strided.data(), lda, k), exact.data(),
                                 offsets.data(), unpadded.data(), ldc, e, ops::detail::RowsOptions{false});
          ASSERT_EQ(0, std::memcmp(c.data(), unpadded.data(), sizeof(T) * c.size())) << m << "x" << n << "x" << k;
          // A short last block computes only its rows, and each in the bits a
          // full block gives it: the same rows inside a taller A.
          if (m % mr != 0) {
            const index_t tall = m + mr;
            auto a_tall = test::random_tensor<T, 2>({tall, k}, seed++);
            std::copy(a.data(), a.data() + m * k, a_tall.data());
            std::vector<T> scale_tall(static_cast<std::size_t>(tall), T(1)), shift_tall(scale_tall.size(), T(0));
            std::copy(scale.data(), scale.data() + m, scale_tall.begin());
            std::copy(shift.data(), shift.data() + m, shift_tall.begin());
            const ops::detail::RowsEpilogue<T> et{e.scale != nullptr ? scale_tall.data() : nullptr,
                                                  e.shift != nullptr ? shift_tall.data() : nullptr, e.relu};
            std::vector<T> c_tall(static_cast<std::size_t>(tall * ldc), T(-7));
            ops::detail::gemm_rows(tall, n, k, ops::detail::RowsA<T>::plain(a_tall.data(), k, k), pool.data(),
                                   offsets.data(), c_tall.data(), ldc, et);
            ASSERT_EQ(0, std::memcmp(c.data(), c_tall.data(), sizeof(T) * c.size())) << m << "x" << n << "x" << k;
          }
          for (index_t i = 0; i < m; ++i) {
            for (index_t q = 0; q < n; ++q) {
              double s = 0;
              for (index_t r = 0; r < k; ++r)
                s += static_cast<double>(a(i, r)) * static_cast<double>(pool(offsets[static_cast<std::size_t>(r)] + q));
              if (e.scale != nullptr) s *= static_cast<double>(scale(i));
              if (e.shift != nullptr) s += static_cast<double>(shift(i));
              if (e.relu && s < 0) s = 0;
              const T got = c[static_cast<std::size_t>(i * ldc + q)];
              ASSERT_LE(std::abs(static_cast<double>(got) - s), test::sum_tolerance<T>(k) * 2)
                  << m << "x" << n << "x" << k << " epilogue " << variant << " at (" << i << ", " << q << ")";
            }
            for (index_t q = n; q < ldc; ++q) ASSERT_EQ(c[static_cast<std::size_t>(i * ldc + q)], T(-7));
          }
        }
      }
  // NaN stays NaN through the ReLU, as in the other kernels.
  std::vector<T> b(static_cast<std::size_t>(4 * L), std::numeric_limits<T>::quiet_NaN());
  const std::vector<T> one(static_cast<std::size_t>(mr), T(1));
  const index_t zero = 0;
  std::vector<T> c(static_cast<std::size_t>(L), T(0));
  ops::detail::gemm_rows<T>(1, L, 1, ops::detail::RowsA<T>::plain(one.data(), 1, 1), b.data(), &zero, c.data(), L, {nullptr, nullptr, true});
  for (const T v : c) EXPECT_TRUE(std::isnan(v));
}

TEST(ConvAlgorithms, OneTableNamesWhatEachConvRuns) {
  // Every algorithm of the table is the first to take some convolution of the
  // networks' kinds, and conv3d_algorithm names it; each runs the
  // convolution within the parity tolerance of the definition.
  struct Restore {
    ~Restore() { set_conv_kernels(ConvKernels::kAuto); }
  } restore;
  const ops::Conv3dParams spatial{1, Triple{0, 1, 1}, 1, 1}, temporal{1, Triple{1, 0, 0}, 1, 1};
  const ops::Conv3dParams temporal2{Triple{2, 1, 1}, Triple{1, 0, 0}, 1, 1}, grouped{1, Triple{0, 1, 1}, 1, 2};
  const ops::Conv3dParams strided{Triple{1, 2, 2}, Triple{0, 1, 1}, 1, 1};
  struct Case {
    ConvKernels kernels;
    Shape<5> x, w;
    ops::Conv3dParams p;
    const char* name;
  };
  const bool eigen_as_wide = Eigen::internal::packet_traits<float>::size >= ops::detail::rows_packet_size<float>();
  const Case cases[] = {
      {ConvKernels::kRows, {1, 8, 2, 28, 28}, {12, 8, 1, 3, 3}, spatial, "winograd_f4"},
      {ConvKernels::kRows, {1, 8, 2, 14, 14}, {12, 8, 1, 3, 3}, spatial, "winograd_f2"},
      {ConvKernels::kRows, {1, 8, 2, 32, 32}, {12, 8, 1, 3, 3}, strided, "phase_rows"},
      {ConvKernels::kRows, {1, 8, 4, 16, 16}, {6, 8, 3, 1, 1}, temporal, "winograd_temporal_f4"},
      {ConvKernels::kRows, {1, 8, 5, 16, 16}, {6, 8, 3, 1, 1}, temporal2, "temporal_rows"},
      {ConvKernels::kRows, {1, 16, 2, 7, 7}, {20, 16, 1, 3, 3}, spatial, "thin"},
      // small frames, stride-1 temporal: on Eigen's kernel when it is as wide as the ISA's
      {ConvKernels::kRows, {1, 16, 4, 7, 7}, {20, 16, 3, 1, 1}, temporal, eigen_as_wide ? "temporal_frames" : "thin"},
      {ConvKernels::kPacked, {1, 8, 4, 16, 16}, {6, 8, 3, 1, 1}, temporal, "temporal_taps"},
      {ConvKernels::kPacked, {1, 8, 5, 16, 16}, {6, 8, 3, 1, 1}, temporal2, "temporal_frames"},
      {ConvKernels::kPacked, {1, 8, 2, 16, 16}, {12, 8, 1, 3, 3}, spatial, "packed_gemm"},
      {ConvKernels::kRows, {1, 8, 2, 16, 16}, {12, 4, 1, 3, 3}, grouped, "packed_gemm"},
  };
  std::uint64_t seed = 4200;
  std::set<std::string> seen;
  for (const Case& c : cases) {
    set_conv_kernels(c.kernels);
    EXPECT_STREQ(ops::conv3d_algorithm<float>(c.x, c.w, c.p), c.name) << format_shape<5>(c.x) << " " << format_shape<5>(c.w);
    seen.insert(ops::conv3d_algorithm<float>(c.x, c.w, c.p));
    const auto x = test::random_tensor<float, 5>(c.x, seed++);
    const auto w = test::random_tensor<float, 5>(c.w, seed++);
    const Tensor<float, 5> got = ops::conv3d<float>(x.cview(), w.cview(), nullptr, c.p);
    const Tensor<float, 5> want = conv3d_naive<float>(x, w, nullptr, c.p);
    const index_t terms = c.w[1] * c.w[2] * c.w[3] * c.w[4];
    EXPECT_LE((test::max_abs_diff<float, 5>(got.cview(), want.cview())), test::sum_tolerance<float>(terms)) << c.name;
  }
  EXPECT_EQ(seen.size(), ops::detail::conv3d_algorithms<float>().size());
  EXPECT_THROW(ops::conv3d_algorithm<float>({1, 3, 2, 8, 8}, {4, 5, 1, 3, 3}), ShapeError);
}

TEST(RowsKernelIsa, RunsTheOneAskedFor) {
  // ctest runs these tests once per instruction set this CPU has
  // (R2PLUS1D_ISA): each run must use that set's kernels, or the tests above
  // checked the wrong code.
  const char* asked = std::getenv("R2PLUS1D_ISA");
  const Isa isa = active_isa();
  if (asked != nullptr && *asked != '\0' && std::string(asked) != "auto") {
    EXPECT_STREQ(isa_name(isa), asked);
  }
  EXPECT_TRUE(isa_supported(isa));
  const auto& k = ops::detail::rows_kernels<float>();
  EXPECT_EQ(k.isa, isa);
  const index_t lanes = isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 4;
  EXPECT_EQ(k.lanes, lanes);
  EXPECT_EQ(ops::detail::rows_kernels<double>().lanes, lanes / 2);
  EXPECT_EQ(ops::detail::rows_packet_size<float>(), lanes);
}

TEST(RowsKernelIsa, UnsupportedIsAnOptionError) {
  for (const Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(isa)) continue;
    EXPECT_THROW(set_isa(isa), OptionError) << isa_name(isa);
  }
  EXPECT_NO_THROW(set_isa(Isa::kGeneric));
  EXPECT_EQ(active_isa(), Isa::kGeneric);
  set_isa(Isa::kAuto);
}

TEST(Conv3dChunks, BoundedAndIndependentOfThreads) {
  // Columns per chunk: the whole image, or an even split of it (a multiple of 4,
  // so that all chunks but the last are equal and the last is at most 3 per chunk
  // shorter), at least 256 wide when split, and a column chunk of at most ~2 MB
  // unless that would be under 16 columns. The tiling takes no thread count and no
  // batch size.
  EXPECT_EQ(ops::detail::conv3d_chunk_columns(50176, 147, 4), 3348);  // 15 chunks, not 14 of 3552 and a rest
  EXPECT_EQ(ops::detail::conv3d_chunk_columns(49, 4608, 4), 49);
  EXPECT_EQ(ops::detail::conv3d_chunk_columns(10, 27, 8), 10);
  EXPECT_EQ(ops::detail::conv3d_chunk_columns(784, 1380, 4), 196);  // 4 equal chunks, not 256 x 3 + 16
  const index_t big = ops::detail::conv3d_chunk_columns(100000, 6912, 4);
  EXPECT_LE(big * 6912 * 4, ops::detail::kColumnBudgetBytes);
  EXPECT_EQ(big % 4, 0);
  const index_t chunks = (100000 + big - 1) / big;
  EXPECT_LT(chunks * big - 100000, 4 * chunks);
  EXPECT_EQ(ops::detail::conv3d_chunk_columns(100000, 1 << 20, 8), 16);
}

TEST(Conv3dChunks, SmallImagesSplitTheOutputChannels) {
  // conv5's 2x7x7 images: one column chunk, so the 512 output channels split into 8 blocks of 64
  const auto t = ops::detail::conv3d_tiling(98, 3456, 512, 1, 4);
  EXPECT_EQ(t.columns, 98);
  EXPECT_EQ(t.chunks, 1);
  EXPECT_EQ(t.row_blocks, 8);
  EXPECT_EQ(t.rows, 64);
  // a large image needs no row split
  const auto l = ops::detail::conv3d_tiling(50176, 576, 144, 1, 4);
  EXPECT_GE(l.chunks, 8);
  EXPECT_EQ(l.row_blocks, 1);
  // a handful of channels is never split below 32 rows
  const auto s = ops::detail::conv3d_tiling(10, 27, 4, 1, 8);
  EXPECT_EQ(s.row_blocks, 1);
  EXPECT_EQ(s.rows, 4);
}

TEST(Conv3dFused, EpilogueEqualsConvThenAffineThenRelu) {
  const Tensor<double, 5> x = [] {
    Tensor<double, 5> t({2, 6, 3, 9, 8});
    for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = std::sin(0.7 * static_cast<double>(i));
    return t;
  }();
  Tensor<double, 5> w({70, 6, 1, 3, 3});
  for (index_t i = 0; i < w.numel(); ++i) w.data()[i] = std::cos(0.3 * static_cast<double>(i));
  std::vector<double> scale(70), shift(70);
  for (int c = 0; c < 70; ++c) scale[static_cast<std::size_t>(c)] = 0.5 + 0.01 * c, shift[static_cast<std::size_t>(c)] = 0.1 - 0.005 * c;
  const ops::Conv3dParams p{Triple{1, 2, 1}, Triple{0, 1, 1}, Triple(1), 1};
  const Tensor<double, 5> plain = ops::conv3d<double>(x.cview(), w.cview(), nullptr, p);
  const Tensor<double, 5> fused = ops::conv3d_fused<double>(x.cview(), w.cview(), p, scale.data(), shift.data(), true);
  ASSERT_EQ(plain.shape(), fused.shape());
  const index_t plane = plain.size(2) * plain.size(3) * plain.size(4);
  for (index_t i = 0; i < plain.numel(); ++i) {
    const auto c = static_cast<std::size_t>((i / plane) % 70);
    const double want = std::max(0.0, plain.data()[i] * scale[c] + shift[c]);
    EXPECT_DOUBLE_EQ(fused.data()[i], want) << i;
  }
}

template <class T>
class Conv3dParity : public ::testing::Test {};
TYPED_TEST_SUITE(Conv3dParity, Scalars);

TYPED_TEST(Conv3dParity, MatchesTorchFunctional) {
  using T = TypeParam;
  const test::PrimitiveReference ref("conv3d");
  ASSERT_GE(ref.cases().size(), 23u);
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    const auto& o = c.at("options");
    const Tensor<T, 5> x = ref.input<T, 5>(c);
    const Tensor<T, 5> w = ref.tensor<T, 5>(c, "state.weight");
    const bool has_bias = o.at("bias").get<bool>();
    const Tensor<T, 1> b = has_bias ? ref.tensor<T, 1>(c, "state.bias") : Tensor<T, 1>();
    const Conv3dParams p = params(test::triple_of(o.at("stride")), test::triple_of(o.at("padding")),
                                  test::triple_of(o.at("dilation")), o.at("groups").get<index_t>());
    const Tensor<T, 5> y = ops::conv3d<T>(x.cview(), w.cview(), has_bias ? b.data() : nullptr, p);
    const Tensor<T, 5> want = ref.output<T, 5>(c);
    EXPECT_TRUE((test::matches_reference<T, 5>(y.cview(), want.cview(), std::string("conv3d/") + test::scalar_name<T>(),
                                               "conv3d " + name)));
  }
}

}  // namespace
}  // namespace r2plus1d

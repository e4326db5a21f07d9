// The streamed (2+1)D pair against the two convolutions run one after the other.

#include <gtest/gtest.h>

#include <r2plus1d/core/parallel.hpp>
#include <r2plus1d/ops/conv2plus1d.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "parity.hpp"

namespace r2plus1d {
namespace {

template <int R>
Tensor<double, R> wave(const Shape<R>& s, double f) {
  Tensor<double, R> t(s);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = std::sin(f * static_cast<double>(i) + 0.3);
  return t;
}

struct PairCase {
  Shape<5> x;
  index_t mid, out, kh, kt;
  Triple s_stride, s_pad, t_stride, t_pad;
};

class Conv2Plus1dStream : public ::testing::TestWithParam<PairCase> {};

TEST_P(Conv2Plus1dStream, MatchesTwoConvs) {
  const PairCase c = GetParam();
  const Tensor<double, 5> x = wave<5>(c.x, 0.37);
  const Tensor<double, 5> ws = wave<5>({c.mid, c.x[1], 1, c.kh, c.kh}, 0.11);
  const Tensor<double, 5> wt = wave<5>({c.out, c.mid, c.kt, 1, 1}, 0.23);
  std::vector<double> s1(static_cast<std::size_t>(c.mid)), b1(s1.size()), s2(static_cast<std::size_t>(c.out)),
      b2(s2.size());
  for (std::size_t i = 0; i < s1.size(); ++i) s1[i] = 0.5 + 0.01 * double(i), b1[i] = 0.05 * std::cos(double(i));
  for (std::size_t i = 0; i < s2.size(); ++i) s2[i] = 1.5 - 0.01 * double(i), b2[i] = -0.02 * std::sin(double(i));
  const ops::Conv3dParams ps{c.s_stride, c.s_pad, Triple(1), 1}, pt{c.t_stride, c.t_pad, Triple(1), 1};
  ASSERT_TRUE(ops::conv2plus1d_streamable(ws.shape(), ps, wt.shape(), pt));
  const Tensor<double, 5> mid = ops::conv3d_fused<double>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
  const Tensor<double, 5> want = ops::conv3d_fused<double>(mid.cview(), wt.cview(), pt, s2.data(), b2.data(), false);
  const Tensor<double, 5> got = ops::conv2plus1d_fused<double>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true,
                                                               wt.cview(), pt, s2.data(), b2.data(), false);
  EXPECT_TRUE((test::matches_reference<double, 5>(got.cview(), want.cview(), "conv2plus1d/double", "stream")));
}

// The cases sit in a constant table read with ValuesIn: on an Intel Xeon
// (AVX-512 FP16), GCC 12 at -O3 -march=native built them wrong as
// temporaries passed to ::testing::Values (a temporal padding (1, 0, 0) read
// back as (1, 1, 0)).
const PairCase kPairCases[] = {
        // layer1-like: large frames, one output frame per group
        PairCase{{1, 8, 7, 150, 160}, 12, 8, 3, 3, Triple(1, 1, 1), Triple(0, 1, 1), Triple(1, 1, 1), Triple(1, 0, 0)},
        // temporal stride 2 with padding, odd frame count, spatial stride 2
        PairCase{{2, 6, 9, 20, 22}, 10, 12, 3, 3, Triple(1, 2, 2), Triple(0, 1, 1), Triple(2, 1, 1), Triple(1, 0, 0)},
        // kernel 1 shortcut: spatial stride (1,2,2), temporal (2,1,1)
        PairCase{{1, 5, 8, 14, 14}, 4, 9, 1, 1, Triple(1, 2, 2), Triple(0, 0, 0), Triple(2, 1, 1), Triple(0, 0, 0)},
        // stem-like 7x7 spatial, temporal 3 with padding, a single frame
        PairCase{{1, 3, 1, 30, 28}, 9, 6, 7, 3, Triple(1, 2, 2), Triple(0, 3, 3), Triple(1, 1, 1), Triple(1, 0, 0)},
        // no temporal padding, groups of many frames
        PairCase{{1, 4, 12, 5, 5}, 6, 7, 3, 3, Triple(1, 1, 1), Triple(0, 1, 1), Triple(1, 1, 1), Triple(0, 0, 0)},
        // large temporal padding and stride 3
        PairCase{{1, 4, 10, 96, 96}, 40, 5, 3, 5, Triple(1, 1, 1), Triple(0, 1, 1), Triple(3, 1, 1), Triple(4, 0, 0)},
        // position chunks (large frames) with both strides 2 and an uneven last chunk
        PairCase{{2, 6, 9, 80, 90}, 10, 12, 3, 3, Triple(1, 2, 2), Triple(0, 1, 1), Triple(2, 1, 1), Triple(1, 0, 0)},
        // position chunks, a clip shorter than the temporal kernel
        PairCase{{1, 3, 2, 60, 64}, 7, 5, 3, 5, Triple(1, 1, 1), Triple(0, 1, 1), Triple(1, 1, 1), Triple(2, 0, 0)},
        // position chunks, temporal kernel 1; stride 4 skips frames no output reads
        PairCase{{1, 5, 11, 48, 50}, 6, 4, 1, 1, Triple(1, 1, 1), Triple(0, 0, 0), Triple(4, 1, 1), Triple(0, 0, 0)},
        // position chunks, no padding anywhere: every frame is read once per tap
        PairCase{{1, 2, 6, 70, 41}, 9, 3, 5, 2, Triple(1, 1, 1), Triple(0, 0, 0), Triple(1, 1, 1), Triple(0, 0, 0)},
        // position chunks, a wide intermediate (an odd count of channels): the
        // spatial depth takes several blocks, and the ring one slot per depth block
        PairCase{{1, 70, 4, 40, 40}, 302, 16, 3, 3, Triple(1, 1, 1), Triple(0, 1, 1), Triple(1, 1, 1), Triple(1, 0, 0)}};

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2Plus1dStream, ::testing::ValuesIn(kPairCases));

// R(2+1)D's stem on 112x112 frames, in float and double: 3 -> 45 channels
// (1, 7, 7) with spatial stride 2, then 45 -> 64 (3, 1, 1). The 45 x 147
// packed spatial weights take an odd number of values, so the temporal ones
// packed after them start misaligned unless each PackedA is placed on an
// aligned boundary; Eigen's SSE kernel (a build without -march) faults there.
template <class T>
void stem_on_112x112_frames() {
  const Tensor<double, 5> xd = wave<5>({1, 3, 4, 112, 112}, 0.37);
  const Tensor<double, 5> wsd = wave<5>({45, 3, 1, 7, 7}, 0.11), wtd = wave<5>({64, 45, 3, 1, 1}, 0.23);
  const auto cast = [](const Tensor<double, 5>& t) {
    Tensor<T, 5> r = Tensor<T, 5>::empty(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) r.data()[i] = static_cast<T>(t.data()[i]);
    return r;
  };
  const Tensor<T, 5> x = cast(xd), ws = cast(wsd), wt = cast(wtd);
  const ops::Conv3dParams ps{Triple{1, 2, 2}, Triple{0, 3, 3}, Triple(1), 1};
  const ops::Conv3dParams pt{Triple(1), Triple{1, 0, 0}, Triple(1), 1};
  ASSERT_TRUE(ops::conv2plus1d_streamable(ws.shape(), ps, wt.shape(), pt));
  const Tensor<T, 5> mid = ops::conv3d_fused<T>(x.cview(), ws.cview(), ps, nullptr, nullptr, true);
  const Tensor<T, 5> want = ops::conv3d_fused<T>(mid.cview(), wt.cview(), pt, nullptr, nullptr, true);
  const Tensor<T, 5> got = ops::conv2plus1d_fused<T>(x.cview(), ws.cview(), ps, nullptr, nullptr, true, wt.cview(),
                                                     pt, nullptr, nullptr, true);
  EXPECT_TRUE((test::matches_reference<T, 5>(got.cview(), want.cview(), "conv2plus1d stem on 112x112")));
}

TEST(Conv2Plus1dStream, StemOn112x112FramesMatchesTwoConvs) {
  stem_on_112x112_frames<float>();
  stem_on_112x112_frames<double>();
}

// Runs the pair with `threads` threads, out of place and then over its own input.
Tensor<float, 5> run_pair(const Tensor<float, 5>& x, const Tensor<float, 5>& ws, const ops::Conv3dParams& ps,
                          const Tensor<float, 5>& wt, const ops::Conv3dParams& pt, int threads, bool in_place) {
  const int before = get_num_threads();
  set_num_threads(threads);
  std::vector<float> s1(static_cast<std::size_t>(ws.size(0)), 0.75f), b1(s1.size(), 0.01f);
  Tensor<float, 5> y;
  if (in_place) {
    y = x;
    ops::conv2plus1d_fused_into<float>(y.cview(), ws.cview(), ps, s1.data(), b1.data(), true, wt.cview(), pt, nullptr,
                                       nullptr, true, y.view());
  } else {
    y = ops::conv2plus1d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true, wt.cview(), pt, nullptr,
                                      nullptr, true);
  }
  set_num_threads(before);
  return y;
}

// Large frames take the position-chunked path; whatever the thread count and
// whether the output overwrites the input, every bit is the same.
TEST(Conv2Plus1dStream, ChunkedPathIsExactAcrossThreadsAndInPlace) {
  struct Case {
    index_t kt, pd;
  };
  for (const Case c : {Case{3, 1}, Case{1, 0}, Case{5, 2}}) {
    Tensor<float, 5> x({2, 6, 5, 56, 60}), ws({9, 6, 1, 3, 3}), wt({6, 9, c.kt, 1, 1});
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
    for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
    const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{c.pd, 0, 0}, 1, 1};
    ASSERT_TRUE(ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt)) << c.kt << " " << c.pd;
    const Tensor<float, 5> want = run_pair(x, ws, ps, wt, pt, 1, false);
    // 16 threads: 9 chunks (the last one shorter) cut into 2 pieces each
    for (const int threads : {1, 2, 3, 16})
      for (const bool in_place : {false, true}) {
        const Tensor<float, 5> got = run_pair(x, ws, ps, wt, pt, threads, in_place);
        ASSERT_EQ(got.shape(), want.shape());
        for (index_t i = 0; i < got.numel(); ++i)
          ASSERT_EQ(got.data()[i], want.data()[i]) << "kt " << c.kt << " pad " << c.pd << " threads " << threads
                                                   << (in_place ? " in place" : "") << " at " << i;
      }
    // and the values are those of the two convs (float tolerance of the parity suite)
    std::vector<float> s1(9, 0.75f), b1(9, 0.01f);
    const Tensor<float, 5> mid = ops::conv3d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
    const Tensor<float, 5> two = ops::conv3d_fused<float>(mid.cview(), wt.cview(), pt, nullptr, nullptr, true);
    EXPECT_TRUE((test::matches_reference<float, 5>(want.cview(), two.cview(), "conv2plus1d/float", "chunked")));
  }
}

// The chunked path keeps each chunk's ring of intermediate frames in the
// temporal GEMM's packed layout, with as many whole frames per depth block as
// Eigen's depth block has room for. 2002 intermediate channels (not a multiple
// of the kernel's panels) take one block per frame on any machine; 250 with a
// temporal kernel of 5 take blocks of 2, 2 and 1 frames here (the depth block
// depends on the machine's caches). The bits stay those of one thread and the
// values those of the two convs.
TEST(Conv2Plus1dStream, WideIntermediateRingIsExact) {
  struct Case {
    index_t mid, kt;
  };
  for (const Case c : {Case{2002, 3}, Case{250, 5}}) {
    const index_t per_block =
        std::min<index_t>(c.kt, ops::detail::gemm_blocking<float>(8, c.mid * c.kt, 400).kc / c.mid);
    if (c.mid == 2002) {
      ASSERT_LE(per_block, 1);
    }
    Tensor<float, 5> x({1, 3, 6, 40, 40}), ws({c.mid, 3, 1, 3, 3}), wt({8, c.mid, c.kt, 1, 1});
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
    for (index_t i = 0; i < wt.numel(); ++i)
      wt.data()[i] = static_cast<float>(0.05 * std::sin(0.2 * static_cast<double>(i)));
    const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{c.kt / 2, 0, 0}, 1, 1};
    ASSERT_GE(ops::detail::conv2plus1d_tiling(40 * 40, 3 * 9, 4).chunks, ops::detail::kMinChunksPerFrame);
    const Tensor<float, 5> want = run_pair(x, ws, ps, wt, pt, 1, false);
    for (const int threads : {2, 3, 16}) {
      const Tensor<float, 5> got = run_pair(x, ws, ps, wt, pt, threads, false);
      for (index_t i = 0; i < got.numel(); ++i)
        ASSERT_EQ(got.data()[i], want.data()[i])
            << c.mid << " channels, " << per_block << " frames per block, threads " << threads << " at " << i;
    }
    std::vector<float> s1(static_cast<std::size_t>(c.mid), 0.75f), b1(s1.size(), 0.01f);
    const Tensor<float, 5> m = ops::conv3d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
    const Tensor<float, 5> two = ops::conv3d_fused<float>(m.cview(), wt.cview(), pt, nullptr, nullptr, true);
    EXPECT_TRUE((test::matches_reference<float, 5>(want.cview(), two.cview(), "conv2plus1d/float", "wide ring")))
        << c.mid << " channels, " << per_block << " frames per depth block";
  }
}

// More threads than chunks: the chunks are cut into pieces (at the GEMM
// kernel's panels), and with still more threads the output frames into
// temporal segments (each recomputing the intermediate frames before it); the
// bits stay those of one thread, out of place and in place, with and without
// stride.
TEST(Conv2Plus1dStream, PiecesAndTemporalSegmentsAreExact) {
  struct Case {
    index_t frames, kt, st, pd;
  };
  for (const Case c : {Case{13, 3, 1, 1}, Case{16, 3, 2, 1}, Case{9, 5, 1, 2}, Case{12, 1, 1, 0}}) {
    Tensor<float, 5> x({1, 4, c.frames, 40, 40}), ws({7, 4, 1, 3, 3}), wt({4, 7, c.kt, 1, 1});
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
    for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
    const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{Triple{c.st, 1, 1}, Triple{c.pd, 0, 0}, 1, 1};
    const Shape<5> out = ops::conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt);
    const auto tiling = ops::detail::conv2plus1d_tiling(40 * 40, 4 * 9, 4);
    ASSERT_EQ(tiling.chunks, 4);
    const Tensor<float, 5> want = run_pair(x, ws, ps, wt, pt, 1, false);
    const bool in_place_ok = ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt);
    for (const int threads : {5, 9, 16, 40}) {
      const auto split = ops::detail::conv2plus1d_split(tiling, out[2], threads);
      ASSERT_GT(split.pieces, 1) << "threads " << threads;
      if (threads == 40) {
        ASSERT_GT(split.segments, 1) << "frames " << c.frames;
      }
      for (const bool in_place : {false, true}) {
        if (in_place && !in_place_ok) continue;
        const Tensor<float, 5> got = run_pair(x, ws, ps, wt, pt, threads, in_place);
        ASSERT_EQ(got.shape(), want.shape());
        for (index_t i = 0; i < got.numel(); ++i)
          ASSERT_EQ(got.data()[i], want.data()[i]) << "frames " << c.frames << " kt " << c.kt << " threads "
                                                   << threads << (in_place ? " in place" : "") << " at " << i;
      }
    }
  }
}

TEST(Conv2Plus1dStream, SplitFollowsTheThreads) {
  using ops::detail::column_piece_start;
  using ops::detail::conv2plus1d_segments;
  using ops::detail::conv2plus1d_split;
  using ops::detail::conv2plus1d_tiling;
  const auto layer1 = conv2plus1d_tiling(3136, 576, 4), layer2 = conv2plus1d_tiling(784, 1152, 4);
  auto split = conv2plus1d_split(layer1, 16, 8);  // 8 chunks keep 8 threads busy
  EXPECT_EQ(split.pieces, 1);
  EXPECT_EQ(split.segments, 1);
  split = conv2plus1d_split(layer1, 16, 16);  // 2 pieces of each chunk, no recomputed frames
  EXPECT_EQ(split.pieces, 2);
  EXPECT_EQ(split.segments, 1);
  split = conv2plus1d_split(layer2, 8, 8);
  EXPECT_EQ(split.pieces, 2);
  EXPECT_EQ(split.segments, 1);
  split = conv2plus1d_split(layer2, 8, 16);  // 196 positions: 2 pieces at most, then 2 segments
  EXPECT_EQ(split.pieces, 2);
  EXPECT_EQ(split.segments, 2);
  split = conv2plus1d_split(layer2, 8, 2);
  EXPECT_EQ(split.pieces, 1);
  EXPECT_EQ(split.segments, 1);
  // piece starts: near the even cut, on the kernel's panels
  EXPECT_EQ(column_piece_start(0, 2, 196, 24), 0);
  EXPECT_EQ(column_piece_start(1, 2, 196, 24), 96);
  EXPECT_EQ(column_piece_start(2, 2, 196, 24), 196);
  EXPECT_EQ(column_piece_start(1, 2, 196, 48), 96);
  EXPECT_EQ(column_piece_start(1, 3, 400, 24), 144);
  EXPECT_EQ(column_piece_start(2, 3, 400, 24), 264);
  EXPECT_EQ(column_piece_start(1, 4, 20, 24), 0);  // an empty piece
  EXPECT_EQ(column_piece_start(3, 4, 20, 24), 20);

  EXPECT_EQ(conv2plus1d_segments(8, 16, 1), 1);   // the chunks keep every thread busy
  EXPECT_EQ(conv2plus1d_segments(8, 16, 8), 1);
  EXPECT_EQ(conv2plus1d_segments(8, 16, 16), 2);  // layer1 at 16 threads: 16 tasks
  EXPECT_EQ(conv2plus1d_segments(4, 8, 16), 2);   // layer2: segments of at least 4 frames
  EXPECT_EQ(conv2plus1d_segments(4, 7, 16), 1);   // too short to cut
  EXPECT_EQ(conv2plus1d_segments(2, 64, 32), 16);
}

TEST(Conv2Plus1dStream, InPlaceGivesTheSameBits) {
  const Tensor<float, 5> x = [] {
    Tensor<float, 5> t({2, 8, 7, 15, 16});
    for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    return t;
  }();
  Tensor<float, 5> ws({12, 8, 1, 3, 3}), wt({8, 12, 3, 1, 1});
  for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
  for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
  const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{1, 0, 0}, 1, 1};
  ASSERT_TRUE(ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt));
  const Tensor<float, 5> want =
      ops::conv2plus1d_fused<float>(x.cview(), ws.cview(), ps, nullptr, nullptr, true, wt.cview(), pt, nullptr, nullptr, false);
  Tensor<float, 5> y = x;
  ops::conv2plus1d_fused_into<float>(y.cview(), ws.cview(), ps, nullptr, nullptr, true, wt.cview(), pt, nullptr, nullptr,
                                     false, y.view());
  for (index_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data()[i], want.data()[i]) << i;
  // a temporal stride writes frames that later groups still read: refused
  const ops::Conv3dParams pt2{Triple{2, 1, 1}, Triple{1, 0, 0}, 1, 1};
  EXPECT_FALSE(ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt2));
}

TEST(Conv2Plus1dStream, ChunkTilingDependsOnSizesOnly) {
  // layer1 of r2plus1d_18 (56x56 frames): 8 equal chunks
  auto t = ops::detail::conv2plus1d_tiling(3136, 576, 4);
  EXPECT_EQ(t.columns, 392);
  EXPECT_EQ(t.chunks, 8);
  // layer2 (28x28): cut to 4 chunks rather than 2, to keep 4 threads busy
  t = ops::detail::conv2plus1d_tiling(784, 1152, 4);
  EXPECT_EQ(t.columns, 196);
  EXPECT_EQ(t.chunks, 4);
  // layer3 (14x14): too small to cut, it takes the framewise path
  t = ops::detail::conv2plus1d_tiling(196, 2304, 4);
  EXPECT_LT(t.chunks, ops::detail::kMinChunksPerFrame);
  // a deep kernel: the column buffer stays within its budget
  t = ops::detail::conv2plus1d_tiling(100000, 6912, 4);
  EXPECT_LE(t.columns * 6912 * 4, ops::detail::kColumnBudgetBytes);
  EXPECT_GE(t.columns, 16);
}

// On the rows kernels, chunks whose last packet would leave more than 1/64 of
// their lanes idle are cut at whole packets of positions instead (layer1's
// 56x56 and layer2's 28x28 frames with 16-float packets). Either way the chunks, and the pieces
// cut from them, cover every position of the frame once, in order.
TEST(Conv2Plus1dStream, ChunksCoverTheFrameAtWholePacketsWhereTheyPay) {
  const index_t L = ops::detail::rows_packet_size<float>();
  struct Case {
    index_t h, w;
  };
  for (const Case c : {Case{28, 28}, Case{30, 26}, Case{56, 56}, Case{40, 40}, Case{33, 47}})
    for (const bool rows : {true, false})
      for (const int threads : {1, 2, 9, 16}) {
        const Tensor<float, 5> x({1, 4, 8, c.h, c.w}), ws({6, 4, 1, 3, 3}), wt({5, 6, 3, 1, 1});
        const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{1, 0, 0}, 1, 1};
        const Shape<5> mid{1, 6, 8, c.h, c.w}, out{1, 5, 8, c.h, c.w};
        const index_t HW = c.h * c.w;
        const auto tiling = ops::detail::conv2plus1d_tiling(HW, 4 * 9, 4);
        const int before = get_num_threads();
        set_num_threads(threads);
        const ops::detail::ChunkedPlan<float> plan(x.cview(), ws.cview(), ps, wt.cview(), pt, mid, tiling, out, rows);
        set_num_threads(before);
        const std::string at = std::to_string(c.h) + "x" + std::to_string(c.w) + (rows ? " rows " : " packed ") +
                               std::to_string(threads) + " threads";
        const index_t idle = (L - tiling.columns % L) % L;
        EXPECT_EQ(plan.packets, rows && idle * 64 > tiling.columns + idle) << at;
        if (L == 16 && ((c.h == 28 && c.w == 28) || (c.h == 56 && c.w == 56))) {
          EXPECT_EQ(plan.packets, rows) << at;
        }
        if (c.h == 40 && c.w == 40) {
          EXPECT_FALSE(plan.packets) << at;  // chunks of 400: whole packets already
        }
        index_t next = 0;
        for (index_t j = 0; j < plan.chunks; ++j) {
          const index_t first = plan.chunk_start(j), len = plan.chunk_start(j + 1) - first;
          ASSERT_EQ(first, next) << at;
          if (plan.packets) {
            EXPECT_EQ(first % L, 0) << at;
            if (j + 1 < plan.chunks) {
              EXPECT_LE(std::abs(len - (plan.chunk_start(1) - plan.chunk_start(0))), L) << at;
            }
          } else {
            EXPECT_EQ(first, j * tiling.columns) << at;
          }
          for (index_t q = 0; q < plan.pieces; ++q) {
            index_t p0 = 0, count = 0;
            plan.positions(q * plan.chunks + j, p0, count);
            ASSERT_EQ(p0, next) << at << " chunk " << j << " piece " << q;
            next += count;
          }
          ASSERT_EQ(next, plan.chunk_start(j + 1)) << at;
        }
        EXPECT_EQ(next, HW) << at;
      }
}

// The same bits for any thread count on chunks cut at whole packets, and the
// values of the two convs.
TEST(Conv2Plus1dStream, ChunksAtWholePacketsAreExact) {
  set_conv_kernels(ConvKernels::kRows);
  for (const Shape<5> shape : {Shape<5>{1, 6, 6, 28, 28}, Shape<5>{2, 5, 7, 30, 26}}) {
    Tensor<float, 5> x(shape), ws({9, shape[1], 1, 3, 3}), wt({shape[1], 9, 3, 1, 1});  // in place: Cout = Cin
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
    for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
    const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{1, 0, 0}, 1, 1};
    const Tensor<float, 5> want = run_pair(x, ws, ps, wt, pt, 1, false);
    for (const int threads : {2, 3, 16})
      for (const bool in_place : {false, true}) {
        const Tensor<float, 5> got = run_pair(x, ws, ps, wt, pt, threads, in_place);
        for (index_t i = 0; i < got.numel(); ++i)
          ASSERT_EQ(got.data()[i], want.data()[i]) << threads << " threads" << (in_place ? " in place" : "") << " at "
                                                   << i;
      }
    std::vector<float> s1(9, 0.75f), b1(9, 0.01f);
    const Tensor<float, 5> mid = ops::conv3d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
    const Tensor<float, 5> two = ops::conv3d_fused<float>(mid.cview(), wt.cview(), pt, nullptr, nullptr, true);
    EXPECT_TRUE((test::matches_reference<float, 5>(want.cview(), two.cview(), "conv2plus1d/float", "packet chunks")));
  }
  set_conv_kernels(ConvKernels::kAuto);
}

// Restores the convolution kernels' setting on scope exit.
class ConvKernelsGuard {
 public:
  ConvKernelsGuard() = default;
  ~ConvKernelsGuard() { set_conv_kernels(ConvKernels::kAuto); }
  ConvKernelsGuard(const ConvKernelsGuard&) = delete;
  ConvKernelsGuard& operator=(const ConvKernelsGuard&) = delete;
};

TEST(ConvKernelsChoice, SettingEnvironmentAndCpu) {
  ConvKernelsGuard guard;
  set_conv_kernels(ConvKernels::kRows);
  EXPECT_EQ(conv_kernels(), ConvKernels::kRows);
  set_conv_kernels(ConvKernels::kPacked);
  EXPECT_EQ(conv_kernels(), ConvKernels::kPacked);
  set_conv_kernels(ConvKernels::kAuto);
  EXPECT_NE(conv_kernels(), ConvKernels::kAuto);
  // ctest runs these tests once with R2PLUS1D_CONV_KERNELS=rows and once with packed.
  const char* env = std::getenv("R2PLUS1D_CONV_KERNELS");
  if (env != nullptr && std::string(env) == "rows") {
    EXPECT_EQ(conv_kernels(), ConvKernels::kRows);
  }
  if (env != nullptr && std::string(env) == "packed") {
    EXPECT_EQ(conv_kernels(), ConvKernels::kPacked);
  }
  const std::string saved = env != nullptr ? env : "";
  ::setenv("R2PLUS1D_CONV_KERNELS", "fastest", 1);
  try {
    detail::conv_kernels_from_environment();
    ADD_FAILURE() << "no exception for R2PLUS1D_CONV_KERNELS=fastest";
  } catch (const OptionError& e) {
    EXPECT_NE(std::string(e.what()).find("expected rows, packed or auto, got 'fastest'"), std::string::npos)
        << e.what();
  }
  ::setenv("R2PLUS1D_CONV_KERNELS", "auto", 1);
  EXPECT_EQ(detail::conv_kernels_from_environment(), ConvKernels::kAuto);
  if (env != nullptr)
    ::setenv("R2PLUS1D_CONV_KERNELS", saved.c_str(), 1);
  else
    ::unsetenv("R2PLUS1D_CONV_KERNELS");
}

TEST(ConvAlgorithms, TheStreamedPairNamesItsPath) {
  ConvKernelsGuard guard;
  const ops::Conv3dParams spatial{1, Triple{0, 1, 1}, 1, 1}, temporal{1, Triple{1, 0, 0}, 1, 1};
  set_conv_kernels(ConvKernels::kRows);
  // a 3x3 spatial conv of stride 1 and a 3-tap temporal one run Winograd, a band of each frame per thread
  EXPECT_EQ(ops::conv2plus1d_algorithm<float>({1, 8, 4, 56, 56}, {12, 8, 1, 3, 3}, spatial, {8, 12, 3, 1, 1}, temporal),
            "banded(winograd_f4, winograd_temporal_f4)");
  // a 5-tap temporal conv does not: framewise, its steps on the algorithm table
  EXPECT_EQ(ops::conv2plus1d_algorithm<float>({1, 8, 6, 56, 56}, {12, 8, 1, 3, 3}, spatial, {8, 12, 5, 1, 1},
                                              ops::Conv3dParams{1, Triple{2, 0, 0}, 1, 1}),
            "framewise(winograd_f4, temporal_rows)");
  EXPECT_EQ(ops::conv2plus1d_algorithm<float>({1, 8, 4, 56, 56}, {12, 8, 1, 5, 5}, ops::Conv3dParams{1, Triple{0, 2, 2}, 1, 1},
                                              {8, 12, 3, 1, 1}, temporal),
            "chunked_rows");
  {
    struct Restore {
      ~Restore() { set_conv_algorithms(ConvAlgorithms::kAuto); }
    } restore;
    set_conv_algorithms(ConvAlgorithms::kDirect);
    EXPECT_EQ(ops::conv2plus1d_algorithm<float>({1, 8, 4, 56, 56}, {12, 8, 1, 3, 3}, spatial, {8, 12, 3, 1, 1}, temporal),
              "chunked_rows");
  }
  EXPECT_EQ(ops::conv2plus1d_algorithm<float>({1, 16, 4, 7, 7}, {20, 16, 1, 3, 3}, spatial, {8, 20, 3, 1, 1}, temporal),
            Eigen::internal::packet_traits<float>::size >= ops::detail::rows_packet_size<float>()
                ? "framewise(thin, temporal_frames)"
                : "framewise(thin, thin)");
  set_conv_kernels(ConvKernels::kPacked);
  EXPECT_EQ(ops::conv2plus1d_algorithm<float>({1, 8, 4, 56, 56}, {12, 8, 1, 3, 3}, spatial, {8, 12, 3, 1, 1}, temporal),
            "chunked_packed");
}

// Both convs on Winograd take the banded path, a band of tile rows per
// thread: the bits of the two convs one after the other, for any thread count
// (more threads than tile rows too), in place and out of place, on frames
// that end in partial tiles, with temporal padding 0 to 2, and in a batch.
TEST(Conv2Plus1dStream, BandedPathIsExactAcrossThreadsAndInPlace) {
  ConvKernelsGuard guard;
  set_conv_kernels(ConvKernels::kRows);
  struct Case {
    index_t pd, h, w;
    const char* path;
  };
  // 30x29: F(4x4, 3x3), 8 tile rows; 17x16: F(2x2, 3x3), 9 tile rows
  for (const Case c : {Case{1, 30, 29, "banded(winograd_f4, winograd_temporal_f4)"},
                       Case{0, 30, 29, "banded(winograd_f4, winograd_temporal_f4)"},
                       Case{2, 30, 29, "banded(winograd_f4, winograd_temporal_f4)"},
                       Case{1, 17, 16, "banded(winograd_f2, winograd_temporal_f4)"}}) {
    const index_t pd = c.pd;
    Tensor<float, 5> x({2, 8, 11, c.h, c.w}), ws({12, 8, 1, 3, 3}), wt({8, 12, 3, 1, 1});
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
    for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
    const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{pd, 0, 0}, 1, 1};
    ASSERT_EQ(ops::conv2plus1d_algorithm<float>(x.shape(), ws.shape(), ps, wt.shape(), pt), c.path);
    std::vector<float> s1(12, 0.75f), b1(12, 0.01f);
    const Tensor<float, 5> mid = ops::conv3d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
    const Tensor<float, 5> want = ops::conv3d_fused<float>(mid.cview(), wt.cview(), pt, nullptr, nullptr, true);
    const bool in_place_ok = ops::conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt);
    ASSERT_EQ(in_place_ok, pd == 1);
    for (const int threads : {1, 2, 3, 5, 9, 10}) {  // up to more threads than tile rows
      for (const bool in_place : {false, true}) {
        if (in_place && !in_place_ok) continue;
        const Tensor<float, 5> got = run_pair(x, ws, ps, wt, pt, threads, in_place);
        ASSERT_EQ(got.shape(), want.shape());
        for (index_t i = 0; i < got.numel(); ++i)
          ASSERT_EQ(got.data()[i], want.data()[i]) << c.path << ", padding " << pd << ", " << threads << " threads"
                                                   << (in_place ? " in place" : "") << " at " << i;
      }
    }
  }
}

// Output frames in whole tiles of 8, with a small window: the banded path
// runs F(8, 3) along time, with the bits of the spatial conv then F(8, 3) on
// the whole intermediate, for any thread count and in place; a clip whose
// output frames are no multiple of 8 keeps F(4, 3).
TEST(Conv2Plus1dStream, BandedPathOnF8AlongTime) {
  ConvKernelsGuard guard;
  set_conv_kernels(ConvKernels::kRows);
  const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{1, 0, 0}, 1, 1};
  ASSERT_EQ(ops::conv2plus1d_algorithm<float>({1, 8, 12, 30, 29}, {12, 8, 1, 3, 3}, ps, {8, 12, 3, 1, 1}, pt),
            "banded(winograd_f4, winograd_temporal_f4)");
  // layer1 of r2plus1d_18: a whole frame's window of 10 frames (18 MB) is too large
  ASSERT_EQ(ops::conv2plus1d_algorithm<float>({1, 64, 16, 56, 56}, {144, 64, 1, 3, 3}, ps, {64, 144, 3, 1, 1}, pt),
            "banded(winograd_f4, winograd_temporal_f4)");
  ASSERT_EQ(ops::conv2plus1d_algorithm<float>({1, 128, 8, 28, 28}, {288, 128, 1, 3, 3}, ps, {128, 288, 3, 1, 1}, pt),
            "banded(winograd_f4, winograd_temporal_f8)");
  for (const index_t frames : {8, 16, 24}) {
    for (const Shape<5> xs : {Shape<5>{2, 8, frames, 30, 29}, Shape<5>{1, 8, frames, 17, 16}}) {
      Tensor<float, 5> x(xs), ws({12, 8, 1, 3, 3}), wt({8, 12, 3, 1, 1});
      for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
      for (index_t i = 0; i < ws.numel(); ++i) ws.data()[i] = static_cast<float>(std::cos(0.1 * static_cast<double>(i)));
      for (index_t i = 0; i < wt.numel(); ++i) wt.data()[i] = static_cast<float>(std::sin(0.2 * static_cast<double>(i)));
      const std::string path = ops::conv2plus1d_algorithm<float>(xs, ws.shape(), ps, wt.shape(), pt);
      ASSERT_NE(path.find("winograd_temporal_f8"), std::string::npos) << path;
      std::vector<float> s1(12, 0.75f), b1(12, 0.01f);
      const Tensor<float, 5> mid = ops::conv3d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true);
      Tensor<float, 5> want = Tensor<float, 5>::empty(x.shape());
      const ops::detail::Conv3dGeometry g = ops::detail::conv3d_geometry(mid.shape(), wt.shape(), want.shape(), pt);
      ops::detail::conv3d_winograd_temporal<ops::WinogradF8, float>(g, mid.data(), wt.data(),
                                                                    ops::detail::ConvEpilogue<float>{nullptr, nullptr, true},
                                                                    want.data());
      for (const int threads : {1, 2, 3, 5, 9}) {
        for (const bool in_place : {false, true}) {
          const Tensor<float, 5> got = run_pair(x, ws, ps, wt, pt, threads, in_place);
          ASSERT_EQ(got.shape(), want.shape());
          for (index_t i = 0; i < got.numel(); ++i)
            ASSERT_EQ(got.data()[i], want.data()[i]) << path << ", " << frames << " frames, " << threads << " threads"
                                                     << (in_place ? " in place" : "") << " at " << i;
        }
      }
    }
  }
}

// With caches for its weights' transforms (ops::WinogradWeightCache), the
// banded path fills them on the first call and reads them on the next: the
// same bits as without them where the tile stays (30x29: F(4x4, 3x3)), and
// F(4x4, 3x3) instead of F(2x2, 3x3) on 14x14 frames, within the float
// tolerance of the two convs in double and with the same bits for any
// thread count. New weights (another address or shape) are transformed anew;
// weights written in place are, once the caches are cleared.
TEST(Conv2Plus1dStream, WeightCacheKeepsTheTransforms) {
  ConvKernelsGuard guard;
  set_conv_kernels(ConvKernels::kRows);
  const ops::Conv3dParams ps{1, Triple{0, 1, 1}, 1, 1}, pt{1, Triple{1, 0, 0}, 1, 1};
  auto filled = [](Shape<5> shape, double f) {
    Tensor<float, 5> t(shape);
    for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(std::sin(f * static_cast<double>(i) + 0.2));
    return t;
  };
  std::vector<float> s1(12, 0.75f), b1(12, 0.01f);
  auto cached = [&](const Tensor<float, 5>& x, const Tensor<float, 5>& ws, const Tensor<float, 5>& wt,
                    ops::WinogradWeightCache<float>& sc, ops::WinogradWeightCache<float>& tc, int threads) {
    const int before = get_num_threads();
    set_num_threads(threads);
    Tensor<float, 5> y = ops::conv2plus1d_fused<float>(x.cview(), ws.cview(), ps, s1.data(), b1.data(), true,
                                                       wt.cview(), pt, nullptr, nullptr, true, &sc, &tc);
    set_num_threads(before);
    return y;
  };
  auto same_bits = [](const Tensor<float, 5>& a, const Tensor<float, 5>& b, const char* what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    for (index_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << what << " at " << i;
  };

  {  // 30x29 frames: F(4x4, 3x3) either way, the same bits as without caches
    const Tensor<float, 5> x = filled({2, 8, 7, 30, 29}, 0.37), ws = filled({12, 8, 1, 3, 3}, 0.1),
                           wt = filled({8, 12, 3, 1, 1}, 0.2);
    ASSERT_EQ(ops::conv2plus1d_algorithm<float>(x.shape(), ws.shape(), ps, wt.shape(), pt, true),
              "banded(winograd_f4, winograd_temporal_f4)");
    ops::WinogradWeightCache<float> sc, tc;
    const Tensor<float, 5> want = run_pair(x, ws, ps, wt, pt, 1, false);
    same_bits(cached(x, ws, wt, sc, tc, 1), want, "30x29, first call");
    ASSERT_FALSE(sc.empty());
    ASSERT_FALSE(tc.empty());
    EXPECT_EQ(sc.bytes(), index_t(36 * 12 * 8 * sizeof(float)));
    EXPECT_EQ(tc.bytes(), index_t(6 * 8 * 12 * sizeof(float)));
    same_bits(cached(x, ws, wt, sc, tc, 2), want, "30x29, from the caches");
    // other weights at another address: transformed anew
    const Tensor<float, 5> ws2 = filled({12, 8, 1, 3, 3}, 0.13), wt2 = filled({8, 12, 3, 1, 1}, 0.17);
    same_bits(cached(x, ws2, wt2, sc, tc, 2), run_pair(x, ws2, ps, wt2, pt, 1, false), "30x29, new weights");
    // weights written in place: the same address, so cleared caches are what tells
    Tensor<float, 5> ws3 = ws2;
    ops::WinogradWeightCache<float> sc3, tc3;
    (void)cached(x, ws3, wt2, sc3, tc3, 1);
    for (index_t i = 0; i < ws3.numel(); ++i) ws3.data()[i] *= -0.5f;
    sc3.clear();
    tc3.clear();
    EXPECT_TRUE(sc3.empty());
    same_bits(cached(x, ws3, wt2, sc3, tc3, 1), run_pair(x, ws3, ps, wt2, pt, 1, false), "30x29, cleared");
  }
  {  // 14x14 frames: F(4x4, 3x3) with the caches, F(2x2, 3x3) without
    const Tensor<float, 5> x = filled({1, 8, 6, 14, 14}, 0.37), ws = filled({12, 8, 1, 3, 3}, 0.1),
                           wt = filled({8, 12, 3, 1, 1}, 0.2);
    ASSERT_EQ(ops::conv2plus1d_algorithm<float>(x.shape(), ws.shape(), ps, wt.shape(), pt),
              "banded(winograd_f2, winograd_temporal_f4)");
    ASSERT_EQ(ops::conv2plus1d_algorithm<float>(x.shape(), ws.shape(), ps, wt.shape(), pt, true),
              "banded(winograd_f4, winograd_temporal_f4)");
    auto to_double = [](const Tensor<float, 5>& t) {
      Tensor<double, 5> d = Tensor<double, 5>::empty(t.shape());
      for (index_t i = 0; i < t.numel(); ++i) d.data()[i] = static_cast<double>(t.data()[i]);
      return d;
    };
    std::vector<double> s1d(s1.begin(), s1.end()), b1d(b1.begin(), b1.end());
    const Tensor<double, 5> xd = to_double(x), wsd = to_double(ws), wtd = to_double(wt);
    const Tensor<double, 5> mid = ops::conv3d_fused<double>(xd.cview(), wsd.cview(), ps, s1d.data(), b1d.data(), true);
    const Tensor<double, 5> want = ops::conv3d_fused<double>(mid.cview(), wtd.cview(), pt, nullptr, nullptr, true);
    ops::WinogradWeightCache<float> sc, tc;
    const Tensor<float, 5> first = cached(x, ws, wt, sc, tc, 1);
    EXPECT_EQ(sc.bytes(), index_t(36 * 12 * 8 * sizeof(float)));  // F(4x4, 3x3)'s 6x6 per kernel
    Tensor<float, 5> want_f = Tensor<float, 5>::empty(want.shape());
    for (index_t i = 0; i < want.numel(); ++i) want_f.data()[i] = static_cast<float>(want.data()[i]);
    EXPECT_TRUE((test::matches_reference<float, 5>(first.cview(), want_f.cview(), "conv2plus1d/float",
                                                   "cached F(4x4, 3x3) on 14x14")));
    for (const int threads : {1, 2, 3, 4, 5})
      same_bits(cached(x, ws, wt, sc, tc, threads), first, "14x14, from the caches");
  }
}

TEST(ConvKernelsChoice, BothFamiliesAgree) {
  // The same convolutions on each family: a stem-like spatial conv, a strided
  // pointwise one, a temporal one on large frames, and (2+1)D pairs on the
  // chunked and the framewise paths. They sum in other orders, so they agree
  // within the parity tolerance, not bit for bit.
  ConvKernelsGuard guard;
  struct Conv {
    Shape<5> x, w;
    ops::Conv3dParams p;
  };
  const std::vector<Conv> convs = {
      {{1, 3, 3, 40, 38}, {9, 3, 1, 7, 7}, {Triple{1, 2, 2}, Triple{0, 3, 3}, Triple(1), 1}},
      {{1, 6, 4, 30, 30}, {5, 6, 1, 1, 1}, {Triple{2, 2, 2}, Triple(0), Triple(1), 1}},
      {{1, 7, 5, 36, 36}, {4, 7, 3, 1, 1}, {Triple(1), Triple{1, 0, 0}, Triple(1), 1}},
  };
  for (const Conv& c : convs) {
    const Tensor<double, 5> x = wave<5>(c.x, 0.37), w = wave<5>(c.w, 0.11);
    set_conv_kernels(ConvKernels::kRows);
    const Tensor<double, 5> rows = ops::conv3d<double>(x.cview(), w.cview(), nullptr, c.p);
    set_conv_kernels(ConvKernels::kPacked);
    const Tensor<double, 5> packed = ops::conv3d<double>(x.cview(), w.cview(), nullptr, c.p);
    EXPECT_TRUE((test::matches_reference<double, 5>(rows.cview(), packed.cview(), "conv3d/double", "rows vs packed")))
        << format_shape<5>(c.w);
  }
  for (const PairCase& c : {PairCase{{1, 5, 6, 64, 60}, 12, 8, 3, 3, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}, {1, 0, 0}},
                            PairCase{{1, 4, 6, 14, 14}, 9, 6, 3, 3, Triple(1, 1, 1), Triple(0, 1, 1), Triple(2, 1, 1), Triple(1, 0, 0)}}) {
    const Tensor<double, 5> x = wave<5>(c.x, 0.37);
    const Tensor<double, 5> ws = wave<5>({c.mid, c.x[1], 1, c.kh, c.kh}, 0.11);
    const Tensor<double, 5> wt = wave<5>({c.out, c.mid, c.kt, 1, 1}, 0.23);
    const ops::Conv3dParams ps{c.s_stride, c.s_pad, Triple(1), 1}, pt{c.t_stride, c.t_pad, Triple(1), 1};
    Tensor<double, 5> got[2];
    for (int f = 0; f < 2; ++f) {
      set_conv_kernels(f == 0 ? ConvKernels::kRows : ConvKernels::kPacked);
      got[f] = ops::conv2plus1d_fused<double>(x.cview(), ws.cview(), ps, nullptr, nullptr, true, wt.cview(), pt,
                                             nullptr, nullptr, false);
    }
    EXPECT_TRUE((test::matches_reference<double, 5>(got[0].cview(), got[1].cview(), "conv2plus1d/double",
                                                   "rows vs packed")))
        << format_shape<5>(c.x);
  }
}

TEST(Conv2Plus1dStream, RejectsNonSeparablePairs) {
  EXPECT_FALSE(ops::conv2plus1d_streamable({8, 4, 3, 3, 3}, {}, {4, 8, 3, 1, 1}, {}));
  EXPECT_FALSE(ops::conv2plus1d_streamable({8, 4, 1, 3, 3}, {}, {4, 8, 3, 3, 1}, {}));
  EXPECT_FALSE(ops::conv2plus1d_streamable({8, 4, 1, 3, 3}, {}, {4, 7, 3, 1, 1}, {}));
  const Tensor<double, 5> x({1, 4, 3, 5, 5});
  const Tensor<double, 5> ws({8, 4, 3, 3, 3}), wt({4, 8, 3, 1, 1});
  EXPECT_THROW(ops::conv2plus1d_fused<double>(x.cview(), ws.cview(), {}, nullptr, nullptr, false, wt.cview(), {},
                                              nullptr, nullptr, false),
               OptionError);
}

}  // namespace
}  // namespace r2plus1d

#pragma once
/// \file
/// A (2+1)D convolution pair streamed over time: a spatial (1, kh, kw) conv
/// with its epilogue, then a temporal (kt, 1, 1) conv with its epilogue, without
/// materialising the full intermediate tensor. Large frames are cut into chunks
/// of positions, each run through the clip with a ring of kt intermediate frames
/// (the temporal conv is then one GEMM over the ring, with no column copy);
/// small frames go in groups of output frames through a sliding window. Each
/// intermediate frame is computed once. Same results as the two convs one after
/// the other (up to the GEMMs' rounding), with the intermediate's memory cut to
/// a few frames.

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "r2plus1d/ops/conv3d.hpp"

namespace r2plus1d::ops {

/// Whether the pair (ws, ps) then (wt, pt) has the (2+1)D form that
/// conv2plus1d_fused streams: a spatial conv with kernel depth 1, no temporal
/// stride or padding, and a temporal conv with 1x1 spatial kernel, spatial stride
/// 1 and no spatial padding; no groups or dilation in either.
inline bool conv2plus1d_streamable(const Shape<5>& ws, const Conv3dParams& ps, const Shape<5>& wt,
                                   const Conv3dParams& pt) {
  return ws[2] == 1 && ps.stride.d == 1 && ps.padding.d == 0 && ps.groups == 1 && ps.dilation == Triple(1) &&
         wt[3] == 1 && wt[4] == 1 && pt.stride.h == 1 && pt.stride.w == 1 && pt.padding.h == 0 &&
         pt.padding.w == 0 && pt.groups == 1 && pt.dilation == Triple(1) && wt[1] == ws[0];
}

namespace detail {
/// Intermediate bytes the sliding window aims at (per image).
inline constexpr index_t kWindowBudgetBytes = index_t(4) << 20;
}  // namespace detail

/// The output shape of the pair, validating both convs.
inline Shape<5> conv2plus1d_output_shape(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps,
                                         const Shape<5>& wt, const Conv3dParams& pt) {
  if (!conv2plus1d_streamable(ws, ps, wt, pt))
    throw OptionError("conv2plus1d_fused: weights " + format_shape<5>(ws) + " and " + format_shape<5>(wt) +
                      " are not a (1, kh, kw) then (kt, 1, 1) pair");
  return conv3d_output_shape(conv3d_output_shape(x, ws, ps), wt, pt);
}

/// Whether conv2plus1d_fused_into may write its output over its input: same
/// shape, temporal stride 1 and padding below the kernel size, so every output
/// frame lands on an input frame that has already been read for the last time.
inline bool conv2plus1d_in_place_ok(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps,
                                    const Shape<5>& wt, const Conv3dParams& pt) {
  return conv2plus1d_streamable(ws, ps, wt, pt) && pt.stride.d == 1 && pt.padding.d < wt[2] &&
         conv2plus1d_output_shape(x, ws, ps, wt, pt) == x;
}

namespace detail {

/// How the chunked path cuts a frame's positions: `chunks` runs of `columns`
/// output positions (the last may be shorter). Sizes only.
struct Conv2plus1dTiling {
  index_t columns = 1, chunks = 1;
};

/// Fewest position chunks per frame for the chunked path (below, the framewise path).
inline constexpr index_t kMinChunksPerFrame = 4;
/// Output positions a chunk aims at, and the fewest it is cut down to.
inline constexpr index_t kChunkTargetColumns = 400;
inline constexpr index_t kMinChunkColumns = 128;

inline Conv2plus1dTiling conv2plus1d_tiling(index_t positions, index_t depth, index_t element_size) {
  const index_t by_budget =
      std::max<index_t>(16, kColumnBudgetBytes / std::max<index_t>(1, depth * element_size) / 16 * 16);
  const index_t target = std::min(by_budget, kChunkTargetColumns);
  Conv2plus1dTiling t;
  t.chunks = std::max<index_t>(1, (positions + target - 1) / target);
  // Mid-sized frames: narrower chunks rather than too few of them, down to kMinChunkColumns.
  if (t.chunks < kMinChunksPerFrame)
    t.chunks = std::max(t.chunks, std::min(kMinChunksPerFrame, positions / kMinChunkColumns));
  t.columns = std::min(positions, ((positions + t.chunks - 1) / t.chunks + 3) / 4 * 4);
  t.chunks = (positions + t.columns - 1) / t.columns;
  return t;
}

inline index_t floor_mod(index_t a, index_t m) { return ((a % m) + m) % m; }

/// Fewest output frames a temporal segment of the chunked path holds: each
/// segment recomputes the (kt - 1) intermediate frames before its first output
/// frame, so short segments would redo too much of the spatial conv.
inline constexpr index_t kMinSegmentFrames = 4;

/// How the chunked path's tasks cut each chunk when there are more threads
/// than chunks: first into `pieces` runs of positions (free of extra work),
/// then the output frames into `segments` (each recomputing kt - 1
/// intermediate frames). Both 1 while the chunks alone keep every thread busy.
struct Conv2plus1dSplit {
  index_t pieces = 1, segments = 1;
};

/// Temporal segments for `units` independent runs of positions over
/// out_frames frames and `threads` threads.
inline index_t conv2plus1d_segments(index_t units, index_t out_frames, index_t threads) {
  if (threads <= units) return 1;
  const index_t want = (threads + units - 1) / units;
  return std::max<index_t>(1, std::min(want, out_frames / kMinSegmentFrames));
}

inline Conv2plus1dSplit conv2plus1d_split(const Conv2plus1dTiling& tiling, index_t out_frames, index_t threads) {
  Conv2plus1dSplit s;
  if (threads > tiling.chunks)
    s.pieces = std::max<index_t>(
        1, std::min((threads + tiling.chunks - 1) / tiling.chunks, tiling.columns / kMinPieceColumns));
  s.segments = conv2plus1d_segments(tiling.chunks * s.pieces, out_frames, threads);
  return s;
}

/// What both chunked paths derive from the sizes: the spatial conv's geometry
/// for one frame (input channels D frames apart), the split over threads
/// (conv2plus1d_split), and the positions of each task. Task k is chunk
/// k % chunks, piece (k / chunks) % pieces, segment k / (chunks * pieces).
///
/// Chunk j is positions [j * columns, (j + 1) * columns), except where the rows
/// kernels would leave more than 1/64 of each chunk's lanes idle in its last
/// packet (28x28 frames: chunks of 196 positions, 12 idle lanes of 208; 56x56:
/// 8 of 400). Then (`packets`) the chunks are cut at whole packets of
/// positions, the first P mod chunks of them one packet longer (P packets in a
/// frame), so that only the frame's last tile has idle lanes, and chunks differ
/// by at most one packet. A chunk that starts inside a row gathers one more
/// input row, which would cost more than a few idle lanes save. The rows
/// kernels' outputs do not depend on the cut.
template <class T>
struct ChunkedPlan {
  index_t D, Cin, Cm, Cout, in_plane, HW, kt, st, pd, Dt;
  Conv3dGeometry gs;
  index_t Ks, columns, chunks, pieces, segments, units, tasks, seg_frames, widest = 0;
  bool packets = false;

  ChunkedPlan(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
              TensorView<const T, 5> wt, const Conv3dParams& pt, const Shape<5>& mid,
              const Conv2plus1dTiling& tiling, const Shape<5>& out, bool rows_kernels = false)
      : D(x.size(2)), Cin(x.size(1)), Cm(mid[1]), Cout(out[1]), in_plane(x.size(3) * x.size(4)),
        HW(mid[3] * mid[4]), kt(wt.size(2)), st(pt.stride.d), pd(pt.padding.d), Dt(out[2]),
        gs(conv3d_geometry({1, Cin, 1, x.size(3), x.size(4)}, ws.shape(), {1, Cm, 1, mid[3], mid[4]}, ps)),
        packets(rows_kernels && idle_lanes_share(tiling.columns) * 64 > 1) {
    gs.in_channel_stride = D * in_plane;
    Ks = gs.depth();
    columns = tiling.columns;
    chunks = tiling.chunks;
    const Conv2plus1dSplit split = conv2plus1d_split(tiling, Dt, get_num_threads());
    pieces = split.pieces;
    segments = split.segments;
    units = chunks * pieces;
    tasks = units * segments;
    seg_frames = (Dt + segments - 1) / segments;
    for (index_t k = 0; k < units; ++k) {
      index_t p0 = 0, count = 0;
      positions(k, p0, count);
      widest = std::max(widest, count);
    }
  }
  /// The share of its last packet's lanes a run of n positions leaves idle.
  static double idle_lanes_share(index_t n) {
    const index_t L = rows_packet_size<T>();
    const index_t idle = (L - n % L) % L;
    return double(idle) / double(n + idle);
  }
  /// Where chunk j starts (j == chunks: HW).
  index_t chunk_start(index_t j) const {
    if (!packets) return std::min(HW, j * columns);
    const index_t L = rows_packet_size<T>();
    const index_t P = (HW + L - 1) / L, base = P / chunks, extra = P % chunks;
    return std::min(HW, (j * base + std::min(j, extra)) * L);
  }
  /// Positions [p0, p0 + count) of the frame that task k computes.
  void positions(index_t k, index_t& p0, index_t& count) const {
    const index_t step = packets ? rows_packet_size<T>() : gemm_column_step<T>();
    const index_t j = k % chunks, q = (k / chunks) % pieces;
    const index_t first = chunk_start(j), chunk_count = chunk_start(j + 1) - first;
    const index_t a = column_piece_start(q, pieces, chunk_count, step);
    p0 = first + a;
    count = column_piece_start(q + 1, pieces, chunk_count, step) - a;
  }
};

/// The ring of a chunked-path task: kt intermediate frames of `count`
/// positions, kept in the packed layout of the temporal GEMM's columns
/// (for_each_packed_column_panel), so that the temporal conv multiplies it as
/// it is, with no copy. Its rows are slot-major, (slot, channel); its depth
/// blocks hold `per_block` whole slots each, so a slot's Cm channels lie in one
/// block, in each panel as Cm rows of the panel's width. Blocks start 64-byte
/// aligned, as the kernel loads whole packets.
template <class T>
struct PackedRing {
  index_t cm = 0, kt = 1, per_block = 1, count = 0;

  index_t blocks() const { return (kt + per_block - 1) / per_block; }
  index_t block_rows(index_t b) const { return std::min(per_block, kt - b * per_block) * cm; }
  /// Where depth block b starts.
  index_t block(index_t b) const { return b * packed_block_stride<T>(per_block * cm * count); }
  /// Values the ring takes.
  index_t size() const { return blocks() * packed_block_stride<T>(per_block * cm * count); }
  /// Where slot `slot`'s channel 0 starts in panel (s0, w): its Cm rows follow, w apart.
  index_t slot_in_panel(index_t slot, index_t s0, index_t w) const {
    const index_t b = slot / per_block;
    return block(b) + s0 * block_rows(b) + (slot % per_block) * cm * w;
  }
};

/// The schedule both chunked paths run: for each image, the tasks of `plan`
/// split over a team; at each step s of a segment, every task's new
/// intermediate frames [max(lo, next), hi) into its ring, then (after a
/// barrier when y overwrites x, and another after) every task's output frame.
/// make_state(team) builds a thread's scratch; spatial(state, n, k, f, p0,
/// count) writes intermediate frame f (possibly on the temporal padding) into
/// task k's ring; temporal(state, n, k, u, p0, count) computes output frame u
/// of task k from it.
template <class T, class MakeState, class Spatial, class Temporal>
void chunked_schedule(const ChunkedPlan<T>& plan, index_t batch, bool in_place, MakeState&& make_state,
                      Spatial&& spatial, Temporal&& temporal) {
  const index_t tasks = plan.tasks, units = plan.units, seg_frames = plan.seg_frames;
  for (index_t n = 0; n < batch; ++n) {
    parallel_region(tasks, [&](const Team& team) {
      auto state = make_state(team);
      // First frame not yet in each of this thread's rings (tasks rank, rank + size, ...).
      std::vector<index_t> next(static_cast<std::size_t>((tasks + team.size() - 1) / team.size()),
                                std::numeric_limits<index_t>::min());
      for (index_t s = 0; s < seg_frames; ++s) {
        for (index_t k = team.rank(), mine = 0; k < tasks; k += team.size(), ++mine) {
          const index_t u = (k / units) * seg_frames + s;
          index_t p0 = 0, count = 0;
          plan.positions(k, p0, count);
          if (u >= plan.Dt || count == 0) continue;
          const index_t lo = u * plan.st - plan.pd, hi = lo + plan.kt;
          index_t& nx = next[static_cast<std::size_t>(mine)];
          for (index_t f = std::max(lo, nx); f < hi; ++f) spatial(state, n, k, f, p0, count);
          nx = std::max(nx, hi);
        }
        if (in_place) team.barrier();
        for (index_t k = team.rank(); k < tasks; k += team.size()) {
          const index_t u = (k / units) * seg_frames + s;
          index_t p0 = 0, count = 0;
          plan.positions(k, p0, count);
          if (u < plan.Dt && count > 0) temporal(state, n, k, u, p0, count);
        }
        if (in_place) team.barrier();
      }
    });
  }
}

/// The chunked path on the packed kernels (chunked_schedule): the spatial conv
/// packs its columns straight from the input frame and writes its result,
/// panel by panel, into the ring's packed layout (PackedRing); the temporal
/// conv is one GEMM over the ring, with its weights rotated to the ring's
/// order.
template <class T>
void conv2plus1d_chunked_packed(const ChunkedPlan<T>& plan, TensorView<const T, 5> x, TensorView<const T, 5> ws,
                                const ConvEpilogue<T>& s_epi, TensorView<const T, 5> wt,
                                const ConvEpilogue<T>& t_epi, TensorView<T, 5> y) {
  const index_t Cm = plan.Cm, Cout = plan.Cout, HW = plan.HW, kt = plan.kt, Dt = plan.Dt;
  const index_t Ks = plan.Ks, Kt = Cm * kt, columns = plan.columns;
  // Both GEMMs take every position of a task in one column block (nc = columns);
  // the temporal depth blocks hold whole ring slots, as many as Eigen's depth
  // block has room for (at least one).
  GemmBlocking bs = gemm_blocking<T>(Cm, Ks, columns);
  bs.nc = columns;
  const index_t per_block = std::max<index_t>(1, std::min(kt, gemm_blocking<T>(Cout, Kt, columns).kc / Cm));
  const GemmBlocking bt{per_block * Cm, columns};
  const index_t window_elems = PackedRing<T>{Cm, kt, per_block, plan.widest}.size();
  const index_t rotated_elems = packed_block_stride<T>(kt * Cout * Kt);
  T* const rotated = thread_workspace<T>(rotated_elems + plan.tasks * window_elems, kWindow);
  T* const windows = rotated + rotated_elems;
  // Both convs' weights packed once for the GEMM kernel, shared by every chunk
  // and frame; the temporal ones first rotated: rotated[r](o, s * Cm + c) =
  // wt(o, c, (s - r) mod kt), as ring slot s holds frame f = s (mod kt), which is
  // tap (s - r) mod kt of an output frame whose first tap reads frame f0 = r (mod kt).
  // Each PackedA at an aligned place of its own (packed_a_size), as Eigen's
  // kernel loads packed values with aligned loads.
  const index_t size_s = packed_a_size<T>(Cm, Ks, bs), size_tap = packed_a_size<T>(Cout, Kt, bt);
  T* const packed = thread_workspace<T>(size_s + kt * size_tap, kPackedA);
  parallel_for(0, kt, [&](index_t r) {
    T* rot = rotated + r * Cout * Kt;
    for (index_t o = 0; o < Cout; ++o)
      for (index_t sl = 0; sl < kt; ++sl)
        for (index_t c = 0; c < Cm; ++c)
          rot[o * Kt + sl * Cm + c] = wt.data()[(o * Cm + c) * kt + floor_mod(sl - r, kt)];
  });
  std::vector<PackJob<T>> jobs{{Cm, Ks, ws.data(), Ks, bs, packed}};
  for (index_t r = 0; r < kt; ++r)
    jobs.push_back({Cout, Kt, rotated + r * Cout * Kt, Kt, bt, packed + size_s + r * size_tap});
  const std::vector<PackedA<T>> packs = pack_a_parallel(jobs);
  const PackedA<T>& pack_s = packs.front();
  auto pack_t = [&](index_t r) -> const PackedA<T>& { return packs[static_cast<std::size_t>(r + 1)]; };
  const index_t work_size = packed_gemm_work_size(pack_s);

  using Index = Eigen::Index;
  using Traits = Eigen::internal::gebp_traits<T, T>;
  using ResMapper = Eigen::internal::blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  Eigen::internal::gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  struct State {
    ColumnPacker<T> packer;  // the spatial conv's columns, packed straight from the frame
    T* work;
  };
  const bool in_place = static_cast<const void*>(y.data()) == static_cast<const void*>(x.data());
  chunked_schedule(
      plan, x.size(0), in_place,
      [&](const Team&) { return State{ColumnPacker<T>(plan.gs), thread_workspace<T>(work_size, kPackWork)}; },
      [&](State& st, index_t n, index_t k, index_t f, index_t p0, index_t count) {
        T* const win = windows + k * window_elems;
        const PackedRing<T> ring{Cm, kt, per_block, count};
        const index_t slot = floor_mod(f, kt);
        for_each_packed_column_panel<T>(count, [&](index_t s0, index_t w) {
          T* at = win + ring.slot_in_panel(slot, s0, w);
          std::fill(at, at + Cm * w, T(0));
        });
        if (f < 0 || f >= plan.D) return;  // temporal padding: the slot stays zero
        st.packer.bind(x.data() + (n * plan.Cin * plan.D + f) * plan.in_plane, p0);
        for (index_t k2 = 0; k2 < Ks; k2 += pack_s.kc) {
          const index_t kc = std::min(pack_s.kc, Ks - k2);
          st.packer(st.work, 0, k2, count, kc);
          for_each_packed_column_panel<T>(count, [&](index_t s0, index_t w) {
            gebp(ResMapper(win + ring.slot_in_panel(slot, s0, w), static_cast<Index>(w)), st.work + s0 * kc,
                 pack_s.block(k2), static_cast<Index>(w), static_cast<Index>(kc), static_cast<Index>(Cm), T(1));
          });
        }
        for_each_packed_column_panel<T>(count, [&](index_t s0, index_t w) {
          T* at = win + ring.slot_in_panel(slot, s0, w);
          for (index_t c = 0; c < Cm; ++c) apply_epilogue(s_epi, c, at + c * w, w);
        });
      },
      [&](State& st, index_t n, index_t k, index_t u, index_t p0, index_t count) {
        const PackedA<T>& wr = pack_t(floor_mod(u * plan.st - plan.pd, kt));
        const T* win = windows + k * window_elems;
        const PackedRing<T> ring{Cm, kt, per_block, count};
        T* yu = y.data() + n * Cout * Dt * HW + u * HW + p0;
        for (index_t o = 0; o < Cout; ++o) std::fill(yu + o * Dt * HW, yu + o * Dt * HW + count, T(0));
        gemm_packed_accumulate_with(
            wr, count, [&](T*, index_t, index_t k2, index_t, index_t) { return win + ring.block(k2 / bt.kc); }, yu,
            Dt * HW, st.work);
        for (index_t o = 0; o < Cout; ++o) apply_epilogue(t_epi, o, yu + o * Dt * HW, count);
      });
}

/// The chunked path on the rows kernels (chunked_schedule): both convs run on
/// gemm_rows with no packing of their columns. The spatial conv reads the
/// input rows of its positions gathered once per frame (gather_phase_rows)
/// and writes each intermediate frame plainly into its ring slot, (channel,
/// position); the temporal conv reads the ring in place, its taps pointed at
/// the slots. Every output is one in-order sum over its taps, whatever the cut.
template <class T>
void conv2plus1d_chunked_rows(const ChunkedPlan<T>& plan, TensorView<const T, 5> x, TensorView<const T, 5> ws,
                              const ConvEpilogue<T>& s_epi, TensorView<const T, 5> wt, const ConvEpilogue<T>& t_epi,
                              TensorView<T, 5> y) {
  const index_t Cm = plan.Cm, kt = plan.kt, Ks = plan.Ks, Kt = Cm * kt, Cout = plan.Cout;
  // A task's ring: slot s (frames f = s mod kt) holds the Cm channels of one
  // intermediate frame, `count` positions each, one after another, and a
  // packet past the last slot that the kernel may read.
  const index_t ring_elems = kt * Cm * plan.widest + rows_packet_size<T>();
  T* const rings = thread_workspace<T>(plan.tasks * ring_elems, kWindow);
  // Both convs' weights packed once for gemm_rows, shared by every chunk and
  // frame; the temporal ones with their depth tap-major, (tap, channel), so
  // that tap i's Cm rows follow one another.
  T* const packed_s = thread_workspace<T>(rows_packed_a_size<T>(Cm, Ks) + rows_packed_a_size<T>(Cout, Kt), kPackedA);
  T* const packed_t = packed_s + rows_packed_a_size<T>(Cm, Ks);
  pack_rows_a_parallel(Cm, Ks, [&](index_t r, index_t c) { return ws.data()[r * Ks + c]; }, packed_s);
  pack_rows_a_parallel(
      Cout, Kt, [&](index_t o, index_t s) { return wt.data()[(o * Cm + s % Cm) * kt + s / Cm]; }, packed_t);
  const PhaseRows layout(plan.gs);
  const Epilogue<T>& s_rows = s_epi;
  const Epilogue<T>& t_rows = t_epi;
  struct State {
    T* gathered;
    std::vector<index_t> s_offsets, t_offsets;
  };
  const bool in_place = static_cast<const void*>(y.data()) == static_cast<const void*>(x.data());
  chunked_schedule(
      plan, x.size(0), in_place,
      [&](const Team&) {
        return State{thread_workspace<T>(phase_rows_values<T>(plan.gs, layout, plan.widest), kColumns),
                     std::vector<index_t>(static_cast<std::size_t>(Ks)),
                     std::vector<index_t>(static_cast<std::size_t>(Kt))};
      },
      [&](State& st, index_t n, index_t k, index_t f, index_t p0, index_t count) {
        T* const slot = rings + k * ring_elems + floor_mod(f, kt) * Cm * count;
        if (f < 0 || f >= plan.D) {  // temporal padding: the slot holds zeros
          std::fill(slot, slot + Cm * count, T(0));
          return;
        }
        const T* xf = x.data() + (n * plan.Cin * plan.D + f) * plan.in_plane;
        const T* b = gather_phase_rows(plan.gs, layout, xf, p0, count, st.gathered, st.s_offsets.data());
        gemm_rows(Cm, count, Ks, packed_s, b, st.s_offsets.data(), slot, count, s_rows);
      },
      [&](State& st, index_t n, index_t k, index_t u, index_t p0, index_t count) {
        for (index_t i = 0; i < kt; ++i)
          for (index_t c = 0; c < Cm; ++c)
            st.t_offsets[static_cast<std::size_t>(i * Cm + c)] =
                (floor_mod(u * plan.st - plan.pd + i, kt) * Cm + c) * count;
        const index_t ldy = plan.Dt * plan.HW;
        gemm_rows(Cout, count, Kt, packed_t, rings + k * ring_elems, st.t_offsets.data(),
                  y.data() + n * Cout * ldy + u * plan.HW + p0, ldy, t_rows);
      });
}

/// The chunked path on the kernels in use (conv_kernels). In place with
/// temporal segments, segments run side by side, so a segment could overwrite
/// an input frame the one before it still reads: it writes elsewhere, then
/// over x.
template <class T>
void conv2plus1d_chunked(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                         const ConvEpilogue<T>& s_epi, TensorView<const T, 5> wt, const Conv3dParams& pt,
                         const ConvEpilogue<T>& t_epi, const Shape<5>& mid, const Conv2plus1dTiling& tiling,
                         TensorView<T, 5> y) {
  const bool rows = conv_kernels() == ConvKernels::kRows;
  const ChunkedPlan<T> plan(x, ws, ps, wt, pt, mid, tiling, y.shape(), rows);
  const bool in_place = static_cast<const void*>(y.data()) == static_cast<const void*>(x.data());
  if (in_place && plan.segments > 1) {
    Tensor<T, 5> tmp = Tensor<T, 5>::empty(y.shape());
    conv2plus1d_chunked<T>(x, ws, ps, s_epi, wt, pt, t_epi, mid, tiling, tmp.view());
    std::memcpy(y.data(), tmp.data(), sizeof(T) * static_cast<std::size_t>(tmp.numel()));
    return;
  }
  if (rows)
    conv2plus1d_chunked_rows<T>(plan, x, ws, s_epi, wt, t_epi, y);
  else
    conv2plus1d_chunked_packed<T>(plan, x, ws, s_epi, wt, t_epi, y);
}

/// Output frames per group of the framewise path: as many as keep the window
/// of intermediate frames (`frame` values each) within kWindowBudgetBytes, at
/// least one.
template <class T>
index_t framewise_group(index_t frame, index_t kt, index_t st, index_t out_frames) {
  const index_t frame_bytes = frame * static_cast<index_t>(sizeof(T));
  const index_t fit = std::max<index_t>(1, kWindowBudgetBytes / std::max<index_t>(1, frame_bytes));
  return std::max<index_t>(1, std::min<index_t>(out_frames, fit > kt ? (fit - kt) / st + 1 : 1));
}

/// The framewise path, for small frames: groups of output frames, each step a
/// spatial conv of the new intermediate frames into a sliding window and a
/// temporal conv over it, each parallel inside (conv3d_gemm).
template <class T>
void conv2plus1d_framewise(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                           const ConvEpilogue<T>& s_epi, TensorView<const T, 5> wt, const Conv3dParams& pt,
                           const ConvEpilogue<T>& t_epi, const Shape<5>& mid, TensorView<T, 5> y) {
  const Shape<5> out = y.shape();
  const index_t D = x.size(2), Cin = x.size(1), Cm = mid[1], Cout = out[1];
  const index_t HW = mid[3] * mid[4];
  const index_t kt = wt.size(2), st = pt.stride.d, pd = pt.padding.d, Dt = out[2];
  const index_t group = framewise_group<T>(Cm * HW, kt, st, Dt);
  const index_t cap = std::min<index_t>(D, (group - 1) * st + kt);
  // The window lives in the calling thread's workspace (slot 1; the conv kernels'
  // column buffers use slot 0 of their worker threads).
  T* const window = thread_workspace<T>(Cm * cap * HW, kWindow);

  for (index_t n = 0; n < x.size(0); ++n) {
    const T* xn = x.data() + n * Cin * D * x.size(3) * x.size(4);
    T* yn = y.data() + n * Cout * Dt * HW;
    index_t wa = 0, wb = 0;  // the window holds intermediate frames [wa, wb)
    for (index_t u0 = 0; u0 < Dt; u0 += group) {
      const index_t u1 = std::min(Dt, u0 + group);
      const index_t a = std::max<index_t>(0, u0 * st - pd);
      const index_t b = std::min<index_t>(D, (u1 - 1) * st - pd + kt);
      if (b <= a) {  // every tap reads padding: only the epilogue of zero
        for (index_t o = 0; o < Cout; ++o) {
          T* row = yn + o * Dt * HW + u0 * HW;
          std::fill(row, row + (u1 - u0) * HW, T(0));
          apply_epilogue(t_epi, o, row, (u1 - u0) * HW);
        }
        continue;
      }
      // Slide: keep frames [max(a, wa), wb) at the front, compute the rest.
      const index_t keep_from = std::max(a, wa), keep = std::max<index_t>(0, wb - keep_from);
      if (keep > 0 && keep_from != wa)
        for (index_t c = 0; c < Cm; ++c)
          std::memmove(window + c * cap * HW, window + (c * cap + (keep_from - wa)) * HW,
                       sizeof(T) * static_cast<std::size_t>(keep * HW));
      const index_t first_new = keep > 0 ? wb : a;
      wa = keep > 0 ? keep_from : a;
      if (b > first_new) {  // spatial conv of input frames [first_new, b) into the window
        Conv3dGeometry g = conv3d_geometry({1, Cin, b - first_new, x.size(3), x.size(4)},
                                                           ws.shape(), {1, Cm, b - first_new, mid[3], mid[4]}, ps);
        g.in_channel_stride = D * x.size(3) * x.size(4);
        g.out_channel_stride = cap * HW;
        conv3d_gemm(g, xn + first_new * x.size(3) * x.size(4), ws.data(), s_epi,
                            window + (first_new - wa) * HW);
      }
      wb = b;
      // temporal conv of output frames [u0, u1) over the window: frame u reads
      // window frame u * st - pd + i - wa, i.e. padding pd + wa - u0 * st
      Conv3dGeometry g =
          conv3d_geometry({1, Cm, wb - wa, mid[3], mid[4]}, wt.shape(), {1, Cout, u1 - u0, mid[3], mid[4]},
                                  Conv3dParams{Triple{st, 1, 1}, Triple{pd + wa - u0 * st, 0, 0}, Triple(1), 1});
      g.in_channel_stride = cap * HW;
      g.out_channel_stride = Dt * HW;
      conv3d_gemm(g, window, wt.data(), t_epi, yn + u0 * HW);
    }
  }
}

}  // namespace detail

/// The name of the path conv2plus1d_fused takes for these shapes, for
/// elements of T: "chunked_rows" or "chunked_packed" (large frames, in chunks
/// of positions through the clip), or "framewise(S, T)" with the conv3d
/// algorithms of the spatial and the temporal step of its first group of
/// frames.
template <class T = float>
std::string conv2plus1d_algorithm(const Shape<5>& x, const Shape<5>& ws, const Conv3dParams& ps, const Shape<5>& wt,
                                  const Conv3dParams& pt) {
  const Shape<5> out = conv2plus1d_output_shape(x, ws, ps, wt, pt);
  const Shape<5> mid = conv3d_output_shape(x, ws, ps);
  const detail::Conv2plus1dTiling tiling =
      detail::conv2plus1d_tiling(mid[3] * mid[4], x[1] * ws[3] * ws[4], static_cast<index_t>(sizeof(T)));
  if (tiling.chunks >= detail::kMinChunksPerFrame)
    return conv_kernels() == ConvKernels::kRows ? "chunked_rows" : "chunked_packed";
  const index_t kt = wt[2], st = pt.stride.d, pd = pt.padding.d, D = x[2];
  const index_t group = detail::framewise_group<T>(mid[1] * mid[3] * mid[4], kt, st, out[2]);
  const index_t cap = std::min<index_t>(D, (group - 1) * st + kt);
  const index_t a = std::max<index_t>(0, -pd), b = std::max(a + 1, std::min<index_t>(D, (group - 1) * st - pd + kt));
  detail::Conv3dGeometry gs =
      detail::conv3d_geometry({1, x[1], b - a, x[3], x[4]}, ws, {1, mid[1], b - a, mid[3], mid[4]}, ps);
  detail::Conv3dGeometry gt = detail::conv3d_geometry(
      {1, mid[1], b - a, mid[3], mid[4]}, wt, {1, out[1], std::min(group, out[2]), mid[3], mid[4]},
      Conv3dParams{Triple{st, 1, 1}, Triple{pd + a, 0, 0}, Triple(1), 1});
  gs.out_channel_stride = gt.in_channel_stride = cap * mid[3] * mid[4];
  return std::string("framewise(") + detail::conv3d_select<T>(gs).name + ", " + detail::conv3d_select<T>(gt).name +
         ")";
}

/// conv2plus1d_fused into `y`, which must have the output shape. `y` may be
/// the very storage of `x` when conv2plus1d_in_place_ok (then x is consumed);
/// otherwise the two must not overlap.
template <class T>
void conv2plus1d_fused_into(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                            const T* s_scale, const T* s_shift, bool s_relu, TensorView<const T, 5> wt,
                            const Conv3dParams& pt, const T* t_scale, const T* t_shift, bool t_relu,
                            TensorView<T, 5> y) {
  const Shape<5> out = conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt);
  const Shape<5> mid = conv3d_output_shape(x.shape(), ws.shape(), ps);
  if (y.shape() != out)
    throw ShapeError("conv2plus1d_fused: output has shape " + format_shape<5>(y.shape()) + ", expected " +
                     format_shape<5>(out));
  if (static_cast<const void*>(y.data()) == static_cast<const void*>(x.data()) &&
      !conv2plus1d_in_place_ok(x.shape(), ws.shape(), ps, wt.shape(), pt))
    throw OptionError("conv2plus1d_fused: this pair cannot write its output over its input");

  const detail::ConvEpilogue<T> s_epi{s_scale, s_shift, s_relu};
  const detail::ConvEpilogue<T> t_epi{t_scale, t_shift, t_relu};
  const index_t depth = x.size(1) * ws.size(3) * ws.size(4);
  const detail::Conv2plus1dTiling tiling =
      detail::conv2plus1d_tiling(mid[3] * mid[4], depth, static_cast<index_t>(sizeof(T)));
  if (tiling.chunks >= detail::kMinChunksPerFrame)
    detail::conv2plus1d_chunked<T>(x, ws, ps, s_epi, wt, pt, t_epi, mid, tiling, y);
  else
    detail::conv2plus1d_framewise<T>(x, ws, ps, s_epi, wt, pt, t_epi, mid, y);
}

/// epilogue_t(conv_t(epilogue_s(conv_s(x)))) for a streamable pair (see
/// conv2plus1d_streamable), each epilogue y = y * scale[c] + shift[c] (null: 1
/// and 0) then ReLU if asked, as in conv3d_fused. x (N, C, D, H, W); weights
/// ws (Cm, C, 1, kh, kw) and wt (Cout, Cm, kt, 1, 1). The group size depends on
/// the sizes only, so results do not depend on threads or batch size.
template <class T>
Tensor<T, 5> conv2plus1d_fused(TensorView<const T, 5> x, TensorView<const T, 5> ws, const Conv3dParams& ps,
                               const T* s_scale, const T* s_shift, bool s_relu, TensorView<const T, 5> wt,
                               const Conv3dParams& pt, const T* t_scale, const T* t_shift, bool t_relu) {
  Tensor<T, 5> y = Tensor<T, 5>::empty(conv2plus1d_output_shape(x.shape(), ws.shape(), ps, wt.shape(), pt));
  conv2plus1d_fused_into<T>(x, ws, ps, s_scale, s_shift, s_relu, wt, pt, t_scale, t_shift, t_relu, y.view());
  return y;
}

}  // namespace r2plus1d::ops

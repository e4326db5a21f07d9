#pragma once
/// \file
/// The chunked path of ops::conv2plus1d_fused, for large frames: the frame's
/// positions cut into chunks, each run through the clip with a ring of kt
/// intermediate frames, on either kernel family (conv_kernels). Internal: the
/// public functions are in conv2plus1d.hpp.

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "r2plus1d/ops/conv3d.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {

/// How the chunked path cuts a frame's positions: `chunks` runs of `columns`
/// output positions (the last may be shorter). Sizes only.
struct Conv2plus1dTiling {
  index_t columns = 1, chunks = 1;
};


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
/// gemm_rows with nothing packed, the weights read as they lie. The spatial
/// conv reads the input rows of its positions gathered once per frame
/// (gather_phase_rows) and writes each intermediate frame plainly into its ring slot, (channel,
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
  // The temporal weights with their depth tap-major, (tap, channel), so that
  // tap i's Cm steps follow one another as the ring's slots do.
  const RowsA<T> temporal_weights{wt.data(), Kt, Cm, kt, 1};
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
        gemm_rows(Cm, count, Ks, RowsA<T>::plain(ws.data(), Ks, Ks), b, st.s_offsets.data(), slot, count, s_rows);
      },
      [&](State& st, index_t n, index_t k, index_t u, index_t p0, index_t count) {
        for (index_t i = 0; i < kt; ++i)
          for (index_t c = 0; c < Cm; ++c)
            st.t_offsets[static_cast<std::size_t>(i * Cm + c)] =
                (floor_mod(u * plan.st - plan.pd + i, kt) * Cm + c) * count;
        const index_t ldy = plan.Dt * plan.HW;
        gemm_rows(Cout, count, Kt, temporal_weights, rings + k * ring_elems, st.t_offsets.data(),
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

}  // namespace r2plus1d::ops::detail

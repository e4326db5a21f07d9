#pragma once
/// \file
/// Any convolution on Eigen's packed GEMM kernel (the packed family, and the
/// fallback of the rows family): columns gathered or packed from the input,
/// or for large temporal kernels one GEMM per tap over shifted frames.
#include "r2plus1d/ops/conv3d_columns.hpp"

namespace r2plus1d::ops::detail {

/// Whether conv3d_packed_gemm runs a temporal kernel as one GEMM per tap over
/// shifted frames, its weights regrouped as (tap, out, in / groups): with the
/// packed kernels, a stride-1 (kt, 1, 1) kernel on at least
/// kTemporalDirectMinPositions outputs.
inline bool temporal_taps_preferred(const Conv3dGeometry& g) {
  return conv_kernels() == ConvKernels::kPacked && !g.identity_gather() && g.temporal_direct() &&
         g.out_plane() >= kTemporalDirectMinPositions;
}

/// Any convolution on Eigen's packed GEMM kernel: y = epilogue(conv(x, w)) for contiguous NCDHW x and y, weight (out, in/groups,
/// kd, kh, kw). Work items are (image, group, column chunk, row block) in that
/// order (conv3d_tiling). With more threads than items and packed weights,
/// chunks are cut into pieces of positions (each gathering only its own
/// columns), then row blocks into pieces of rows. A piece multiplied by one
/// row piece only packs its columns straight from the input (ColumnPacker);
/// otherwise each thread gathers them once into its column buffer and packs
/// them from there for each row piece. When the weights are too large to keep
/// packed, the whole team packs each chunk's columns once, from the input, and
/// then splits its row blocks. Every output element comes from one GEMM of a
/// fixed shape and blocking, followed by the epilogue on the still-cached block.
template <class T>
void conv3d_packed_gemm(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  const index_t P = g.out_plane();
  const index_t ldy = g.out_cstride();
  const index_t K = g.depth();
  const index_t og = g.out_per_group();
  const Conv3dTiling t = conv3d_tiling(P, K, og, g.groups, static_cast<index_t>(sizeof(T)));
  const index_t per_image = g.groups * t.chunks * t.row_blocks;
  const index_t tasks = g.batch * per_image;
  if (tasks == 0) return;
  const bool direct = g.identity_gather();
  const bool temporal = temporal_taps_preferred(g);
  const index_t cin = g.in_per_group(), HW = g.out_h * g.out_w;
  T* taps = nullptr;
  if (temporal) {
    taps = thread_workspace<T>(g.k_d * g.out_channels * cin, kTaps);
    for (index_t o = 0; o < g.out_channels; ++o)
      for (index_t c = 0; c < cin; ++c)
        for (index_t i = 0; i < g.k_d; ++i) taps[(i * g.out_channels + o) * cin + c] = w[(o * cin + c) * g.k_d + i];
  }
  // The weights of every (tap, group, row block) packed once when more than one
  // column chunk reads them and they are small enough to keep a packed copy
  // (otherwise each task packs its own rows, in parallel).
  const index_t n_taps = temporal ? g.k_d : 1, a_depth = temporal ? cin : K;
  const bool prepack = g.batch * t.chunks > 1 &&
                       n_taps * g.out_channels * a_depth * static_cast<index_t>(sizeof(T)) <= kPackedWeightsBudgetBytes;
  std::vector<PackedA<T>> packs;
  if (prepack) {
    // Each block packed at an aligned place of its own (packed_a_size), as
    // Eigen's kernel loads packed values with aligned loads.
    std::vector<PackJob<T>> jobs;
    std::vector<index_t> offsets;
    index_t packed_size = 0;
    for (index_t b = 0; b < n_taps * g.groups * t.row_blocks; ++b) {
      const index_t rb = b % t.row_blocks, grp = (b / t.row_blocks) % g.groups, i = b / (t.row_blocks * g.groups);
      const index_t r0 = rb * t.rows, rows = std::min(t.rows, og - r0);
      const index_t first = i * g.out_channels + grp * og + r0;  // row of the (tap-major) weight matrix
      const T* src = temporal ? taps + first * cin : w + first * K;
      const GemmBlocking blocking = gemm_blocking<T>(rows, a_depth, t.columns);
      jobs.push_back({rows, a_depth, src, a_depth, blocking, nullptr});
      offsets.push_back(packed_size);
      packed_size += packed_a_size<T>(rows, a_depth, blocking);
    }
    T* const packed = thread_workspace<T>(packed_size, kPackedA);
    for (std::size_t j = 0; j < jobs.size(); ++j) jobs[j].storage = packed + offsets[j];
    packs = pack_a_parallel(jobs);
  }
  auto pack_of = [&](index_t i, index_t grp, index_t rb) -> const PackedA<T>& {
    return packs[static_cast<std::size_t>((i * g.groups + grp) * t.row_blocks + rb)];
  };
  index_t work_size = 0;
  for (const PackedA<T>& pa : packs) work_size = std::max(work_size, packed_gemm_work_size(pa));
  // Weights too large to keep packed, several row blocks per chunk: the
  // columns of each (image, group, chunk) are packed once, by all the workers
  // together, and every row block's weights stream through them one depth
  // block at a time, with one blocking for the whole conv.
  const bool pack_columns = !prepack && !temporal && t.row_blocks > 1;
  const GemmBlocking blocking = pack_columns ? gemm_blocking<T>(t.rows, K, t.columns) : GemmBlocking{};
  const index_t threads = get_num_threads();
  // More threads than tasks: first cut each chunk of a conv with kept packed
  // weights into pieces of positions at the kernel's column panels
  // (gemm_column_step), at least kMinPieceColumns each, so that every thread
  // gathers only the columns it multiplies (the direct temporal path's taps
  // start at frame boundaries, not at the chunk's panels: it keeps whole
  // chunks). Then split each row block of packed weights (kept, or packed as
  // they go against packed columns) at the kernel's row panels
  // (packed_a_row_step), at least kMinSubRows rows each. Neither cut changes
  // any output's bits.
  constexpr index_t step = packed_a_row_step<T>();
  constexpr index_t column_step = gemm_column_step<T>();
  index_t pieces = 1;
  if (prepack && !temporal && threads > tasks)
    pieces = std::max<index_t>(1, std::min((threads + tasks - 1) / tasks, t.columns / kMinPieceColumns));
  const index_t items = tasks * pieces;
  index_t subs = 1, sub_rows = t.rows;
  if ((prepack || pack_columns) && threads > items) {
    subs = std::min((threads + items - 1) / items, t.rows / kMinSubRows);
    if (subs > 1) {
      sub_rows = ((t.rows + subs - 1) / subs + step - 1) / step * step;
      subs = (t.rows + sub_rows - 1) / sub_rows;
    } else {
      subs = 1;
    }
  }
  const index_t all = items * subs;
  const index_t workers = std::min<index_t>(threads, all);

  if (pack_columns) {
    const index_t keys = g.batch * g.groups * t.chunks;  // (image, group, chunk)
    const index_t pieces = t.row_blocks * subs;           // row pieces of one key
    T* const shared = thread_workspace<T>(packed_b_size<T>(K, t.columns, blocking), kPackedB);
    parallel_region(workers, [&](const Team& team) {
      ColumnPacker<T> packer(g);
      T* rows_a = thread_workspace<T>(blocking.kc * t.rows, kPackWork);
      for (index_t key = 0; key < keys; ++key) {
        const index_t chunk = key % t.chunks, grp = (key / t.chunks) % g.groups, n = key / (t.chunks * g.groups);
        const index_t p0 = chunk * t.columns, count = std::min(t.columns, P - p0);
        const T* xg = x + (n * g.in_channels + grp * g.in_per_group()) * g.in_cstride();
        // The key's columns, one (depth block, column block) per thread in turn.
        const index_t col_blocks = (count + blocking.nc - 1) / blocking.nc;
        const index_t blocks = (K + blocking.kc - 1) / blocking.kc * col_blocks;
        for (index_t b = team.rank(); b < blocks; b += team.size()) {
          const index_t k2 = (b / col_blocks) * blocking.kc, i2 = (b % col_blocks) * blocking.nc;
          const index_t kc = std::min(blocking.kc, K - k2), nc = std::min(blocking.nc, count - i2);
          if (direct) {
            pack_b_block(K, count, blocking, k2, i2, xg + k2 * g.in_cstride() + p0 + i2, g.in_cstride(), shared);
          } else {
            packer.bind(xg, p0);
            packer(shared + packed_b_offset<T>(K, count, blocking, k2, i2), i2, k2, nc, kc);
          }
        }
        team.barrier();
        const PackedB<T> packed_b{count, K, blocking.kc, blocking.nc, shared};
        const index_t first = team.rank() * pieces / team.size(), last = (team.rank() + 1) * pieces / team.size();
        for (index_t piece = first; piece < last; ++piece) {
          const index_t r0 = (piece / subs) * t.rows, rows = std::min(t.rows, og - r0);
          const index_t s0 = (piece % subs) * sub_rows;
          if (s0 >= rows) continue;
          const index_t srows = std::min(sub_rows, rows - s0);
          T* yg = y + (n * g.out_channels + grp * og + r0 + s0) * ldy + p0;
          for (index_t o = 0; o < srows; ++o) std::fill(yg + o * ldy, yg + o * ldy + count, T(0));
          gemm_packed_b(srows, w + (grp * og + r0 + s0) * K, K, packed_b, yg, ldy, rows_a);
          for (index_t o = 0; o < srows; ++o) apply_epilogue(epilogue, grp * og + r0 + s0 + o, yg + o * ldy, count);
        }
        team.barrier();  // the next key's columns overwrite these
      }
    });
    return;
  }

  // With kept packed weights and one row piece per chunk, each piece's columns
  // are packed once: straight from the input. Otherwise they are gathered once
  // and packed from that copy for each row piece.
  const bool pack_from_input = prepack && !direct && !temporal && t.row_blocks * subs == 1;
  parallel_for(0, workers, [&](index_t worker) {
    T* col = (direct || temporal || pack_from_input) ? nullptr : thread_workspace<T>(K * t.columns, kColumns);
    ColumnPacker<T> packer(g);
    T* work = prepack ? thread_workspace<T>(work_size, kPackWork) : nullptr;
    index_t cached = -1;  // (image, group, chunk, piece) whose columns `col` holds
    const index_t first = worker * all / workers, last = (worker + 1) * all / workers;
    // Item i: row piece i % subs of row block (i / subs) % row_blocks of
    // piece (i / (subs * row_blocks)) % pieces of (image, group, chunk)
    // i / (subs * row_blocks * pieces): a worker's items share columns.
    for (index_t item = first; item < last; ++item) {
      const index_t rb = (item / subs) % t.row_blocks;
      const index_t cut = item / (subs * t.row_blocks);  // (image, group, chunk, piece)
      const index_t key = cut / pieces;                   // (image, group, chunk)
      const index_t chunk = key % t.chunks;
      const index_t grp = (key / t.chunks) % g.groups;
      const index_t n = key / (t.chunks * g.groups);
      const index_t chunk_count = std::min(t.columns, P - chunk * t.columns);
      const index_t a0 = column_piece_start(cut % pieces, pieces, chunk_count, column_step);
      const index_t p0 = chunk * t.columns + a0;
      const index_t count = column_piece_start(cut % pieces + 1, pieces, chunk_count, column_step) - a0;
      const index_t r0 = rb * t.rows, rows = std::min(t.rows, og - r0);
      // This piece: rows [s0, s0 + srows) of the row block.
      const index_t s0 = (item % subs) * sub_rows;
      if (s0 >= rows || count == 0) continue;
      const index_t srows = std::min(sub_rows, rows - s0);

      const T* xg = x + (n * g.in_channels + grp * g.in_per_group()) * g.in_cstride();
      T* yg = y + (n * g.out_channels + grp * og + r0) * ldy + p0;
      for (index_t o = s0; o < s0 + srows; ++o) std::fill(yg + o * ldy, yg + o * ldy + count, T(0));

      if (temporal) {
        // Tap i reads input frame u - pd + i * dilation for output frame u: the
        // input at offset (i * dilation - pd) frames, for the output frames that
        // land inside the clip.
        for (index_t i = 0; i < g.k_d; ++i) {
          const index_t shift = i * g.dilation.d - g.padding.d;
          const index_t u_lo = std::max<index_t>(0, -shift), u_hi = std::min(g.out_d, g.in_d - shift);
          const index_t c0 = std::max(p0, u_lo * HW), c1 = std::min(p0 + count, u_hi * HW);
          if (c1 <= c0) continue;
          if (prepack)
            gemm_packed_accumulate(pack_of(i, grp, rb), c1 - c0, xg + shift * HW + c0, g.in_cstride(),
                                   yg + (c0 - p0), ldy, work, s0, srows);
          else
            gemm_accumulate<Eigen::RowMajor, Eigen::RowMajor>(rows, c1 - c0, cin,
                                                              taps + (i * g.out_channels + grp * og + r0) * cin, cin,
                                                              xg + shift * HW + c0, g.in_cstride(), yg + (c0 - p0),
                                                              ldy);
        }
        for (index_t o = s0; o < s0 + srows; ++o) apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy, count);
        continue;
      }
      if (pack_from_input) {
        packer.bind(xg, p0);
        gemm_packed_accumulate_with(pack_of(0, grp, rb), count, packer, yg, ldy, work, s0, srows);
        for (index_t o = s0; o < s0 + srows; ++o) apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy, count);
        continue;
      }
      const T* B;
      index_t ldb;
      if (direct) {
        B = xg + p0;
        ldb = g.in_cstride();
      } else {
        if (cut != cached) {
          vol2col_chunk(g, xg, p0, count, col);
          cached = cut;
        }
        B = col;
        ldb = count;
      }
      if (prepack) {
        gemm_packed_accumulate(pack_of(0, grp, rb), count, B, ldb, yg, ldy, work, s0, srows);
      } else {
        gemm_accumulate<Eigen::RowMajor, Eigen::RowMajor>(rows, count, K, w + (grp * og + r0) * K, K, B, ldb, yg, ldy);
      }
      for (index_t o = s0; o < s0 + srows; ++o) apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy, count);
    }
  });
}

}  // namespace r2plus1d::ops::detail

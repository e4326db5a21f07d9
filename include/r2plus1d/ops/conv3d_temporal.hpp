#pragma once
/// \file
/// The temporal (kt, 1, 1) convolutions: temporal_frames (GEMMs over input
/// frames packed once for Eigen's kernel) and temporal_rows (gemm_rows over
/// the input frames as they lie).
#include "r2plus1d/ops/conv3d_geometry.hpp"
#include "r2plus1d/ops/tuning.hpp"

namespace r2plus1d::ops::detail {


/// Whether conv3d_temporal_frames takes a convolution: a (kt, 1, 1) kernel,
/// kt > 1, with any temporal stride, padding and dilation, no spatial stride
/// or padding, one group, and an image's input within kPackedFramesBudgetBytes.
inline bool temporal_frames_ok(const Conv3dGeometry& g, index_t element_size) {
  return g.groups == 1 && g.temporal_whole_frames() &&
         g.in_channels * g.in_plane() * element_size <= kPackedFramesBudgetBytes;
}

/// How conv3d_temporal_frames cuts its work: depth blocks of kc input
/// channels, pieces of at most about nc positions per frame (cut at the
/// kernel's column panels), and blocks of weights and of output of about
/// stream_bytes each. Sizes only.
struct TemporalFramesBlocking {
  index_t kc = 1, nc = 1, stream_bytes = kStreamBlockBytes;
};

/// The blocking of Eigen's own product of the weights of one tap with one frame.
template <class T>
TemporalFramesBlocking temporal_frames_blocking(const Conv3dGeometry& g) {
  const GemmBlocking b = gemm_blocking<T>(g.out_channels, g.in_channels, g.out_h * g.out_w);
  return {b.kc, b.nc, kStreamBlockBytes};
}

/// A temporal (kt, 1, 1) convolution (temporal_frames_ok) as GEMMs over
/// input frames packed once. Output frame u is sum_i W_i X_f with
/// f = u * stride - padding + i * dilation: W_i (out, in) is tap i of the
/// weights and X_f (in, positions) input frame f. Each image's frames are
/// packed once into the kernel's column panels, cut into pieces of positions
/// (at the kernel's column panels, by sizes only) and depth blocks of
/// channels, and read in place by every tap and output frame that uses them;
/// taps that fall on padding are skipped. Work items are the pieces, and with
/// more threads than pieces their output channels are cut at the kernel's row
/// panels. An item takes each depth block of channels in turn and each tap
/// within it, packs that block of the tap's weights straight from their
/// (out, in, tap) order, and multiplies it with the block of every frame that
/// reads it while it is in cache. Every output sums its blocks in that order,
/// whatever the threads.
template <class T>
void conv3d_temporal_frames(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y,
                            const TemporalFramesBlocking& blocking) {
  const index_t HW = g.out_h * g.out_w, Cin = g.in_channels, Cout = g.out_channels, kt = g.k_d;
  const index_t D = g.in_d, Dt = g.out_d, ldx = g.in_cstride(), ldy = g.out_cstride();
  constexpr index_t step = gemm_column_step<T>(), row_step = packed_a_row_step<T>();
  const index_t kc = std::max<index_t>(1, blocking.kc), depth_blocks = (Cin + kc - 1) / kc;
  const index_t pieces = (HW + std::max<index_t>(1, blocking.nc) - 1) / std::max<index_t>(1, blocking.nc);
  const index_t stream_bytes = blocking.stream_bytes;
  const auto at = [](index_t q) { return static_cast<std::size_t>(q); };
  std::vector<index_t> start(at(pieces + 1)), offset(at(pieces + 1));
  for (index_t q = 0; q <= pieces; ++q) start[at(q)] = column_piece_start(q, pieces, HW, step);
  for (index_t q = 0; q < pieces; ++q) {
    const index_t len = start[at(q + 1)] - start[at(q)];
    offset[at(q + 1)] = offset[at(q)];
    for (index_t k2 = 0; k2 < Cin; k2 += kc) offset[at(q + 1)] += packed_block_stride<T>(len * std::min(kc, Cin - k2));
  }
  const index_t frame_size = offset.back();
  // Piece q of frame f, depth block j.
  auto block_of = [&](T* frames, index_t f, index_t q, index_t j) {
    return frames + f * frame_size + offset[at(q)] + j * packed_block_stride<T>((start[at(q + 1)] - start[at(q)]) * kc);
  };
  T* const packed_x = thread_workspace<T>(D * frame_size, kPackedB);

  const index_t threads = get_num_threads();
  index_t sub_rows = Cout;
  if (threads > pieces) {
    const index_t subs = std::max<index_t>(1, std::min((threads + pieces - 1) / pieces, Cout / kMinSubRows));
    sub_rows = ((Cout + subs - 1) / subs + row_step - 1) / row_step * row_step;
  }
  const index_t subs = (Cout + sub_rows - 1) / sub_rows;

  using Index = Eigen::Index;
  using Traits = Eigen::internal::gebp_traits<T, T>;
  using ResMapper = Eigen::internal::blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  Eigen::internal::gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  for (index_t n = 0; n < g.batch; ++n) {
    const T* xn = x + n * Cin * ldx;
    T* yn = y + n * Cout * ldy;
    parallel_for(0, D * pieces * depth_blocks, [&](index_t b) {
      const index_t j = b % depth_blocks, q = (b / depth_blocks) % pieces, f = b / (depth_blocks * pieces);
      const index_t s0 = start[at(q)], len = start[at(q + 1)] - s0;
      if (len > 0)
        pack_b_columns(xn + f * HW + s0, ldx, 0, j * kc, len, std::min(kc, Cin - j * kc), block_of(packed_x, f, q, j));
    });
    parallel_for(0, pieces * subs, [&](index_t item) {
      const index_t q = item / subs, s0 = start[at(q)], len = start[at(q + 1)] - s0;
      const index_t first = (item % subs) * sub_rows, last = std::min(Cout, first + sub_rows);
      if (len == 0 || first >= last) return;
      // Blocks of rows whose packed weights stay in cache, and groups of
      // output frames whose output block does.
      const index_t block_rows = std::max<index_t>(
          row_step, stream_bytes / (kc * static_cast<index_t>(sizeof(T))) / row_step * row_step);
      T* const work = thread_workspace<T>(kc * std::min(block_rows, last - first), kPackWork);
      for (index_t r0 = first; r0 < last; r0 += block_rows) {
        const index_t rows = std::min(block_rows, last - r0);
        const index_t group = std::max<index_t>(
            1, std::min(Dt, stream_bytes / (len * rows * static_cast<index_t>(sizeof(T)))));
        T* const yq = yn + r0 * ldy + s0;  // output channel r0, frame 0, the piece's first position
        for (index_t u0 = 0; u0 < Dt; u0 += group) {
          const index_t u1 = std::min(Dt, u0 + group);
          for (index_t o = 0; o < rows; ++o)
            for (index_t u = u0; u < u1; ++u) std::fill(yq + o * ldy + u * HW, yq + o * ldy + u * HW + len, T(0));
          for (index_t j = 0; j < depth_blocks; ++j) {
            const index_t c0 = j * kc, depth = std::min(kc, Cin - c0);
            for (index_t i = 0; i < kt; ++i) {
              // Tap i reads frame u * stride + shift for output frame u.
              const index_t shift = i * g.dilation.d - g.padding.d;
              const index_t lo = std::max(u0, shift >= 0 ? 0 : (-shift + g.stride.d - 1) / g.stride.d);
              const index_t hi = std::min(u1, D - shift > 0 ? (D - shift - 1) / g.stride.d + 1 : 0);
              if (hi <= lo) continue;
              pack_a_block_strided(w + (r0 * Cin + c0) * kt + i, Cin * kt, kt, rows, depth, work);
              for (index_t u = lo; u < hi; ++u)
                gebp(ResMapper(yq + u * HW, static_cast<Index>(ldy)), block_of(packed_x, u * g.stride.d + shift, q, j),
                     work, static_cast<Index>(len), static_cast<Index>(depth), static_cast<Index>(rows), T(1));
            }
          }
          for (index_t o = 0; o < rows; ++o)
            for (index_t u = u0; u < u1; ++u) apply_epilogue(epilogue, r0 + o, yq + o * ldy + u * HW, len);
        }
      }
    });
  }
}


/// A temporal (kt, 1, 1) convolution with no spatial stride or padding
/// (Conv3dGeometry::temporal_whole_frames) on gemm_rows, reading the input
/// and the weights where they lie: tap i of output frame u is input frame
/// u * sd - pd + i * dilation, whose rows of positions are B's rows as they
/// stand. The depth is taken tap-major, (tap, channel) (RowsA runs of one tap
/// over the channels), so that the taps landing inside the clip are one run
/// of it; taps on the temporal padding are left out of the sum. Work items are
/// (image, group, piece of positions, piece of output channels) through every
/// output frame, the frames that read all their taps in one product; as many
/// pieces as keep every thread busy: every output is one in-order sum
/// whatever the pieces.
template <class T>
void conv3d_temporal_rows(const Conv3dGeometry& g, const T* x, const T* w, const ConvEpilogue<T>& epilogue, T* y) {
  const index_t G = g.groups, cg = g.in_per_group(), og = g.out_per_group(), kt = g.k_d;
  const index_t K = cg * kt, HW = g.out_h * g.out_w, ldy = g.out_cstride();
  const index_t mr = rows_tile<T>();
  // Output frames [u_in, u_out) read every tap inside the clip.
  const index_t sd = g.stride.d, pd = g.padding.d, dil = g.dilation.d;
  const index_t u_in = std::min(g.out_d, (pd + sd - 1) / sd);
  const index_t last_in = g.in_d - 1 + pd - (kt - 1) * dil;  // u * sd may reach this
  const index_t u_out = last_in < 0 ? u_in : std::max(u_in, std::min(g.out_d, last_in / sd + 1));
  // Items: (image, group, piece of positions, piece of output channels), each
  // through every output frame; as many pieces as keep the threads busy.
  const index_t threads = get_num_threads(), blocks = (og + mr - 1) / mr;
  const index_t pieces =
      std::max<index_t>(1, std::min((2 * threads + g.batch * G - 1) / (g.batch * G), HW / kTemporalRowsMinPiece));
  const index_t row_pieces = std::max<index_t>(
      1, std::min((2 * threads + g.batch * G * pieces - 1) / (g.batch * G * pieces), blocks));
  parallel_for(0, g.batch * G * pieces * row_pieces, [&](index_t item) {
    const index_t rp = item % row_pieces, q = (item / row_pieces) % pieces;
    const index_t grp = (item / (row_pieces * pieces)) % G, n = item / (row_pieces * pieces * G);
    const index_t r0 = rp * blocks / row_pieces * mr, rows = std::min(og, (rp + 1) * blocks / row_pieces * mr) - r0;
    const index_t p0 = q * HW / pieces, count = (q + 1) * HW / pieces - p0;
    if (rows <= 0 || count <= 0) return;
    const T* const xg = x + (n * g.in_channels + grp * cg) * g.in_cstride();
    T* const yg = y + (n * g.out_channels + grp * og + r0) * ldy + p0;
    const RowsEpilogue<T> e{epilogue.scale != nullptr ? epilogue.scale + grp * og + r0 : nullptr,
                            epilogue.shift != nullptr ? epilogue.shift + grp * og + r0 : nullptr, epilogue.relu};
    // Step i * cg + c of the depth is channel c of tap i.
    const RowsA<T> a{w + (grp * og + r0) * K, K, cg, kt, 1};
    std::vector<index_t> offsets(static_cast<std::size_t>(K));
    // Taps [i_lo, i_hi) of output frame u (all of them from u_in to u_out),
    // their offsets for that frame.
    auto taps = [&](index_t u, index_t& i_lo, index_t& i_hi) {
      const index_t first = u * sd - pd;
      i_lo = first >= 0 ? 0 : (dil - 1 - first) / dil;
      i_hi = first >= g.in_d ? 0 : std::min(kt, (g.in_d - 1 - first) / dil + 1);
      for (index_t i = i_lo; i < i_hi; ++i)
        for (index_t c = 0; c < cg; ++c)
          offsets[static_cast<std::size_t>((i - i_lo) * cg + c)] = c * g.in_cstride() + (first + i * dil) * HW + p0;
    };
    RowsOptions unpadded;
    unpadded.b_padded = false;
    for (index_t u = 0; u < g.out_d; ++u) {
      if (u == u_in && u_out > u_in) {  // every frame with all its taps, in one product
        index_t i_lo = 0, i_hi = 0;
        taps(u, i_lo, i_hi);
        RowsOptions inside = unpadded;
        inside.segments = u_out - u_in;
        inside.b_step = sd * HW;
        inside.c_step = HW;
        gemm_rows(rows, count, K, a, xg, offsets.data(), yg + u * HW, ldy, e, inside);
        u = u_out - 1;
        continue;
      }
      index_t i_lo = 0, i_hi = 0;
      taps(u, i_lo, i_hi);
      if (i_hi <= i_lo) {  // only padding
        for (index_t o = 0; o < rows; ++o) {
          std::fill(yg + o * ldy + u * HW, yg + o * ldy + u * HW + count, T(0));
          apply_epilogue(epilogue, grp * og + r0 + o, yg + o * ldy + u * HW, count);
        }
        continue;
      }
      gemm_rows(rows, count, (i_hi - i_lo) * cg, a.from_run(i_lo), xg, offsets.data(), yg + u * HW, ldy, e,
                unpadded);
    }
  });
}

}  // namespace r2plus1d::ops::detail

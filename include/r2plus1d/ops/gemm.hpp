#pragma once
/// \file
/// The one matrix product every kernel uses: C += A * B through Eigen's blocked
/// GEMM, always on the calling thread. Eigen's own OpenMP split would re-block
/// the depth with the thread count and change the rounding, so kernels
/// parallelise outside (over batch, groups and chunks) and call this.

#include <Eigen/Core>

#include <algorithm>

#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/storage.hpp"

namespace r2plus1d::ops::detail {

/// C(m, n) += A(m, k) * B(k, n), C row-major with leading dimension ldc.
/// A and B are row-major (`ALayout`/`BLayout` = Eigen::RowMajor) or column-major
/// with leading dimensions lda and ldb. Single-threaded; the rounding depends
/// only on (m, n, k), never on the thread count.
template <int ALayout, int BLayout, class T>
void gemm_accumulate(index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, T* c,
                     index_t ldc) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  using Index = Eigen::Index;
  // What Eigen's `dst.noalias() += A * B` runs for a row-major destination when it does
  // not split the work over threads (the blocking is computed for one thread).
  Eigen::internal::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1, false>
      blocking(static_cast<Index>(m), static_cast<Index>(n), static_cast<Index>(k), 1, true);
  Eigen::internal::general_matrix_matrix_product<Index, T, ALayout, false, T, BLayout, false, Eigen::RowMajor, 1>::run(
      static_cast<Index>(m), static_cast<Index>(n), static_cast<Index>(k), a, static_cast<Index>(lda), b,
      static_cast<Index>(ldb), c, 1, static_cast<Index>(ldc), T(1), blocking, nullptr);
}

/// Where every packed block starts, in bytes: Eigen's GEMM kernel reads its
/// packed operands with aligned packet loads (built for SSE only, gebp loads
/// four values of the packed right-hand side at once with an aligned load; with
/// AVX it broadcasts them one by one), so each block must start where Eigen's
/// own packing buffers would. 64 bytes is a cache line and the widest packet
/// any build of Eigen uses, so packed layouts are the same whatever -march a
/// program is compiled with. Tensor storage (and so every workspace) is
/// aligned at least this much.
inline constexpr index_t kPackedAlignment = 64;
static_assert(EIGEN_MAX_ALIGN_BYTES <= kPackedAlignment, "Eigen's packets are wider than packed blocks are aligned");
static_assert(kTensorAlignment % kPackedAlignment == 0, "tensor storage must hold packed blocks aligned");

/// Elements of a packed block, rounded up so that the next block starts
/// kPackedAlignment-aligned.
template <class T>
constexpr index_t packed_block_stride(index_t elements) {
  constexpr index_t align = kPackedAlignment / static_cast<index_t>(sizeof(T));
  static_assert(align * static_cast<index_t>(sizeof(T)) == kPackedAlignment, "packed elements must tile the alignment");
  return (elements + align - 1) / align * align;
}

/// Where the depth block that starts at k2 (a multiple of kc) of a PackedA of
/// an (m, k) matrix with depth blocks of kc starts in its storage: blocks of
/// m * kc values, each rounded up to packed_block_stride, so that every block
/// starts aligned.
template <class T>
constexpr index_t packed_a_block_offset(index_t m, index_t kc, index_t k2) {
  return k2 / kc * packed_block_stride<T>(m * kc);
}

/// A weight matrix A(m, k) (row-major) packed once, in the layout of Eigen's
/// GEMM kernel, for many products C(m, n) += A * B that share it: a
/// convolution's weights against every chunk of its columns. `kc` (the depth
/// block) depends on k only, so every product accumulates in the same order
/// whatever its n; `nc` is the widest n the products use (Eigen's row block of
/// B^T). `data` is kPackedAlignment-aligned.
template <class T>
struct PackedA {
  index_t m = 0, k = 0, kc = 1, nc = 1;
  const T* data = nullptr;  // depth block after depth block (packed_a_block_offset), each aligned

  /// The depth block that starts at k2, row r's values at r * (its depth).
  const T* block(index_t k2) const { return data + packed_a_block_offset<T>(m, kc, k2); }
};

/// The depth block (kc) and column block (nc) of products of an (m, k) A with
/// B of at most max_n columns: what Eigen's own product uses for
/// C^T(n, m) += B^T(n, k) * A^T(k, m) on one thread.
struct GemmBlocking {
  index_t kc = 1, nc = 1;
};
template <class T>
GemmBlocking gemm_blocking(index_t m, index_t k, index_t max_n) {
  using Index = Eigen::Index;
  Index kc = k, mc = std::max<index_t>(1, max_n), nc = m;
  Eigen::internal::computeProductBlockingSizes<T, T, 1, Index>(kc, mc, nc, Index(1));
  return {static_cast<index_t>(kc), static_cast<index_t>(mc)};
}

/// Values a PackedA of an (m, k) matrix with depth blocks of kc takes: every
/// block rounded up to an aligned start, so that a PackedA placed this many
/// values after another's (aligned) start is aligned too.
template <class T>
index_t packed_a_size(index_t m, index_t k, index_t kc) {
  if (m <= 0 || k <= 0) return 0;
  const index_t last = (k - 1) / kc * kc;
  return packed_a_block_offset<T>(m, kc, last) + packed_block_stride<T>(m * (k - last));
}
template <class T>
index_t packed_a_size(index_t m, index_t k, const GemmBlocking& blocking) {
  return packed_a_size<T>(m, k, blocking.kc);
}

/// Packs rows [r0, r0 + rows) of A(m, k) (row-major, leading dimension lda,
/// `a` at row 0) into their place in the storage of A's PackedA with the given
/// blocking (packed_a_size values, kPackedAlignment-aligned). r0 must be a
/// multiple of packed_a_row_step, and rows too unless the range ends at m:
/// ranges are then independent, so threads may pack different ranges of one
/// PackedA.
template <class T>
void pack_a_rows(index_t m, index_t k, const T* a, index_t lda, const GemmBlocking& blocking, index_t r0,
                 index_t rows, T* storage) {
  using Index = Eigen::Index;
  using namespace Eigen::internal;
  const Index kc = blocking.kc;
  using RhsMapper = const_blas_data_mapper<T, Index, Eigen::ColMajor>;
  gemm_pack_rhs<T, Index, RhsMapper, gebp_traits<T, T>::nr, Eigen::ColMajor> pack_rhs;
  const RhsMapper rhs(a, static_cast<Index>(lda));  // A^T (k, m) column-major is A row-major
  // Depth block after depth block, each holding row r's values at r * actual_kc.
  for (Index k2 = 0; k2 < k; k2 += kc) {
    const Index actual_kc = std::min<Index>(k2 + kc, k) - k2;
    pack_rhs(storage + packed_a_block_offset<T>(m, kc, k2) + r0 * actual_kc,
             rhs.getSubMapper(k2, static_cast<Index>(r0)), actual_kc, static_cast<Index>(rows));
  }
}

/// One depth block of A in the layout of pack_a_rows, for an A whose element
/// (r, c) lies at a[r * lda + c * inc]: `a` at A(r0, k2), `rows` rows from r0
/// and `kc` of the depth from k2, into `dst` (rows * kc values). For views
/// that stride through the depth, such as one tap of a convolution's weights
/// kept in their (out, in, tap) order, which Eigen's packing (unit strides
/// only) cannot read: panels of nr rows (and with nr >= 8, then of 4), each
/// holding the block's depth for its rows side by side, then single rows.
template <class T>
void pack_a_block_strided(const T* a, index_t lda, index_t inc, index_t rows, index_t kc, T* dst) {
  constexpr index_t nr = Eigen::internal::gebp_traits<T, T>::nr;
  index_t j = 0;
  auto panels = [&](index_t width) {
    for (; j + width <= rows; j += width) {
      const T* src = a + j * lda;
      for (index_t d = 0; d < kc; ++d)
        for (index_t i = 0; i < width; ++i) *dst++ = src[i * lda + d * inc];
    }
  };
  if (nr >= 8) panels(8);
  if (nr >= 4) panels(4);
  panels(1);
}

/// pack_a_rows for an A whose element (r, c) lies at a[r * lda + c * inc].
template <class T>
void pack_a_rows(index_t m, index_t k, const T* a, index_t lda, index_t inc, const GemmBlocking& blocking,
                 index_t r0, index_t rows, T* storage) {
  if (inc == 1) {
    pack_a_rows(m, k, a, lda, blocking, r0, rows, storage);
    return;
  }
  for (index_t k2 = 0; k2 < k; k2 += blocking.kc) {
    const index_t kc = std::min(k2 + blocking.kc, k) - k2;
    pack_a_block_strided(a + r0 * lda + k2 * inc, lda, inc, rows, kc,
                         storage + packed_a_block_offset<T>(m, blocking.kc, k2) + r0 * kc);
  }
}

/// Packs A(m, k), row-major with leading dimension lda, into `storage`
/// (packed_a_size(m, k, blocking) values, kPackedAlignment-aligned), with the
/// given blocking.
template <class T>
PackedA<T> pack_a(index_t m, index_t k, const T* a, index_t lda, const GemmBlocking& blocking, T* storage) {
  pack_a_rows(m, k, a, lda, blocking, 0, m, storage);
  return PackedA<T>{m, k, blocking.kc, blocking.nc, storage};
}

/// pack_a with the blocking of products with B of at most `max_n` columns.
template <class T>
PackedA<T> pack_a(index_t m, index_t k, const T* a, index_t lda, index_t max_n, T* storage) {
  return pack_a(m, k, a, lda, gemm_blocking<T>(m, k, max_n), storage);
}

/// B(k, n), row-major, packed once for products with every A of the same
/// blocking: a chunk of a convolution's columns against each row block of its
/// weights, when the weights are too large to keep packed.
template <class T>
struct PackedB {
  index_t n = 0, k = 0, kc = 1, nc = 1;
  const T* data = nullptr;  // (depth block, column block) after another, each kPackedAlignment-aligned
};

/// Values a PackedB of a (k, n) matrix holds with this blocking.
template <class T>
index_t packed_b_size(index_t k, index_t n, const GemmBlocking& blocking) {
  index_t total = 0;
  for (index_t k2 = 0; k2 < k; k2 += blocking.kc)
    for (index_t i2 = 0; i2 < n; i2 += blocking.nc)
      total += packed_block_stride<T>(std::min(blocking.nc, n - i2) * std::min(blocking.kc, k - k2));
  return total;
}

/// Where block (k2, i2) of a PackedB of a (k, n) matrix starts in its
/// storage (k2 and i2 multiples of the blocking's kc and nc).
template <class T>
index_t packed_b_offset(index_t k, index_t n, const GemmBlocking& blocking, index_t k2, index_t i2) {
  index_t offset = 0;
  for (index_t kk = 0; kk < k2; kk += blocking.kc)
    for (index_t ii = 0; ii < n; ii += blocking.nc)
      offset += packed_block_stride<T>(std::min(blocking.nc, n - ii) * std::min(blocking.kc, k - kk));
  for (index_t ii = 0; ii < i2; ii += blocking.nc)
    offset += packed_block_stride<T>(std::min(blocking.nc, n - ii) * std::min(blocking.kc, k - k2));
  return offset;
}

/// Packs B's rows [k2, k2 + kc) and columns [i2, i2 + nc) (B row-major with
/// leading dimension ldb) into `dst` in the layout of
/// for_each_packed_column_panel: Eigen's own packing of that block, as its
/// GEMM does it on the fly.
template <class T>
void pack_b_columns(const T* b, index_t ldb, index_t i2, index_t k2, index_t nc, index_t kc, T* dst) {
  using Index = Eigen::Index;
  using namespace Eigen::internal;
  using Traits = gebp_traits<T, T>;
  using LhsMapper = const_blas_data_mapper<T, Index, Eigen::ColMajor>;
  gemm_pack_lhs<T, Index, LhsMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing,
                Eigen::ColMajor>
      pack_lhs;
  const LhsMapper lhs(b, static_cast<Index>(ldb));  // B^T (n, k) column-major is B row-major
  pack_lhs(dst, lhs.getSubMapper(static_cast<Index>(i2), static_cast<Index>(k2)), static_cast<Index>(kc),
           static_cast<Index>(nc));
}

/// Packs block (k2, i2) of a (k, n) matrix B into its place in `storage` (see
/// pack_b): `b` points at B(k2, i2), row-major with leading dimension ldb.
/// Blocks are independent, so threads may pack different blocks of one PackedB.
template <class T>
void pack_b_block(index_t k, index_t n, const GemmBlocking& blocking, index_t k2, index_t i2, const T* b, index_t ldb,
                  T* storage) {
  pack_b_columns(b, ldb, 0, 0, std::min(blocking.nc, n - i2), std::min(blocking.kc, k - k2),
                 storage + packed_b_offset<T>(k, n, blocking, k2, i2));
}

/// Packs B(k, n), row-major with leading dimension ldb, into `storage`
/// (packed_b_size(k, n, blocking) values, kPackedAlignment-aligned), each
/// block in the layout gemm_packed_accumulate packs it into on the fly.
template <class T>
PackedB<T> pack_b(index_t k, index_t n, const T* b, index_t ldb, const GemmBlocking& blocking, T* storage) {
  for (index_t k2 = 0; k2 < k; k2 += blocking.kc)
    for (index_t i2 = 0; i2 < n; i2 += blocking.nc) pack_b_block(k, n, blocking, k2, i2, b + k2 * ldb + i2, ldb, storage);
  return PackedB<T>{n, k, blocking.kc, blocking.nc, storage};
}

/// C(m, n) += A(m, k) * B(k, n) with B packed by pack_b and A row-major with
/// leading dimension lda, packed here one depth block at a time into `work`
/// (blocking.kc * m values, kPackedAlignment-aligned) so that it stays in
/// cache; C row-major with leading dimension ldc. The arithmetic of gemm_packed_accumulate with the
/// same blocking, without packing B again. Single-threaded.
template <class T>
void gemm_packed_b(index_t m, const T* a, index_t lda, const PackedB<T>& b, T* c, index_t ldc, T* work) {
  if (m <= 0 || b.n <= 0 || b.k <= 0) return;
  using Index = Eigen::Index;
  using namespace Eigen::internal;
  using Traits = gebp_traits<T, T>;
  using RhsMapper = const_blas_data_mapper<T, Index, Eigen::ColMajor>;
  using ResMapper = blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  gemm_pack_rhs<T, Index, RhsMapper, Traits::nr, Eigen::ColMajor> pack_rhs;
  gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  const RhsMapper rhs(a, static_cast<Index>(lda));  // A^T (k, m) column-major is A row-major
  const ResMapper res(c, static_cast<Index>(ldc));  // C^T (n, m) likewise
  // Depth blocks outside, column blocks inside (pack_b's order): each element
  // still sums its depth blocks in order.
  const T* block = b.data;
  for (Index k2 = 0; k2 < b.k; k2 += b.kc) {
    const Index actual_kc = std::min<Index>(k2 + b.kc, b.k) - k2;
    pack_rhs(work, rhs.getSubMapper(k2, 0), actual_kc, static_cast<Index>(m));
    for (Index i2 = 0; i2 < b.n; i2 += b.nc) {
      const Index actual_nc = std::min<Index>(i2 + b.nc, b.n) - i2;
      gebp(res.getSubMapper(i2, 0), block, work, actual_nc, actual_kc, static_cast<Index>(m), T(1));
      block += packed_block_stride<T>(actual_nc * actual_kc);
    }
  }
}

/// Values of the per-thread buffer gemm_packed_accumulate needs for `a`.
template <class T>
index_t packed_gemm_work_size(const PackedA<T>& a) {
  return a.kc * a.nc;
}

/// Rows of a PackedA that a sub-range must start at: the kernel's panel of
/// output columns (Eigen's nr). Rows [r0, r0 + count) with r0 a multiple of it,
/// and count a multiple of it unless the range ends at m, go through exactly the
/// kernels they go through in the whole product, so a product split this way
/// gives the same bits.
template <class T>
constexpr index_t packed_a_row_step() {
  return Eigen::internal::gebp_traits<T, T>::nr;
}

/// Columns of B (and C) a sub-range of a product must start at: the kernel's
/// panel of rows of B^T (Eigen's mr). A product over n columns cut into ranges
/// [c0, c1) with every c0 a multiple of it (counted from the product's first
/// column) and every range but the last a multiple of it long sends each column
/// through the kernel it goes through in the whole product, with the same
/// blocking: the same bits.
template <class T>
constexpr index_t gemm_column_step() {
  return Eigen::internal::gebp_traits<T, T>::mr;
}

/// The row panels Eigen's GEMM cuts the n rows of B^T (the columns of B) into
/// when it packs them (gemm_pack_lhs, column-major): f(start, width) for each,
/// in order; panels of three, two and one packets, then half and quarter
/// packets, then single rows. In a packed block of depth kc, panel (s, w) holds
/// B(k, s + i) at s * kc + k * w + i.
// Packet types carry alignment attributes that GCC drops, and warns about, as template arguments.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
/// Widths of the packets Eigen's GEMM packs B^T's rows with: whole, half and quarter.
template <class T>
struct ColumnPacketWidths {
  using Packet = typename Eigen::internal::gebp_traits<T, T>::LhsPacket4Packing;
  using Half = typename Eigen::internal::unpacket_traits<Packet>::half;
  using Quarter = typename Eigen::internal::unpacket_traits<Half>::half;
  static constexpr index_t whole = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr index_t half = Eigen::internal::unpacket_traits<Half>::size;
  static constexpr index_t quarter = Eigen::internal::unpacket_traits<Quarter>::size;
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class T, class F>
void for_each_packed_column_panel(index_t n, F&& f) {
  using Traits = Eigen::internal::gebp_traits<T, T>;
  constexpr index_t P = ColumnPacketWidths<T>::whole, H = ColumnPacketWidths<T>::half,
                    Q = ColumnPacketWidths<T>::quarter, mr = Traits::mr;
  static_assert(Traits::LhsProgress >= P, "real products only");
  index_t i = 0;
  auto run = [&](index_t width, index_t end) {
    for (; i + width <= end; i += width) f(i, width);
  };
  if (mr >= 3 * P) run(3 * P, n);
  if (mr >= 2 * P) run(2 * P, n);
  if (mr >= P) run(P, n);
  if (H < P && mr >= H) run(H, n);
  if (Q < H && mr >= Q) run(Q, n / Q * Q);
  run(1, n);
}

/// C(m, n) += A(m, k) * B(k, n) with A packed by pack_a and B's blocks given
/// by `pack_b_block(dst, i2, k2, nc, kc)`: B's rows [k2, k2 + kc) and columns
/// [i2, i2 + nc) in the layout of for_each_packed_column_panel, either written
/// into `dst` (kc * nc values) or already packed elsewhere; it returns where
/// the block is, kPackedAlignment-aligned. C row-major with leading dimension
/// ldc; `work` holds packed_gemm_work_size(a) values, kPackedAlignment-aligned
/// (Eigen's kernel loads both packed operands with aligned loads). The loop
/// of Eigen's sequential product, the packing of A taken out of it. With `rows`
/// > 0, only A's rows [r0, r0 + rows) (C's rows likewise, c still pointing at
/// row 0), r0 and rows as packed_a_row_step says. Single-threaded.
template <class T, class PackB>
void gemm_packed_accumulate_with(const PackedA<T>& a, index_t n, PackB&& pack_b_block, T* c, index_t ldc, T* work,
                                 index_t r0 = 0, index_t rows = -1) {
  if (rows < 0) rows = a.m - r0;
  if (rows <= 0 || n <= 0 || a.k <= 0) return;
  using Index = Eigen::Index;
  using namespace Eigen::internal;
  using Traits = gebp_traits<T, T>;
  using ResMapper = blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  const ResMapper res(c, static_cast<Index>(ldc));  // C^T (n, m) column-major is C row-major
  for (index_t i2 = 0; i2 < n; i2 += a.nc) {
    const index_t actual_nc = std::min(i2 + a.nc, n) - i2;
    for (index_t k2 = 0; k2 < a.k; k2 += a.kc) {
      const index_t actual_kc = std::min(k2 + a.kc, a.k) - k2;
      const T* block = pack_b_block(work, i2, k2, actual_nc, actual_kc);
      // Packed A: depth block after depth block, each aligned, each row's values actual_kc apart.
      gebp(res.getSubMapper(static_cast<Index>(i2), static_cast<Index>(r0)), block, a.block(k2) + r0 * actual_kc,
           static_cast<Index>(actual_nc), static_cast<Index>(actual_kc), static_cast<Index>(rows), T(1));
    }
  }
}

/// C(m, n) += A(m, k) * B(k, n) with A packed by pack_a, B row-major with
/// leading dimension ldb, C row-major with ldc; `work` holds
/// packed_gemm_work_size(a) values, kPackedAlignment-aligned. Rows as in
/// gemm_packed_accumulate_with.
/// Single-threaded.
template <class T>
void gemm_packed_accumulate(const PackedA<T>& a, index_t n, const T* b, index_t ldb, T* c, index_t ldc, T* work,
                            index_t r0 = 0, index_t rows = -1) {
  gemm_packed_accumulate_with(
      a, n,
      [&](T* dst, index_t i2, index_t k2, index_t nc, index_t kc) -> const T* {
        pack_b_columns(b, ldb, i2, k2, nc, kc, dst);
        return dst;
      },
      c, ldc, work, r0, rows);
}

}  // namespace r2plus1d::ops::detail

// The register-tile microkernels of gemm_rows and gemm_thin, written once for
// every instruction set. Not a header of its own: each ISA's header includes
// it inside its namespace (and, for x86, inside a target region), after
// defining there
//   template <class T> struct Vec   // V, L (lanes), load, store, set1, fma(a, b, c) = a * b + c, add, relu
//   constexpr int kTileRows;        // MR: output channels of a register tile
//   constexpr int kTileVectors;     // NV: vectors of positions of a register tile (1 to 3)
// The tile is MR output channels by kTileVectors vectors of positions: for
// each step of the depth it loads the tile's run of one B row and broadcasts
// one weight per channel, one fused multiply-add per (channel, vector).
// Every output is one in-order sum over the depth, whatever tile it falls in.

// The loops over a tile's rows and vectors unrolled whatever the optimisation
// level, so that the accumulators live in registers at -O2 as at -O3.
#ifndef R2PLUS1D_UNROLL
#if defined(__clang__) || defined(__GNUC__)
#define R2PLUS1D_UNROLL _Pragma("GCC unroll 32")
#else
#define R2PLUS1D_UNROLL
#endif
#endif

/// The epilogue on one register row: v * scale + shift (fused), or v + shift,
/// then relu. `i` is the row of C.
template <class T>
inline typename Vec<T>::V epilogue_row(typename Vec<T>::V v, const RowsEpilogue<T>& e, index_t i) {
  if (e.scale != nullptr)
    v = Vec<T>::fma(v, Vec<T>::set1(e.scale[i]), Vec<T>::set1(e.shift != nullptr ? e.shift[i] : T(0)));
  else if (e.shift != nullptr)
    v = Vec<T>::add(v, Vec<T>::set1(e.shift[i]));
  if (e.relu) v = Vec<T>::relu(v);
  return v;
}

/// epilogue_row for one row i, its scale and shift broadcast once: for loops
/// that store many vectors of one row, where epilogue_row would read e's
/// arrays again after every store that might alias them. One fused
/// multiply-add whatever e holds, with the same bits: a missing scale is 1
/// (v * 1 + shift rounds once, as v + shift), a missing shift 0, or -0 when
/// the scale is missing too (v + -0 is v, -0 included).
template <class T>
struct RowEpilogue {
  using V = typename Vec<T>::V;
  V scale, shift;
  bool relu;
  RowEpilogue(const RowsEpilogue<T>& e, index_t i)
      : scale(Vec<T>::set1(e.scale != nullptr ? e.scale[i] : T(1))),
        shift(Vec<T>::set1(e.shift != nullptr ? e.shift[i] : e.scale != nullptr ? T(0) : -T(0))),
        relu(e.relu) {}
  V operator()(V v) const {
    v = Vec<T>::fma(v, scale, shift);
    return relu ? Vec<T>::relu(v) : v;
  }
};

/// gemm_rows's tile: MR rows of C from r0 and `cols` (at most NV vectors)
/// columns, over k steps (whole runs) of A read as it lies (RowsA) and B's
/// rows at b + offsets[s], each read for NV whole vectors. The epilogue is
/// applied before the store.
template <class T, int NV, int MR>
void rows_tile_kernel(index_t k, const RowsA<T>& a, const T* b, const index_t* offsets, T* c, index_t ldc,
                      index_t r0, index_t cols, const RowsEpilogue<T>& e) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  V acc[MR][NV];
  R2PLUS1D_UNROLL
  for (int i = 0; i < MR; ++i)
    R2PLUS1D_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = W::set1(T(0));
  const T* rows[MR];
  R2PLUS1D_UNROLL
  for (int i = 0; i < MR; ++i) rows[i] = a.data + i * a.ld;
  const index_t run = a.run, step = a.step;
  for (index_t s = 0, first = 0; s < k; s += run, first += a.run_stride) {
    const index_t* const offs = offsets + s;
    for (index_t q = 0, at = first; q < run; ++q, at += step) {
      const T* row = b + offs[q];
      V bv[NV];
      R2PLUS1D_UNROLL
      for (int v = 0; v < NV; ++v) bv[v] = W::load(row + v * L);
      R2PLUS1D_UNROLL
      for (int i = 0; i < MR; ++i) {
        const V w = W::set1(rows[i][at]);
        R2PLUS1D_UNROLL
        for (int v = 0; v < NV; ++v) acc[i][v] = W::fma(w, bv[v], acc[i][v]);
      }
    }
  }
  T tail[NV * L];
  R2PLUS1D_UNROLL
  for (int i = 0; i < MR; ++i) {
    T* out = c + i * ldc;
    R2PLUS1D_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = epilogue_row<T>(acc[i][v], e, r0 + i);
    if (cols == NV * L) {
      R2PLUS1D_UNROLL
      for (int v = 0; v < NV; ++v) W::store(out + v * L, acc[i][v]);
    } else {
      R2PLUS1D_UNROLL
      for (int v = 0; v < NV; ++v) W::store(tail + v * L, acc[i][v]);
      for (index_t q = 0; q < cols; ++q) out[q] = tail[q];
    }
  }
}

/// gemm_thin's tile: MR rows of C from r0 and NV whole vectors of columns,
/// over kk steps of the depth from A's rows at a (lda apart) and B's rows at
/// b (ldb apart). Adds to C when `accumulate`; applies the epilogue when `e`
/// is given.
template <class T, int NV, int MR>
void thin_tile_kernel(index_t kk, const T* a, index_t lda, const T* b, index_t ldb, T* c, index_t ldc, index_t r0,
                      bool accumulate, const RowsEpilogue<T>* e) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  V acc[MR][NV];
  R2PLUS1D_UNROLL
  for (int i = 0; i < MR; ++i)
    R2PLUS1D_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = accumulate ? W::load(c + i * ldc + v * L) : W::set1(T(0));
  const T* rows[MR];
  R2PLUS1D_UNROLL
  for (int i = 0; i < MR; ++i) rows[i] = a + i * lda;
  for (index_t s = 0; s < kk; ++s, b += ldb) {
    V bv[NV];
    R2PLUS1D_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = W::load(b + v * L);
    R2PLUS1D_UNROLL
    for (int i = 0; i < MR; ++i) {
      const V w = W::set1(rows[i][s]);
      R2PLUS1D_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = W::fma(w, bv[v], acc[i][v]);
    }
  }
  R2PLUS1D_UNROLL
  for (int i = 0; i < MR; ++i)
    R2PLUS1D_UNROLL
    for (int v = 0; v < NV; ++v)
      W::store(c + i * ldc + v * L, e != nullptr ? epilogue_row<T>(acc[i][v], *e, r0 + i) : acc[i][v]);
}

/// A tile of `rows` (1 to kTileRows) rows: a short block computes only its rows.
template <class T, int NV, int MR = kTileRows>
void rows_tile_of(index_t rows, index_t k, const RowsA<T>& a, const T* b, const index_t* offsets, T* c, index_t ldc,
                  index_t r0, index_t cols, const RowsEpilogue<T>& e) {
  if constexpr (MR > 1) {
    if (rows < MR) return rows_tile_of<T, NV, MR - 1>(rows, k, a, b, offsets, c, ldc, r0, cols, e);
  }
  rows_tile_kernel<T, NV, MR>(k, a, b, offsets, c, ldc, r0, cols, e);
}

template <class T, int NV, int MR = kTileRows>
void thin_tile_of(index_t rows, index_t kk, const T* a, index_t lda, const T* b, index_t ldb, T* c, index_t ldc,
                  index_t r0, bool accumulate, const RowsEpilogue<T>* e) {
  if constexpr (MR > 1) {
    if (rows < MR) return thin_tile_of<T, NV, MR - 1>(rows, kk, a, lda, b, ldb, c, ldc, r0, accumulate, e);
  }
  thin_tile_kernel<T, NV, MR>(kk, a, lda, b, ldb, c, ldc, r0, accumulate, e);
}

/// Entry points with the tile's height and width (1 to kTileVectors vectors) at run time.
template <class T>
void rows_tile(index_t rows, index_t vectors, index_t k, const RowsA<T>& a, const T* b, const index_t* offsets, T* c,
               index_t ldc, index_t r0, index_t cols, const RowsEpilogue<T>& e) {
  static_assert(kTileVectors >= 1 && kTileVectors <= 3, "the switch below covers 1 to 3 vectors");
  constexpr int v3 = kTileVectors >= 3 ? 3 : 1, v2 = kTileVectors >= 2 ? 2 : 1;
  if (vectors == 3) rows_tile_of<T, v3>(rows, k, a, b, offsets, c, ldc, r0, cols, e);
  else if (vectors == 2) rows_tile_of<T, v2>(rows, k, a, b, offsets, c, ldc, r0, cols, e);
  else rows_tile_of<T, 1>(rows, k, a, b, offsets, c, ldc, r0, cols, e);
}

template <class T>
void thin_tile(index_t rows, index_t vectors, index_t kk, const T* a, index_t lda, const T* b, index_t ldb, T* c,
               index_t ldc, index_t r0, bool accumulate, const RowsEpilogue<T>* e) {
  constexpr int v3 = kTileVectors >= 3 ? 3 : 1, v2 = kTileVectors >= 2 ? 2 : 1;
  if (vectors == 3) thin_tile_of<T, v3>(rows, kk, a, lda, b, ldb, c, ldc, r0, accumulate, e);
  else if (vectors == 2) thin_tile_of<T, v2>(rows, kk, a, lda, b, ldb, c, ldc, r0, accumulate, e);
  else thin_tile_of<T, 1>(rows, kk, a, lda, b, ldb, c, ldc, r0, accumulate, e);
}

/// sum_s a[s] * b[s]: fused multiply-adds in vector lanes over the whole
/// vectors, the lanes added in order, then the rest one by one.
template <class T>
T dot(index_t n, const T* a, const T* b) {
  using W = Vec<T>;
  constexpr index_t L = W::L;
  const index_t whole = n / L * L;
  typename W::V acc = W::set1(T(0));
  for (index_t s = 0; s < whole; s += L) acc = W::fma(W::load(a + s), W::load(b + s), acc);
  T lanes[L];
  W::store(lanes, acc);
  T sum = T(0);
  for (index_t l = 0; l < L; ++l) sum += lanes[l];
  for (index_t s = whole; s < n; ++s) sum += a[s] * b[s];
  return sum;
}

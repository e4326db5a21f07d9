// The Winograd transforms of conv3d_winograd, vectorised across tiles and
// written once for every instruction set. Not a header of its own: each ISA's
// header includes it after rows_microkernels.inl (whose Vec, R2PLUS1D_UNROLL
// and epilogue_row it uses), inside its namespace and target region. F is one
// of ops/winograd.hpp's transforms; its matrices are compile-time constants,
// so once the loops are unrolled every zero coefficient drops out.

/// Whether the instruction set's Vec has interleave4 / deinterleave4 (and
/// the masked load_n / store_n they come with; it says so in kInterleave4): the gather and scatter of
/// F(4x4, 3x3) then move whole vectors of tiles, not one value at a time.
template <class W, class = void>
struct HasInterleave4 : std::false_type {};
template <class W>
struct HasInterleave4<W, std::void_t<decltype(W::kInterleave4)>> : std::bool_constant<W::kInterleave4> {};

/// out[r] = sum_c mat[r][c] * in[c] for the nonzero coefficients, in order of c.
template <class T, int R, int C>
inline void winograd_matvec(const double (&mat)[R][C], const typename Vec<T>::V (&in)[C],
                            typename Vec<T>::V (&out)[R]) {
  using W = Vec<T>;
  R2PLUS1D_UNROLL
  for (int r = 0; r < R; ++r) {
    typename W::V acc = W::set1(T(0));
    R2PLUS1D_UNROLL
    for (int c = 0; c < C; ++c)
      if (mat[r][c] != 0) acc = W::fma(W::set1(static_cast<T>(mat[r][c])), in[c], acc);
    out[r] = acc;
  }
}

/// out = B^T in, the 1-D input transform of F. F(4, 3)'s in a factored form:
/// its rows 1-2 and 3-4 are sums and differences of the same two partial
/// sums (of the even and the odd inputs), 12 operations instead of the 22 of
/// the matrix's nonzeros. Every other F by winograd_matvec.
template <class T, class F>
inline void winograd_bt(const typename Vec<T>::V (&in)[F::alpha], typename Vec<T>::V (&out)[F::alpha]) {
  if constexpr (std::is_same_v<F, WinogradF4>) {
    using W = Vec<T>;
    const typename W::V four = W::set1(T(4)), minus4 = W::set1(T(-4)), minus5 = W::set1(T(-5)), two = W::set1(T(2));
    const typename W::V p = W::fma(minus4, in[2], in[4]), q = W::fma(minus4, in[1], in[3]);  // d4 - 4 d2, d3 - 4 d1
    const typename W::V r = W::sub(in[4], in[2]), s = W::sub(in[3], in[1]);
    out[0] = W::fma(four, in[0], W::fma(minus5, in[2], in[4]));
    out[1] = W::add(p, q);
    out[2] = W::sub(p, q);
    out[3] = W::fma(two, s, r);
    out[4] = W::fma(W::set1(T(-2)), s, r);
    out[5] = W::fma(four, in[1], W::fma(minus5, in[3], in[5]));
  } else {
    winograd_matvec<T>(F::BT, in, out);
  }
}

/// out = A^T in, the 1-D output transform of F. F(4, 3)'s in a factored
/// form: inputs 1-2 and 3-4 enter every row as their sum or their difference,
/// 10 operations instead of 18. Every other F by winograd_matvec.
template <class T, class F>
inline void winograd_at(const typename Vec<T>::V (&in)[F::alpha], typename Vec<T>::V (&out)[F::m]) {
  if constexpr (std::is_same_v<F, WinogradF4>) {
    using W = Vec<T>;
    const typename W::V s1 = W::add(in[1], in[2]), d1 = W::sub(in[1], in[2]);
    const typename W::V s2 = W::add(in[3], in[4]), d2 = W::sub(in[3], in[4]);
    out[0] = W::add(W::add(in[0], s1), s2);
    out[1] = W::fma(W::set1(T(2)), d2, d1);
    out[2] = W::fma(W::set1(T(4)), s2, s1);
    out[3] = W::add(W::fma(W::set1(T(8)), d2, d1), in[5]);
  } else {
    winograd_matvec<T>(F::AT, in, out);
  }
}

/// The transformed 3x3 kernels G g G^T of `count` kernels, kernel k's 9
/// values at g + 9k (row-major): element xi of kernel k to
/// u[xi * u_step + k], computed in double and rounded once to T, as
/// ops::winograd_kernel_transform does one kernel, but a block of kernels at
/// a time in plain loops that vectorise across the kernels.
template <class T, class F>
void winograd_weights(index_t count, const T* g, T* u, index_t u_step) {
  constexpr int a = F::alpha, B = 16;
  for (index_t k0 = 0; k0 < count; k0 += B) {
    const index_t nk = std::min<index_t>(B, count - k0);
    double gd[9][B], t[a][3][B], out[B];
    for (int q = 0; q < 9; ++q)
      for (int k = 0; k < B; ++k) gd[q][k] = k < nk ? static_cast<double>(g[(k0 + k) * 9 + q]) : 0.0;
    for (int i = 0; i < a; ++i)  // t = G g
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < B; ++k) {
          double s = 0;
          for (int q = 0; q < 3; ++q)
            if (F::G[i][q] != 0) s += F::G[i][q] * gd[q * 3 + j][k];
          t[i][j][k] = s;
        }
    for (int i = 0; i < a; ++i)  // t G^T
      for (int j = 0; j < a; ++j) {
        for (int k = 0; k < B; ++k) {
          double s = 0;
          for (int q = 0; q < 3; ++q)
            if (F::G[j][q] != 0) s += t[i][q][k] * F::G[j][q];
          out[k] = s;
        }
        T* const to = u + (i * a + j) * u_step + k0;
        for (index_t k = 0; k < nk; ++k) to[k] = static_cast<T>(out[k]);
      }
  }
}

/// The alpha x alpha inputs of `tiles` consecutive tiles of one tile row,
/// one value per tile in each of alpha^2 rows: tile s reads rows[i][s * m + j]
/// (input row i of the tile row, zero-padded: readable up to tiles * m + 2)
/// into d[(i * alpha + j) * d_step + s].
template <class T, class F>
void winograd_gather(index_t tiles, const T* const* rows, T* d, index_t d_step) {
  constexpr int a = F::alpha, m = F::m;
  if constexpr (m == 4 && a == 6 && HasInterleave4<Vec<T>>::value) {
    // Per vector of tiles: columns 0-3 of each tile deinterleaved from the
    // row, columns 4-5 from the row one tile on.
    using W = Vec<T>;
    constexpr index_t L = W::L;
    for (int i = 0; i < a; ++i)
      for (index_t s0 = 0; s0 < tiles; s0 += L) {
        const index_t nt = std::min(L, tiles - s0);
        typename W::V v[4], w[4];
        W::deinterleave4(rows[i] + 4 * s0, 4 * nt, v);
        W::deinterleave4(rows[i] + 4 * s0 + 4, 4 * nt - 2, w);
        for (int j = 0; j < 4; ++j) W::store_n(d + (i * a + j) * d_step + s0, nt, v[j]);
        for (int j = 4; j < 6; ++j) W::store_n(d + (i * a + j) * d_step + s0, nt, w[j - 4]);
      }
    return;
  }
  for (int i = 0; i < a; ++i) {
    const T* const row = rows[i];
    R2PLUS1D_UNROLL
    for (int j = 0; j < a; ++j) {
      T* const out = d + (i * a + j) * d_step;
      for (index_t s = 0; s < tiles; ++s) out[s] = row[s * m + j];
    }
  }
}

/// The input transform B^T d B of `tiles` tiles of one channel, one tile per
/// vector lane: d(i, j) of tile s at d[(i * alpha + j) * d_step + s]
/// (winograd_gather), element xi of the result at v[xi * v_step + s]. Whole
/// vectors are read and written: d is readable, and v writable, up to
/// `tiles` rounded up to whole vectors.
template <class T, class F>
void winograd_input_tiles(index_t tiles, const T* d, index_t d_step, T* v, index_t v_step) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  constexpr int a = F::alpha;
  for (index_t s = 0; s < tiles; s += L) {
    V t[a][a];
    R2PLUS1D_UNROLL
    for (int j = 0; j < a; ++j) {  // t(:, j) = B^T d(:, j)
      V col[a], out[a];
      R2PLUS1D_UNROLL
      for (int i = 0; i < a; ++i) col[i] = W::load(d + (i * a + j) * d_step + s);
      winograd_bt<T, F>(col, out);
      R2PLUS1D_UNROLL
      for (int i = 0; i < a; ++i) t[i][j] = out[i];
    }
    R2PLUS1D_UNROLL
    for (int i = 0; i < a; ++i) {  // row i of t B
      V out[a];
      winograd_bt<T, F>(t[i], out);
      R2PLUS1D_UNROLL
      for (int j = 0; j < a; ++j) W::store(v + (i * a + j) * v_step + s, out[j]);
    }
  }
}

/// The output transform A^T M A of `tiles` tiles of output channel o, then
/// the epilogue: element xi of tile s at mm[xi * m_step + s], output (r, c)
/// of tile s to ys[(r * m + c) * ys_step + s]. Whole vectors are read and
/// written, up to `tiles` rounded up.
template <class T, class F>
void winograd_output_tiles(index_t tiles, const T* mm, index_t m_step, T* ys, index_t ys_step,
                           const RowsEpilogue<T>& e, index_t o) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  constexpr int a = F::alpha, m = F::m;
  for (index_t s = 0; s < tiles; s += L) {
    V t[m][a];
    R2PLUS1D_UNROLL
    for (int j = 0; j < a; ++j) {  // t(:, j) = A^T M(:, j)
      V col[a], out[m];
      R2PLUS1D_UNROLL
      for (int i = 0; i < a; ++i) col[i] = W::load(mm + (i * a + j) * m_step + s);
      winograd_at<T, F>(col, out);
      R2PLUS1D_UNROLL
      for (int r = 0; r < m; ++r) t[r][j] = out[r];
    }
    R2PLUS1D_UNROLL
    for (int r = 0; r < m; ++r) {  // row r of t A
      V out[m];
      winograd_at<T, F>(t[r], out);
      R2PLUS1D_UNROLL
      for (int c = 0; c < m; ++c) W::store(ys + (r * m + c) * ys_step + s, epilogue_row<T>(out[c], e, o));
    }
  }
}

/// Writes `tiles` consecutive tiles of one tile row from ys (as
/// winograd_output_tiles leaves them) into y: tile s covers rows [0, m) and
/// columns [s * m, s * m + m) from y (rows ldy apart), of which only rows
/// below out_rows and columns below out_cols are written.
template <class T, class F>
void winograd_scatter(index_t tiles, const T* ys, index_t ys_step, T* y, index_t ldy, index_t out_rows,
                      index_t out_cols) {
  constexpr int m = F::m;
  const index_t rows = std::min<index_t>(m, out_rows);
  const index_t whole = std::min(tiles, out_cols / m), cols = std::min(tiles * m, out_cols);
  if constexpr (m == 4 && HasInterleave4<Vec<T>>::value) {
    using W = Vec<T>;
    constexpr index_t L = W::L;
    for (index_t r = 0; r < rows; ++r) {
      const T* const from = ys + r * m * ys_step;
      for (index_t s0 = 0; s0 * m < cols; s0 += L) {
        typename W::V v[4];
        for (int c = 0; c < 4; ++c) v[c] = W::load(from + c * ys_step + s0);
        W::interleave4(y + r * ldy + s0 * m, std::min(4 * L, cols - s0 * m), v);
      }
    }
    return;
  }
  for (index_t r = 0; r < rows; ++r) {
    T* const row = y + r * ldy;
    const T* const from = ys + r * m * ys_step;
    for (index_t s = 0; s < whole; ++s)
      R2PLUS1D_UNROLL
      for (int c = 0; c < m; ++c) row[s * m + c] = from[c * ys_step + s];
    for (index_t x = whole * m; x < cols; ++x) row[x] = from[(x % m) * ys_step + x / m];
  }
}

/// Lanes l of the input row `row` (null: all zeros) at columns col + l,
/// zero outside [0, width) and never read there: the frame's zero padding,
/// with no padded copy of the row.
template <class T>
inline typename Vec<T>::V winograd_row_vector(const T* row, index_t col, index_t width) {
  using W = Vec<T>;
  constexpr index_t L = W::L;
  if (row == nullptr) return W::set1(T(0));
  if (col >= 0 && col + L <= width) return W::load(row + col);
  const index_t lo = std::clamp<index_t>(-col, 0, L), hi = std::clamp<index_t>(width - col, lo, L);
  return W::load_lanes(row, col, lo, hi);
}

/// The input transform of one tile row of one channel: `tiles` consecutive
/// tiles whose alpha input rows are rows[0..alpha) (null: a row of zeros),
/// each `width` values: tile s reads column from + s * m + j of each, zero
/// outside [0, width) (the frame's padding) and never read there. Element xi
/// of tile s to v[xi * v_step + s], written in whole vectors: v writable up
/// to `tiles` rounded up. The same bits as winograd_gather then
/// winograd_input_tiles on the zero-padded rows.
template <class T, class F>
void winograd_tile_row_input(index_t tiles, const T* const* rows, index_t from, index_t width, T* v,
                             index_t v_step) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  constexpr int a = F::alpha, m = F::m;
  if constexpr (m == 4 && a == 6 && HasInterleave4<W>::value) {
    // B^T d first, on the rows as they lie: a tile's column j is column
    // 4s + j of the tile row, so one combination of whole rows serves all
    // its tiles (the rows read in place, the vectors over the padding
    // masked: a padded copy of each row cost as much as this transform).
    // Then each combined row deinterleaved into one vector of tiles per
    // column j (4-5 from the tile one on), and the row times B.
    T t[a][5 * L];  // the columns of L tiles, 4L + 2, in whole vectors
    for (index_t s0 = 0; s0 < tiles; s0 += L) {
      const index_t nt = std::min(L, tiles - s0), span = 4 * nt + 2;
      for (index_t q = 0; q < span; q += L) {
        V in[a], out[a];
        R2PLUS1D_UNROLL
        for (int i = 0; i < a; ++i) in[i] = winograd_row_vector<T>(rows[i], from + 4 * s0 + q, width);
        winograd_bt<T, F>(in, out);
        R2PLUS1D_UNROLL
        for (int i = 0; i < a; ++i) W::store(t[i] + q, out[i]);
      }
      R2PLUS1D_UNROLL
      for (int i = 0; i < a; ++i) {
        V lo[4], hi[4], out[a];
        W::deinterleave4(t[i], 4 * nt, lo);
        W::deinterleave4(t[i] + 4, 4 * nt - 2, hi);
        const V col[a] = {lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]};
        winograd_bt<T, F>(col, out);
        R2PLUS1D_UNROLL
        for (int j = 0; j < a; ++j) W::store(v + (i * a + j) * v_step + s0, out[j]);
      }
    }
  } else {
    // A vector of tiles at a time: its columns zero-padded into a buffer,
    // gathered one value per tile, transformed.
    T d[a * a * L], padded[a][L * m + 2];
    for (index_t s0 = 0; s0 < tiles; s0 += L) {
      const index_t nt = std::min(L, tiles - s0), span = nt * m + 2, first = from + m * s0;
      const T* from_row[a];
      for (int i = 0; i < a; ++i) {
        for (index_t k = 0; k < span; ++k) {
          const index_t col = first + k;
          padded[i][k] = rows[i] != nullptr && col >= 0 && col < width ? rows[i][col] : T(0);
        }
        from_row[i] = padded[i];
      }
      winograd_gather<T, F>(nt, from_row, d, L);
      winograd_input_tiles<T, F>(nt, d, L, v + s0, v_step);
    }
  }
}

/// The output transform of a run of `tiles` tiles of one tile row, for
/// `channels` output channels from o, then each channel's epilogue, into y:
/// element xi of tile s of channel o + k at mm[k * mm_channel + xi * m_step +
/// s] (readable up to `tiles` rounded up to whole vectors); tile s covers rows
/// [0, m) and columns [s * m, s * m + m) of channel o + k's plane at
/// y + k * y_channel (rows ldy apart), of which only rows below out_rows and
/// columns below out_cols are written. The same bits as winograd_output_tiles
/// then winograd_scatter.
template <class T, class F>
void winograd_tile_row_output(index_t tiles, index_t channels, const T* mm, index_t m_step, index_t mm_channel, T* y,
                              index_t ldy, index_t y_channel, index_t out_rows, index_t out_cols,
                              const RowsEpilogue<T>& e, index_t o) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  constexpr int a = F::alpha, m = F::m;
  if constexpr (m == 4 && HasInterleave4<W>::value) {
    // A^T M A per vector of tiles, each output row's four columns
    // interleaved straight into y. M's rows are reached by adding m_step to
    // a pointer, not from a table of their offsets (36 pointers spilled to
    // the stack and stored again every vector), and the next channel's
    // output lines are asked for ahead: y is mostly out of L2 here (layer1's
    // window of intermediate frames), and those stores would wait on it
    // (0.7 of the time with both, by a bench of this function alone on an
    // 11 MB window, AMD Zen 4).
    const index_t rows = std::min<index_t>(m, out_rows), cols = std::min(tiles * m, out_cols);
    for (index_t k = 0; k < channels; ++k, mm += mm_channel, y += y_channel) {
      if (k + 1 < channels)
        for (index_t r = 0; r < rows; ++r) prefetch_run_for_write(y + y_channel + r * ldy, cols);
      const RowEpilogue<T> ep(e, o + k);
      for (index_t s0 = 0; s0 * m < cols; s0 += L) {
        V t[m][a];
        R2PLUS1D_UNROLL
        for (int j = 0; j < a; ++j) {  // t(:, j) = A^T M(:, j)
          V col[a], out[m];
          const T* p = mm + s0 + j * m_step;
          R2PLUS1D_UNROLL
          for (int i = 0; i < a; ++i, p += a * m_step) col[i] = W::load(p);
          winograd_at<T, F>(col, out);
          R2PLUS1D_UNROLL
          for (int r = 0; r < m; ++r) t[r][j] = out[r];
        }
        R2PLUS1D_UNROLL
        for (int r = 0; r < m; ++r) {  // row r of t A (unrolled: t stays in registers)
          if (r >= rows) break;
          V out[m];
          winograd_at<T, F>(t[r], out);
          R2PLUS1D_UNROLL
          for (int c = 0; c < m; ++c) out[c] = ep(out[c]);
          W::interleave4(y + r * ldy + s0 * m, std::min(4 * L, cols - s0 * m), out);
        }
      }
    }
  } else {
    T ys[m * m * L];
    for (index_t k = 0; k < channels; ++k, mm += mm_channel, y += y_channel)
      for (index_t s0 = 0; s0 < tiles; s0 += L) {
        const index_t nt = std::min(L, tiles - s0);
        winograd_output_tiles<T, F>(nt, mm + s0, m_step, ys, L, e, o + k);
        winograd_scatter<T, F>(nt, ys, L, y + s0 * m, ldy, out_rows, out_cols - s0 * m);
      }
  }
}

/// The 1-D input transform of F along rows of values: out[xi][p] = sum_j
/// B^T(xi, j) in[j][p] for p in [0, count), one position per vector lane;
/// in[j] null reads zeros. Reads and writes exactly `count` values a row.
template <class T, class F>
void winograd_rows_input(index_t count, const T* const* in, T* const* out) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  constexpr int a = F::alpha;
  const V zero = W::set1(T(0));
  index_t p = 0;
  for (; p + L <= count; p += L) {
    V col[a], res[a];
    R2PLUS1D_UNROLL
    for (int j = 0; j < a; ++j) col[j] = in[j] != nullptr ? W::load(in[j] + p) : zero;
    winograd_bt<T, F>(col, res);
    R2PLUS1D_UNROLL
    for (int i = 0; i < a; ++i) W::store(out[i] + p, res[i]);
  }
  if (p < count) {  // the last partial vector, through a buffer
    T buf[a][L];
    V col[a], res[a];
    for (int j = 0; j < a; ++j) {
      for (index_t l = 0; l < L; ++l) buf[j][l] = in[j] != nullptr && p + l < count ? in[j][p + l] : T(0);
      col[j] = W::load(buf[j]);
    }
    winograd_bt<T, F>(col, res);
    for (int i = 0; i < a; ++i) {
      W::store(buf[i], res[i]);
      std::copy(buf[i], buf[i] + (count - p), out[i] + p);
    }
  }
}

/// The 1-D output transform of F along rows, then the epilogue of channel o:
/// out[r][p] = e(sum_xi A^T(r, xi) mm[xi * m_step + p]) for p in [0, count);
/// out[r] null is not written. Writes exactly `count` values a row; mm is
/// readable up to `count` rounded up to whole vectors.
template <class T, class F>
void winograd_rows_output(index_t count, const T* mm, index_t m_step, T* const* out, const RowsEpilogue<T>& e,
                          index_t o) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr index_t L = W::L;
  constexpr int a = F::alpha, m = F::m;
  for (index_t p = 0; p < count; p += L) {
    V col[a], res[m];
    R2PLUS1D_UNROLL
    for (int i = 0; i < a; ++i) col[i] = W::load(mm + i * m_step + p);
    winograd_at<T, F>(col, res);
    const bool whole = p + L <= count;
    R2PLUS1D_UNROLL
    for (int r = 0; r < m; ++r) {
      if (out[r] == nullptr) continue;
      const V v = epilogue_row<T>(res[r], e, o);
      if (whole) {
        W::store(out[r] + p, v);
      } else {
        T buf[L];
        W::store(buf, v);
        std::copy(buf, buf + (count - p), out[r] + p);
      }
    }
  }
}

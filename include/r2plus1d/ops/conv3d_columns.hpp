#pragma once
/// \file
/// The column matrix of a convolution (one row per input channel and kernel
/// tap, one column per output position): vol2col_chunk writes it, and
/// ColumnPacker packs its blocks straight from the input for Eigen's kernel.
#include "r2plus1d/ops/conv3d_geometry.hpp"

namespace r2plus1d::ops::detail {

/// Writes columns [p0, p0 + count) of one group's column matrix into `col`
/// (depth() rows, leading dimension `count`): col[(c, kd, kh, kw)][p] is the input
/// element tap (kd, kh, kw) of output position p reads, or 0 in the padding.
/// With a row range, only rows [row_begin, row_end), from col's first row.
template <class T>
void vol2col_chunk(const Conv3dGeometry& g, const T* x, index_t p0, index_t count, T* col, index_t row_begin = 0,
                   index_t row_end = -1) {
  const index_t hw_out = g.out_h * g.out_w;
  const index_t sd = g.stride.d, sh = g.stride.h, sw = g.stride.w;
  if (row_end < 0) row_end = g.depth();
  const index_t taps = g.kernel_volume();
  for (index_t c = row_begin / taps; c < g.in_per_group() && c * taps < row_end; ++c) {
    const T* src = x + c * g.in_cstride();
    for (index_t i = 0; i < g.k_d; ++i) {
      for (index_t j = 0; j < g.k_h; ++j) {
        for (index_t l = 0; l < g.k_w; ++l) {
          const index_t r = ((c * g.k_d + i) * g.k_h + j) * g.k_w + l;
          if (r < row_begin || r >= row_end) continue;
          T* dst = col + (r - row_begin) * count;
          index_t p = p0;
          index_t od = p / hw_out, oh = (p % hw_out) / g.out_w, ow = p % g.out_w;
          const index_t end = p0 + count;
          const index_t w_off = l * g.dilation.w - g.padding.w;
          while (p < end) {
            const index_t run = std::min(g.out_w - ow, end - p);
            const index_t id = od * sd - g.padding.d + i * g.dilation.d;
            const index_t ih = oh * sh - g.padding.h + j * g.dilation.h;
            if (id < 0 || id >= g.in_d || ih < 0 || ih >= g.in_h) {
              std::fill(dst, dst + run, T(0));
            } else {
              const T* row = src + (id * g.in_h + ih) * g.in_w;
              const index_t iw0 = ow * sw + w_off;
              // Steps t in [lo, hi) read inside the row; the rest is padding.
              const index_t lo = iw0 >= 0 ? 0 : std::min(run, (-iw0 + sw - 1) / sw);
              const index_t hi = iw0 >= g.in_w ? 0 : std::min(run, (g.in_w - 1 - iw0) / sw + 1);
              std::fill(dst, dst + lo, T(0));
              if (hi > lo) {
                if (sw == 1) {
                  std::memcpy(dst + lo, row + iw0 + lo, sizeof(T) * static_cast<std::size_t>(hi - lo));
                } else if (sw == 2) {  // a constant stride the compiler vectorises (the stems)
                  const T* src2 = row + iw0;
                  for (index_t t = lo; t < hi; ++t) dst[t] = src2[2 * t];
                } else {
                  for (index_t t = lo; t < hi; ++t) dst[t] = row[iw0 + t * sw];
                }
              }
              std::fill(dst + std::max(lo, hi), dst + run, T(0));
            }
            dst += run;
            p += run;
            ow = 0;
            if (++oh == g.out_h) {
              oh = 0;
              ++od;
            }
          }
        }
      }
    }
  }
}

/// dst[0, n) = src[0, n) for the short runs of ColumnPacker, inline: whole
/// 64-byte moves, the last one overlapping the one before it, and halves of
/// that below 64 bytes. The ranges must not overlap.
template <class T>
inline void copy_short(T* dst, const T* src, index_t n) {
  constexpr index_t line = 64 / static_cast<index_t>(sizeof(T));
  if (n >= line) {
    index_t t = 0;
    for (; t + line <= n; t += line) std::memcpy(dst + t, src + t, 64);
    if (t < n) std::memcpy(dst + n - line, src + n - line, 64);
  } else if (n >= line / 2) {
    std::memcpy(dst, src, 32);
    std::memcpy(dst + n - line / 2, src + n - line / 2, 32);
  } else if (n >= line / 4) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - line / 4, src + n - line / 4, 16);
  } else {
    for (index_t t = 0; t < n; ++t) dst[t] = src[t];
  }
}

/// Packs blocks of one group's column matrix (vol2col_chunk's, for output
/// positions [p0, p0 + count)) straight from the input into the layout the
/// GEMM kernel packs them into (for_each_packed_column_panel): the operator
/// gemm_packed_accumulate_with takes, with the same values and so the same bits
/// as vol2col_chunk then gemm_packed_accumulate, without the column buffer and
/// the second copy. The positions of a block are cut once into runs that stay
/// in one panel and one output row; every row of the block then copies each
/// run from one input row. With a stride of 2 along the width (and kw > 1), the input rows
/// a kernel row (c, i, j) reads are first split into their even and odd
/// elements, once for all its kw taps, so that every run is a contiguous copy
/// too. bind() points a packer at another input (a frame, a group) and first
/// position, keeping the runs while the positions stay.
template <class T>
class ColumnPacker {
 public:
  explicit ColumnPacker(const Conv3dGeometry& g) : g_(g) {}
  ColumnPacker(const Conv3dGeometry& g, const T* x, index_t p0) : g_(g) { bind(x, p0); }

  void bind(const T* x, index_t p0) {
    x_ = x;
    if (p0 != p0_) runs_i2_ = runs_nc_ = -1;
    p0_ = p0;
  }

  const T* operator()(T* dst, index_t i2, index_t k2, index_t nc, index_t kc) {
    if (i2 != runs_i2_ || nc != runs_nc_) cut_runs(i2, nc);
    split_key_ = -1;  // the input may have changed since the last block
    const bool split = g_.stride.w == 2 && g_.k_w > 1;
    index_t l = k2 % g_.k_w, j = (k2 / g_.k_w) % g_.k_h, i = (k2 / (g_.k_w * g_.k_h)) % g_.k_d;
    index_t c = k2 / g_.kernel_volume();
    for (index_t k = 0; k < kc;) {
      const T* src = x_ + c * g_.in_cstride();
      const index_t d_off = i * g_.dilation.d - g_.padding.d, h_off = j * g_.dilation.h - g_.padding.h;
      // Depth rows [k, k + taps) of the block: taps l, l + 1, ... of kernel row (c, i, j).
      const index_t taps = std::min(kc - k, g_.k_w - l);
      if (split) {
        pack_split(dst, kc, k, l, taps, src, (c * g_.k_d + i) * g_.k_h + j, d_off, h_off);
      } else {
        for (index_t s = 0; s < taps; ++s)
          pack_strided(dst, kc, k + s, src, d_off, h_off, (l + s) * g_.dilation.w - g_.padding.w);
      }
      k += taps;
      l += taps;
      if (l == g_.k_w) {
        l = 0;
        if (++j == g_.k_h) {
          j = 0;
          if (++i == g_.k_d) {
            i = 0;
            ++c;
          }
        }
      }
    }
    return dst;
  }

 private:
  struct Run {
    index_t panel, offset, width, len;  // its panel's first position and width, its offset there, its length
    index_t od, oh, ow;                 // output position of its first value
    index_t row;                        // its output row among rows_
  };

  /// Depth row k of a block of kc rows at dst, for a tap at offsets (d_off, h_off, w_off), read from `src` (one
  /// channel) with any width stride.
  void pack_strided(T* dst, index_t kc, index_t k, const T* src, index_t d_off, index_t h_off, index_t w_off) {
    const index_t sd = g_.stride.d, sh = g_.stride.h, sw = g_.stride.w;
    for (const Run& r : runs_) {
      T* out = dst + r.panel * kc + k * r.width + r.offset;
      const index_t id = r.od * sd + d_off, ih = r.oh * sh + h_off;
      if (id < 0 || id >= g_.in_d || ih < 0 || ih >= g_.in_h) {
        for (index_t t = 0; t < r.len; ++t) out[t] = T(0);
        continue;
      }
      const T* row = src + (id * g_.in_h + ih) * g_.in_w;
      const index_t iw0 = r.ow * sw + w_off;
      // Steps t in [lo, hi) read inside the row; the rest is padding.
      const index_t lo = iw0 >= 0 ? 0 : std::min(r.len, (-iw0 + sw - 1) / sw);
      const index_t hi = iw0 >= g_.in_w ? 0 : std::min(r.len, (g_.in_w - 1 - iw0) / sw + 1);
      for (index_t t = 0; t < lo; ++t) out[t] = T(0);
      if (sw == 1) {
        if (hi > lo) copy_short(out + lo, row + iw0 + lo, hi - lo);
      } else if (sw == 2) {  // a constant stride the compiler vectorises (strided 1x1 kernels)
        const T* src2 = row + iw0;
        for (index_t t = lo; t < hi; ++t) out[t] = src2[2 * t];
      } else {
        for (index_t t = lo; t < hi; ++t) out[t] = row[iw0 + t * sw];
      }
      for (index_t t = std::max(lo, hi); t < r.len; ++t) out[t] = T(0);
    }
  }

  /// Depth rows [k, k + taps) of a block of kc rows at dst: taps l0, l0 + 1, ... of kernel row `key` (c, i, j),
  /// width stride 2, from its input rows split into even and odd elements. Run by run, each run's taps in turn.
  void pack_split(T* dst, index_t kc, index_t k, index_t l0, index_t taps, const T* src, index_t key, index_t d_off,
                  index_t h_off) {
    split_rows(src, key, d_off, h_off);
    const index_t even = (g_.in_w + 1) / 2, odd = g_.in_w / 2;
    for (const Run& r : runs_) {
      T* out = dst + r.panel * kc + k * r.width + r.offset;
      if (!split_valid_[static_cast<std::size_t>(r.row)]) {
        for (index_t s = 0; s < taps; ++s, out += r.width)
          for (index_t t = 0; t < r.len; ++t) out[t] = T(0);
        continue;
      }
      const T* row = split_.data() + r.row * g_.in_w;
      for (index_t s = 0; s < taps; ++s, out += r.width) {
        // Step t reads element 2 * (ow + t) + w_off: phase w_off & 1, at ow + (w_off >> 1) + t there.
        const index_t w_off = (l0 + s) * g_.dilation.w - g_.padding.w;
        const index_t phase = w_off & 1, at = r.ow + (w_off >> 1), n = phase != 0 ? odd : even;
        const index_t lo = at >= 0 ? 0 : std::min(r.len, -at), hi = at >= n ? 0 : std::min(r.len, n - at);
        if (hi <= lo) {
          for (index_t t = 0; t < r.len; ++t) out[t] = T(0);
          continue;
        }
        for (index_t t = 0; t < lo; ++t) out[t] = T(0);
        copy_short(out + lo, row + (phase != 0 ? even : 0) + at + lo, hi - lo);
        for (index_t t = hi; t < r.len; ++t) out[t] = T(0);
      }
    }
  }

  void cut_runs(index_t i2, index_t nc) {
    runs_.clear();
    rows_.clear();
    runs_i2_ = i2;
    runs_nc_ = nc;
    const index_t hw_out = g_.out_h * g_.out_w;
    for_each_packed_column_panel<T>(nc, [&](index_t s, index_t w) {
      for (index_t a = 0; a < w;) {
        const index_t p = p0_ + i2 + s + a;
        const index_t od = p / hw_out, oh = (p % hw_out) / g_.out_w, ow = p % g_.out_w;
        const index_t len = std::min(w - a, g_.out_w - ow);
        // Panels run in position order, so a run's output row is the last one seen or a new one.
        if (rows_.empty() || rows_.back() != od * g_.out_h + oh) rows_.push_back(od * g_.out_h + oh);
        runs_.push_back({s, a, w, len, od, oh, ow, static_cast<index_t>(rows_.size()) - 1});
        a += len;
      }
    });
  }

  /// Splits the input rows that kernel row `key` (c, i, j) reads for each
  /// output row of the runs into their even then odd elements (split_), unless
  /// they already are.
  void split_rows(const T* src, index_t key, index_t d_off, index_t h_off) {
    if (key == split_key_) return;
    split_key_ = key;
    const index_t w = g_.in_w, even = (w + 1) / 2;
    split_.resize(rows_.size() * static_cast<std::size_t>(w));
    split_valid_.assign(rows_.size(), 0);
    for (std::size_t q = 0; q < rows_.size(); ++q) {
      const index_t od = rows_[q] / g_.out_h, oh = rows_[q] % g_.out_h;
      const index_t id = od * g_.stride.d + d_off, ih = oh * g_.stride.h + h_off;
      if (id < 0 || id >= g_.in_d || ih < 0 || ih >= g_.in_h) continue;
      split_valid_[q] = 1;
      const T* row = src + (id * g_.in_h + ih) * w;
      T* out = split_.data() + static_cast<index_t>(q) * w;
      for (index_t t = 0; t < even; ++t) out[t] = row[2 * t];
      for (index_t t = 0; t < w / 2; ++t) out[even + t] = row[2 * t + 1];
    }
  }

  const Conv3dGeometry& g_;
  const T* x_ = nullptr;
  index_t p0_ = -1;
  std::vector<Run> runs_;
  std::vector<index_t> rows_;  // the output rows (od * out_h + oh) of the runs, in order
  index_t runs_i2_ = -1, runs_nc_ = -1;
  std::vector<T> split_;            // per output row of rows_: its input row's even then odd elements
  std::vector<char> split_valid_;  // whether that input row lies inside the input (not padding)
  index_t split_key_ = -1;         // the kernel row (c, i, j) split_ holds
};

}  // namespace r2plus1d::ops::detail

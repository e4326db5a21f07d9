#pragma once
/// \file
/// Winograd's minimal filtering algorithms F(m, 3) (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): m outputs of a
/// 3-tap correlation from alpha = m + 2 inputs with alpha multiplies instead
/// of 3m,
///
///     y = A^T [(G g) .* (B^T d)],
///
/// and nested for a 3x3 kernel on an m x m output tile,
///
///     Y = A^T [(G g G^T) .* (B^T d B)] A,
///
/// alpha^2 multiplies instead of 9 m^2. Each transform's matrices are written
/// here once, for the interpolation points 0, 1, -1, 2, -2, 1/2, -1/2 and
/// infinity (the first alpha - 1 of them, then infinity; F(8, 3) adds 3/4 and
/// -3/4). The input and
/// output transforms' coefficients are exact in binary floating point; G's
/// are not, so weights are transformed in double.

#include <cstddef>

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops {

/// F(2, 3): alpha = 4, 2.25x fewer multiplies on a 3x3 kernel.
struct WinogradF2 {
  static constexpr int m = 2;      ///< outputs per tile (per dimension)
  static constexpr int alpha = 4;  ///< inputs per tile, m + 2
  /// The input transform B^T (alpha x alpha).
  static constexpr double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  /// The kernel transform G (alpha x 3).
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  /// The output transform A^T (m x alpha).
  static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  /// The name conv3d_algorithm gives the 3x3 convolution on this transform.
  static constexpr const char* name = "winograd_f2";
};

/// F(4, 3): alpha = 6, 4x fewer multiplies on a 3x3 kernel.
struct WinogradF4 {
  static constexpr int m = 4;      ///< outputs per tile (per dimension)
  static constexpr int alpha = 6;  ///< inputs per tile, m + 2
  /// The input transform B^T (alpha x alpha).
  static constexpr double BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  /// The kernel transform G (alpha x 3).
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  /// The output transform A^T (m x alpha).
  static constexpr double AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  /// The name conv3d_algorithm gives the 3x3 convolution on this transform.
  static constexpr const char* name = "winograd_f4";
};

/// F(6, 3): alpha = 8, 5.06x fewer multiplies on a 3x3 kernel (the input and
/// output transforms' larger coefficients cost accuracy).
struct WinogradF6 {
  static constexpr int m = 6;      ///< outputs per tile (per dimension)
  static constexpr int alpha = 8;  ///< inputs per tile, m + 2
  /// The input transform B^T (alpha x alpha).
  static constexpr double BT[8][8] = {
      {1, 0, -21.0 / 4, 0, 21.0 / 4, 0, -1, 0},         {0, 1, 1, -17.0 / 4, -17.0 / 4, 1, 1, 0},
      {0, -1, 1, 17.0 / 4, -17.0 / 4, -1, 1, 0},        {0, 0.5, 0.25, -2.5, -1.25, 2, 1, 0},
      {0, -0.5, 0.25, 2.5, -1.25, -2, 1, 0},            {0, 2, 4, -2.5, -5, 0.5, 1, 0},
      {0, -2, 4, 2.5, -5, -0.5, 1, 0},                  {0, -1, 0, 21.0 / 4, 0, -21.0 / 4, 0, 1}};
  /// The kernel transform G (alpha x 3).
  static constexpr double G[8][3] = {{1, 0, 0},
                                     {-2.0 / 9, -2.0 / 9, -2.0 / 9},
                                     {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                                     {1.0 / 90, 1.0 / 45, 2.0 / 45},
                                     {1.0 / 90, -1.0 / 45, 2.0 / 45},
                                     {32.0 / 45, 16.0 / 45, 8.0 / 45},
                                     {32.0 / 45, -16.0 / 45, 8.0 / 45},
                                     {0, 0, 1}};
  /// The output transform A^T (m x alpha).
  static constexpr double AT[6][8] = {{1, 1, 1, 1, 1, 1, 1, 0},          {0, 1, -1, 2, -2, 0.5, -0.5, 0},
                                      {0, 1, 1, 4, 4, 0.25, 0.25, 0},    {0, 1, -1, 8, -8, 0.125, -0.125, 0},
                                      {0, 1, 1, 16, 16, 1.0 / 16, 1.0 / 16, 0},
                                      {0, 1, -1, 32, -32, 1.0 / 32, -1.0 / 32, 1}};
  /// The name conv3d_algorithm gives the 3x3 convolution on this transform.
  static constexpr const char* name = "winograd_f6";
};

/// F(8, 3) along one dimension: alpha = 10, 2.4x fewer multiplies on a 3-tap
/// kernel (against F(4, 3)'s 2x). Its points 0, 1, -1, 2, -2, 1/2, -1/2,
/// 3/4, -3/4 and infinity keep the input and output transforms' coefficients
/// exact in binary floating point. For the temporal (3, 1, 1) convolutions
/// only: nested for a 3x3 kernel, the growth of its error would about square.
struct WinogradF8 {
  static constexpr int m = 8;       ///< outputs per tile
  static constexpr int alpha = 10;  ///< inputs per tile, m + 2
  /// The input transform B^T (alpha x alpha).
  static constexpr double BT[10][10] = {
      {9.0 / 16, 0, -253.0 / 64, 0, 525.0 / 64, 0, -93.0 / 16, 0, 1, 0},
      {0, -9.0 / 16, -9.0 / 16, 217.0 / 64, 217.0 / 64, -77.0 / 16, -77.0 / 16, 1, 1, 0},
      {0, 9.0 / 16, -9.0 / 16, -217.0 / 64, 217.0 / 64, 77.0 / 16, -77.0 / 16, -1, 1, 0},
      {0, -9.0 / 32, -9.0 / 64, 61.0 / 32, 61.0 / 64, -29.0 / 8, -29.0 / 16, 2, 1, 0},
      {0, 9.0 / 32, -9.0 / 64, -61.0 / 32, 61.0 / 64, 29.0 / 8, -29.0 / 16, -2, 1, 0},
      {0, -9.0 / 8, -9.0 / 4, 109.0 / 32, 109.0 / 16, -89.0 / 32, -89.0 / 16, 1.0 / 2, 1, 0},
      {0, 9.0 / 8, -9.0 / 4, -109.0 / 32, 109.0 / 16, 89.0 / 32, -89.0 / 16, -1.0 / 2, 1, 0},
      {0, -3.0 / 4, -1, 63.0 / 16, 21.0 / 4, -63.0 / 16, -21.0 / 4, 3.0 / 4, 1, 0},
      {0, 3.0 / 4, -1, -63.0 / 16, 21.0 / 4, 63.0 / 16, -21.0 / 4, -3.0 / 4, 1, 0},
      {0, 9.0 / 16, 0, -253.0 / 64, 0, 525.0 / 64, 0, -93.0 / 16, 0, 1}};
  /// The kernel transform G (alpha x 3).
  static constexpr double G[10][3] = {
      {16.0 / 9, 0, 0},
      {-32.0 / 63, -32.0 / 63, -32.0 / 63},
      {-32.0 / 63, 32.0 / 63, -32.0 / 63},
      {8.0 / 2475, 16.0 / 2475, 32.0 / 2475},
      {8.0 / 2475, -16.0 / 2475, 32.0 / 2475},
      {-512.0 / 225, -256.0 / 225, -128.0 / 225},
      {-512.0 / 225, 256.0 / 225, -128.0 / 225},
      {32768.0 / 17325, 8192.0 / 5775, 2048.0 / 1925},
      {32768.0 / 17325, -8192.0 / 5775, 2048.0 / 1925},
      {0, 0, 1}};
  /// The output transform A^T (m x alpha).
  static constexpr double AT[8][10] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
      {0, 1, -1, 2, -2, 1.0 / 2, -1.0 / 2, 3.0 / 4, -3.0 / 4, 0},
      {0, 1, 1, 4, 4, 1.0 / 4, 1.0 / 4, 9.0 / 16, 9.0 / 16, 0},
      {0, 1, -1, 8, -8, 1.0 / 8, -1.0 / 8, 27.0 / 64, -27.0 / 64, 0},
      {0, 1, 1, 16, 16, 1.0 / 16, 1.0 / 16, 81.0 / 256, 81.0 / 256, 0},
      {0, 1, -1, 32, -32, 1.0 / 32, -1.0 / 32, 243.0 / 1024, -243.0 / 1024, 0},
      {0, 1, 1, 64, 64, 1.0 / 64, 1.0 / 64, 729.0 / 4096, 729.0 / 4096, 0},
      {0, 1, -1, 128, -128, 1.0 / 128, -1.0 / 128, 2187.0 / 16384, -2187.0 / 16384, 1}};
  /// The name conv3d_algorithm gives the temporal convolution on this transform.
  static constexpr const char* name = "winograd_f8";
};

/// The transformed 3x3 kernel G g G^T (alpha x alpha, row-major into u, each
/// value u_step apart), computed in double and rounded once to T.
template <class F, class T>
void winograd_kernel_transform(const T* g, T* u, index_t u_step) {
  constexpr int a = F::alpha;
  // Plain loops, which an optimising compiler unrolls and rids of the zero
  // coefficients (GCC 12 at -O3 -march=native miscomputed this function with
  // `#pragma GCC unroll` on them).
  double gd[9], t[a][3];  // t = G g
  for (int k = 0; k < 9; ++k) gd[k] = static_cast<double>(g[k]);
  for (int i = 0; i < a; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k)
        if (F::G[i][k] != 0) s += F::G[i][k] * gd[k * 3 + j];
      t[i][j] = s;
    }
  for (int i = 0; i < a; ++i)
    for (int j = 0; j < a; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k)
        if (F::G[j][k] != 0) s += t[i][k] * F::G[j][k];
      u[(i * a + j) * u_step] = static_cast<T>(s);
    }
}

/// The definition, one tile at a time, for tests: the m x m outputs of a 3x3
/// correlation of the alpha x alpha input tile d (row-major) with g (3x3,
/// row-major), through the transforms in T (the kernel's in double).
template <class F, class T>
void winograd_tile_reference(const T* d, const T* g, T* y) {
  constexpr int a = F::alpha, m = F::m;
  T u[a * a], v[a * a], t[a * a];
  winograd_kernel_transform<F>(g, u, 1);
  for (int i = 0; i < a; ++i)  // t = B^T d
    for (int j = 0; j < a; ++j) {
      T s = 0;
      for (int k = 0; k < a; ++k) s += static_cast<T>(F::BT[i][k]) * d[k * a + j];
      t[i * a + j] = s;
    }
  for (int i = 0; i < a; ++i)  // v = (B^T d) B, times u
    for (int j = 0; j < a; ++j) {
      T s = 0;
      for (int k = 0; k < a; ++k) s += t[i * a + k] * static_cast<T>(F::BT[j][k]);
      v[i * a + j] = s * u[i * a + j];
    }
  for (int i = 0; i < m; ++i)  // t = A^T v
    for (int j = 0; j < a; ++j) {
      T s = 0;
      for (int k = 0; k < a; ++k) s += static_cast<T>(F::AT[i][k]) * v[k * a + j];
      t[i * a + j] = s;
    }
  for (int i = 0; i < m; ++i)  // y = (A^T v) A
    for (int j = 0; j < m; ++j) {
      T s = 0;
      for (int k = 0; k < a; ++k) s += t[i * a + k] * static_cast<T>(F::AT[j][k]);
      y[i * m + j] = s;
    }
}

}  // namespace r2plus1d::ops

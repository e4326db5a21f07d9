#pragma once
/// \file
/// The rows microkernels of the instruction set in use (active_isa()): one
/// table per element type, filled once per ISA, from which gemm_rows and
/// gemm_thin take their tile sizes and entry points.

#include "r2plus1d/ops/kernels/avx2.hpp"
#include "r2plus1d/ops/kernels/avx512.hpp"
#include "r2plus1d/ops/kernels/generic.hpp"
#include "r2plus1d/ops/kernels/isa.hpp"
#include "r2plus1d/ops/kernels/rows_kernels_api.hpp"

namespace r2plus1d::ops::detail {

/// The table of one ISA's kernels. Only takes their addresses: nothing of an
/// ISA the CPU may lack runs here.
#define R2PLUS1D_WINOGRAD_KERNELS(ns, F)                                                                  \
  WinogradKernels<T> {                                                                                     \
    &ns::winograd_weights<T, F>, &ns::winograd_tile_row_input<T, F>, &ns::winograd_tile_row_output<T, F>, \
        &ns::winograd_rows_input<T, F>, &ns::winograd_rows_output<T, F>                                    \
  }
#define R2PLUS1D_ROWS_KERNEL_SET(ns, isa)                                                                    \
  RowsKernelSet<T> {                                                                                         \
    isa, ns::kTileRows, ns::kTileVectors, ns::Vec<T>::L, &ns::rows_tile<T>, &ns::thin_tile<T>, &ns::dot<T>,  \
        R2PLUS1D_WINOGRAD_KERNELS(ns, WinogradF2), R2PLUS1D_WINOGRAD_KERNELS(ns, WinogradF4),                \
        R2PLUS1D_WINOGRAD_KERNELS(ns, WinogradF6),                                                          \
        WinogradKernels<T>{nullptr, nullptr, nullptr, &ns::winograd_rows_input<T, WinogradF8>,               \
                           &ns::winograd_rows_output<T, WinogradF8>}                                         \
  }

/// The kernels for `isa`, which this build must carry (isa_supported).
template <class T>
const RowsKernelSet<T>& rows_kernels_for(Isa isa) {
  static const RowsKernelSet<T> generic = R2PLUS1D_ROWS_KERNEL_SET(kernels_generic, Isa::kGeneric);
#if defined(R2PLUS1D_X86_KERNELS)
  static const RowsKernelSet<T> avx2 = R2PLUS1D_ROWS_KERNEL_SET(kernels_avx2, Isa::kAvx2);
  static const RowsKernelSet<T> avx512 = R2PLUS1D_ROWS_KERNEL_SET(kernels_avx512, Isa::kAvx512);
  if (isa == Isa::kAvx512) return avx512;
  if (isa == Isa::kAvx2) return avx2;
#endif
  (void)isa;
  return generic;
}

#undef R2PLUS1D_ROWS_KERNEL_SET
#undef R2PLUS1D_WINOGRAD_KERNELS

/// The kernels every convolution runs now (active_isa()'s).
template <class T>
const RowsKernelSet<T>& rows_kernels() {
  return rows_kernels_for<T>(active_isa());
}

}  // namespace r2plus1d::ops::detail

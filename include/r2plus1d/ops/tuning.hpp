#pragma once
/// \file
/// Every size, budget and threshold the convolution engine and the
/// elementwise ops tune, in one table, each with what it trades and the CPU
/// it was measured on ("by design" where no alternative was measured). None
/// of them depends on the thread count or the batch: work is cut by sizes
/// alone, so results keep their bits whatever the threads (see
/// conv3d_geometry.hpp). The register tiles of the rows kernels are per
/// instruction set (kernels/*.hpp take them from here); no choice anywhere
/// depends on the CPU's vendor or model.
///
/// CPUs named below (2-core KVM guests): AMD EPYC Zen 3 (family 25, model 1;
/// AVX2), Zen 4 (family 25, model 17; AVX-512 on 256-bit halves, 1 MiB L2 per
/// core) and Zen 5 (family 26, model 2; AVX-512 at full width, 1 MiB L2).

#include "r2plus1d/core/shape.hpp"

namespace r2plus1d::ops::detail {

// ---- Register tiles of the rows microkernels (output channels x vectors of positions)

/// A register tile: `rows` output channels by `vectors` vectors of positions.
struct RowsTile {
  int rows;     ///< output channels
  int vectors;  ///< vectors of positions
};
/// AVX-512 (32 registers, 27 accumulators): layer1's spatial conv as
/// gemm_rows runs it (144 x 448 x 576) at 112-116 GFLOP/s with 1 thread
/// against an FMA peak of 115 (Zen 4); 0.88-0.93 of the peak on the Winograd
/// GEMMs' shapes (Zen 5).
inline constexpr RowsTile kAvx512RowsTile{9, 3};
/// AVX2 (16 registers, 12 accumulators): of the tiles that fit, 6 x 2 ran
/// layer1's (2+1)D pair fastest, 127 ms against 130 for 4 x 3 and 132 for
/// 5 x 2; against 4 x 3 in one process (bench/compare_sources.py --stages,
/// 1 thread) 0.91-0.96 of its time on layer1, 0.97-0.99 on layers 2 and 3,
/// 0.67-0.69 on layer4 (Zen 4, R2PLUS1D_ISA=avx2): each depth step loads 2
/// vectors of B for 12 FMAs rather than 3.
inline constexpr RowsTile kAvx2RowsTile{6, 2};
/// Generic 16-byte vectors: 32 registers on aarch64 (24 accumulators), 16 on
/// SSE2 (12); by design.
#if defined(__aarch64__)
inline constexpr RowsTile kGenericRowsTile{8, 3};
#else
inline constexpr RowsTile kGenericRowsTile{4, 3};
#endif

// ---- Which algorithm takes a convolution (conv3d_algorithms.hpp)

/// Fewest output positions per frame for which conv3d_gemm runs a spatial,
/// strided pointwise or temporal kernel on gemm_rows (with ConvKernels::kRows):
/// on 7x7 frames (49 positions) a run holds few whole register tiles, and the
/// packed GEMMs measured faster (Zen 4).
inline constexpr index_t kRowsMinPositions = 128;
/// Fewest output positions per image for the packed kernels' direct temporal
/// path: its weights are regrouped per tap once per call, a copy that must
/// stay small next to the GEMMs (by design).
inline constexpr index_t kTemporalDirectMinPositions = 1024;
/// Fewest output positions per frame for Winograd's F(4x4, 3x3) (28x28:
/// layer2's frames). On layer3's 14x14 frames it measured 1.2x faster than the
/// direct algorithm, 2% of r2plus1d_18's time (Zen 5), but its transformed
/// weights (576 x 256 x 36 values, 21 MB) would stay in a workspace and push
/// the extractor past 200 MB of resident memory on one clip.
inline constexpr index_t kWinogradMinPositions = 784;
/// Fewest output positions per frame for Winograd's F(2x2, 3x3), below
/// kWinogradMinPositions (14x14: layer3's frames). On layer3's 256 -> 576
/// spatial conv it took 5.9 ms against 9.2 for the direct algorithm and 6.6 for
/// F(4x4), whose tiles cover 16x16 of the 14x14 frames, the weights'
/// transform (0.7 ms) included (Zen 5, 1 thread). Its transformed weights
/// (576 x 256 x 16 values, 9.4 MB) stay in a workspace.
inline constexpr index_t kWinogradF2MinPositions = 196;
/// Fewest positions per frame on which a (2+1)D pair whose weights' transforms
/// are kept between calls (ops::WinogradWeightCache) runs F(4x4, 3x3)
/// rather than F(2x2, 3x3): 14x14, layer3's frames, whose 4x4 tiles cover
/// 16x16 but take 0.79 of F(2x2)'s time once the transforms are kept (AMD
/// Zen 4, 1 thread; without the cache F(4x4)'s 17-21 MB of transformed
/// weights per call cost more than it saves).
inline constexpr index_t kWinogradCachedMinPositions = 196;

// ---- Work items and blocks (per thread unless said)

/// Work items a convolution is split into at least (per image), when its
/// size allows (by design: 4 per thread at 2 threads).
inline constexpr index_t kMinTasksPerImage = 8;
/// Fewest output channels a row block holds (by design: 3-4 register tiles).
inline constexpr index_t kMinRowBlock = 32;
/// Fewest output channels a piece of a row block holds when more threads than
/// work items split it (conv3d_gemm; by design).
inline constexpr index_t kMinSubRows = 16;
/// Fewest output positions a piece of a column chunk holds when more threads
/// than work items split it (conv3d_gemm, and the (2+1)D pairs' chunks; by design).
inline constexpr index_t kMinPieceColumns = 96;
/// Upper bound of a column chunk's size in bytes (the packed kernels; by design).
inline constexpr index_t kColumnBudgetBytes = index_t(2) << 20;
/// Upper bound of the weights a convolution packs once for all its chunks, in
/// bytes (the packed copy stays in a per-thread workspace): every conv of
/// r2plus1d_18 up to layer3's 256->576 (5.3 MB).
inline constexpr index_t kPackedWeightsBudgetBytes = index_t(6) << 20;
/// Bytes of B that gemm_rows runs every row block of A over before it moves
/// on: a block of columns that stays in the L2 cache while the weights stream
/// (a quarter of a 1 MiB L2; by design).
inline constexpr index_t kRowsBlockBytes = index_t(256) << 10;
/// Depth of a block of gemm_thin: 512 steps of up to 98 columns is 200 KB of B (by design).
inline constexpr index_t kThinDepthBlock = 512;
/// Bytes of columns conv3d_thin gathers at once (a chunk of an image's positions; by design).
inline constexpr index_t kThinColumnBudgetBytes = index_t(8) << 20;
/// Bytes of gathered input rows (see conv3d_phase_rows) a work item aims at (by design).
inline constexpr index_t kPhaseRowsBudgetBytes = index_t(256) << 10;
/// Upper bound of an image's input packed once by the frame-packed temporal
/// path, in bytes (a per-thread workspace; by design).
inline constexpr index_t kPackedFramesBudgetBytes = index_t(16) << 20;
/// Bytes of packed weights, and of output, that the frame-packed temporal
/// path keeps in cache while it multiplies them (by design).
inline constexpr index_t kStreamBlockBytes = index_t(512) << 10;
/// Fewest output positions a piece of a frame holds in conv3d_temporal_rows (by design).
inline constexpr index_t kTemporalRowsMinPiece = 256;
/// Most output positions a column chunk of the backward drivers holds (by design).
inline constexpr index_t kBackwardMaxColumns = 1024;

// ---- Winograd

/// Bytes of transformed inputs a block of tiles of F(4x4, 3x3) aims at (one
/// thread's, to stay in its L2 cache), and of the products of a block of its
/// output channels. A block per thread from input to output transform ran
/// layer1 in 0.92-0.97 of the time of a 4 MiB pass the team shared, at 2
/// threads (Zen 5).
inline constexpr index_t kWinogradBlockBytes = index_t(512) << 10;
inline constexpr index_t kWinogradProductBytes = index_t(256) << 10;
/// Where a conv's transformed weights outgrow kWinogradLargeWeightsBytes,
/// every block of tiles reads them all from L3 or memory, and a block may
/// hold up to kWinogradLargeBlockBytes of transformed inputs: fewer passes
/// over the weights. Layer3 of r2plus1d_18 (17-21 MB of weights a conv, 64
/// tiles a frame group) in one block instead of two: 0.92-0.93 of its time
/// with 1 thread (Zen 4).
inline constexpr index_t kWinogradLargeWeightsBytes = index_t(8) << 20;
inline constexpr index_t kWinogradLargeBlockBytes = index_t(4) << 20;
/// Bytes of transformed inputs and GEMM results a work item of F(4, 3) along
/// time aims at: layer1's 144 -> 64 temporal conv on 16 frames took 11.2 ms
/// with 1 MiB, 11.8 with 512 KiB, 13.2 with 256 KiB (Zen 5, 1 thread).
inline constexpr index_t kWinogradTemporalItemBytes = index_t(1) << 20;

// ---- The (2+1)D pairs (conv2plus1d.hpp)

/// Fewest position chunks per frame for the chunked path (below, the framewise path; by design).
inline constexpr index_t kMinChunksPerFrame = 4;
/// Output positions a chunk aims at, and the fewest it is cut down to (by design).
inline constexpr index_t kChunkTargetColumns = 400;
inline constexpr index_t kMinChunkColumns = 128;
/// Fewest output frames a temporal segment of the chunked path holds: each
/// segment recomputes the (kt - 1) intermediate frames before its first output
/// frame, so short segments would redo too much of the spatial conv (by design).
inline constexpr index_t kMinSegmentFrames = 4;
/// Intermediate bytes the framewise path's sliding window aims at (per image; by design).
inline constexpr index_t kWindowBudgetBytes = index_t(4) << 20;
/// Most bytes of a whole frame's window of 10 intermediate frames for which
/// the banded path runs F(8, 3) along time rather than F(4, 3) (whose window
/// holds 6). Layer2 of r2plus1d_18 (9 MB) took 0.955 of the time with 1
/// thread and 0.88 with 2; layer1 (18 MB) took 1.015 with 1 thread (AMD Zen
/// 4, L2 1 MiB a core, L3 32 MiB).
inline constexpr index_t kWinogradF8WindowBytes = index_t(12) << 20;

// ---- Elementwise and linear

/// Elements per parallel work item of the elementwise ops (by design).
inline constexpr index_t kEltwiseBlock = index_t(1) << 16;
/// Rows per work item of the linear gradients (by design).
inline constexpr index_t kLinearRowBlock = 64;

}  // namespace r2plus1d::ops::detail

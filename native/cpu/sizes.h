// The CPU engine's block, tile and state sizes, in one place: the loops use them, and
// engine.cc uses them to estimate a call's memory before it starts.
#pragma once
#include <cstddef>

namespace lk {

// Rows per block: enough blocks for dynamic scheduling to balance the threads, and rows
// enough per block to reuse each j tile (and its tile-level registers) while it is hot.
constexpr int kMaxBlockRows = 64, kBlocksPerThread = 8;

// Lanes per tile: the working set of one (row, tile) step — every tile-level register —
// should stay within L2; wide formulas get fewer lanes, down to one (a TensorProd of two
// 4096-vectors is 16M values per lane). Measured (N = 20000, D = 3, float32, 2 threads,
// AVX-512; medians of 7): the generic Gaussian took 0.34 s at 128 lanes, 0.31 at 256,
// 0.23-0.29 at 512, 0.22-0.25 at 1024 to 4096 (noise ±10%); the fused loop and
// ArgKMin(8) did not care. Past 1024 nothing is gained and buffers grow.
constexpr std::size_t kTileBytes = 128 * 1024;
constexpr int kMaxTile = 1024, kMinTile = 1;

// The k-min state: up to this k, each value is inserted into the row's sorted list at
// once (cheap while k is small); above it, candidates below the current k-th are
// buffered and merged in sorted batches of kMinPending(k), so k = N costs O(N log N)
// per row instead of O(N·k).
constexpr int kKMinInsertMax = 64;
inline std::size_t kMinPending(int k) {
  const std::size_t lo = 1024, hi = 65536, kk = static_cast<std::size_t>(k);
  return kk < lo ? lo : kk > hi ? hi : kk;
}

// A block's rows are capped so that their reduction states stay within this many bytes
// per thread (a k-min with k in the millions holds one row at a time).
constexpr std::size_t kStateBytesPerThread = std::size_t(64) << 20;

}  // namespace lk

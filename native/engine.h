// The engine's entry point, free of N-API: run a decoded program over argument arrays.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "errors.h"
#include "program.h"
#include "solve/cg.h"

namespace lk {

struct PruneCache;  // cpu/cluster.h
class HeldArray;    // held.h

struct RunContext {
  int threads = 1;
  // Nonzero: stop at the next block of rows and throw Cancelled. May be null.
  const int32_t* cancel = nullptr;
  // Block-sparse pruning of the radial kernels (cpu/cluster.h says what it drops):
  // AUTO prunes where it is sound and the call is large enough to pay for clustering.
  enum Prune { OFF, ON, AUTO } prune = AUTO;
  double pruneTolerance = -1;  // negative: the unit roundoff of the data's type
  // > 0, for sums: instead keep every pair whose kernel value phi(scale·d²) is at least
  // this (and some below it) and drop the rest, with no bound against the rows' sums (a
  // solve's iteration, whose answer the accurate products judge).
  double pruneCutoff = 0;
  // Clusters kept across the products of one solve; null: built per call.
  PruneCache* cache = nullptr;
  // Per argument slot, the held array (held.h) the slot's data is, or null; the vector
  // itself may be null (no held arrays). Held arrays carry their own clusters.
  const std::vector<HeldArray*>* held = nullptr;
  HeldArray* heldAt(int slot) const {
    return held && slot >= 0 && static_cast<std::size_t>(slot) < held->size() ? (*held)[slot] : nullptr;
  }
  // Explicit ranges (checked with checkRanges); they replace automatic pruning. May be null.
  const Ranges* ranges = nullptr;
  // Where the reduction runs: the CPU engine, the CUDA plugin, or the CUDA path's kernels
  // emulated on the host (device/emulate.h, for tests). The device computes every pair.
  enum Device { CPU, CUDA, EMULATED } device = CPU;
  int block = 0, splits = 0;  // a forced launch shape on the device paths (0: planned)
  // Where set, the CPU engine adds the number of (i, j) pairs whose formula it evaluates:
  // every pair of the dense and explicit-range paths, the kept ones where it prunes (the
  // k-nearest search excepted; a cut-off's plan over the same points, which evaluates
  // K_ij once for (i, j) and (j, i), counts both). A solve's report counts its products'
  // pairs so.
  std::atomic<uint64_t>* pairs = nullptr;
};

// Computes the reduction of `p` over j. args[slot] points at that slot's array in p's
// dtype; values (p's dtype) and indices receive outputSizes(p).count entries each, where
// the reduction has them. Throws Cancelled.
void reduce(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx);

// The values of p's formula (component 0) at the pairs that explicit ranges (ctx.ranges,
// required) give, instead of their reduction: row i's values, for its j ranges in
// increasing order, go to out + offsets[i] (offsets: m + 1 entries, the prefix sums of
// each row's range lengths). On the CPU, by the generic interpreter. The preconditioner
// setups read kernel entries so. Throws Cancelled.
void evaluatePairs(const Program& p, const void* const* args, const std::size_t* offsets, double* out,
                   const RunContext& ctx);

// The bytes a reduction of p allocates besides its inputs: its outputs and the engine's
// scratch, estimated from above, so that a call can be refused before it starts
// (memory.h). `threads` is the team size the call will use.
std::size_t reductionBytes(const Program& p, const RunContext& ctx);

// Conjugate gradients (solve/cg.h) on the CUDA plugin, every CG vector on the device;
// `slot` is the unknown's argument slot in p, which computes K·v. Throws CudaError,
// Cancelled, SolveBreakdown or ProgramError.
CgReport solveOnCuda(const Program& p, const void* const* args, int slot, const double* b, double* x,
                     const CgOptions& options, const Progress& progress, const RunContext& ctx);

// The instruction-set level the hot loops run at now: "base", "avx2" or "avx512"
// (the best this CPU supports, or lower if LAZYKERNEL_SIMD asks for it).
const char* simdLevel();

}  // namespace lk

// The engine's entry: a reduction goes to the CPU engine or to the device path; a solve
// with its vectors on the GPU goes to the plugin.
#include "engine.h"

#include <algorithm>

#include "cpu/cluster.h"
#include "cpu/kernels.h"
#include "cpu/sizes.h"
#include "cuda_loader.h"
#include "device/emulate.h"
#include "device/lower.h"
#include "memory.h"

namespace lk {
namespace {

// The program as the device path takes it (not every option is built there yet).
lk_dev_program forDevice(const Program& p, const RunContext& ctx) {
  if (ctx.ranges) throw ProgramError("explicit ranges are not supported by the CUDA backend yet; use backend 'cpu'");
  return toDeviceProgram(p);
}

}  // namespace

std::size_t reductionBytes(const Program& p, const RunContext& ctx) {
  const std::size_t vb = p.dtype == F32 ? 4 : 8;
  const OutputSizes out = outputSizes(p);
  std::size_t bytes = 0;
  if (out.hasValues) bytes = addSat(bytes, mulSat(out.count, vb));
  if (out.hasIndices) bytes = addSat(bytes, mulSat(out.count, sizeof(int32_t)));
  // The device path's per-row state is bounded by its fixed tables (device/lower.cc).
  if (ctx.device != RunContext::CPU) return bytes;
  // j-variables laid out component-major; the fused loops' b with a ones column.
  std::size_t jWidth = 1;
  for (const Variable& v : p.vars)
    if (v.cat == CAT_J) jWidth += static_cast<std::size_t>(v.dim);
  bytes = addSat(bytes, mulSat(mulSat(p.n, jWidth), vb));
  // Pruning: both trees (positions, boxes, key scratch), the sorted copies, and while a
  // tree is built its copy of the points and one node's scratch (strips need less: the
  // order, the sorted copies, a cell per point while sorting, prefix sums of |b|).
  if (p.kernel.tag != KERNEL_none) {
    const std::size_t d = static_cast<std::size_t>(p.vars[p.kernel.x].dim);
    bytes = addSat(bytes, mulSat(addSat(p.m, p.n), addSat(mulSat(d, 3 * vb + 8), 64)));
  }
  // Per thread: the tile's registers (at least one lane of every register), a block's
  // row-level registers, and a block's reduction states (capped as forEachBlock caps them).
  std::size_t regs = 0;
  for (int d : p.regDims) regs = addSat(regs, static_cast<std::size_t>(d));
  const std::size_t lanes = std::max(kTileBytes, mulSat(regs, vb));
  const std::size_t rows = mulSat(mulSat(regs, vb), kMaxBlockRows);
  const bool kred = keepsK(p.reduction);
  const std::size_t dim = static_cast<std::size_t>(p.regDims[hasWeights(p.reduction) ? p.weights : p.result]);
  const std::size_t k = kred ? static_cast<std::size_t>(p.k) : 1;
  const std::size_t entries = kred && p.k > kKMinInsertMax ? addSat(k, kMinPending(p.k)) : k;
  const std::size_t rowState = mulSat(mulSat(dim, entries), 16);
  const std::size_t blockState = std::min(mulSat(rowState, kMaxBlockRows), std::max(kStateBytesPerThread, rowState));
  const std::size_t state = addSat(blockState, mulSat(k, 16));
  const std::size_t perThread = addSat(addSat(addSat(lanes, rows), state), mulSat(scratchValues(p), vb));
  return addSat(bytes, mulSat(perThread, static_cast<std::size_t>(std::max(1, ctx.threads))));
}

void reduce(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx) {
  if (ctx.device == RunContext::CPU) return reduceCpu(p, args, values, indices, ctx);
  const lk_dev_program d = forDevice(p, ctx);
  if (ctx.device == RunContext::EMULATED)
    return emulateDeviceReduce(d, args, values, indices, ctx.block, ctx.splits, ctx.cancel);
  if (ctx.cancel && __atomic_load_n(ctx.cancel, __ATOMIC_RELAXED)) throw Cancelled();
  cudaReduce(d, args, values, indices, ctx.block, ctx.splits);
}

void evaluatePairs(const Program& p, const void* const* args, const std::size_t* offsets, double* out,
                   const RunContext& ctx) {
  if (!ctx.ranges) throw ProgramError("evaluatePairs needs explicit ranges");
  evaluatePairsCpu(p, args, offsets, out, ctx);
}

CgReport solveOnCuda(const Program& p, const void* const* args, int slot, const double* b, double* x,
                     const CgOptions& options, const Progress& progress, const RunContext& ctx) {
  return cudaSolve(forDevice(p, ctx), args, slot, b, x, options, progress, ctx.block, ctx.splits);
}

}  // namespace lk

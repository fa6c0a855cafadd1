// The engine's entry: a reduction goes to the CPU engine or to the device path; a solve
// with its vectors on the GPU goes to the plugin.
#include "engine.h"

#include "cpu/kernels.h"
#include "cuda_loader.h"
#include "device/emulate.h"
#include "device/lower.h"

namespace lk {
namespace {

// The program as the device path takes it (not every option is built there yet).
lk_dev_program forDevice(const Program& p, const RunContext& ctx) {
  if (ctx.ranges) throw ProgramError("explicit ranges are not supported by the CUDA backend yet; use backend 'cpu'");
  return toDeviceProgram(p);
}

}  // namespace

void reduce(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx) {
  if (ctx.device == RunContext::CPU) return reduceCpu(p, args, values, indices, ctx);
  const lk_dev_program d = forDevice(p, ctx);
  if (ctx.device == RunContext::EMULATED)
    return emulateDeviceReduce(d, args, values, indices, ctx.block, ctx.splits, ctx.cancel);
  if (ctx.cancel && __atomic_load_n(ctx.cancel, __ATOMIC_RELAXED)) throw Cancelled();
  cudaReduce(d, args, values, indices, ctx.block, ctx.splits);
}

CgReport solveOnCuda(const Program& p, const void* const* args, int slot, const double* b, double* x,
                     const CgOptions& options, const Progress& progress, const RunContext& ctx) {
  return cudaSolve(forDevice(p, ctx), args, slot, b, x, options, progress, ctx.block, ctx.splits);
}

}  // namespace lk

// The engine's entry: a reduction goes to the CPU engine or to the device path.
#include "engine.h"

#include "cpu/kernels.h"
#include "cuda_loader.h"
#include "device/emulate.h"
#include "device/lower.h"

namespace lk {

void reduce(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx) {
  if (ctx.device == RunContext::CPU) return reduceCpu(p, args, values, indices, ctx);
  if (ctx.ranges) throw ProgramError("explicit ranges are not supported by the CUDA backend yet; use backend 'cpu'");
  const lk_dev_program d = toDeviceProgram(p);
  if (ctx.device == RunContext::EMULATED)
    return emulateDeviceReduce(d, args, values, indices, ctx.block, ctx.splits, ctx.cancel);
  if (ctx.cancel && __atomic_load_n(ctx.cancel, __ATOMIC_RELAXED)) throw Cancelled();
  cudaReduce(d, args, values, indices, ctx.block, ctx.splits);
}

}  // namespace lk

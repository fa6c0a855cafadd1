#include "lower.h"

#include <string>

namespace lk {
namespace {

void limit(std::size_t have, int most, const char* what) {
  if (have > static_cast<std::size_t>(most))
    throw ProgramError("the formula is too large for the CUDA backend: " + std::to_string(have) + " " + what +
                       " (at most " + std::to_string(most) + "); use backend 'cpu'");
}

}  // namespace

lk_dev_program toDeviceProgram(const Program& p) {
  limit(p.code.size(), LK_DEV_MAX_INSTR, "instructions");
  limit(p.vars.size(), LK_DEV_MAX_VARS, "variables");
  limit(p.consts.size(), LK_DEV_MAX_CONSTS, "constants");
  for (const Instruction& in : p.code)
    if (in.op == OP_SOFTDTW || in.op == OP_SOFTDTW_GRAD)
      limit(static_cast<std::size_t>(p.regDims[in.a]) * p.regDims[in.b], LK_DEV_MAX_DTW_CELLS, "soft-DTW cells");
  lk_dev_program d{};
  d.dtype = p.dtype;
  d.reduction = p.reduction;
  d.k = p.k;
  d.result = p.result;
  d.weights = p.weights;
  d.m = static_cast<int64_t>(p.m);
  d.n = static_cast<int64_t>(p.n);
  d.nInstr = static_cast<int32_t>(p.code.size());
  d.nVars = static_cast<int32_t>(p.vars.size());
  std::size_t jWidth = 0;
  for (std::size_t v = 0; v < p.vars.size(); ++v) {
    d.varCat[v] = p.vars[v].cat;
    d.varDim[v] = p.vars[v].dim;
    d.jOffset[v] = -1;
    if (p.vars[v].cat == CAT_J) {
      d.jOffset[v] = static_cast<int32_t>(jWidth);
      jWidth += p.vars[v].dim;
    }
  }
  limit(jWidth, LK_DEV_MAX_REG_VALUES, "values per j-row");
  d.jWidth = static_cast<int32_t>(jWidth);
  std::size_t offset = 0;
  for (std::size_t r = 0; r < p.code.size(); ++r) {
    const Instruction& in = p.code[r];
    lk_dev_instr& o = d.code[r];
    o.op = in.op;
    o.a = in.a;
    o.b = in.b;
    o.c = in.c;
    o.imm = in.imm;
    o.dim = p.regDims[r];
    o.offset = static_cast<int32_t>(offset);
    offset += p.regDims[r];
    limit(offset, LK_DEV_MAX_REG_VALUES, "register values");
    // Bit 0: depends on the i-row, bit 1: on the j-row (as the CPU interpreter's levels).
    if (in.op == OP_LOAD) {
      const int cat = p.vars[in.imm].cat;
      o.level = cat == CAT_I ? 1 : cat == CAT_J ? 2 : 0;
    } else {
      o.level = 0;
      for (int reg : {in.a, in.b, in.c})
        if (reg >= 0) o.level |= d.code[reg].level;
    }
  }
  d.regValues = static_cast<int32_t>(offset);
  for (std::size_t c = 0; c < p.consts.size(); ++c) d.consts[c] = p.consts[c];
  const OutputSizes out = outputSizes(p);
  limit(out.columns, LK_DEV_MAX_ACC, "reduction values per row");
  d.outColumns = static_cast<int32_t>(out.columns);
  // The device has the fused sum only; a kernel gradient runs its generic code.
  const bool fusedSum = p.kernel.tag != KERNEL_none && p.reduction == RED_Sum && p.kernel.w < 0;
  if (fusedSum) limit(p.vars[p.kernel.x].dim, LK_DEV_MAX_DIM, "point dimensions");
  d.kernelTag = fusedSum ? p.kernel.tag : KERNEL_none;
  d.kernelX = p.kernel.x;
  d.kernelY = p.kernel.y;
  d.kernelB = p.kernel.b;
  d.kernelScale = p.kernel.scale;
  return d;
}

}  // namespace lk

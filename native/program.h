// The program as the engine runs it: decoded from the JS object of
// lib/formula/program.ts and checked field by field. Nothing in it is trusted before
// decodeProgram() returns: a bad program is a ProgramError (a JS exception), never a crash.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "errors.h"
#include "ops.h"

namespace lk {

enum DType : int { F32 = 0, F64 = 1 };
enum Category : int { CAT_I = 0, CAT_J = 1, CAT_PARAM = 2 };

constexpr int kProgramVersion = 2;

// One argument array of a call, as N-API sees it.
struct ArgInfo {
  int dtype;
  std::size_t length;
};

// The program's fields as they arrive from JS, before any check.
struct ProgramSpec {
  int version = 0;
  int dtype = F32;
  int64_t m = 0, n = 0;
  std::vector<int32_t> vars, regDims, code, kernel;
  std::vector<double> consts;
  int32_t result = -1, weights = -1, reduction = -1, k = 0;
};

struct Variable {
  int cat;
  int dim;
};

// Register r is written by code[r] (SSA in execution order).
struct Instruction {
  int op, a, b, c, imm;
};

// A recognised radial kernel: F = phi(scale·|x_i - y_j|²)·b_j (ops.h, LK_KERNELS).
// x, y, b are argument slots; scale a dim-1 register of parameters and constants.
// With w >= 0 (an i-variable's slot, of b's dimension), F is that kernel's gradient with
// respect to x, applied to w: Σ_c w_ic·∂(phi·b_jc)/∂x_i (cpu/radial_grad.h).
struct FusedKernel {
  int tag = KERNEL_none;
  int x = -1, y = -1, b = -1, scale = -1, w = -1;
};

struct Program {
  int dtype = F32;
  std::size_t m = 0, n = 0;
  std::vector<Variable> vars;  // by argument slot
  std::vector<int> regDims;
  std::vector<Instruction> code;
  std::vector<double> consts;
  int result = -1, weights = -1, reduction = RED_Sum, k = 0;
  FusedKernel kernel;
};

// Explicit block-sparse ranges for the reduction over j (KeOps' ranges_i, slices_i,
// redranges_j): row cluster k is rows [rangesI[2k], rangesI[2k+1]) and reduces over the
// j ranges [redrangesJ[2r], redrangesJ[2r+1]) for r in [slicesI[k-1], slicesI[k])
// (slicesI[-1] = 0). Rows in no cluster get the reduction's value for no terms.
struct Ranges {
  std::vector<int32_t> rangesI, slicesI, redrangesJ;
};

// Checks ranges against m rows and n columns: clusters in increasing order without
// overlap, slices non-decreasing, every range inside its side. Throws RangesError.
void checkRanges(const Ranges& r, std::size_t m, std::size_t n);

// Which outputs a reduction has and how many values each holds (rows × columns).
struct OutputSizes {
  bool hasValues = false, hasIndices = false;
  std::size_t columns = 0;
  std::size_t count = 0;  // m × columns, for each output present
};
OutputSizes outputSizes(const Program& p);

// Work values an evaluation of one pair needs beyond its registers (a soft-DTW's cost
// and adjoint matrices), per thread: allocated before any parallel region.
std::size_t scratchValues(const Program& p);

// Checks every field against the op table's rules and the argument arrays' lengths and
// dtypes; throws ProgramError naming the fault.
Program decodeProgram(const ProgramSpec& spec, const std::vector<ArgInfo>& args);

}  // namespace lk

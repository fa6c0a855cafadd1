#include "program.h"

#include "maths/scalar_ops.h"

#include <algorithm>
#include <string>

namespace lk {
namespace {

// Dimensions stay below 2^24 (lib/formula/ir.ts MAX_DIM), so products of two fit in int64.
constexpr int kMaxDim = 1 << 24;
constexpr int64_t kMaxRows = 0x7fffffff;  // indices are returned as int32
constexpr std::size_t kMaxOutputValues = 0xffffffffu;  // a JS typed array's most elements

[[noreturn]] void fail(const std::string& what) { throw ProgramError("invalid program: " + what); }

int arity(int op) {
  switch (op) {
#define LK_ARITY(name, code, n) \
  case code:                    \
    return n;
    LK_OPS(LK_ARITY)
#undef LK_ARITY
  }
  return -1;
}

bool isElementwise(int op) { return elementwiseArity(op) > 0; }

// The dimension rule of one instruction; `dim(r)` is register r's dimension.
void checkInstruction(const Program& p, int r) {
  const Instruction& in = p.code[r];
  const std::string at = "instruction " + std::to_string(r);
  if (in.op < 0 || in.op >= OP_COUNT) fail(at + ": unknown op code " + std::to_string(in.op));
  int n = arity(in.op);
  const int operands[3] = {in.a, in.b, in.c};
  for (int k = 0; k < 3; ++k) {
    if (k < n && (operands[k] < 0 || operands[k] >= r))
      fail(at + ": operand " + std::to_string(k) + " must be an earlier register, not " + std::to_string(operands[k]));
    if (k >= n && operands[k] != -1) fail(at + ": unused operand " + std::to_string(k) + " must be -1");
  }
  auto dim = [&](int reg) { return p.regDims[reg]; };
  const int out = dim(r);
  const int da = n > 0 ? dim(in.a) : 0, db = n > 1 ? dim(in.b) : 0;
  auto need = [&](bool ok, const char* rule) {
    if (!ok) fail(at + ": dimensions break the rule " + rule);
  };
  if (isElementwise(in.op)) {
    int widest = 1;
    for (int k = 0; k < n; ++k) {
      int d = dim(operands[k]);
      need(d == 1 || d == out, "operand dims are 1 or the output's");
      widest = d > widest ? d : widest;
    }
    need(widest == out, "output dim = widest operand");
    if (in.op == OP_ROUND) need(in.imm >= -30 && in.imm <= 30, "Round's decimals in [-30, 30]");
    return;
  }
  switch (in.op) {
    case OP_LOAD:
      if (in.imm < 0 || in.imm >= static_cast<int>(p.vars.size())) fail(at + ": LOAD of an unknown variable");
      need(p.vars[in.imm].dim == out, "LOAD dim = variable dim");
      return;
    case OP_CONST:
      if (in.imm < 0 || in.imm >= static_cast<int>(p.consts.size())) fail(at + ": CONST of an unknown constant");
      return;
    case OP_SUM: case OP_MAXC: case OP_MINC: case OP_ARGMAXC: case OP_ARGMINC:
      need(out == 1, "output dim 1");
      return;
    case OP_DOT:
      need(out == 1 && da == db, "equal operand dims, output dim 1");
      return;
    case OP_ELEM:
      need(out == 1 && in.imm >= 0 && in.imm < da, "0 <= index < dim, output dim 1");
      return;
    case OP_EXTRACT:
      need(in.imm >= 0 && static_cast<int64_t>(in.imm) + out <= da, "start + output dim <= operand dim");
      return;
    case OP_CONCAT:
      need(static_cast<int64_t>(da) + db == out, "output dim = sum of operand dims");
      return;
    case OP_ONEHOT:
      need(da == 1, "operand dim 1");
      return;
    case OP_MATVEC:
      need(static_cast<int64_t>(out) * db == da, "matrix dim = output dim x vector dim");
      return;
    case OP_VECMAT:
      need(static_cast<int64_t>(da) * out == db, "matrix dim = vector dim x output dim");
      return;
    case OP_TENSORPROD:
      need(static_cast<int64_t>(da) * db == out, "output dim = product of operand dims");
      return;
    case OP_SOFTDTW:
    case OP_SOFTDTW_GRAD:
      need(dim(in.c) == 1, "gamma of dim 1");
      need(static_cast<int64_t>(da) * db <= kMaxSoftDtwCells, "series lengths with dim(a)·dim(b) <= 2^22");
      need(in.op == OP_SOFTDTW ? out == 1 : static_cast<int64_t>(out) == static_cast<int64_t>(da) + db + 1,
           "output dim 1 (the gradient: dim(a) + dim(b) + 1)");
      return;
    case OP_GATHER:
      if (in.imm < 0 || static_cast<int64_t>(in.imm) + out > static_cast<int64_t>(p.consts.size()))
        fail(at + ": GATHER's index table is outside the constants");
      for (int c = 0; c < out; ++c) {
        const double k = p.consts[in.imm + c];
        need(k >= 0 && k < da && k == static_cast<double>(static_cast<int>(k)), "GATHER indices are integers in [0, operand dim)");
      }
      return;
  }
  fail(at + ": op code " + std::to_string(in.op) + " has no dimension rule");
}

// True when register r reads no i- or j-variable.
std::vector<char> paramOnly(const Program& p) {
  std::vector<char> only(p.code.size(), 1);
  for (std::size_t r = 0; r < p.code.size(); ++r) {
    const Instruction& in = p.code[r];
    if (in.op == OP_LOAD) {
      only[r] = p.vars[in.imm].cat == CAT_PARAM;
      continue;
    }
    for (int reg : {in.a, in.b, in.c})
      if (reg >= 0 && !only[reg]) only[r] = 0;
  }
  return only;
}

void checkKernel(const ProgramSpec& s, Program& p) {
  if (s.kernel.empty()) return;
  if (s.kernel.size() != 6) fail("kernel must have 6 fields or none");
  FusedKernel& k = p.kernel;
  k = {s.kernel[0], s.kernel[1], s.kernel[2], s.kernel[3], s.kernel[4], s.kernel[5]};
  if (k.tag <= KERNEL_none || k.tag >= KERNEL_COUNT) fail("unknown kernel tag " + std::to_string(k.tag));
  const int nv = static_cast<int>(p.vars.size());
  for (int v : {k.x, k.y})
    if (v < 0 || v >= nv) fail("kernel variable out of range");
  if (p.vars[k.x].cat != CAT_I || p.vars[k.y].cat != CAT_J) fail("kernel variables must be x an i-variable, y a j-variable");
  if (p.vars[k.x].dim != p.vars[k.y].dim) fail("kernel x and y must have equal dimensions");
  if (k.scale < 0 || k.scale >= static_cast<int>(p.regDims.size()) || p.regDims[k.scale] != 1 ||
      !paramOnly(p)[k.scale])
    fail("kernel scale must be a dim-1 register of parameters and constants");
  if (k.tag == KERNEL_sqdist) {
    const int r = p.reduction;
    if (r != RED_Min && r != RED_ArgMin && r != RED_Min_ArgMin && !keepsK(r))
      fail("a sqdist kernel needs a Min or KMin reduction");
    if (k.b != -1 || k.w != -1) fail("a sqdist kernel has no b and no w");
    if (p.regDims[p.result] != 1) fail("a sqdist kernel's output dim must be 1");
    return;
  }
  if (k.b < 0 || k.b >= nv || p.vars[k.b].cat != CAT_J) fail("kernel b must be a j-variable");
  if (p.reduction == RED_SumSoftMaxWeight) {
    // exp(F) = phi: only the exponential profiles have a log form.
    if (k.tag != KERNEL_gaussian && k.tag != KERNEL_laplace)
      fail("a softmax kernel must be gaussian or laplace");
    if (p.regDims[p.weights] != p.vars[k.b].dim) fail("softmax kernel weights dim must be b's dim");
  } else if (p.reduction != RED_Sum) {
    fail("a fused kernel needs a Sum or SumSoftMaxWeight reduction");
  }
  if (k.w < 0) {
    if (k.w != -1) fail("kernel gradient weights must be a variable or -1");
    if (p.reduction == RED_Sum && p.regDims[p.result] != p.vars[k.b].dim) fail("kernel output dim must be b's dim");
    return;
  }
  if (k.w >= nv || p.vars[k.w].cat != CAT_I) fail("kernel gradient weights must be an i-variable");
  if (p.vars[k.w].dim != p.vars[k.b].dim) fail("kernel gradient weights must have b's dimension");
  if (p.reduction != RED_Sum) fail("a kernel gradient needs a Sum reduction");
  if (p.regDims[p.result] != p.vars[k.x].dim) fail("kernel gradient output dim must be x's dim");
}

}  // namespace

void checkRanges(const Ranges& r, std::size_t m, std::size_t n) {
  auto bad = [](const std::string& what) { throw RangesError("invalid ranges: " + what); };
  if (r.rangesI.size() % 2 || r.redrangesJ.size() % 2) bad("ranges_i and redranges_j hold (start, end) pairs");
  const std::size_t clusters = r.rangesI.size() / 2, reductions = r.redrangesJ.size() / 2;
  if (r.slicesI.size() != clusters)
    bad("slices_i has " + std::to_string(r.slicesI.size()) + " entries for " + std::to_string(clusters) + " clusters");
  int64_t previousEnd = 0, previousSlice = 0;
  for (std::size_t k = 0; k < clusters; ++k) {
    const int64_t a = r.rangesI[2 * k], b = r.rangesI[2 * k + 1], s = r.slicesI[k];
    if (a < previousEnd || b < a || b > static_cast<int64_t>(m))
      bad("cluster " + std::to_string(k) + " of ranges_i is [" + std::to_string(a) + ", " + std::to_string(b) +
          "): clusters must be increasing, disjoint and inside the " + std::to_string(m) + " rows");
    if (s < previousSlice || s > static_cast<int64_t>(reductions))
      bad("slices_i must be non-decreasing and at most " + std::to_string(reductions));
    previousEnd = b;
    previousSlice = s;
  }
  for (std::size_t k = 0; k < reductions; ++k) {
    const int64_t a = r.redrangesJ[2 * k], b = r.redrangesJ[2 * k + 1];
    if (a < 0 || b < a || b > static_cast<int64_t>(n))
      bad("range " + std::to_string(k) + " of redranges_j is [" + std::to_string(a) + ", " + std::to_string(b) +
          "), outside the " + std::to_string(n) + " reduced rows");
  }
}

OutputSizes outputSizes(const Program& p) {
  OutputSizes s;
  const int r = p.reduction;
  s.hasIndices = r == RED_ArgMin || r == RED_ArgMax || r == RED_Min_ArgMin || r == RED_Max_ArgMax ||
                 r == RED_ArgKMin || r == RED_KMin_ArgKMin;
  s.hasValues = r != RED_ArgMin && r != RED_ArgMax && r != RED_ArgKMin;
  std::size_t dim = static_cast<std::size_t>(p.regDims[hasWeights(r) ? p.weights : p.result]);
  bool kred = keepsK(r);
  s.columns = kred ? dim * static_cast<std::size_t>(p.k) : r == RED_Max_SumShiftExp || r == RED_Max_SumShiftExpWeight ? dim + 1 : dim;
  s.count = p.m * s.columns;
  return s;
}

std::size_t scratchValues(const Program& p) {
  std::size_t most = 0;
  for (const Instruction& in : p.code) {
    if (in.op != OP_SOFTDTW && in.op != OP_SOFTDTW_GRAD) continue;
    const std::size_t n = static_cast<std::size_t>(p.regDims[in.a]), m = static_cast<std::size_t>(p.regDims[in.b]);
    most = std::max(most, 2 * n * m + n + m + 1);
  }
  return most;
}

Program decodeProgram(const ProgramSpec& s, const std::vector<ArgInfo>& args) {
  Program p;
  if (s.version != kProgramVersion)
    fail("version " + std::to_string(s.version) + ", this addon reads version " + std::to_string(kProgramVersion));
  if (s.dtype != F32 && s.dtype != F64) fail("unknown dtype");
  p.dtype = s.dtype;
  if (s.m < 0 || s.m > kMaxRows || s.n < 0 || s.n > kMaxRows) fail("m and n must be in [0, 2^31 - 1]");
  p.m = static_cast<std::size_t>(s.m);
  p.n = static_cast<std::size_t>(s.n);

  if (s.vars.size() % 3 != 0) fail("vars must hold 3 fields per variable");
  const std::size_t nv = s.vars.size() / 3;
  if (nv != args.size())
    fail(std::to_string(nv) + " variables but " + std::to_string(args.size()) + " argument arrays");
  for (std::size_t v = 0; v < nv; ++v) {
    int cat = s.vars[3 * v], dim = s.vars[3 * v + 1], slot = s.vars[3 * v + 2];
    const std::string what = "variable " + std::to_string(v);
    if (cat != CAT_I && cat != CAT_J && cat != CAT_PARAM) fail(what + ": unknown category");
    if (dim < 1 || dim > kMaxDim) fail(what + ": dimension out of range");
    if (slot != static_cast<int>(v)) fail(what + ": variables must be listed in slot order");
    if (args[v].dtype != p.dtype) fail(what + ": its array's dtype differs from the program's");
    std::size_t rows = cat == CAT_I ? p.m : cat == CAT_J ? p.n : 1;
    if (args[v].length != rows * static_cast<std::size_t>(dim))
      fail(what + ": its array has " + std::to_string(args[v].length) + " values, expected " +
           std::to_string(rows) + " rows x " + std::to_string(dim));
    p.vars.push_back({cat, dim});
  }

  if (s.code.size() % 6 != 0) fail("code must hold 6 fields per instruction");
  if (s.code.size() / 6 != s.regDims.size()) fail("one instruction per register is expected");
  if (s.regDims.empty()) fail("the program has no instruction");
  for (int32_t d : s.regDims)
    if (d < 1 || d > kMaxDim) fail("a register dimension is out of range");
  p.regDims.assign(s.regDims.begin(), s.regDims.end());
  p.consts = s.consts;
  for (std::size_t r = 0; r < s.regDims.size(); ++r) {
    const int32_t* f = &s.code[6 * r];
    if (f[1] != static_cast<int32_t>(r)) fail("instruction " + std::to_string(r) + " must write register " + std::to_string(r));
    p.code.push_back({f[0], f[2], f[3], f[4], f[5]});
    checkInstruction(p, static_cast<int>(r));
  }

  const int nr = static_cast<int>(p.regDims.size());
  if (s.reduction < 0 || s.reduction >= RED_COUNT) fail("unknown reduction " + std::to_string(s.reduction));
  p.reduction = s.reduction;
  if (s.result < 0 || s.result >= nr) fail("result register out of range");
  p.result = s.result;
  const bool weighted = hasWeights(p.reduction);
  if (weighted ? (s.weights < 0 || s.weights >= nr) : s.weights != -1)
    fail(weighted ? "a weighted reduction needs a weights register" : "weights must be -1 outside the weighted reductions");
  p.weights = s.weights;
  if (isSoftmaxFamily(p.reduction) && p.regDims[p.result] != 1)
    fail("the exponential-sum reductions need a formula of dimension 1");
  const bool kred = keepsK(p.reduction);
  if (kred ? s.k < 1 : s.k != 0) fail(kred ? "k must be at least 1" : "k must be 0 outside the k-reductions");
  p.k = s.k;
  checkKernel(s, p);

  // A side without variables has one row (lib/ sends 1): any more would fold the same
  // term that many times, for nothing but time.
  bool hasI = false, hasJ = false;
  for (const Variable& v : p.vars) {
    hasI |= v.cat == CAT_I;
    hasJ |= v.cat == CAT_J;
  }
  if (!hasI && p.m > 1) fail("m is " + std::to_string(p.m) + " but no variable is an i-variable (at most 1 row)");
  if (!hasJ && p.n > 1) fail("n is " + std::to_string(p.n) + " but no variable is a j-variable (at most 1 row)");

  // Each output must fit one typed array.
  const OutputSizes out = outputSizes(p);
  if (out.columns > 0 && p.m > kMaxOutputValues / out.columns)
    fail("the output would hold " + std::to_string(p.m) + " x " + std::to_string(out.columns) +
         " values; a typed array holds at most 2^32 - 1");
  return p;
}

}  // namespace lk

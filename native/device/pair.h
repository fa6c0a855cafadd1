// The program interpreter of the device path: one (i, j) pair at a time, every register
// in a per-thread array (lk_dev_instr::offset). Host and device compile it (LK_HD): the
// CPU's emulated-kernel tests run this very code. The ops' maths is maths/scalar_ops.h,
// shared with the CPU engine's lane interpreter.
#pragma once
#include "../../cuda/plugin_abi.h"
#include "../maths/hd.h"
#include "../maths/scalar_ops.h"
#include "../maths/softdtw.h"

namespace lk {

// Where one evaluation reads its inputs: the argument arrays, the i-row, and the staged
// j-row (the tile's values of every j-variable, at lk_dev_program::jOffset).
template <typename T>
struct PairInputs {
  const T* const* args;
  long long i;
  const T* jrow;
};

// Runs the instructions whose level is in [lo, hi] (0 parameters, 1 i-row, 2 j-row,
// 3 pair), in program order, into reg.
template <typename T>
LK_HD void evaluateLevels(const lk_dev_program& p, int lo, int hi, const PairInputs<T>& in, T* reg) {
  for (int r = 0; r < p.nInstr; ++r) {
    const lk_dev_instr& ins = p.code[r];
    if (ins.level < lo || ins.level > hi) continue;
    T* out = reg + ins.offset;
    const int dim = ins.dim;
    // Component c of register q, a dim-1 register broadcast.
    auto at = [&](int q, int c) { return reg[p.code[q].offset + (p.code[q].dim == 1 ? 0 : c)]; };
    switch (ins.op) {
      case OP_LOAD: {
        const int v = ins.imm;
        const T* src = p.varCat[v] == 0   ? in.args[v] + in.i * dim
                       : p.varCat[v] == 1 ? in.jrow + p.jOffset[v]
                                          : in.args[v];
        for (int c = 0; c < dim; ++c) out[c] = src[c];
        break;
      }
      case OP_CONST:
        for (int c = 0; c < dim; ++c) out[c] = static_cast<T>(p.consts[ins.imm]);
        break;
      case OP_ELEM:
      case OP_EXTRACT:
        for (int c = 0; c < dim; ++c) out[c] = reg[p.code[ins.a].offset + ins.imm + c];
        break;
      case OP_SUM: {
        T s = 0;
        for (int c = 0; c < p.code[ins.a].dim; ++c) s += at(ins.a, c);
        out[0] = s;
        break;
      }
      case OP_MAXC:
      case OP_MINC: {
        const bool mx = ins.op == OP_MAXC;
        T best = at(ins.a, 0);
        for (int c = 1; c < p.code[ins.a].dim; ++c) {
          const T x = at(ins.a, c);
          best = (mx ? x > best : x < best) || x != x ? x : best;
        }
        out[0] = best;
        break;
      }
      case OP_ARGMAXC:
      case OP_ARGMINC: {
        const bool mx = ins.op == OP_ARGMAXC;
        T best = at(ins.a, 0);
        int k = 0;
        for (int c = 1; c < p.code[ins.a].dim; ++c) {
          const T x = at(ins.a, c);
          if (mx ? x > best : x < best) {
            best = x;
            k = c;
          }
        }
        out[0] = static_cast<T>(k);
        break;
      }
      case OP_SOFTDTW:
      case OP_SOFTDTW_GRAD: {
        // device/lower.cc keeps dim(a)·dim(b) within LK_DEV_MAX_DTW_CELLS.
        T work[2 * LK_DEV_MAX_DTW_CELLS];
        const int n = p.code[ins.a].dim, m = p.code[ins.b].dim;
        const Strided<T> x{reg + p.code[ins.a].offset, 1}, y{reg + p.code[ins.b].offset, 1};
        const T gamma = at(ins.c, 0);
        if (ins.op == OP_SOFTDTW) {
          out[0] = softDtwForward<T>(x, n, y, m, gamma, work);
        } else {
          softDtwGradient<T>(x, n, y, m, gamma, out, work);
        }
        break;
      }
      case OP_GATHER:
        for (int c = 0; c < dim; ++c) out[c] = at(ins.a, static_cast<int>(p.consts[ins.imm + c]));
        break;
      case OP_DOT: {
        T s = 0;
        for (int c = 0; c < p.code[ins.a].dim; ++c) s = fmadd(at(ins.a, c), at(ins.b, c), s);
        out[0] = s;
        break;
      }
      case OP_CONCAT: {
        const int da = p.code[ins.a].dim;
        for (int c = 0; c < da; ++c) out[c] = at(ins.a, c);
        for (int c = 0; c < p.code[ins.b].dim; ++c) out[da + c] = at(ins.b, c);
        break;
      }
      case OP_ONEHOT: {
        const T x = at(ins.a, 0);
        for (int c = 0; c < dim; ++c) out[c] = floor(x + T(0.5)) == T(c) ? T(1) : T(0);
        break;
      }
      case OP_MATVEC: {  // out_r = sum_c A[r·db + c] B_c
        const int db = p.code[ins.b].dim;
        for (int r2 = 0; r2 < dim; ++r2) {
          T s = 0;
          for (int c = 0; c < db; ++c) s = fmadd(at(ins.a, r2 * db + c), at(ins.b, c), s);
          out[r2] = s;
        }
        break;
      }
      case OP_VECMAT: {  // out_c = sum_r A_r B[r·dout + c]
        for (int c = 0; c < dim; ++c) {
          T s = 0;
          for (int r2 = 0; r2 < p.code[ins.a].dim; ++r2) s = fmadd(at(ins.a, r2), at(ins.b, r2 * dim + c), s);
          out[c] = s;
        }
        break;
      }
      case OP_TENSORPROD: {  // out[k·db + l] = A_k B_l
        const int db = p.code[ins.b].dim;
        for (int k = 0; k < p.code[ins.a].dim; ++k)
          for (int l = 0; l < db; ++l) out[k * db + l] = at(ins.a, k) * at(ins.b, l);
        break;
      }
      default: {
        const int arity = elementwiseArity(ins.op);
        for (int c = 0; c < dim; ++c) {
          const T x = at(ins.a, c);
          const T y = arity >= 2 ? at(ins.b, c) : T(0);
          const T z = arity >= 3 ? at(ins.c, c) : T(0);
          out[c] = elementwiseOp<T>(ins.op, ins.imm, x, y, z);
        }
      }
    }
  }
}

}  // namespace lk

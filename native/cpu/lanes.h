// One instruction of the program run over a tile's lanes: each output component is one
// loop over `len` lanes, which the compiler vectorises (the instruction is decoded once
// per tile, not once per pair). Included only by the per-instruction-set kernel sources,
// inside their namespace.
#pragma once
#include <cmath>
#include <cstddef>
#include <limits>

#include "../maths/exp.h"
#include "../maths/scalar_ops.h"
#include "../maths/softdtw.h"
#include "../program.h"

namespace lk {
namespace LK_ISA_NS {

// The per-lane lambdas must be inlined into their loops, or the loops do not vectorise;
// GCC's early inliner gave up on some (Exp, once its polynomial used fmadd) and the
// generic interpreter ran 4x slower.
#define LK_LANE __attribute__((always_inline))

// Where a register's values are: component c, lane t at p[c·cs + t] when `lane`, else
// p[c·cs] for every lane (a value that does not depend on j: a parameter, an i-row).
template <typename T>
struct Ref {
  const T* p = nullptr;
  std::size_t cs = 1;
  bool lane = false;
  const T* comp(int c) const { return p + c * cs; }
};

// o[t] op= f(a[t]) for a lane or uniform operand.
template <typename T, typename F>
inline void apply1(T* __restrict o, const T* __restrict a, bool al, int len, F f) {
  if (al) {
    for (int t = 0; t < len; ++t) f(o[t], a[t]);
  } else {
    const T av = a[0];
    for (int t = 0; t < len; ++t) f(o[t], av);
  }
}

template <typename T, typename F>
inline void apply2(T* __restrict o, const T* __restrict a, bool al, const T* __restrict b, bool bl, int len, F f) {
  if (al && bl) {
    for (int t = 0; t < len; ++t) f(o[t], a[t], b[t]);
  } else if (al) {
    const T bv = b[0];
    for (int t = 0; t < len; ++t) f(o[t], a[t], bv);
  } else if (bl) {
    const T av = a[0];
    for (int t = 0; t < len; ++t) f(o[t], av, b[t]);
  } else {
    const T av = a[0], bv = b[0];
    for (int t = 0; t < len; ++t) f(o[t], av, bv);
  }
}

// Ternary ops are rare (Clamp, IfElse, Mod): strided reads are good enough.
template <typename T, typename F>
inline void apply3(T* __restrict o, const T* a, bool al, const T* b, bool bl, const T* c, bool cl, int len, F f) {
  const int sa = al, sb = bl, sc = cl;
  for (int t = 0; t < len; ++t) f(o[t], a[t * sa], b[t * sb], c[t * sc]);
}

// Runs element-wise op `op` for output component c. Dim-1 operands broadcast.
template <typename T>
inline void elementwise(const Instruction& in, int c, T* o, const Ref<T>* regs, const int* dims, int len) {
  auto comp = [&](int reg) { return regs[reg].comp(dims[reg] == 1 ? 0 : c); };
  const Ref<T>& A = regs[in.a];
  const T* a = comp(in.a);
  auto unary = [&](auto f) { apply1(o, a, A.lane, len, [&](T& out, T x) LK_LANE { out = f(x); }); };
  auto binary = [&](auto f) {
    const Ref<T>& B = regs[in.b];
    apply2(o, a, A.lane, comp(in.b), B.lane, len, [&](T& out, T x, T y) LK_LANE { out = f(x, y); });
  };
  auto ternary = [&](auto f) {
    const Ref<T>& B = regs[in.b];
    const Ref<T>& C = regs[in.c];
    apply3(o, a, A.lane, comp(in.b), B.lane, comp(in.c), C.lane, len,
           [&](T& out, T x, T y, T z) LK_LANE { out = f(x, y, z); });
  };
  const int imm = in.imm;
  switch (in.op) {
#define LK_UNARY(name) case OP_##name: return unary([imm](T x) LK_LANE { return unaryOp<OP_##name>(x, imm); });
#define LK_BINARY(name) case OP_##name: return binary([](T x, T y) LK_LANE { return binaryOp<OP_##name>(x, y); });
#define LK_TERNARY(name) case OP_##name: return ternary([](T x, T y, T z) LK_LANE { return ternaryOp<OP_##name>(x, y, z); });
    LK_ELEMENTWISE_OPS(LK_UNARY, LK_BINARY, LK_TERNARY)
#undef LK_UNARY
#undef LK_BINARY
#undef LK_TERNARY
  }
}

// Lanes per pass of ArgMax/ArgMin's running best (a stack buffer).
constexpr int kArgLanes = 64;

// Runs instruction `in` into `out` (component c at out + c·ocs), reading operands
// through `regs`. Views (LOAD, ELEM, EXTRACT) and CONST are set up by the caller;
// `consts` holds GATHER's index tables, `scratch` the Plan's work values (soft-DTW).
template <typename T>
inline void runInstruction(const Instruction& in, T* out, std::size_t ocs, int outDim, const Ref<T>* regs,
                           const int* dims, int len, const double* consts, T* scratch) {
  auto o = [&](int c) { return out + c * ocs; };
  auto zero = [&](int c) {
    T* p = o(c);
    for (int t = 0; t < len; ++t) p[t] = 0;
  };
  if (elementwiseArity(in.op) > 0) {
    for (int c = 0; c < outDim; ++c) elementwise(in, c, o(c), regs, dims, len);
    return;
  }
  const Ref<T>& A = regs[in.a];
  const int da = dims[in.a];
  auto acc2 = [&](int c, const T* a, bool al, const T* b, bool bl) {
    apply2(o(c), a, al, b, bl, len, [](T& r, T x, T y) LK_LANE { r = fmadd(x, y, r); });
  };
  switch (in.op) {
    case OP_SUM:
      zero(0);
      for (int c = 0; c < da; ++c) apply1(o(0), A.comp(c), A.lane, len, [](T& r, T x) { r += x; });
      return;
    case OP_MAXC:
    case OP_MINC: {
      const bool mx = in.op == OP_MAXC;
      apply1(o(0), A.comp(0), A.lane, len, [](T& r, T x) { r = x; });
      for (int c = 1; c < da; ++c)
        apply1(o(0), A.comp(c), A.lane, len, [mx](T& r, T x) { r = (mx ? x > r : x < r) || x != x ? x : r; });
      return;
    }
    case OP_ARGMAXC:
    case OP_ARGMINC: {
      // Each lane's best value so far on the stack, kArgLanes lanes at a time; the first
      // index wins ties, and a NaN component is never better (KeOps' strict comparisons).
      const bool mx = in.op == OP_ARGMAXC;
      T* idx = o(0);
      T best[kArgLanes];
      for (int t0 = 0; t0 < len; t0 += kArgLanes) {
        const int n = len - t0 < kArgLanes ? len - t0 : kArgLanes;
        const T* a0 = A.comp(0);
        for (int t = 0; t < n; ++t) {
          best[t] = a0[A.lane ? t0 + t : 0];
          idx[t0 + t] = 0;
        }
        for (int c = 1; c < da; ++c) {
          const T* ac = A.comp(c);
          for (int t = 0; t < n; ++t) {
            const T x = ac[A.lane ? t0 + t : 0];
            const bool better = mx ? x > best[t] : x < best[t];
            best[t] = better ? x : best[t];
            idx[t0 + t] = better ? T(c) : idx[t0 + t];
          }
        }
      }
      return;
    }
    case OP_SOFTDTW:
    case OP_SOFTDTW_GRAD: {
      // Lane by lane: the recursion is sequential within a pair.
      const Ref<T>& B = regs[in.b];
      const Ref<T>& C = regs[in.c];
      const int n = da, m = dims[in.b];
      T* grad = scratch + 2 * static_cast<std::size_t>(n) * m;
      for (int t = 0; t < len; ++t) {
        const Strided<T> x{A.p + (A.lane ? t : 0), static_cast<long long>(A.cs)};
        const Strided<T> y{B.p + (B.lane ? t : 0), static_cast<long long>(B.cs)};
        const T gamma = C.p[C.lane ? t : 0];
        if (in.op == OP_SOFTDTW) {
          o(0)[t] = softDtwForward<T>(x, n, y, m, gamma, scratch);
          continue;
        }
        softDtwGradient<T>(x, n, y, m, gamma, grad, scratch);
        for (int k = 0; k < outDim; ++k) o(k)[t] = grad[k];
      }
      return;
    }
    case OP_GATHER:
      for (int c = 0; c < outDim; ++c)
        apply1(o(c), A.comp(static_cast<int>(consts[in.imm + c])), A.lane, len, [](T& r, T x) { r = x; });
      return;
    case OP_DOT: {
      const Ref<T>& B = regs[in.b];
      zero(0);
      for (int c = 0; c < da; ++c) acc2(0, A.comp(c), A.lane, B.comp(c), B.lane);
      return;
    }
    case OP_CONCAT: {
      const Ref<T>& B = regs[in.b];
      for (int c = 0; c < da; ++c) apply1(o(c), A.comp(c), A.lane, len, [](T& r, T x) { r = x; });
      for (int c = 0; c < dims[in.b]; ++c) apply1(o(da + c), B.comp(c), B.lane, len, [](T& r, T x) { r = x; });
      return;
    }
    case OP_ONEHOT:
      for (int c = 0; c < outDim; ++c)
        apply1(o(c), A.comp(0), A.lane, len, [c](T& r, T x) { r = std::floor(x + T(0.5)) == T(c) ? T(1) : T(0); });
      return;
    case OP_MATVEC: {  // out_r = sum_c A[r·db + c] B_c
      const Ref<T>& B = regs[in.b];
      const int db = dims[in.b];
      for (int r = 0; r < outDim; ++r) {
        zero(r);
        for (int c = 0; c < db; ++c) acc2(r, A.comp(r * db + c), A.lane, B.comp(c), B.lane);
      }
      return;
    }
    case OP_VECMAT: {  // out_c = sum_r A_r B[r·dout + c]
      const Ref<T>& B = regs[in.b];
      for (int c = 0; c < outDim; ++c) {
        zero(c);
        for (int r = 0; r < da; ++r) acc2(c, A.comp(r), A.lane, B.comp(r * outDim + c), B.lane);
      }
      return;
    }
    case OP_TENSORPROD: {  // out[k·db + l] = A_k B_l
      const Ref<T>& B = regs[in.b];
      const int db = dims[in.b];
      for (int k = 0; k < da; ++k)
        for (int l = 0; l < db; ++l)
          apply2(o(k * db + l), A.comp(k), A.lane, B.comp(l), B.lane, len, [](T& r, T x, T y) { r = x * y; });
      return;
    }
  }
}

}  // namespace LK_ISA_NS
}  // namespace lk

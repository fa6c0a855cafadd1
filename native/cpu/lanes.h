// One instruction of the program run over a tile's lanes: each output component is one
// loop over `len` lanes, which the compiler vectorises (the instruction is decoded once
// per tile, not once per pair). Included only by the per-instruction-set kernel sources,
// inside their namespace.
#pragma once
#include <cmath>
#include <cstddef>
#include <limits>

#include "../maths/exp.h"
#include "../program.h"

namespace lk {
namespace LK_ISA_NS {

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

template <typename T>
inline T nan() {
  return std::numeric_limits<T>::quiet_NaN();
}

// Runs element-wise op `op` for output component c. Dim-1 operands broadcast.
template <typename T>
inline void elementwise(const Instruction& in, int c, T* o, const Ref<T>* regs, const int* dims, int len) {
  auto comp = [&](int reg) { return regs[reg].comp(dims[reg] == 1 ? 0 : c); };
  const Ref<T>& A = regs[in.a];
  const T* a = comp(in.a);
  auto unary = [&](auto f) { apply1(o, a, A.lane, len, [&](T& out, T x) { out = f(x); }); };
  auto binary = [&](auto f) {
    const Ref<T>& B = regs[in.b];
    apply2(o, a, A.lane, comp(in.b), B.lane, len, [&](T& out, T x, T y) { out = f(x, y); });
  };
  auto ternary = [&](auto f) {
    const Ref<T>& B = regs[in.b];
    const Ref<T>& C = regs[in.c];
    apply3(o, a, A.lane, comp(in.b), B.lane, comp(in.c), C.lane, len,
           [&](T& out, T x, T y, T z) { out = f(x, y, z); });
  };
  switch (in.op) {
    case OP_NEG: return unary([](T x) { return -x; });
    case OP_ADD: return binary([](T x, T y) { return x + y; });
    case OP_SUB: return binary([](T x, T y) { return x - y; });
    case OP_MUL: return binary([](T x, T y) { return x * y; });
    case OP_DIV: return binary([](T x, T y) { return x / y; });
    case OP_EXP: return unary([](T x) { return fastExp(x); });
    case OP_LOG: return unary([](T x) { return std::log(x); });
    case OP_SQRT: return unary([](T x) { return std::sqrt(x); });
    // KeOps' convention: Rsqrt(0) = 0.
    case OP_RSQRT: return unary([](T x) { return x == T(0) ? T(0) : T(1) / std::sqrt(x); });
    case OP_SQUARE: return unary([](T x) { return x * x; });
    case OP_INV: return unary([](T x) { return T(1) / x; });
    case OP_ABS: return unary([](T x) { return std::fabs(x); });
    case OP_SIGN: return unary([](T x) { return x > T(0) ? T(1) : x < T(0) ? T(-1) : x == T(0) ? T(0) : x; });
    case OP_STEP: return unary([](T x) { return x >= T(0) ? T(1) : x < T(0) ? T(0) : x; });
    case OP_RELU: return unary([](T x) { return x < T(0) ? T(0) : x; });
    case OP_SIN: return unary([](T x) { return std::sin(x); });
    case OP_COS: return unary([](T x) { return std::cos(x); });
    case OP_ATAN: return unary([](T x) { return std::atan(x); });
    case OP_ATAN2: return binary([](T y, T x) { return std::atan2(y, x); });
    case OP_POWI: {
      const int e = in.imm;
      return unary([e](T x) {
        // Exponentiation by squaring: exact for small exponents, as KeOps' Pow.
        unsigned k = e < 0 ? 0u - static_cast<unsigned>(e) : static_cast<unsigned>(e);
        T r = 1, base = x;
        while (k) {
          if (k & 1u) r *= base;
          base *= base;
          k >>= 1;
        }
        return e < 0 ? T(1) / r : r;
      });
    }
    // KeOps' Powf(a, b) = exp(b log a): NaN for a < 0.
    case OP_POWF: return binary([](T x, T y) { return x < T(0) ? nan<T>() : std::pow(x, y); });
    case OP_CLAMP: return ternary([](T x, T lo, T hi) { return x < lo ? lo : x > hi ? hi : x; });
    case OP_IFELSE: return ternary([](T f, T g, T h) { return f >= T(0) ? g : f < T(0) ? h : f; });
    case OP_ROUND: {
      const T scale = std::pow(T(10), static_cast<T>(in.imm));
      return unary([scale](T x) { return std::round(x * scale) / scale; });
    }
    case OP_FLOOR: return unary([](T x) { return std::floor(x); });
    case OP_MOD: return ternary([](T x, T n, T off) { return x - n * std::floor((x - off) / n); });
  }
}

// Runs instruction `in` into `out` (component c at out + c·ocs), reading operands
// through `regs`. Views (LOAD, ELEM, EXTRACT) and CONST are set up by the caller.
template <typename T>
inline void runInstruction(const Instruction& in, T* out, std::size_t ocs, int outDim, const Ref<T>* regs,
                           const int* dims, int len) {
  auto o = [&](int c) { return out + c * ocs; };
  auto zero = [&](int c) {
    T* p = o(c);
    for (int t = 0; t < len; ++t) p[t] = 0;
  };
  if (in.op >= OP_NEG && in.op <= OP_MOD) {
    for (int c = 0; c < outDim; ++c) elementwise(in, c, o(c), regs, dims, len);
    return;
  }
  const Ref<T>& A = regs[in.a];
  const int da = dims[in.a];
  auto acc2 = [&](int c, const T* a, bool al, const T* b, bool bl) {
    apply2(o(c), a, al, b, bl, len, [](T& r, T x, T y) { r += x * y; });
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

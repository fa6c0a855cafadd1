// The element-wise ops of a program (ops.h) on one value, written once: the CPU
// interpreter applies them over a tile's lanes (cpu/lanes.h), the device interpreter
// over one pair at a time (device/pair.h). Compile-time op codes, so that the CPU's lane
// loops have no switch and still vectorise.
#pragma once
#include <math.h>

#include "../ops.h"
#include "exp.h"
#include "hd.h"

namespace lk {

template <typename T>
LK_HD T quietNaN() {
  return static_cast<T>(NAN);
}

template <int Op, typename T>
LK_HD T unaryOp(T x, int imm) {
  if (Op == OP_NEG) return -x;
  if (Op == OP_EXP) return fastExp(x);
  if (Op == OP_LOG) return log(x);
  if (Op == OP_SQRT) return sqrt(x);
  if (Op == OP_RSQRT) return x == T(0) ? T(0) : T(1) / sqrt(x);  // KeOps' convention: Rsqrt(0) = 0
  if (Op == OP_SQUARE) return x * x;
  if (Op == OP_INV) return T(1) / x;
  if (Op == OP_ABS) return fabs(x);
  if (Op == OP_SIGN) return x > T(0) ? T(1) : x < T(0) ? T(-1) : x == T(0) ? T(0) : x;
  if (Op == OP_STEP) return x >= T(0) ? T(1) : x < T(0) ? T(0) : x;
  if (Op == OP_RELU) return x < T(0) ? T(0) : x;
  if (Op == OP_SIN) return sin(x);
  if (Op == OP_COS) return cos(x);
  if (Op == OP_ATAN) return atan(x);
  if (Op == OP_FLOOR) return floor(x);
  if (Op == OP_ACOS) return acos(x);
  if (Op == OP_ASIN) return asin(x);
  if (Op == OP_SINXDIVX) return x == T(0) ? T(1) : sin(x) / x;  // KeOps' values, NaN stays NaN
  if (Op == OP_XLOGX) return x == T(0) ? T(0) : x * log(x);
  if (Op == OP_POWI) {
    // Exponentiation by squaring: exact for small exponents, as KeOps' Pow.
    unsigned k = imm < 0 ? 0u - static_cast<unsigned>(imm) : static_cast<unsigned>(imm);
    T r = 1, base = x;
    while (k) {
      if (k & 1u) r *= base;
      base *= base;
      k >>= 1;
    }
    return imm < 0 ? T(1) / r : r;
  }
  // OP_ROUND: to imm decimals.
  const T scale = pow(T(10), static_cast<T>(imm));
  return round(x * scale) / scale;
}

template <int Op, typename T>
LK_HD T binaryOp(T x, T y) {
  if (Op == OP_ADD) return x + y;
  if (Op == OP_SUB) return x - y;
  if (Op == OP_MUL) return x * y;
  if (Op == OP_DIV) return x / y;
  if (Op == OP_ATAN2) return atan2(x, y);
  if (Op == OP_EQUAL) return x == y ? T(1) : T(0);
  if (Op == OP_NOTEQUAL) return x != y ? T(1) : T(0);
  if (Op == OP_LESS) return x < y ? T(1) : T(0);
  if (Op == OP_LESSEQ) return x <= y ? T(1) : T(0);
  // OP_POWF, KeOps' Powf(a, b) = exp(b log a): NaN for a < 0.
  return x < T(0) ? quietNaN<T>() : pow(x, y);
}

template <int Op, typename T>
LK_HD T ternaryOp(T x, T y, T z) {
  if (Op == OP_CLAMP) return x < y ? y : x > z ? z : x;
  if (Op == OP_IFELSE) return x >= T(0) ? y : x < T(0) ? z : x;
  // OP_MOD, KeOps' Mod(x, n, offset).
  return x - y * floor((x - z) / y);
}

// The element-wise ops by arity, for code that switches over them (X(name) each).
#define LK_ELEMENTWISE_OPS(UNARY, BINARY, TERNARY)                                                            \
  UNARY(NEG) UNARY(EXP) UNARY(LOG) UNARY(SQRT) UNARY(RSQRT) UNARY(SQUARE) UNARY(INV) UNARY(ABS) UNARY(SIGN)    \
  UNARY(STEP) UNARY(RELU) UNARY(SIN) UNARY(COS) UNARY(ATAN) UNARY(FLOOR) UNARY(POWI) UNARY(ROUND)             \
  UNARY(ACOS) UNARY(ASIN) UNARY(SINXDIVX) UNARY(XLOGX)                                                         \
  BINARY(ADD) BINARY(SUB) BINARY(MUL) BINARY(DIV) BINARY(ATAN2) BINARY(POWF)                                   \
  BINARY(EQUAL) BINARY(NOTEQUAL) BINARY(LESS) BINARY(LESSEQ)                                                  \
  TERNARY(CLAMP) TERNARY(IFELSE) TERNARY(MOD)

// The arity of an element-wise op: 1, 2 or 3 (0 for the others).
LK_HD int elementwiseArity(int op) {
  switch (op) {
#define LK_ARITY1(name) case OP_##name: return 1;
#define LK_ARITY2(name) case OP_##name: return 2;
#define LK_ARITY3(name) case OP_##name: return 3;
    LK_ELEMENTWISE_OPS(LK_ARITY1, LK_ARITY2, LK_ARITY3)
#undef LK_ARITY1
#undef LK_ARITY2
#undef LK_ARITY3
  }
  return 0;
}

// Run-time op code, for the device interpreter.
template <typename T>
LK_HD T elementwiseOp(int op, int imm, T x, T y, T z) {
  switch (op) {
#define LK_UNARY(name) case OP_##name: return unaryOp<OP_##name>(x, imm);
#define LK_BINARY(name) case OP_##name: return binaryOp<OP_##name>(x, y);
#define LK_TERNARY(name) case OP_##name: return ternaryOp<OP_##name>(x, y, z);
    LK_ELEMENTWISE_OPS(LK_UNARY, LK_BINARY, LK_TERNARY)
#undef LK_UNARY
#undef LK_BINARY
#undef LK_TERNARY
  }
  return quietNaN<T>();
}

}  // namespace lk

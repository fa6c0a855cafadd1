// The program's vocabulary: instruction op codes, reductions and fused-kernel tags.
// lib/formula/program.ts mirrors these numbers; test/program.test.ts checks the two
// agree through the addon's opCodes(), so a renumbering here cannot go unnoticed.
#pragma once

#include "maths/hd.h"

namespace lk {

// X(name, code, arity). Arity counts register operands (a, b, c); `imm` is separate.
// Dimension rules are enforced in program.cc (checkInstruction), the one place that
// knows them on the native side.
#define LK_OPS(X)                                                                      \
  X(LOAD, 0, 0)       /* out = argument variable #imm                              */ \
  X(CONST, 1, 0)      /* out[all components] = consts[imm]                          */ \
  X(NEG, 2, 1)                                                                         \
  X(ADD, 3, 2)        /* binary element-wise ops broadcast a dim-1 operand          */ \
  X(SUB, 4, 2)                                                                         \
  X(MUL, 5, 2)                                                                         \
  X(DIV, 6, 2)                                                                         \
  X(EXP, 7, 1)                                                                         \
  X(LOG, 8, 1)                                                                         \
  X(SQRT, 9, 1)                                                                        \
  X(RSQRT, 10, 1)     /* 1/sqrt(a), and 0 where a == 0 (KeOps' convention)          */ \
  X(SQUARE, 11, 1)                                                                     \
  X(INV, 12, 1)                                                                        \
  X(ABS, 13, 1)                                                                        \
  X(SIGN, 14, 1)      /* -1, 0, 1                                                   */ \
  X(STEP, 15, 1)      /* 1 where a >= 0, else 0                                     */ \
  X(RELU, 16, 1)                                                                       \
  X(SIN, 17, 1)                                                                        \
  X(COS, 18, 1)                                                                        \
  X(ATAN, 19, 1)                                                                       \
  X(ATAN2, 20, 2)     /* atan2(a, b)                                                */ \
  X(POWI, 21, 1)      /* a^imm, imm any integer                                     */ \
  X(POWF, 22, 2)      /* a^b = exp(b log a)                                         */ \
  X(CLAMP, 23, 3)     /* min(max(a, b), c)                                          */ \
  X(IFELSE, 24, 3)    /* b where a >= 0, else c                                     */ \
  X(ROUND, 25, 1)     /* round a to imm decimals                                    */ \
  X(FLOOR, 26, 1)                                                                      \
  X(MOD, 27, 3)       /* a - b * floor((a - c) / b)  (KeOps' Mod(x, n, offset))     */ \
  X(SUM, 28, 1)       /* sum of components -> dim 1                                 */ \
  X(MAXC, 29, 1)      /* max over components -> dim 1                               */ \
  X(MINC, 30, 1)      /* min over components -> dim 1                               */ \
  X(DOT, 31, 2)       /* sum_k a_k b_k, equal dims -> dim 1                         */ \
  X(ELEM, 32, 1)      /* component imm -> dim 1                                     */ \
  X(EXTRACT, 33, 1)   /* components imm .. imm + dim(out) - 1                       */ \
  X(CONCAT, 34, 2)    /* [a, b], dim(a) + dim(b)                                    */ \
  X(ONEHOT, 35, 1)    /* a of dim 1 -> e_round(a) of dim(out) (zeros if outside)    */ \
  X(MATVEC, 36, 2)    /* out_r = sum_c a[r*dim(b)+c] b_c, dim(out) = dim(a)/dim(b)   */ \
  X(VECMAT, 37, 2)    /* out_c = sum_r a_r b[r*dim(out)+c], dim(out) = dim(b)/dim(a) */ \
  X(TENSORPROD, 38, 2) /* out[k*dim(b)+l] = a_k b_l                                 */ \
  X(ACOS, 39, 1)                                                                       \
  X(ASIN, 40, 1)                                                                       \
  X(SINXDIVX, 41, 1)  /* sin(a)/a, 1 where a == 0                                    */ \
  X(XLOGX, 42, 1)     /* a log(a), 0 where a == 0                                    */ \
  X(EQUAL, 43, 2)     /* 1 or 0; comparisons with NaN are false (NOTEQUAL true)      */ \
  X(NOTEQUAL, 44, 2)                                                                   \
  X(LESS, 45, 2)                                                                       \
  X(LESSEQ, 46, 2)                                                                     \
  X(ARGMAXC, 47, 1)   /* index of the first largest component -> dim 1               */ \
  X(ARGMINC, 48, 1)   /* index of the first smallest component -> dim 1              */ \
  X(GATHER, 49, 1)    /* out_c = a[consts[imm + c]]: a permutation or selection      */ \
  X(SOFTDTW, 50, 3)   /* soft-DTW of series a, b under (a_i - b_j)^2, gamma = c      */ \
  X(SOFTDTW_GRAD, 51, 3) /* its gradient: d/da, d/db, d/dgamma -> dim(a)+dim(b)+1     */

// The most cells (dim(a)·dim(b)) of a soft-DTW: its work arrays hold two values per cell.
constexpr long long kMaxSoftDtwCells = 1LL << 22;

enum Op : int {
#define LK_OP_ENUM(name, code, arity) OP_##name = code,
  LK_OPS(LK_OP_ENUM)
#undef LK_OP_ENUM
  OP_COUNT
};

// Reductions over j (axis 0 is turned into axis 1 in lib/ by swapping i and j).
#define LK_REDUCTIONS(X)                                                        \
  X(Sum, 0)                                                                     \
  X(Min, 1)                                                                     \
  X(Max, 2)                                                                     \
  X(ArgMin, 3)                                                                  \
  X(ArgMax, 4)                                                                  \
  X(Min_ArgMin, 5)                                                              \
  X(Max_ArgMax, 6)                                                              \
  X(KMin, 7)                                                                    \
  X(ArgKMin, 8)                                                                 \
  X(KMin_ArgKMin, 9)                                                            \
  X(LogSumExp, 10)                                                              \
  X(SumSoftMaxWeight, 11)                                                       \
  X(LogSumExpWeight, 12)        /* log Σ exp(F) V, per component of V          */ \
  X(Max_SumShiftExp, 13)        /* (m, Σ exp(F - m)), m = max F                */ \
  X(Max_SumShiftExpWeight, 14)  /* (m, Σ exp(F - m) V)                         */

enum Reduction : int {
#define LK_RED_ENUM(name, code) RED_##name = code,
  LK_REDUCTIONS(LK_RED_ENUM)
#undef LK_RED_ENUM
  RED_COUNT
};

// LK_HD: these three also run in the device's row state (device/row_acc.h).
// The max-shifted exponential sums (one state: max, Σ exp(f - max), Σ exp(f - max)·V).
LK_HD constexpr bool isSoftmaxFamily(int r) { return r >= RED_LogSumExp && r <= RED_Max_SumShiftExpWeight; }
// Those with a weights formula V (formula2).
LK_HD constexpr bool hasWeights(int r) {
  return r == RED_SumSoftMaxWeight || r == RED_LogSumExpWeight || r == RED_Max_SumShiftExpWeight;
}

// Whether a reduction keeps the k smallest (KMin and its pairs) rather than one value.
LK_HD constexpr bool keepsK(int r) { return r == RED_KMin || r == RED_ArgKMin || r == RED_KMin_ArgKMin; }

// Fused radial kernels: F = phi(s) * b_j with s = scale * |x_i - y_j|^2; and sqdist,
// F = s reduced by Min, KMin or their pairs (cpu/nearest.h).
#define LK_KERNELS(X)                                                           \
  X(none, 0)                                                                    \
  X(gaussian, 1)    /* exp(-s)                                                */ \
  X(laplace, 2)     /* exp(-sqrt(s))                                          */ \
  X(cauchy, 3)      /* 1 / (1 + s)                                            */ \
  X(imq, 4)         /* 1 / sqrt(1 + s)                                        */ \
  X(matern32, 5)    /* (1 + r) exp(-r), r = sqrt(s)                           */ \
  X(matern52, 6)    /* (1 + r + r^2/3) exp(-r), r = sqrt(s)                   */ \
  X(sqdist, 7)      /* F = s itself, no b: a nearest-neighbour search         */

enum Kernel : int {
#define LK_KER_ENUM(name, code) KERNEL_##name = code,
  LK_KERNELS(LK_KER_ENUM)
#undef LK_KER_ENUM
  KERNEL_COUNT
};

}  // namespace lk

/**
 * The program: the one contract between lib/ and native/ (see DESIGN.md).
 *
 * A formula is lowered to straight-line code over numbered registers. Each register
 * holds a vector of `regDims[r]` values per (i, j) pair and is written by exactly one
 * instruction, which comes before every instruction that reads it. native/program.cc
 * re-checks every field; the numbers below mirror native/ops.h and
 * test/program.test.ts checks that the two agree.
 */

export const PROGRAM_VERSION = 2;

/** Instruction op codes (native/ops.h, LK_OPS). */
export const Op = {
  LOAD: 0, CONST: 1, NEG: 2, ADD: 3, SUB: 4, MUL: 5, DIV: 6, EXP: 7, LOG: 8, SQRT: 9,
  RSQRT: 10, SQUARE: 11, INV: 12, ABS: 13, SIGN: 14, STEP: 15, RELU: 16, SIN: 17, COS: 18,
  ATAN: 19, ATAN2: 20, POWI: 21, POWF: 22, CLAMP: 23, IFELSE: 24, ROUND: 25, FLOOR: 26,
  MOD: 27, SUM: 28, MAXC: 29, MINC: 30, DOT: 31, ELEM: 32, EXTRACT: 33, CONCAT: 34,
  ONEHOT: 35, MATVEC: 36, VECMAT: 37, TENSORPROD: 38, ACOS: 39, ASIN: 40, SINXDIVX: 41, XLOGX: 42,
  EQUAL: 43, NOTEQUAL: 44, LESS: 45, LESSEQ: 46, ARGMAXC: 47, ARGMINC: 48, GATHER: 49,
  SOFTDTW: 50, SOFTDTW_GRAD: 51,
} as const;
export type OpName = keyof typeof Op;

/** Reductions over j (native/ops.h, LK_REDUCTIONS). Axis 0 is lowered by swapping i and j. */
export const Reduction = {
  Sum: 0, Min: 1, Max: 2, ArgMin: 3, ArgMax: 4, Min_ArgMin: 5, Max_ArgMax: 6, KMin: 7,
  ArgKMin: 8, KMin_ArgKMin: 9, LogSumExp: 10, SumSoftMaxWeight: 11, LogSumExpWeight: 12, Max_SumShiftExp: 13,
  Max_SumShiftExpWeight: 14,
} as const;
export type ReductionName = keyof typeof Reduction;

/** The reductions that keep the k smallest and take k (KeOps' opt_arg). */
export const K_REDUCTIONS: ReadonlySet<ReductionName> = new Set<ReductionName>(['KMin', 'ArgKMin', 'KMin_ArgKMin']);

/** The reductions with a weights formula V (Genred's formula2). */
export const WEIGHTED_REDUCTIONS: ReadonlySet<ReductionName> = new Set<ReductionName>(['SumSoftMaxWeight', 'LogSumExpWeight', 'Max_SumShiftExpWeight']);

/** The reductions whose formula must be a scalar (the exponential sums). */
export const SCALAR_REDUCTIONS: ReadonlySet<ReductionName> = new Set<ReductionName>(['LogSumExp', 'Max_SumShiftExp', ...WEIGHTED_REDUCTIONS]);

/**
 * Fused radial kernels (native/ops.h, LK_KERNELS): F = phi(s) * b_j with
 * s = scale * |x_i - y_j|^2; and sqdist, F = s under a Min or KMin reduction (a
 * nearest-neighbour search, no b).
 */
export const Kernel = {
  none: 0, gaussian: 1, laplace: 2, cauchy: 3, imq: 4, matern32: 5, matern52: 6, sqdist: 7,
} as const;
export type KernelName = keyof typeof Kernel;

/** Variable categories in the variable table. */
export const Category = { i: 0, j: 1, param: 2 } as const;

/** Fields per entry of the flat tables. */
export const VAR_FIELDS = 3; // category, dim, argument slot
export const INSTR_FIELDS = 6; // op, out, a, b, c, imm  (unused operands are -1)
export const KERNEL_FIELDS = 6; // tag, xVar, yVar, bVar, scaleReg, wVar (a gradient's weights, or -1)

export interface Program {
  version: number;
  dtype: 'float32' | 'float64';
  /** Output rows (the i side after any axis swap). */
  m: number;
  /** Reduced rows (the j side after any axis swap). */
  n: number;
  /** VAR_FIELDS per variable: category (Category), dim, argument slot in `args`. */
  vars: Int32Array;
  /** Dimension of each register. */
  regDims: Int32Array;
  /** INSTR_FIELDS per instruction, in execution order. */
  code: Int32Array;
  /** Values read by CONST instructions (imm indexes this). */
  consts: Float64Array;
  /** Register holding the formula F. */
  result: number;
  /** Register holding the weights V of SumSoftMaxWeight; -1 otherwise. */
  weights: number;
  reduction: number;
  /** k of KMin / ArgKMin / KMin_ArgKMin; 0 otherwise. */
  k: number;
  /**
   * A recognised fused kernel, or an empty array: [tag, xVar, yVar, bVar, scaleReg, wVar].
   * xVar is an i-variable, yVar and bVar j-variables (indices into the variable table;
   * bVar is -1 for sqdist),
   * scaleReg a dim-1 register that depends on parameters and constants only. wVar is -1,
   * or an i-variable of bVar's dimension when the formula is the kernel's gradient with
   * respect to xVar applied to it (a Sum of dimension dim(xVar)). The generic code is
   * always present too: the fast path must agree with it.
   */
  kernel: Int32Array;
}

/** What the native engine returns: values for value reductions, indices for arg ones. */
export interface NativeResult {
  values?: Float32Array | Float64Array;
  indices?: Int32Array;
}

/**
 * A checked, lowered reduction and its calls: what Genred, LazyTensor and KernelSolve
 * share. The formula is lowered once (at construction); each call checks its arrays,
 * completes the program with the call's dtype and sizes, runs it and shapes the result.
 */
import { LazyKernelError, OptionError, ShapeError } from './errors';
import { Node, printFormula, VarNode } from './formula/ir';
import { LoweredProgram, lowerFormula, withSizes } from './formula/lower';
import { K_REDUCTIONS, NativeResult, Program, Reduction, ReductionName, WEIGHTED_REDUCTIONS } from './formula/program';
import { MAX_TYPED_ARRAY_LENGTH } from './memory';
import { checkRanges } from './ranges';
import { checkSignal, checkTimeout, execute, executeSync, refuseUnknownKeys, RUN_OPTION_KEYS, RunOptions } from './run';
import { ArgSpec, bindArguments, DType, FloatArray, makeTensor, Tensor } from './tensor';
import { refuseDisposed } from './dataset';

/** A reduction's result: one Tensor, or values with their indices (Min_ArgMin, KMin_ArgKMin…). */
export type ReductionResult = Tensor | { values: Tensor; indices: Tensor };

/** Values with their indices, as Min_ArgMin, Max_ArgMax and KMin_ArgKMin return them. */
export interface ValuesAndIndices<T extends FloatArray = FloatArray> { values: Tensor<T>; indices: Tensor<Int32Array> }

/**
 * What reduction `R` returns for data of type `T`: indices are Int32Array, values have the
 * data's float type.
 *
 * @example
 * type A = ResultOf<'ArgKMin', Float32Array>;    // Tensor<Int32Array>
 * type B = ResultOf<'Sum', Float64Array>;        // Tensor<Float64Array>
 * type C = ResultOf<'Min_ArgMin', Float32Array>; // ValuesAndIndices<Float32Array>
 */
export type ResultOf<R extends ReductionName, T extends FloatArray = FloatArray> =
  R extends 'ArgMin' | 'ArgMax' | 'ArgKMin' ? Tensor<Int32Array>
    : R extends 'Min_ArgMin' | 'Max_ArgMax' | 'KMin_ArgKMin' ? ValuesAndIndices<T>
      : Tensor<T>;

/** How a reduction is asked for. */
export interface ReductionOptions {
  reduction: ReductionName;
  axis: 0 | 1;
  /** k of KMin / ArgKMin / KMin_ArgKMin. */
  k?: number;
}

/** One call, checked and ready for {@link execute}. */
export interface BoundCall {
  /** The program with this call's dtype and sizes. */
  program: Program;
  /** One float array per argument slot, all of `dtype`. */
  args: FloatArray[];
  dtype: DType;
  /** Rows of the result (program.m). */
  rows: number;
  /** Columns of the result. */
  cols: number;
}

/** (max, shifted sums) pairs: one column more than their sums. */
const SHIFTED_SUMS = new Set<ReductionName>(['Max_SumShiftExp', 'Max_SumShiftExpWeight']);
const INDEX_ONLY = new Set<ReductionName>(['ArgMin', 'ArgMax', 'ArgKMin']);
const VALUES_AND_INDICES = new Set<ReductionName>(['Min_ArgMin', 'Max_ArgMax', 'KMin_ArgKMin']);

/**
 * pykeops' other spellings of reductions, accepted for ported scripts (TypeScript's types
 * name the canonical ones): SoftMax is its old name of SumSoftMaxWeight.
 */
export const REDUCTION_ALIASES: Readonly<Record<string, ReductionName>> = {
  SoftMax: 'SumSoftMaxWeight', MinArgMin: 'Min_ArgMin', MaxArgMax: 'Max_ArgMax', KMinArgKMin: 'KMin_ArgKMin',
  MaxSumShiftExp: 'Max_SumShiftExp',
};

/**
 * Checks a reduction name, an axis and k, throwing OptionError with the allowed values;
 * `extra` names the other keys the caller's options may hold (Genred's formula2). Both
 * the reduction and the axis are required: KeOps defaults them to Sum over axis 0, but a
 * forgotten reduction or axis answers another question without a word, so lazykernel
 * asks for them (docs/from-keops.md).
 */
export function checkReductionOptions(opts: unknown, extra: readonly string[] = []): ReductionOptions {
  const spelled = (opts as { reduction?: unknown } | null)?.reduction;
  if (typeof spelled === 'string' && Object.prototype.hasOwnProperty.call(REDUCTION_ALIASES, spelled)) {
    return checkReductionOptions({ ...(opts as object), reduction: REDUCTION_ALIASES[spelled] }, extra);
  }
  if (typeof opts !== 'object' || opts === null) throw new OptionError('options { reduction, axis } are required');
  refuseUnknownKeys(opts, ['reduction', 'axis', 'k', ...extra], 'reduction');
  const { reduction, axis, k } = opts as Record<string, unknown>;
  if (reduction === undefined) {
    throw new OptionError(`reduction is required (KeOps' default, 'Sum', is not assumed); one of ${Object.keys(Reduction).join(', ')}`);
  }
  if (axis === undefined) throw new OptionError("axis is required (KeOps' default, 0, is not assumed): 0 reduces over i, 1 over j");
  if (typeof reduction !== 'string' || !Object.prototype.hasOwnProperty.call(Reduction, reduction)) {
    throw new OptionError(`unknown reduction ${JSON.stringify(reduction)}; expected one of ${Object.keys(Reduction).join(', ')}`);
  }
  if (axis !== 0 && axis !== 1) throw new OptionError(`axis must be 0 (reduce over i) or 1 (reduce over j), not ${JSON.stringify(axis)}`);
  const name = reduction as ReductionName;
  if (K_REDUCTIONS.has(name)) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 0x7fffffff) {
      throw new OptionError(`${name} needs k, a positive integer, not ${typeof k === 'string' ? JSON.stringify(k) : String(k)}`);
    }
  } else if (k !== undefined) {
    throw new OptionError(`k only applies to KMin, ArgKMin and KMin_ArgKMin, not ${name}`);
  }
  return { reduction: name, axis, k: k as number | undefined };
}

/**
 * A formula with its variables and reduction, checked and lowered once.
 *
 * @example
 * const { node, vars } = parseFormula('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)']);
 * const r = new CompiledReduction(node, vars, { reduction: 'Min', axis: 1 });
 * const result = await r.run([x, y]);
 */
export class CompiledReduction {
  readonly reduction: ReductionName;
  readonly axis: 0 | 1;
  readonly k: number | undefined;
  /** The argument slots, with their alias names (or Vi(pos,dim) when unnamed). */
  readonly specs: readonly ArgSpec[];
  /** The lowered program without sizes; shared by every call. */
  readonly lowered: LoweredProgram;
  /** Columns of the result. */
  readonly cols: number;

  constructor(
    readonly formula: Node,
    readonly vars: readonly VarNode[],
    opts: ReductionOptions,
    readonly weights?: Node,
  ) {
    const { reduction, axis, k } = checkReductionOptions(opts);
    this.reduction = reduction;
    this.axis = axis;
    this.k = k;
    this.specs = vars.map((v) => ({ name: v.name ?? printFormula(v), cat: v.cat, dim: v.dim }));
    this.lowered = lowerFormula({ formula, weights, vars, reduction, axis, k });
    const dim = WEIGHTED_REDUCTIONS.has(reduction) ? (weights as Node).dim : formula.dim;
    this.cols = K_REDUCTIONS.has(reduction) ? (k as number) * dim : SHIFTED_SUMS.has(reduction) ? 1 + dim : dim;
  }

  /** The argument slot of a variable by its alias name; OptionError when there is none. */
  slotOf(name: string): number {
    const slot = this.specs.findIndex((s) => s.name === name);
    if (slot < 0) throw new OptionError(`no variable is named ${JSON.stringify(name)}; the variables are ${this.specs.map((s) => s.name).join(', ')}`);
    return slot;
  }

  /** Checks one call's arrays and completes the program with its dtype and sizes. */
  bind(args: unknown): BoundCall {
    const bound = bindArguments(this.specs, args);
    refuseDisposed(bound.args);
    const [m, n] = this.axis === 1 ? [bound.rowsI, bound.rowsJ] : [bound.rowsJ, bound.rowsI];
    if (this.k !== undefined && this.k > n) {
      throw new OptionError(`${this.reduction}: k = ${this.k} is more than the ${n} rows being reduced`);
    }
    if (m * this.cols > MAX_TYPED_ARRAY_LENGTH) {
      throw new ShapeError(`${this.reduction}: the result would hold ${m} x ${this.cols} values; a typed array holds at most 2^32 - 1`);
    }
    return { program: withSizes(this.lowered, bound.dtype, m, n), args: bound.args, dtype: bound.dtype, rows: m, cols: this.cols };
  }

  /** Runs one call off the event loop. */
  async run(args: unknown, opts: RunOptions = {}): Promise<ReductionResult> {
    checkRunOptions(opts);
    const call = this.bind(args);
    return this.shape(call, await execute(call.program, call.args, opts, this.axis));
  }

  /** Runs one call on the calling thread. */
  runSync(args: unknown, opts: RunOptions = {}): ReductionResult {
    checkRunOptions(opts);
    const call = this.bind(args);
    return this.shape(call, executeSync(call.program, call.args, opts, this.axis));
  }

  /** The engine's arrays as the reduction's Tensor(s). */
  shape(call: BoundCall, result: NativeResult): ReductionResult {
    const need = <T>(a: T | undefined, what: string): T => {
      if (a === undefined) throw new LazyKernelError(`the engine returned no ${what} for ${this.reduction}`);
      return a;
    };
    if (INDEX_ONLY.has(this.reduction)) return makeTensor(need(result.indices, 'indices'), call.rows, call.cols);
    const values = makeTensor(need(result.values, 'values'), call.rows, call.cols);
    if (!VALUES_AND_INDICES.has(this.reduction)) return values;
    return { values, indices: makeTensor(need(result.indices, 'indices'), call.rows, call.cols) };
  }
}

/**
 * Checks the shape of RunOptions; run.ts checks the backend itself. `extra` names the
 * other keys the caller's options may hold (a solve's), `what` the kind for messages.
 */
export function checkRunOptions(opts: unknown, extra: readonly string[] = [], what = 'run'): asserts opts is RunOptions {
  if (typeof opts !== 'object' || opts === null) throw new OptionError(`${what} options must be an object, not ${String(opts)}`);
  refuseUnknownKeys(opts, [...RUN_OPTION_KEYS, ...extra], what);
  const { prune, pruneTolerance, signal, ranges, timeout, priority, background } = opts as RunOptions;
  if (ranges !== undefined) checkRanges(ranges);
  if (prune !== undefined && typeof prune !== 'boolean') throw new OptionError(`prune must be a boolean, not ${String(prune)}`);
  if (pruneTolerance !== undefined && !(typeof pruneTolerance === 'number' && pruneTolerance >= 0 && Number.isFinite(pruneTolerance))) {
    throw new OptionError(`pruneTolerance must be a finite number >= 0, not ${String(pruneTolerance)}`);
  }
  checkSignal(signal);
  checkTimeout(timeout);
  if (priority !== undefined && !(Number.isInteger(priority) && Math.abs(priority) <= 1e9)) {
    throw new OptionError(`priority must be an integer from -1e9 to 1e9, not ${String(priority)}`);
  }
  if (background !== undefined && typeof background !== 'boolean') throw new OptionError(`background must be a boolean, not ${String(background)}`);
}

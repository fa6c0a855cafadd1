/**
 * KernelSolve and LazyTensor.solve: (αI + K) x = b by conjugate gradients, run entirely
 * in native code (native/solve/cg.cc, one N-API call per solve, on the job queue). This
 * file only checks the call, wires cancel and progress, and shapes the answer.
 */
import { types } from 'node:util';
import { addon, KeptPreconditioner, NativeProgress, NativeSolveOptions, NativeSolveResult } from './addon';
import { fromNative, OptionError, ShapeError } from './errors';
import { compileFormula } from './genred';
import { vjp, vjpSync } from './vjp';
import { Category, VAR_FIELDS } from './formula/program';
import type { Program } from './formula/program';
import { heldId, keepPreconditioner, keptPreconditioner } from './dataset';
import { BoundCall, checkRunOptions, CompiledReduction } from './reduction';
import { cancellable, checkBackend, engineOptions, refuseTimeout, refuseUnknownKeys, RunOptions } from './run';
import { Arg, ArgSpec, DType, FloatArray, floats, isFloatArray, isTensor, readMatrix, Tensor } from './tensor';

/**
 * A progress report: a step of the preconditioner's setup (`step`: the Nyström rank so
 * far, or the Jacobi blocks factored; `value`: the trace of the kernel left unexplained
 * by the Nyström factor, 0 for Jacobi), or an iteration just finished with the worst
 * column's estimated relative residual.
 */
export type SolveProgress =
  | { phase: 'setup'; step: number; value: number }
  | { phase: 'iterate'; iteration: number; residual: number };

/** Preconditioners of a solve (SolveOptions.preconditioner). */
export type PreconditionerKind = 'none' | 'nystrom' | 'jacobi' | 'auto';

/**
 * Options of a solve. Everything of {@link RunOptions} applies to the products
 * K·v the solver makes. Without a `pruneTolerance`, a solve of float32 data lets its
 * iteration's products drop the pairs whose kernel value is below 2^-20 for a Gaussian in
 * 1 to 3 dimensions, 2^-24 for other kernels and dimensions. The float64
 * products that measure the residual drop far less; a refinement pass needs a 1e-3
 * decrease, and a pass that fails to halve the residual switches back to the products'
 * own pruning (README, "KernelSolve").
 */
export interface SolveOptions extends RunOptions {
  /** The ridge α of (αI + K) x = b: a finite number ≥ 0. Required. */
  alpha: number;
  /**
   * Stop when ‖b − (αx + Kx)‖ ≤ tol·‖b‖ for every column of b (each column on its own).
   * A finite number ≥ 0; default 1e-6.
   */
  tol?: number;
  /**
   * The most iterations (one block product K·P each), an integer from 0 to 1e9. Default
   * max(100, min(10·n, 10000)) for n unknowns per column:
   * exact-arithmetic CG needs at most n, rounding a few times more, and the cap keeps a
   * hopeless solve bounded. When it stops a solve, `converged` is false.
   */
  maxIter?: number;
  /**
   * A warm start: n × dv values (a Float32Array, a Float64Array or a Tensor), as long
   * as b. Default zeros.
   */
  x0?: FloatArray | Tensor<FloatArray>;
  /**
   * Called on the main thread (async `run` / `solve` only) after each step of the
   * preconditioner's setup and after every iteration (see {@link SolveProgress}). If it
   * throws, the solve stops and its promise rejects with that error.
   */
  onProgress?: (p: SolveProgress) => void;
  /**
   * How CG is preconditioned (README, "KernelSolve"):
   * - 'nystrom': P = αI + F Fᵀ, F a rank-m partial Cholesky factor of K with landmarks
   *   drawn by randomly pivoted Cholesky (or uniformly, see `landmarks`); for wide
   *   kernels, whose spectrum decays: few landmarks explain most of K. m is `rank`, or
   *   grows until the unexplained trace of K is below α·n, within a memory budget.
   * - 'jacobi': exact diagonal blocks αI + K_BB over spatial clusters of ~64 points; for
   *   narrow kernels, where a point's weight lies in its cluster.
   * - 'none': plain CG.
   * - 'auto' (default): chooses from cheap measurements (result.preconditioner says what ran).
   * Needs α > 0 (except 'none').
   *
   * @example
   * const r = await solver.run(args, { alpha: 0.1, preconditioner: 'nystrom', rank: 500 });
   * console.log(r.preconditioner); // { kind: 'nystrom', rank: 500, setupSeconds: … }
   */
  preconditioner?: PreconditionerKind;
  /** The Nyström rank m, an integer ≥ 1 (clamped to n); default chosen from the data. */
  rank?: number;
  /** How the Nyström landmarks are drawn: 'rpcholesky' (default) or 'uniform'. */
  landmarks?: 'rpcholesky' | 'uniform';
  /** The seed of the landmarks' draw, an integer ≥ 0 (default 1): the same seed, the same solve. */
  seed?: number;
  /**
   * Keep the preconditioner this solve builds with its result, so that
   * {@link KernelSolve.vjp}'s adjoint solve (the same system) uses it instead of setting
   * one up again. It holds its memory (Nyström: n × rank values in the data's type) until the result
   * is garbage-collected. Default false. Where every array but b is a {@link dataset}'s, it
   * is kept on the dataset too: later solves of the same formula, parameters, alpha and
   * preconditioner options on the same datasets reuse it (up to four per dataset, until
   * its dispose()), whether or not they ask to keep theirs.
   *
   * @example
   * const r = await solver.run(args, { alpha: 0.1, keepPreconditioner: true });
   * const grads = await solver.vjp(args, r, dLdx, ['g'], { alpha: 0.1 }); // grads' solve: r's preconditioner
   */
  keepPreconditioner?: boolean;
}

/** The answer of a solve. */
export interface SolveResult {
  /**
   * The solution, n × dv, in float64 whatever the data's dtype: the answer is held to the
   * float64 residual, and rounding it to float32 would move that residual by up to
   * cond(αI + K)·6e-8.
   */
  x: Tensor<Float64Array>;
  /** Iterations run (block products), restarts included. */
  iterations: number;
  /**
   * The worst column's relative residual ‖b − (αx + Kx)‖ / ‖b‖, recomputed from a fresh
   * product K·x at the end (absolute where a column of b is zero). With float32 data the
   * product is evaluated in float64: float32 values are exact float64 numbers, so this is
   * the residual of the system the data define, not of its float32 rounding.
   */
  residual: number;
  /** Each column's relative residual, as `residual`. */
  residuals: Float64Array;
  /** True when `residual ≤ tol`. */
  converged: boolean;
  /**
   * Why the solve stopped: 'converged'; 'maxIter' (the budget ran out); 'stagnated' (two
   * refinement steps in a row failed to halve the residual: the tolerance is beyond what
   * the products resolve, or the system is singular).
   */
  reason: 'converged' | 'maxIter' | 'stagnated';
  /**
   * Residuals measured from a fresh product (in float64 for float32 data): the
   * refinement steps, the last one included.
   */
  refinements: number;
  /**
   * The preconditioner that ran, its rank (Nyström) or largest block (Jacobi), its setup
   * time, and whether it was an earlier solve's, reused (a gradient's adjoint solve).
   */
  preconditioner: { kind: 'none' | 'nystrom' | 'jacobi'; rank: number; setupSeconds: number; reused: boolean };
  /**
   * The (i, j) pairs whose kernel value the solve's products computed: the iteration's
   * products, and the refinement steps' true residuals. Every pair where a product runs
   * dense (and on the GPU), the kept ones where it prunes: a narrow kernel's solve keeps
   * far fewer than `iterations × N²`. A float32 iteration's pruned product evaluates
   * K_ij once for both (i, j) and (j, i) (K is symmetric) and counts both.
   *
   * @example
   * ```ts
   * const r = await solver.run([x, x, b, gamma], { alpha: 0.8 });
   * console.log(r.pairs.iteration / (r.iterations * N), 'pairs per row per product');
   * ```
   */
  pairs: { iteration: number; refinement: number };
}

/** The default tolerance (relative residual per column). */
export const DEFAULT_TOL = 1e-6;

/**
 * The default iteration cap for n unknowns per column: max(100, min(10·n, 10000)).
 *
 * @example
 * defaultMaxIter(1000);   // 10000
 * defaultMaxIter(5);      // 100
 */
export function defaultMaxIter(n: number): number {
  return Math.max(100, Math.min(10 * n, 10000));
}

/** Options checked before the arrays are known. */
interface CheckedOptions {
  alpha: number;
  tol: number;
  maxIter: number | undefined;
  x0: FloatArray | Tensor<FloatArray> | undefined;
  onProgress: ((p: SolveProgress) => void) | undefined;
  signal: AbortSignal | undefined;
  run: RunOptions;
  preconditioner: Pick<NativeSolveOptions, 'preconditioner' | 'rank' | 'landmarks' | 'seed' | 'keepPreconditioner'>;
}

const PRECONDITIONERS = ['none', 'nystrom', 'jacobi', 'auto'];

function checkPreconditioner(o: SolveOptions): CheckedOptions['preconditioner'] {
  const { preconditioner = 'auto', rank, landmarks, seed, keepPreconditioner } = o;
  if (keepPreconditioner !== undefined && typeof keepPreconditioner !== 'boolean') {
    throw new OptionError(`keepPreconditioner must be a boolean, not ${typeof keepPreconditioner}`);
  }
  if (!PRECONDITIONERS.includes(preconditioner as string)) {
    throw new OptionError(`preconditioner must be one of ${PRECONDITIONERS.join(', ')}, not ${String(preconditioner)}`);
  }
  if (rank !== undefined && !(typeof rank === 'number' && Number.isInteger(rank) && rank >= 1 && rank <= 0x7fffffff)) {
    throw new OptionError(`rank must be an integer from 1 to 2^31 - 1, not ${String(rank)}`);
  }
  if (rank !== undefined && preconditioner !== 'nystrom') throw new OptionError(`rank applies to the 'nystrom' preconditioner, not '${preconditioner}'`);
  if (landmarks !== undefined && landmarks !== 'rpcholesky' && landmarks !== 'uniform') {
    throw new OptionError(`landmarks must be 'rpcholesky' or 'uniform', not ${String(landmarks)}`);
  }
  if (seed !== undefined && !(typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0)) {
    throw new OptionError(`seed must be a non-negative integer, not ${String(seed)}`);
  }
  if ((preconditioner === 'nystrom' || preconditioner === 'jacobi') && !(o.alpha > 0)) {
    throw new OptionError(`preconditioner '${preconditioner}' needs alpha > 0 (P = αI + …); with alpha = 0 use 'none'`);
  }
  return { preconditioner, rank, landmarks, seed, keepPreconditioner };
}

/** The keys a solve takes beyond RunOptions'. */
const SOLVE_OPTION_KEYS = ['alpha', 'tol', 'maxIter', 'x0', 'onProgress', 'preconditioner', 'rank', 'landmarks', 'seed', 'keepPreconditioner'];

function checkSolveOptions(opts: unknown, sync: boolean): CheckedOptions {
  if (typeof opts !== 'object' || opts === null) {
    throw new OptionError(`solve options { alpha, tol?, maxIter?, x0?, … } are required, got ${opts === null ? 'null' : typeof opts}`);
  }
  checkRunOptions(opts, SOLVE_OPTION_KEYS, 'solve');
  const o = opts as SolveOptions;
  const { alpha, tol = DEFAULT_TOL, maxIter, x0, onProgress } = o;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) {
    throw new OptionError(`alpha must be a finite number >= 0, not ${String(alpha)}`);
  }
  if (typeof tol !== 'number' || !Number.isFinite(tol) || tol < 0) {
    throw new OptionError(`tol must be a finite number >= 0, not ${String(tol)}`);
  }
  if (maxIter !== undefined && !(typeof maxIter === 'number' && Number.isInteger(maxIter) && maxIter >= 0 && maxIter <= 1e9)) {
    throw new OptionError(`maxIter must be an integer from 0 to 1e9, not ${String(maxIter)}`);
  }
  if (x0 !== undefined && !isFloatArray(x0) && !isTensor(x0)) {
    throw new OptionError('x0 must be a Float32Array, a Float64Array or a Tensor');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new OptionError(`onProgress must be a function, not ${typeof onProgress}`);
  }
  if (sync) refuseTimeout(o);
  if (sync && onProgress !== undefined) {
    throw new OptionError('onProgress needs the async run()/solve(): a Sync solve holds the event loop and cannot report progress');
  }
  if (o.backend === 'cuda' && o.preconditioner !== undefined && o.preconditioner !== 'none' && o.preconditioner !== 'auto') {
    throw new OptionError(`preconditioner '${o.preconditioner}' is not built on the CUDA backend yet; use 'none' or backend 'cpu'`);
  }
  return { alpha, tol, maxIter, x0, onProgress, signal: o.signal, run: o, preconditioner: checkPreconditioner(o) };
}

/** One solve, checked and ready for the addon. */
interface PreparedSolve {
  program: Program;
  args: FloatArray[];
  slot: number;
  b: Float64Array;
  native: NativeSolveOptions;
  dtype: DType;
  n: number;
  dv: number;
  /** Where its preconditioner is kept when the solve keeps it (a dataset's), and under what key. */
  keptOn?: { held: FloatArray; key: string };
}

/**
 * Where a solve may keep its preconditioner: on the dataset holding its points, when every
 * array but b is a dataset's (a plain array may change between calls). The key names
 * all the preconditioner depends on: the program, the dtype, the datasets, the
 * parameters' values, alpha, the preconditioner options and the options that shape K
 * (ranges, pruning, the device). Equal systems spelled differently (an option left out
 * or set to its default) only miss the cache.
 */
function datasetKey(call: BoundCall, slot: number, native: NativeSolveOptions): PreparedSolve['keptOn'] {
  const { program } = call;
  const num = (v: number | undefined): string => (Object.is(v, -0) ? '-0' : String(v));  // ±0 differ in a kernel
  const list = (a: ArrayLike<number>): string => Array.from(a, num).join(',');
  const parts: string[] = [
    program.m, program.n, program.result, program.reduction, native.alpha, native.rank, native.seed, native.pruneTolerance,
  ].map(num);
  parts.push(call.dtype);
  parts.push(...[program.vars, program.regDims, program.code, program.kernel, program.consts].map(list));
  // What else shapes K or the preconditioner: block-sparse ranges, pruning, the device.
  parts.push(String(native.preconditioner), String(native.landmarks), String(native.prune), String(native.device));
  parts.push(native.ranges === undefined ? 'no ranges' : native.ranges.map(list).join(';'));
  let held: FloatArray | undefined;
  for (let s = 0; s < call.args.length; s++) {
    if (s === slot) continue;
    const a = call.args[s];
    if (program.vars[s * VAR_FIELDS] === Category.param) {
      parts.push(list(a));
      continue;
    }
    const id = heldId(a);
    if (id === undefined) return undefined;
    held ??= a;
    parts.push(`dataset ${id}`);
  }
  return held === undefined ? undefined : { held, key: parts.join('|') };
}

function asFloat64(a: FloatArray): Float64Array {
  return types.isFloat64Array(a) ? a : Float64Array.from(a);
}

function side(specs: readonly ArgSpec[], cat: 'i' | 'j', rows: number): string {
  const list = specs.filter((s) => s.cat === cat).map((s) => s.name);
  const count = `${rows} row${rows === 1 ? '' : 's'}`;
  return list.length === 0 ? `no ${cat}-variables (${count})` : `${cat}-variable${list.length === 1 ? '' : 's'} ${list.join(', ')}: ${count}`;
}

/**
 * Checks the square shape and the vectors of a bound call of K·v (v in argument slot
 * `slot`, which holds b) and completes the native options.
 */
function prepare(call: BoundCall, specs: readonly ArgSpec[], axis: 0 | 1, slot: number, o: CheckedOptions): PreparedSolve {
  const { program } = call;
  if (program.m !== program.n) {
    const [rowsI, rowsJ] = axis === 1 ? [program.m, program.n] : [program.n, program.m];
    throw new ShapeError(
      `a kernel solve needs a square system (as many i-rows as j-rows): ${side(specs, 'i', rowsI)}; ${side(specs, 'j', rowsJ)}`,
    );
  }
  const n = program.n;
  const dv = call.cols;
  const b = call.args[slot];
  if (b.length !== n * dv) throw new ShapeError(`b has ${b.length} values; expected ${n} x ${dv}`);
  const native: NativeSolveOptions = {
    ...engineOptions(o.run, axis), ...o.preconditioner, alpha: o.alpha, tol: o.tol, maxIter: o.maxIter ?? defaultMaxIter(n),
  };
  if (o.x0 !== undefined) {
    const x0 = isTensor(o.x0) ? readMatrix(o.x0, 'x0', { dim: dv, rows: n }).data : o.x0;
    if (x0.length !== n * dv) throw new ShapeError(`x0 has ${x0.length} values; b has ${n * dv} (${n} x ${dv})`);
    native.x0 = asFloat64(x0);
  }
  const keptOn = datasetKey(call, slot, native);
  const kept = keptOn && keptPreconditioner(keptOn.held, keptOn.key);
  if (kept !== undefined) native.reusePreconditioner = kept;
  return { program, args: call.args, slot, b: asFloat64(b), native, dtype: call.dtype, n, dv, keptOn };
}

/** The preconditioners results keep (SolveOptions.keepPreconditioner), out of their public shape. */
const keptPreconditioners = new WeakMap<SolveResult, KeptPreconditioner>();

function finish(p: PreparedSolve, r: NativeSolveResult): SolveResult {
  if (r.x.length !== p.n * p.dv) throw new ShapeError(`the solver returned ${r.x.length} values for a ${p.n} x ${p.dv} solution`);
  const result: SolveResult = {
    x: { data: r.x, shape: [p.n, p.dv] }, iterations: r.iterations, residual: r.residual, residuals: r.residuals,
    converged: r.converged, reason: r.reason, refinements: r.refinements, preconditioner: r.preconditioner,
    pairs: r.pairs,
  };
  if (r.keptPreconditioner !== undefined) {
    keptPreconditioners.set(result, r.keptPreconditioner);
    if (p.keptOn !== undefined) keepPreconditioner(p.keptOn.held, p.keptOn.key, r.keptPreconditioner);
  }
  return result;
}

/** Runs a prepared solve on the job queue, with cancel (AbortSignal) and progress wired as in run.ts. */
function solveAsync(p: PreparedSolve, o: CheckedOptions): Promise<SolveResult> {
  const { onProgress } = o;
  // A throwing callback stops the solve; its error is what the promise rejects with.
  let callbackFailed = false;
  let callbackError: unknown;
  return cancellable(o.run, (cancel) => {
    const progress = onProgress === undefined ? undefined : (q: NativeProgress): void => {
      if (callbackFailed) return;
      try {
        onProgress(q.phase === 'setup' ? { phase: 'setup', step: q.step, value: q.value } : { phase: 'iterate', iteration: q.iteration, residual: q.residual });
      } catch (e) {
        callbackFailed = true;
        callbackError = e;
        cancel.cancel();
      }
    };
    return addon.solve(p.program, p.args, p.slot, p.b, p.native, cancel, progress);
  }).then(
    (result) => {
      if (callbackFailed) throw callbackError;
      return finish(p, result);
    },
    (err: unknown) => {
      throw callbackFailed ? callbackError : err;
    },
  );
}

function solveSync(p: PreparedSolve): SolveResult {
  try {
    return finish(p, addon.solveSync(p.program, p.args, p.slot, p.b, p.native));
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * Solves with a bound K·v call (LazyTensor.solve): `call` computes Σ_j K_ij v_j with v in
 * argument slot `slot`, which holds b.
 *
 * @example
 * const call = bindMatvec(K, b);
 * const { x } = await solveBound(call, call.compiled.specs, call.vSlot, { alpha: 0.8 });
 */
export async function solveBound(
  call: BoundCall, specs: readonly ArgSpec[], slot: number, opts: SolveOptions,
): Promise<SolveResult> {
  const o = checkSolveOptions(opts, false);
  checkBackend(o.run);
  return solveAsync(prepare(call, specs, 1, slot, o), o);
}

/** The same as {@link solveBound}, blocking; for scripts (no progress, no abort). */
export function solveBoundSync(call: BoundCall, specs: readonly ArgSpec[], slot: number, opts: SolveOptions): SolveResult {
  const o = checkSolveOptions(opts, true);
  checkBackend(o.run);
  return solveSync(prepare(call, specs, 1, slot, o));
}

/**
 * Solves (αI + K) x = b for a kernel formula written as a KeOps string: K·v is the Sum
 * reduction of `formula`, linear in the variable `varName`, which stands for the unknown.
 * With axis 1, `varName` is a j-variable and the i- and j-variables have the same rows
 * (the system is square); with axis 0, an i-variable. Its dimension dv must be the
 * formula's; b is n × dv and several columns are solved together, each with its own CG
 * scalars and stopping test.
 *
 * The constructor checks the formula (syntax, dimensions), the axis and `varName` at
 * once; `run` checks the arrays and options. Conjugate gradients need αI + K symmetric
 * positive definite: a symmetric kernel on the same points for i and j, α > 0 or K
 * positive definite. A non-finite residual (NaN in the data, an indefinite K) rejects
 * with an error saying so.
 *
 * @example
 * const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a',
 *   ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
 * const { x, iterations, residual, converged } = await solver.run([pts, pts, b, 1e4], { alpha: 0.8 });
 */
export class KernelSolve {
  readonly formula: string;
  readonly aliases: readonly string[];
  readonly varName: string;
  readonly axis: 0 | 1;
  /** The checked Sum reduction computing K·v. */
  readonly compiled: CompiledReduction;
  /** The argument slot of the unknown (and of b in `args`). */
  readonly slot: number;

  constructor(formula: string, aliases: readonly string[], varName: string, opts: { axis: 0 | 1 }) {
    if (typeof opts !== 'object' || opts === null) throw new OptionError('KernelSolve needs options { axis: 0 | 1 }');
    refuseUnknownKeys(opts, ['axis'], 'KernelSolve');
    if (typeof varName !== 'string') throw new OptionError(`varName must be a string naming a variable, not ${typeof varName}`);
    this.compiled = compileFormula(formula, aliases, { reduction: 'Sum', axis: opts.axis });
    this.formula = formula;
    this.aliases = [...aliases];
    this.varName = varName;
    this.axis = this.compiled.axis;
    this.slot = this.compiled.slotOf(varName);
    const spec = this.compiled.specs[this.slot];
    const want = this.axis === 1 ? 'j' : 'i';
    if (spec.cat !== want) {
      const is = spec.cat === 'param' ? 'a parameter' : `an ${spec.cat}-variable`;
      throw new ShapeError(
        `the unknown ${varName} is ${is}; with axis ${this.axis} (a sum over ${want}) it must be ${want === 'i' ? 'an i' : 'a j'}-variable, the one summed over`,
      );
    }
    if (spec.dim !== this.compiled.cols) {
      throw new ShapeError(`the unknown ${varName} has dimension ${spec.dim} but the formula has dimension ${this.compiled.cols}: ${formula}`);
    }
  }

  /**
   * Solves off the event loop. `args` come in alias order; the one in `varName`'s place
   * is b (n × dv).
   *
   * @example
   * const r = await solver.run([x, x, b, 1e4], { alpha: 0.8, tol: 1e-8, onProgress: (p) => console.log(p) });
   */
  async run(args: readonly Arg[], opts: SolveOptions): Promise<SolveResult> {
    const { p, o } = this.prepared(args, opts, false);
    return solveAsync(p, o);
  }

  /** A checked solve of `args`, with an earlier solve's preconditioner when given one. */
  private prepared(args: readonly Arg[], opts: SolveOptions, sync: boolean, reuse?: KeptPreconditioner): { p: PreparedSolve; o: CheckedOptions } {
    const o = checkSolveOptions(opts, sync);
    checkBackend(o.run);
    const p = prepare(this.compiled.bind(args), this.compiled.specs, this.axis, this.slot, o);
    if (reuse !== undefined) p.native.reusePreconditioner = reuse;  // a result's, before a dataset's
    return { p, o };
  }

  /**
   * The same as {@link KernelSolve.run}, blocking; for scripts. It takes no onProgress
   * (OptionError) and cannot be aborted (signal is ignored).
   *
   * @example
   * const { x } = solver.runSync([x, x, b, 1e4], { alpha: 0.8 });
   */
  runSync(args: readonly Arg[], opts: SolveOptions): SolveResult {
    return solveSync(this.prepared(args, opts, true).p);
  }

  /**
   * The gradient of a loss of the solution x = (αI + K)⁻¹ b, given `xGradient` = ∂L/∂x
   * (n × dv): with respect to b (the name of the unknown, `varName`), to 'alpha', and to
   * any other variable or parameter of the formula. It solves the adjoint system
   * (αI + K) b̄ = ∂L/∂x (K is symmetric) with `opts` (a second solve, which reuses
   * `result`'s preconditioner when `run` was asked to keep it, `keepPreconditioner`, and
   * `opts` has the same alpha; else it sets one up again), then ∂L/∂α = −(b̄|x) and ∂L/∂θ = −b̄ᵀ (∂K/∂θ) x, the vector-Jacobian
   * product of the reduction K·x with output gradient −b̄ ({@link Genred.vjp}). `result`
   * is what `run` returned for the same `args`. Points passed under two names (x as Vi
   * and as Vj) get one gradient per name: add them. With float32 data, x and b̄ enter the
   * products rounded to float32.
   *
   * @example
   * const r = await solver.run([pts, pts, b, g], { alpha: 0.1, tol: 1e-8 });
   * // L = Σ c ⊙ x: ∂L/∂x = c
   * const { b: gb, alpha: ga, g: gg } = await solver.vjp([pts, pts, b, g], r, c, ['b', 'alpha', 'g'], { alpha: 0.1, tol: 1e-8 });
   */
  async vjp(args: readonly Arg[], result: SolveResult, xGradient: FloatArray | Tensor<FloatArray>, wrt: readonly string[], opts: SolveOptions): Promise<Record<string, Tensor>> {
    const adj = this.adjointArgs(args, result, xGradient, wrt);
    const { p, o } = this.prepared(adj.solveArgs, opts, false, keptPreconditioners.get(result));
    const bbar = await solveAsync(p, o);
    const grads = adj.kernel.length > 0 ? await vjp(this.compiled, adj.productArgs, adj.scaled(bbar), adj.kernel, runOptionsOf(opts)) : {};
    return adj.finish(bbar, grads);
  }

  /** The same as {@link KernelSolve.vjp}, blocking. */
  vjpSync(args: readonly Arg[], result: SolveResult, xGradient: FloatArray | Tensor<FloatArray>, wrt: readonly string[], opts: SolveOptions): Record<string, Tensor> {
    const adj = this.adjointArgs(args, result, xGradient, wrt);
    const bbar = solveSync(this.prepared(adj.solveArgs, opts, true, keptPreconditioners.get(result)).p);
    const grads = adj.kernel.length > 0 ? vjpSync(this.compiled, adj.productArgs, adj.scaled(bbar), adj.kernel, runOptionsOf(opts)) : {};
    return adj.finish(bbar, grads);
  }

  /** The adjoint solve's arguments, the product's, and how the pieces make the answer. */
  private adjointArgs(args: readonly Arg[], result: SolveResult, xGradient: unknown, wrt: readonly string[]) {
    if (!Array.isArray(wrt) || wrt.length === 0) throw new OptionError(`vjp needs the names to differentiate: '${this.varName}' (b), 'alpha', or the formula's variables`);
    const call = this.compiled.bind(args);
    const [n, dv] = [call.args[this.slot].length / this.compiled.specs[this.slot].dim, this.compiled.specs[this.slot].dim];
    const x = readMatrix(result?.x, 'result.x', { rows: n, dim: dv });
    const xbar = readMatrix(xGradient, 'the gradient with respect to x', { rows: n, dim: dv });
    const cast = (a: ArrayLike<number>): FloatArray => floats(call.dtype, a);
    const withSlot = (v: FloatArray): Arg[] => args.map((a, k) => (k === this.slot ? v : a)) as Arg[];
    const kernel = wrt.filter((w) => w !== this.varName && w !== 'alpha');
    for (const w of kernel) this.compiled.slotOf(w);
    return {
      solveArgs: withSlot(cast(xbar.data)),
      productArgs: withSlot(cast(x.data)),
      kernel,
      scaled: (bbar: SolveResult): FloatArray => cast(bbar.x.data.map((v) => -v)),
      finish: (bbar: SolveResult, grads: Record<string, Tensor>): Record<string, Tensor> => {
        const out: Record<string, Tensor> = { ...grads };
        if (wrt.includes(this.varName)) out[this.varName] = bbar.x;
        if (wrt.includes('alpha')) {
          let s = 0;
          for (let k = 0; k < x.data.length; k++) s += bbar.x.data[k] * x.data[k];
          out.alpha = { data: Float64Array.of(-s), shape: [1, 1] };
        }
        return out;
      },
    };
  }
}

/** The RunOptions part of SolveOptions, for the products of a gradient. */
function runOptionsOf(opts: SolveOptions): RunOptions {
  const { backend, signal, prune, pruneTolerance, timeout, priority, background } = opts;
  return Object.fromEntries(Object.entries({ backend, signal, prune, pruneTolerance, timeout, priority, background }).filter(([, v]) => v !== undefined));
}

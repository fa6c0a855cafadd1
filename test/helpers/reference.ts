/**
 * Float64 brute-force references for the test suite.
 *
 * Every numeric test builds its inputs here (seeded, so a failure reproduces), writes
 * the per-pair formula F(i, j) in plain TypeScript as a closure, tabulates it once into
 * a dense M×N×dim Float64Array (references are O(M·N), so the sizes stay modest) and
 * reduces the table with the generic reducers below, over axis 1 (over j: one output row
 * per i) or axis 0 (over i: one output row per j), exactly as API.md defines them.
 *
 * Typed arrays are recognised with `util.types`, never `instanceof`: arrays made by the
 * addon come from another realm than jest's sandbox.
 */
import * as util from 'util';

// The hot loops below read module bindings, not globals: inside jest's vm sandbox a global
// lookup such as `Math.abs` or `Number.isNaN` is ~50 times slower than a module constant,
// which made an O(M·N) reference take a second instead of milliseconds.
const { abs: mathAbs, max: mathMax, min: mathMin, exp: mathExp, log: mathLog, floor: mathFloor } = Math;
const { isNaN: numIsNaN, isFinite: numIsFinite, isInteger: numIsInteger } = Number;

// ---------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------

/** A seeded PRNG (mulberry32): uniform numbers in [0, 1), the same on every machine. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
    // Warm up so that nearby seeds give unrelated streams.
    for (let k = 0; k < 4; k++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** `n` uniform values in [lo, hi). */
export function uniform(rng: Rng, n: number, lo = 0, hi = 1): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = rng.uniform(lo, hi);
  return out;
}

/** `n` normal values with the given mean and standard deviation. */
export function normal(rng: Rng, n: number, mean = 0, sd = 1): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = mean + sd * rng.normal();
  return out;
}

/** The Float32Array of the same values (rounded to float32). */
export function toF32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a);
}

/**
 * The same values rounded to float32 but kept in a Float64Array: data that a float32
 * run and a float64 run see identically, so one float64 reference serves both.
 */
export function f32exact(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v) => Math.fround(v));
}

/** One data set in both dtypes, holding identical values (float32-representable). */
export interface Dual {
  f64: Float64Array;
  f32: Float32Array;
}

export function dual(a: ArrayLike<number>): Dual {
  const f64 = f32exact(a);
  return { f64, f32: Float32Array.from(f64) };
}

export type DType = 'float32' | 'float64';
export const DTYPES: readonly DType[] = ['float32', 'float64'];

/** The array of `d` in the dtype asked for. */
export function pick(d: Dual, dtype: DType): Float32Array | Float64Array {
  return dtype === 'float32' ? d.f32 : d.f64;
}

// ---------------------------------------------------------------------------------------
// The per-pair table
// ---------------------------------------------------------------------------------------

/** F(i, j): the formula's `dim` values for the pair (i-row i, j-row j). */
export type PairFn = (i: number, j: number) => ArrayLike<number>;

/** F tabulated densely: `data[(i·N + j)·dim + c]`. */
export class Table {
  constructor(readonly M: number, readonly N: number, readonly dim: number, readonly data: Float64Array) {}

  at(i: number, j: number, c = 0): number {
    return this.data[(i * this.N + j) * this.dim + c];
  }

  /** Output rows of a reduction over `axis` (1: the i-rows, 0: the j-rows). */
  rows(axis: 0 | 1): number {
    return axis === 1 ? this.M : this.N;
  }

  /** Length of the reduced side. */
  reduced(axis: 0 | 1): number {
    return axis === 1 ? this.N : this.M;
  }

  /** F for output row `r` and reduced index `t` of a reduction over `axis`. */
  get(axis: 0 | 1, r: number, t: number, c = 0): number {
    return axis === 1 ? this.at(r, t, c) : this.at(t, r, c);
  }
}

/** Evaluates `f` on every pair once. Throws if `f` returns the wrong number of values. */
export function tabulate(M: number, N: number, dim: number, f: PairFn): Table {
  const data = new Float64Array(M * N * dim);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const v = f(i, j);
      if (v.length !== dim) throw new Error(`reference formula returned ${v.length} values, expected ${dim}`);
      const base = (i * N + j) * dim;
      for (let c = 0; c < dim; c++) data[base + c] = v[c];
    }
  }
  return new Table(M, N, dim, data);
}

/** Row `r` of a row-major array with `dim` columns, as a plain array. */
export function row(a: ArrayLike<number>, r: number, dim: number): number[] {
  const out = new Array<number>(dim);
  for (let c = 0; c < dim; c++) out[c] = a[r * dim + c];
  return out;
}

// Small vector maths for the closures.
export const sub = (a: number[], b: number[]): number[] => a.map((v, k) => v - b[k]);
export const dot = (a: number[], b: number[]): number => a.reduce((s, v, k) => s + v * b[k], 0);
export const sqdist = (a: number[], b: number[]): number => {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
};
export const scale = (a: number[], s: number): number[] => a.map((v) => v * s);
/** |x_r − y_t|² between rows of two row-major arrays with D columns (no allocation). */
export function sqdistRows(x: ArrayLike<number>, r: number, y: ArrayLike<number>, t: number, D: number): number {
  let q = 0;
  for (let k = 0; k < D; k++) {
    const d = x[r * D + k] - y[t * D + k];
    q += d * d;
  }
  return q;
}

// ---------------------------------------------------------------------------------------
// Reductions (API.md semantics)
// ---------------------------------------------------------------------------------------

/** Σ over the reduced side; shape [rows, dim]. Zero rows give zeros. */
export function refSum(t: Table, axis: 0 | 1): Float64Array {
  const R = t.rows(axis);
  const n = t.reduced(axis);
  const out = new Float64Array(R * t.dim);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < t.dim; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += t.get(axis, r, k, c);
      out[r * t.dim + c] = s;
    }
  }
  return out;
}

/** A value reduction with its argument: `values` and `indices`, shape [rows, dim] each. */
export interface ArgResult {
  values: Float64Array;
  indices: Int32Array;
}

function extremum(t: Table, axis: 0 | 1, better: (a: number, b: number) => boolean, empty: number): ArgResult {
  const R = t.rows(axis);
  const n = t.reduced(axis);
  const values = new Float64Array(R * t.dim);
  const indices = new Int32Array(R * t.dim);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < t.dim; c++) {
      let best = empty;
      let arg = -1;
      for (let k = 0; k < n; k++) {
        const v = t.get(axis, r, k, c);
        if (numIsNaN(best)) break;
        // Strict comparison: the lowest index wins ties. NaN propagates.
        if (numIsNaN(v) || arg < 0 || better(v, best)) {
          best = v;
          arg = k;
        }
      }
      values[r * t.dim + c] = best;
      indices[r * t.dim + c] = arg;
    }
  }
  return { values, indices };
}

/** Component-wise min over the reduced side, lowest index on ties; +Infinity and -1 when empty. */
export function refMin(t: Table, axis: 0 | 1): ArgResult {
  return extremum(t, axis, (a, b) => a < b, Infinity);
}

/** Component-wise max over the reduced side, lowest index on ties; -Infinity and -1 when empty. */
export function refMax(t: Table, axis: 0 | 1): ArgResult {
  return extremum(t, axis, (a, b) => a > b, -Infinity);
}

/**
 * The k smallest values per component, ascending, equal values in increasing index
 * order; shape [rows, k·dim] with layout [l·dim + c]. Missing entries (k larger than the
 * reduced side) are +Infinity with index -1.
 */
export function refKMin(t: Table, axis: 0 | 1, k: number): ArgResult {
  const R = t.rows(axis);
  const n = t.reduced(axis);
  const d = t.dim;
  const values = new Float64Array(R * k * d).fill(Infinity);
  const indices = new Int32Array(R * k * d).fill(-1);
  const vals = new Float64Array(k);
  const idx = new Int32Array(k);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < d; c++) {
      vals.fill(Infinity);
      idx.fill(-1);
      let count = 0;
      for (let q = 0; q < n; q++) {
        const v = t.get(axis, r, q, c);
        // Insert only when strictly smaller than the current k-th: ties keep the lower index.
        if (count === k && !(v < vals[k - 1])) continue;
        let p = mathMin(count, k - 1);
        while (p > 0 && (v < vals[p - 1])) {
          vals[p] = vals[p - 1];
          idx[p] = idx[p - 1];
          p--;
        }
        vals[p] = v;
        idx[p] = q;
        if (count < k) count++;
      }
      for (let l = 0; l < k; l++) {
        values[(r * k + l) * d + c] = vals[l];
        indices[(r * k + l) * d + c] = idx[l];
      }
    }
  }
  return { values, indices };
}

/** log Σ exp(F) for a dim-1 F, shifted by the max; -Infinity when empty. Shape [rows, 1]. */
export function refLogSumExp(t: Table, axis: 0 | 1): Float64Array {
  if (t.dim !== 1) throw new Error('LogSumExp reference: F must have dimension 1');
  const R = t.rows(axis);
  const n = t.reduced(axis);
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = mathMax(m, t.get(axis, r, k));
    if (m === -Infinity) {
      out[r] = -Infinity;
      continue;
    }
    let s = 0;
    for (let k = 0; k < n; k++) s += mathExp(t.get(axis, r, k) - m);
    out[r] = m + mathLog(s);
  }
  return out;
}

/**
 * Σ_k exp(F_k) V_k / Σ_k exp(F_k) (KeOps' SumSoftMaxWeight) for a dim-1 F and weights V
 * of any dimension; shape [rows, dim(V)].
 */
export function refSumSoftMaxWeight(f: Table, v: Table, axis: 0 | 1): Float64Array {
  if (f.dim !== 1) throw new Error('SumSoftMaxWeight reference: F must have dimension 1');
  const R = f.rows(axis);
  const n = f.reduced(axis);
  const out = new Float64Array(R * v.dim);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = mathMax(m, f.get(axis, r, k));
    let den = 0;
    for (let k = 0; k < n; k++) {
      const w = mathExp(f.get(axis, r, k) - m);
      den += w;
      for (let c = 0; c < v.dim; c++) out[r * v.dim + c] += w * v.get(axis, r, k, c);
    }
    for (let c = 0; c < v.dim; c++) out[r * v.dim + c] /= den;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Results and comparisons
// ---------------------------------------------------------------------------------------

/** The structural view of an output Tensor used by the checks. */
export interface TensorLike {
  data: ArrayLike<number>;
  shape: readonly number[];
}

function isTensorLike(r: unknown): r is TensorLike {
  if (typeof r !== 'object' || r === null) return false;
  const t = r as { data?: unknown; shape?: unknown };
  return ArrayBuffer.isView(t.data) && Array.isArray(t.shape);
}

/** Narrows a Genred result to a single Tensor (fails the test otherwise). */
export function asTensor(r: unknown): TensorLike {
  if (!isTensorLike(r)) throw new Error(`expected a Tensor { data, shape }, got ${describeValue(r)}`);
  return r;
}

/** Narrows a Genred result to `{ values, indices }` (Min_ArgMin, Max_ArgMax, KMin_ArgKMin). */
export function asPair(r: unknown): { values: TensorLike; indices: TensorLike } {
  const p = r as { values?: unknown; indices?: unknown } | null;
  if (typeof p !== 'object' || p === null || !isTensorLike(p.values) || !isTensorLike(p.indices)) {
    throw new Error(`expected { values: Tensor, indices: Tensor }, got ${describeValue(r)}`);
  }
  return { values: p.values, indices: p.indices };
}

function describeValue(r: unknown): string {
  if (typeof r !== 'object' || r === null) return String(r);
  return `{ ${Object.keys(r).join(', ')} }`;
}

/** The element type of a typed array, via util.types (realm-independent). */
export function elementType(a: unknown): 'float32' | 'float64' | 'int32' | 'other' {
  if (util.types.isFloat32Array(a)) return 'float32';
  if (util.types.isFloat64Array(a)) return 'float64';
  if (util.types.isInt32Array(a)) return 'int32';
  return 'other';
}

/** Checks a Tensor's element type and shape. */
export function expectTensor(t: TensorLike, type: 'float32' | 'float64' | 'int32', shape: readonly number[]): void {
  const got = elementType(t.data);
  if (got !== type) throw new Error(`expected ${type} data, got ${got}`);
  if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
    throw new Error(`expected shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  }
  if (t.data.length !== shape[0] * shape[1]) {
    throw new Error(`shape [${shape.join(', ')}] but data.length ${t.data.length}`);
  }
}

function sameNonFinite(a: number, e: number): boolean {
  return numIsNaN(e) ? numIsNaN(a) : a === e;
}

function fmt(v: number): string {
  return numIsFinite(v) ? v.toPrecision(17) : String(v);
}

/**
 * Checks `actual` against `expected` with one relative error for the whole output:
 *
 *     max_k |a_k − e_k|  ≤  rtol · max(max_k |e_k|, tiny) + atol
 *
 * (the infinity norm of the error over the infinity norm of the reference; per-element
 * relative error would punish sums that cancel to near zero for nothing). Positions
 * where the reference is NaN or ±Infinity must match exactly. On failure the message
 * names the worst index with both values.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0, label = ''): void {
  const where = label ? `${label}: ` : '';
  if (actual.length !== expected.length) {
    throw new Error(`${where}length ${actual.length}, expected ${expected.length}`);
  }
  let refMax = 0;
  for (let k = 0; k < expected.length; k++) {
    const e = expected[k];
    if (!numIsFinite(e)) {
      if (!sameNonFinite(actual[k], e)) {
        throw new Error(`${where}at index ${k}: got ${fmt(actual[k])}, expected ${fmt(e)}`);
      }
      continue;
    }
    refMax = mathMax(refMax, mathAbs(e));
  }
  let worst = -1;
  let worstErr = 0;
  for (let k = 0; k < expected.length; k++) {
    const e = expected[k];
    if (!numIsFinite(e)) continue;
    const err = mathAbs(actual[k] - e);
    if (numIsNaN(err)) {
      worst = k;
      worstErr = Infinity;
      break;
    }
    if (err > worstErr) {
      worstErr = err;
      worst = k;
    }
  }
  const allowed = rtol * mathMax(refMax, 1e-300) + atol;
  if (worstErr > allowed) {
    throw new Error(
      `${where}max |a − e| = ${worstErr.toExponential(3)} > ${allowed.toExponential(3)} ` +
        `(rtol ${rtol} × max|e| ${refMax.toExponential(3)} + atol ${atol}); worst at index ${worst}: ` +
        `got ${fmt(actual[worst])}, expected ${fmt(expected[worst])} (relative ${(worstErr / mathMax(refMax, 1e-300)).toExponential(3)})`,
    );
  }
}

/** Element by element: |a_k − e_k| ≤ rtol·|e_k| + atol (for min/max values, which do not cancel). */
export function expectCloseElementwise(
  actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0, label = '',
): void {
  const where = label ? `${label}: ` : '';
  if (actual.length !== expected.length) throw new Error(`${where}length ${actual.length}, expected ${expected.length}`);
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k];
    const e = expected[k];
    if (!numIsFinite(e)) {
      if (!sameNonFinite(a, e)) throw new Error(`${where}at index ${k}: got ${fmt(a)}, expected ${fmt(e)}`);
      continue;
    }
    const err = mathAbs(a - e);
    if (!(err <= rtol * mathAbs(e) + atol)) {
      throw new Error(`${where}at index ${k}: got ${fmt(a)}, expected ${fmt(e)} (|a − e| = ${err.toExponential(3)}, allowed ${(rtol * mathAbs(e) + atol).toExponential(3)})`);
    }
  }
}

export interface ArgCheck {
  /** The reference value F at (output position p, reduced index q), for near-tie checks. */
  valueAt?: (p: number, q: number) => number;
  /**
   * Accept a different index when its reference value is within rtol·|v| + atol of the
   * reference's choice (a near tie that float rounding may resolve either way).
   * Leave valueAt out to demand the exact index (deliberate exact ties).
   */
  rtol?: number;
  atol?: number;
}

/**
 * Indices must equal the reference's (lowest index on exact ties). With `valueAt`, an
 * index whose value differs from the reference's choice by less than float rounding is
 * accepted as a near tie; everything else fails, naming the first wrong position.
 */
export function expectIndices(actual: ArrayLike<number>, expected: ArrayLike<number>, check: ArgCheck = {}, label = ''): void {
  const where = label ? `${label}: ` : '';
  if (actual.length !== expected.length) throw new Error(`${where}length ${actual.length}, expected ${expected.length}`);
  for (let p = 0; p < expected.length; p++) {
    const a = actual[p];
    const e = expected[p];
    if (a === e) continue;
    if (check.valueAt !== undefined && e >= 0 && numIsInteger(a) && a >= 0) {
      const va = check.valueAt(p, a);
      const ve = check.valueAt(p, e);
      if (mathAbs(va - ve) <= (check.rtol ?? 0) * mathAbs(ve) + (check.atol ?? 0)) continue;
      throw new Error(`${where}at position ${p}: index ${a} (F = ${fmt(va)}), expected ${e} (F = ${fmt(ve)})`);
    }
    throw new Error(`${where}at position ${p}: index ${a}, expected ${e}`);
  }
}

/** Runs `f` and returns what it threw or what its promise rejected with (fails if neither). */
export async function caught(f: () => unknown): Promise<unknown> {
  let result: unknown;
  try {
    result = f();
  } catch (e) {
    return e;
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    try {
      await result;
    } catch (e) {
      return e;
    }
  }
  throw new Error('expected an error (a throw or a rejected promise), but the call succeeded');
}

// ---------------------------------------------------------------------------------------
// Tolerances shared by the numeric test files
// ---------------------------------------------------------------------------------------

/** Σ |F| over the reduced side, shape [rows, dim]: the scale of a sum's rounding error. */
export function refAbsSum(t: Table, axis: 0 | 1): Float64Array {
  const R = t.rows(axis);
  const n = t.reduced(axis);
  const out = new Float64Array(R * t.dim);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < t.dim; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += mathAbs(t.get(axis, r, k, c));
      out[r * t.dim + c] = s;
    }
  }
  return out;
}

/** The largest |value| among the finite entries (0 when there is none). */
export function maxAbsFinite(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) if (numIsFinite(a[k])) m = mathMax(m, mathAbs(a[k]));
  return m;
}

/**
 * The stated tolerances of a sum over the reduced side:
 *   float32: ‖a − e‖∞ ≤ 2e-5 · ‖e‖∞ + 1e-7 · ‖Σ|F|‖∞
 *   float64: ‖a − e‖∞ ≤ 1e-10 · ‖e‖∞ + 1e-13 · ‖Σ|F|‖∞
 * The absolute term is sized on Σ|F| because every term is rounded (to float32: unit
 * roundoff 6e-8, so 1e-7 is about two roundings of every term, which random rounding
 * errors stay well under) before the terms cancel; a sum that cancels to near zero keeps
 * that absolute error, not a relative one. Without cancellation (Σ|F| = |Σ F|) the
 * relative term dominates.
 */
export const SUM_RTOL: Record<DType, number> = { float32: 2e-5, float64: 1e-10 };
export const SUM_ATOL_FACTOR: Record<DType, number> = { float32: 1e-7, float64: 1e-13 };

/**
 * The check of a sum over `axis` of the tabulated F against its float64 reference, at the
 * stated tolerances, for results in either dtype: the reference is computed once.
 */
export function sumExpectation(t: Table, axis: 0 | 1): (actual: ArrayLike<number>, dtype: DType, label?: string) => void {
  const expected = refSum(t, axis);
  const scaleOfTerms = maxAbsFinite(refAbsSum(t, axis));
  return (actual, dtype, label = '') => expectClose(actual, expected, SUM_RTOL[dtype], SUM_ATOL_FACTOR[dtype] * scaleOfTerms, label);
}

/** Checks a sum over `axis` of the tabulated F against its float64 reference, at the stated tolerances. */
export function expectSumClose(actual: ArrayLike<number>, t: Table, axis: 0 | 1, dtype: DType, label = ''): void {
  sumExpectation(t, axis)(actual, dtype, label);
}

/**
 * F's reference value for output position `p` of a result with `cols` columns per row
 * (cols = dim for Min/ArgMin, k·dim for KMin: layout [l·dim + c]) and reduced index `q`.
 */
export function tableValueAt(t: Table, axis: 0 | 1, cols: number): (p: number, q: number) => number {
  return (p, q) => t.get(axis, mathFloor(p / cols), q, (p % cols) % t.dim);
}

// ---------------------------------------------------------------------------------------
// Block-sparse references: reductions over a subset of the reduced side (explicit ranges)
// ---------------------------------------------------------------------------------------

/**
 * The reduced indices each output row reduces over, ascending (with multiplicity, as the
 * engine visits an index once per range holding it). A row that keeps nothing gets the
 * reduction of nothing.
 */
export type KeptLists = readonly Int32Array[];

/**
 * The kept lists from clusters, written from the definition of ranges (lib/ranges.ts) and
 * independently of fromMatrix: a row in cluster a of `rowRanges` keeps the rows of every
 * cluster b of `colRanges` with keep(a, b); rows in no cluster keep nothing.
 */
export function keptFromClusters(
  rows: number, rowRanges: ArrayLike<number>, colRanges: ArrayLike<number>, keep: (a: number, b: number) => boolean,
): Int32Array[] {
  const none = new Int32Array(0);
  const out: Int32Array[] = new Array<Int32Array>(rows).fill(none);
  const nA = rowRanges.length / 2;
  const nB = colRanges.length / 2;
  for (let a = 0; a < nA; a++) {
    const idx: number[] = [];
    for (let b = 0; b < nB; b++) {
      if (!keep(a, b)) continue;
      for (let q = colRanges[2 * b]; q < colRanges[2 * b + 1]; q++) idx.push(q);
    }
    const list = Int32Array.from(idx).sort();
    for (let r = rowRanges[2 * a]; r < rowRanges[2 * a + 1]; r++) out[r] = list;
  }
  return out;
}

/**
 * The kept lists of one engine triple [ranges, slices, redranges] as KeOps reads it:
 * cluster k of `ranges` reduces over the pairs of `redranges` numbered
 * slices[k-1] .. slices[k] - 1 (slices[-1] = 0), in whatever order they are given.
 */
export function keptFromTriple(rows: number, ranges: ArrayLike<number>, slices: ArrayLike<number>, redranges: ArrayLike<number>): Int32Array[] {
  const none = new Int32Array(0);
  const out: Int32Array[] = new Array<Int32Array>(rows).fill(none);
  for (let k = 0; k < ranges.length / 2; k++) {
    const idx: number[] = [];
    for (let s = k ? slices[k - 1] : 0; s < slices[k]; s++) {
      for (let q = redranges[2 * s]; q < redranges[2 * s + 1]; q++) idx.push(q);
    }
    const list = Int32Array.from(idx).sort();
    for (let r = ranges[2 * k]; r < ranges[2 * k + 1]; r++) out[r] = list;
  }
  return out;
}

/** Every output row keeps every reduced index (the kept lists of a call without ranges). */
export function keptAll(rows: number, reduced: number): Int32Array[] {
  const all = Int32Array.from({ length: reduced }, (_, q) => q);
  return new Array<Int32Array>(rows).fill(all);
}

/** Output row r's kept pairs as a one-row table, reduced over its axis 1. */
function keptRow(t: Table, axis: 0 | 1, r: number, kept: Int32Array): Table {
  const d = t.dim;
  const data = new Float64Array(kept.length * d);
  for (let q = 0; q < kept.length; q++) for (let c = 0; c < d; c++) data[q * d + c] = t.get(axis, r, kept[q], c);
  return new Table(1, kept.length, d, data);
}

function checkKept(t: Table, axis: 0 | 1, kept: KeptLists): number {
  const R = t.rows(axis);
  if (kept.length !== R) throw new Error(`kept lists: ${kept.length} rows, the table has ${R} output rows over axis ${axis}`);
  return R;
}

/**
 * A value reduction (refSum, refAbsSum, refLogSumExp, …) of every output row over its
 * kept reduced indices only.
 *
 * @example
 * const expected = refKept(table, 1, kept, refSum);
 */
export function refKept(t: Table, axis: 0 | 1, kept: KeptLists, reduce: (sub: Table, axis: 1) => Float64Array): Float64Array {
  const R = checkKept(t, axis, kept);
  const cols = reduce(new Table(1, 0, t.dim, new Float64Array(0)), 1).length;
  const out = new Float64Array(R * cols);
  for (let r = 0; r < R; r++) out.set(reduce(keptRow(t, axis, r, kept[r]), 1), r * cols);
  return out;
}

/**
 * A value-and-index reduction (refMin, refMax, refKMin) of every output row over its kept
 * indices only; indices are the reduced side's own (-1 stays -1).
 */
export function refKeptArg(t: Table, axis: 0 | 1, kept: KeptLists, reduce: (sub: Table, axis: 1) => ArgResult): ArgResult {
  const R = checkKept(t, axis, kept);
  const cols = reduce(new Table(1, 0, t.dim, new Float64Array(0)), 1).values.length;
  const values = new Float64Array(R * cols);
  const indices = new Int32Array(R * cols);
  for (let r = 0; r < R; r++) {
    const res = reduce(keptRow(t, axis, r, kept[r]), 1);
    values.set(res.values, r * cols);
    for (let c = 0; c < cols; c++) {
      const q = res.indices[c];
      indices[r * cols + c] = q < 0 ? -1 : kept[r][q];
    }
  }
  return { values, indices };
}

/** refSumSoftMaxWeight of every output row over its kept indices only (NaN, 0/0, where none). */
export function refKeptSoftMax(f: Table, v: Table, axis: 0 | 1, kept: KeptLists): Float64Array {
  const R = checkKept(f, axis, kept);
  const out = new Float64Array(R * v.dim);
  for (let r = 0; r < R; r++) out.set(refSumSoftMaxWeight(keptRow(f, axis, r, kept[r]), keptRow(v, axis, r, kept[r]), 1), r * v.dim);
  return out;
}

/** The data most reduction tests use: x = Vi(3), y = Vj(3) in [-1, 1], b = Vj(2) in [-1, 1], g = 1.5. */
export interface SizeData {
  M: number;
  N: number;
  x: Dual;
  y: Dual;
  b: Dual;
  g: number;
}

export function makeSizeData(M: number, N: number, seed: number): SizeData {
  const rng = new Rng(seed);
  return {
    M, N, g: 1.5,
    x: dual(uniform(rng, M * 3, -1, 1)),
    y: dual(uniform(rng, N * 3, -1, 1)),
    b: dual(uniform(rng, N * 2, -1, 1)),
  };
}

/** make(), computed on the first call and kept: data a test table shares across its cases. */
export function lazily<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

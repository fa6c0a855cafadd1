/**
 * The KeOps reductions and spellings added for ported pykeops / keopscore scripts, through
 * Genred, against float64 brute-force references written here in plain JS:
 *
 * - LogSumExpWeight, and pykeops' LogSumExp with a formula2 (the same reduction):
 *     out[r, c] = log Σ_t exp(F[r, t])·V[r, t, c]               (dim(V) columns)
 * - Max_SumShiftExp:        out[r] = [m, Σ_t exp(F[r, t] − m)], m = max_t F[r, t]
 * - Max_SumShiftExpWeight:  out[r] = [m, Σ_t exp(F[r, t] − m)·V[r, t, c] …]  (1 + dim(V))
 * - SoftMax (pykeops' name of SumSoftMaxWeight): Σ exp(F)V / Σ exp(F);
 * - the other names MinArgMin, MaxArgMax, KMinArgKMin, MaxSumShiftExp: the same results
 *   as the canonical names (and those against the references);
 * - keopscore's whole-formula spelling `<Name>_Reduction(F[, K], tag[, G])`, tag 0 =
 *   outputs indexed by i (axis 1), tag 1 = by j (axis 0), with its option errors;
 * - an empty reduced side, and a NaN at one pair.
 * Every case runs on both axes (r is the output row, t the reduced index), in float32 and
 * float64, on the CPU and once through the emulated CUDA path (LAZYKERNEL_CUDA=emulated,
 * run option backend 'cuda'). Inputs are seeded and float32-representable (helpers
 * `dual` / `pick`), so one float64 reference on those values serves both dtypes.
 *
 * Stated tolerances, with u the unit roundoff of the dtype (2^-24, 2^-53) and
 * Φ = max |F| over the data (at most 18 for -1.5·SqDist of points in [-1, 1]³; 90 with the +90
 * offset, which overflows exp in float32 unless the engine shifts by the max):
 * - m (F at one pair): element-wise |a − e| ≤ 8u·|e| (as VALUE_RTOL of reduce.test.ts);
 * - shifted sums Σ exp(F − m)·V (positive terms, no cancellation): element-wise relative
 *   error ≤ EXP_RTOL = u·(8Φ + 128): F − m carries up to ~4uΦ absolute from the roundings
 *   of F and of m (twice that allowed), exp, the weights and the summation up to 128u
 *   (measured: under an eighth of EXP_RTOL, both dtypes, CPU and emulated device);
 * - log sums m + log Σ …: element-wise absolute error ≤ 8u·Φ + EXP_RTOL;
 * - SoftMax (a ratio of two such sums, positive weights): element-wise relative 2·EXP_RTOL;
 * - sums (the Sum_Reduction spelling): expectSumClose of helpers/reference.ts;
 * - min/max/k-min values 8u element-wise; indices exact, or a near tie within 16u.
 * Another name of a reduction must give bit-for-bit the canonical name's result.
 */
import { FormulaSyntaxError, Genred, OptionError, ShapeError } from '../lib/index';
import type { ReductionName } from '../lib/formula/program';
import type { Arg } from '../lib/tensor';
import {
  asPair, asTensor, DType, DTYPES, dual, Dual, expectCloseElementwise, expectIndices, expectSumClose, expectTensor,
  maxAbsFinite, PairFn, pick, refKMin, refMax, refMin, refSumSoftMaxWeight, Rng, row, sqdist, Table, tableValueAt,
  tabulate, uniform,
} from './helpers/reference';

process.env.LAZYKERNEL_CUDA = 'emulated';

/** Math through a module binding (a global lookup is slow in jest's sandbox). */
const { exp, log, max: mathMax } = Math;

const U: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };
const VALUE_RTOL: Record<DType, number> = { float32: 8 * U.float32, float64: 8 * U.float64 };
const expRtol = (dtype: DType, phi: number): number => U[dtype] * (8 * phi + 128);

const AXES: readonly (0 | 1)[] = [1, 0];
type Backend = 'cpu' | 'cuda (emulated)';
const BACKENDS: readonly Backend[] = ['cpu', 'cuda (emulated)'];

// ---------------------------------------------------------------------------------------
// Data and the running of a Genred
// ---------------------------------------------------------------------------------------

/** x = Vi(3), y = Vj(3) in [-1, 1]; a = Vi(2), b = Vj(2) in [0.1, 2] (positive weights); p = Vi(1), q = Vj(1) in [-1, 1]. */
const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'a = Vi(2)', 'b = Vj(2)', 'p = Vi(1)', 'q = Vj(1)', 'g = Pm(1)', 'c = Pm(1)'];
const G = 1.5;
const C = 90;

interface Data {
  M: number;
  N: number;
  x: Dual;
  y: Dual;
  a: Dual;
  b: Dual;
  p: Dual;
  q: Dual;
}

function makeData(M: number, N: number, seed: number): Data {
  const rng = new Rng(seed);
  return {
    M, N,
    x: dual(uniform(rng, 3 * M, -1, 1)),
    y: dual(uniform(rng, 3 * N, -1, 1)),
    a: dual(uniform(rng, 2 * M, 0.1, 2)),
    b: dual(uniform(rng, 2 * N, 0.1, 2)),
    p: dual(uniform(rng, M, -1, 1)),
    q: dual(uniform(rng, N, -1, 1)),
  };
}

const argsOf = (d: Data, dtype: DType): Arg[] => [
  pick(d.x, dtype), pick(d.y, dtype), pick(d.a, dtype), pick(d.b, dtype), pick(d.p, dtype), pick(d.q, dtype), G, C,
];

/** Float32 runs async, float64 Sync on the CPU; the emulated device path runs Sync with backend 'cuda'. */
async function runOn(g: Genred, args: Arg[], dtype: DType, backend: Backend): Promise<unknown> {
  if (backend === 'cuda (emulated)') return g.runSync(args, { backend: 'cuda' });
  return dtype === 'float32' ? g.run(args) : g.runSync(args);
}

/** Memoised per key: references and tables shared by the cases of one describe block. */
function memo(): <T>(key: string, make: () => T) => T {
  const store = new Map<string, unknown>();
  return <T>(key: string, make: () => T): T => {
    if (!store.has(key)) store.set(key, make());
    return store.get(key) as T;
  };
}

// ---------------------------------------------------------------------------------------
// Formulas F and weights V, with their per-pair values
// ---------------------------------------------------------------------------------------

interface FDef {
  label: string;
  formula: string;
  at: (d: Data) => PairFn;
}

const F_DEFS: FDef[] = [
  {
    label: '-g*SqDist(x,y)',
    formula: '-g*SqDist(x,y)',
    at: (d) => (i, j) => [-G * sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3))],
  },
  {
    label: '-g*SqDist(x,y)+c (c = 90: exp(F) overflows float32 unshifted)',
    formula: '-g*SqDist(x,y)+c',
    at: (d) => (i, j) => [-G * sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3)) + C],
  },
];

interface VDef {
  label: string;
  /** The weights formula for a reduction over `axis`. */
  formula: (axis: 0 | 1) => string;
  dim: number;
  at: (d: Data, axis: 0 | 1) => PairFn;
}

const V_DEFS: VDef[] = [
  {
    // A variable of the reduced side: b = Vj over j (axis 1), a = Vi over i (axis 0).
    label: 'the reduced side\'s variable (b over j, a over i)',
    formula: (axis) => (axis === 1 ? 'b' : 'a'),
    dim: 2,
    at: (d, axis) => (axis === 1 ? (_i, j) => row(d.b.f64, j, 2) : (i) => row(d.a.f64, i, 2)),
  },
  {
    label: 'Exp(p-q)',
    formula: () => 'Exp(p-q)',
    dim: 1,
    at: (d) => (i, j) => [exp(d.p.f64[i] - d.q.f64[j])],
  },
];

// ---------------------------------------------------------------------------------------
// The references (plain JS, float64, shifted by the max)
// ---------------------------------------------------------------------------------------

/** m = max_t F[r, t] per output row (NaN if any F is NaN, -Infinity when empty). */
function rowMax(f: Table, axis: 0 | 1, r: number): number {
  let m = -Infinity;
  for (let t = 0; t < f.reduced(axis); t++) {
    const v = f.get(axis, r, t);
    if (v !== v) return NaN;
    m = mathMax(m, v);
  }
  return m;
}

/** Per output row: [m, Σ exp(F − m)·V_c for each c]; V undefined is the weight 1. */
function refShifted(f: Table, v: Table | undefined, axis: 0 | 1): { m: Float64Array; s: Float64Array; dim: number } {
  const R = f.rows(axis);
  const n = f.reduced(axis);
  const dim = v === undefined ? 1 : v.dim;
  const m = new Float64Array(R);
  const s = new Float64Array(R * dim);
  for (let r = 0; r < R; r++) {
    const mr = rowMax(f, axis, r);
    m[r] = mr;
    for (let c = 0; c < dim; c++) {
      let acc = 0;
      for (let t = 0; t < n; t++) acc += exp(f.get(axis, r, t) - mr) * (v === undefined ? 1 : v.get(axis, r, t, c));
      // An empty row: Σ over nothing is 0 (and exp(-Inf - -Inf) is never taken).
      s[r * dim + c] = n === 0 ? 0 : acc;
    }
  }
  return { m, s, dim };
}

/** log Σ exp(F)·V_c = m + log Σ exp(F − m)·V_c; shape [rows, dim(V)]. */
function refLogSumExpWeight(f: Table, v: Table, axis: 0 | 1): Float64Array {
  const { m, s, dim } = refShifted(f, v, axis);
  return Float64Array.from(s, (sc, k) => m[Math.floor(k / dim)] + log(sc));
}

/** [m, s_1 … s_dim] per row: Max_SumShiftExp (v undefined) and Max_SumShiftExpWeight. */
function refMaxSumShiftExp(f: Table, v: Table | undefined, axis: 0 | 1): Float64Array {
  const { m, s, dim } = refShifted(f, v, axis);
  const out = new Float64Array(m.length * (1 + dim));
  for (let r = 0; r < m.length; r++) {
    out[r * (1 + dim)] = m[r];
    for (let c = 0; c < dim; c++) out[r * (1 + dim) + 1 + c] = s[r * dim + c];
  }
  return out;
}

/** Splits [m, s…] rows into the m column and the s columns. */
function splitShifted(data: ArrayLike<number>, dim: number): { m: number[]; s: number[] } {
  const m: number[] = [];
  const s: number[] = [];
  for (let k = 0; k < data.length; k++) (k % (1 + dim) === 0 ? m : s).push(data[k]);
  return { m, s };
}

function expectShiftedClose(got: ArrayLike<number>, expected: Float64Array, dim: number, dtype: DType, phi: number, label: string): void {
  const g = splitShifted(got, dim);
  const e = splitShifted(expected, dim);
  expectCloseElementwise(g.m, e.m, VALUE_RTOL[dtype], 0, `${label}: m`);
  expectCloseElementwise(g.s, e.s, expRtol(dtype, phi), 0, `${label}: shifted sums`);
}

function expectLogSumClose(got: ArrayLike<number>, expected: Float64Array, dtype: DType, phi: number, label: string): void {
  expectCloseElementwise(got, expected, 0, VALUE_RTOL[dtype] * phi + expRtol(dtype, phi), label);
}

// ---------------------------------------------------------------------------------------
// The new reductions against the references
// ---------------------------------------------------------------------------------------

type Kind = 'lsew' | 'msse' | 'mssew' | 'softmax';

interface RSpec {
  label: string;
  reduction: string;
  kind: Kind;
  weighted: boolean;
}

const R_SPECS: RSpec[] = [
  { label: 'LogSumExp with formula2 (pykeops\' weighted log-sum-exp)', reduction: 'LogSumExp', kind: 'lsew', weighted: true },
  { label: 'LogSumExpWeight', reduction: 'LogSumExpWeight', kind: 'lsew', weighted: true },
  { label: 'Max_SumShiftExp', reduction: 'Max_SumShiftExp', kind: 'msse', weighted: false },
  { label: 'Max_SumShiftExpWeight', reduction: 'Max_SumShiftExpWeight', kind: 'mssew', weighted: true },
  { label: 'SoftMax (= SumSoftMaxWeight)', reduction: 'SoftMax', kind: 'softmax', weighted: true },
];

const SIZES: readonly [number, number][] = [[1, 1], [7, 5], [1003, 13], [13, 1003]];

/** Output columns of a reduction whose weights have `vdim` columns. */
const colsOf = (kind: Kind, vdim: number): number => (kind === 'msse' ? 2 : kind === 'mssew' ? 1 + vdim : vdim);

describe.each(SIZES)('the exponential reductions against the float64 reference at M = %d, N = %d', (M, N) => {
  const data = makeData(M, N, 7000 + 31 * M + N);
  const cache = memo();
  const fTable = (fd: FDef): Table => cache(`F ${fd.formula}`, () => tabulate(M, N, 1, fd.at(data)));
  const vTable = (vd: VDef, axis: 0 | 1): Table => cache(`V ${vd.label} ${axis}`, () => tabulate(M, N, vd.dim, vd.at(data, axis)));

  const cases = R_SPECS.flatMap((spec) => F_DEFS.flatMap((fd) => (spec.weighted ? V_DEFS : [undefined]).flatMap((vd) =>
    AXES.flatMap((axis) => DTYPES.flatMap((dtype) => BACKENDS.map((backend) => ({ spec, fd, vd, axis, dtype, backend })))))));

  test.each(cases.map((c) => [
    `${c.spec.label} of ${c.fd.label}${c.vd ? ` weighted by ${c.vd.label}` : ''}, axis ${c.axis}, ${c.dtype}, ${c.backend}`, c,
  ] as const))('%s', async (_title, { spec, fd, vd, axis, dtype, backend }) => {
    const formula2 = vd?.formula(axis);
    const g = new Genred(fd.formula, ALIASES, { reduction: spec.reduction as ReductionName, axis, formula2 });
    const out = asTensor(await runOn(g, argsOf(data, dtype), dtype, backend));
    const rows = axis === 1 ? M : N;
    const vdim = vd?.dim ?? 1;
    expectTensor(out, dtype, [rows, colsOf(spec.kind, vdim)]);
    const F = fTable(fd);
    const phi = maxAbsFinite(F.data);
    const V = vd === undefined ? undefined : vTable(vd, axis);
    const key = `${spec.kind} ${fd.formula} ${vd?.label} ${axis}`;
    switch (spec.kind) {
      case 'lsew':
        expectLogSumClose(out.data, cache(key, () => refLogSumExpWeight(F, V as Table, axis)), dtype, phi, spec.label);
        return;
      case 'msse':
      case 'mssew':
        expectShiftedClose(out.data, cache(key, () => refMaxSumShiftExp(F, V, axis)), vdim, dtype, phi, spec.label);
        return;
      case 'softmax': {
        const e = cache(key, () => refSumSoftMaxWeight(F, V as Table, axis));
        expectCloseElementwise(out.data, e, 2 * expRtol(dtype, phi), 0, spec.label);
        return;
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
// Other names of reductions: the canonical name's result, bit for bit
// ---------------------------------------------------------------------------------------

interface AliasSpec {
  alias: string;
  canonical: ReductionName;
  formula: string;
  k?: number;
  formula2?: (axis: 0 | 1) => string;
  /** Checks the canonical result against the reference. */
  check: (result: unknown, F: Table, V: Table | undefined, axis: 0 | 1, dtype: DType, rows: number) => void;
}

/** Min/Max/KMin pairs: values element-wise at 8u, indices exact or a near tie. */
function checkArg(ref: { values: Float64Array; indices: Int32Array }, cols: number) {
  return (result: unknown, F: Table, _V: Table | undefined, axis: 0 | 1, dtype: DType, rows: number): void => {
    const { values, indices } = asPair(result);
    expectTensor(values, dtype, [rows, cols]);
    expectTensor(indices, 'int32', [rows, cols]);
    expectCloseElementwise(values.data, ref.values, VALUE_RTOL[dtype], 0, 'values');
    expectIndices(indices.data, ref.indices, { valueAt: tableValueAt(F, axis, cols), rtol: 2 * VALUE_RTOL[dtype] }, 'indices');
  };
}

describe.each([[7, 5], [1003, 13]] as const)('other names of reductions give the canonical result at M = %d, N = %d', (M, N) => {
  const data = makeData(M, N, 9100 + M);
  const cache = memo();
  const F_SOFT = F_DEFS[1];
  const fTable = (formula: string, at: PairFn): Table => cache(`F ${formula}`, () => tabulate(M, N, 1, at));
  const sq = fTable('SqDist(x,y)', (i, j) => [sqdist(row(data.x.f64, i, 3), row(data.y.f64, j, 3))]);
  const soft = fTable(F_SOFT.formula, F_SOFT.at(data));
  const tableFor = (formula: string): Table => (formula === 'SqDist(x,y)' ? sq : soft);

  const SPECS: AliasSpec[] = [
    {
      alias: 'SoftMax', canonical: 'SumSoftMaxWeight', formula: F_SOFT.formula, formula2: V_DEFS[0].formula,
      check: (result, F, V, axis, dtype, rows) => {
        const out = asTensor(result);
        expectTensor(out, dtype, [rows, 2]);
        expectCloseElementwise(out.data, refSumSoftMaxWeight(F, V as Table, axis), 2 * expRtol(dtype, maxAbsFinite(F.data)), 0, 'SumSoftMaxWeight');
      },
    },
    {
      alias: 'MaxSumShiftExp', canonical: 'Max_SumShiftExp', formula: F_SOFT.formula,
      check: (result, F, _V, axis, dtype, rows) => {
        const out = asTensor(result);
        expectTensor(out, dtype, [rows, 2]);
        expectShiftedClose(out.data, refMaxSumShiftExp(F, undefined, axis), 1, dtype, maxAbsFinite(F.data), 'Max_SumShiftExp');
      },
    },
    { alias: 'MinArgMin', canonical: 'Min_ArgMin', formula: 'SqDist(x,y)', check: (r, F, V, axis, ...rest) => checkArg(refMin(F, axis), 1)(r, F, V, axis, ...rest) },
    { alias: 'MaxArgMax', canonical: 'Max_ArgMax', formula: F_SOFT.formula, check: (r, F, V, axis, ...rest) => checkArg(refMax(F, axis), 1)(r, F, V, axis, ...rest) },
    { alias: 'KMinArgKMin', canonical: 'KMin_ArgKMin', formula: 'SqDist(x,y)', k: 3, check: (r, F, V, axis, ...rest) => checkArg(refKMin(F, axis, 3), 3)(r, F, V, axis, ...rest) },
  ];

  const flat = (r: unknown): { values: number[]; indices?: number[] } => {
    if (r !== null && typeof r === 'object' && 'indices' in r) {
      const p = asPair(r);
      return { values: Array.from(p.values.data), indices: Array.from(p.indices.data) };
    }
    return { values: Array.from(asTensor(r).data) };
  };

  const cases = SPECS.flatMap((spec) => AXES.flatMap((axis) => DTYPES.flatMap((dtype) => BACKENDS.map((backend) => ({ spec, axis, dtype, backend })))));
  test.each(cases.map((c) => [`${c.spec.alias} = ${c.spec.canonical}, axis ${c.axis}, ${c.dtype}, ${c.backend}`, c] as const))(
    '%s', async (_title, { spec, axis, dtype, backend }) => {
      const opts = (reduction: string) => ({ reduction: reduction as ReductionName, axis, k: spec.k, formula2: spec.formula2?.(axis) });
      const viaAlias = await runOn(new Genred(spec.formula, ALIASES, opts(spec.alias)), argsOf(data, dtype), dtype, backend);
      const viaName = await runOn(new Genred(spec.formula, ALIASES, opts(spec.canonical)), argsOf(data, dtype), dtype, backend);
      const V = spec.formula2 === undefined ? undefined : tabulate(M, N, 2, V_DEFS[0].at(data, axis));
      spec.check(viaName, tableFor(spec.formula), V, axis, dtype, axis === 1 ? M : N);
      expect(flat(viaAlias)).toEqual(flat(viaName));
    },
  );
});

// ---------------------------------------------------------------------------------------
// keopscore's whole-formula spelling: <Name>_Reduction(F[, K], tag[, G])
// ---------------------------------------------------------------------------------------

interface SpellingCase {
  text: string;
  /** The same reduction through options. */
  options: { reduction: ReductionName; axis: 0 | 1; k?: number; formula2?: string };
  formula: string;
  check: (result: unknown, d: Data, dtype: DType) => void;
}

const GAUSS = '-g*SqDist(x,y)';

function spellingCases(M: number, N: number, d: Data): SpellingCase[] {
  const cache = memo();
  const sqT = (): Table => cache('sq', () => tabulate(M, N, 1, (i, j) => [sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3))]));
  const gaussT = (): Table => cache('gauss', () => tabulate(M, N, 1, F_DEFS[0].at(d)));
  const sumT = (): Table => cache('sum', () => tabulate(M, N, 2, (i, j) => {
    const e = exp(-G * sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3)));
    return [e * (d.a.f64[2 * i] + d.b.f64[2 * j]), e * (d.a.f64[2 * i + 1] + d.b.f64[2 * j + 1])];
  }));
  const expPQ = (): Table => cache('w', () => tabulate(M, N, 1, V_DEFS[1].at(d, 1)));
  const rowsOf = (axis: 0 | 1): number => (axis === 1 ? M : N);

  const sum = (text: string, formula: string, axis: 0 | 1): SpellingCase => ({
    text, formula, options: { reduction: 'Sum', axis },
    check: (r, _d, dtype) => {
      const t = asTensor(r);
      expectTensor(t, dtype, [rowsOf(axis), formula === 'SqDist(x,y)' ? 1 : 2]);
      expectSumClose(t.data, formula === 'SqDist(x,y)' ? sqT() : sumT(), axis, dtype, text);
    },
  });
  const kmin = (text: string, axis: 0 | 1): SpellingCase => ({
    text, formula: 'SqDist(x,y)', options: { reduction: 'KMin', axis, k: 3 },
    check: (r, _d, dtype) => {
      const t = asTensor(r);
      expectTensor(t, dtype, [rowsOf(axis), 3]);
      expectCloseElementwise(t.data, refKMin(sqT(), axis, 3).values, VALUE_RTOL[dtype], 0, text);
    },
  });
  const argmin = (axis: 0 | 1): SpellingCase => ({
    text: `ArgMin_Reduction(SqDist(x,y),${axis === 1 ? 0 : 1})`, formula: 'SqDist(x,y)', options: { reduction: 'ArgMin', axis },
    check: (r, _d, dtype) => {
      const t = asTensor(r);
      expectTensor(t, 'int32', [rowsOf(axis), 1]);
      expectIndices(t.data, refMin(sqT(), axis).indices, { valueAt: tableValueAt(sqT(), axis, 1), rtol: 2 * VALUE_RTOL[dtype] });
    },
  });
  const maxArgmax = (axis: 0 | 1): SpellingCase => ({
    text: `Max_ArgMax_Reduction(${GAUSS},${axis === 1 ? 0 : 1})`, formula: GAUSS, options: { reduction: 'Max_ArgMax', axis },
    check: (r, _d, dtype) => checkArg(refMax(gaussT(), axis), 1)(r, gaussT(), undefined, axis, dtype, rowsOf(axis)),
  });
  const msse = (text: string, axis: 0 | 1, weighted: boolean): SpellingCase => ({
    text, formula: GAUSS, options: { reduction: weighted ? 'Max_SumShiftExpWeight' : 'Max_SumShiftExp', axis, formula2: weighted ? 'Exp(p-q)' : undefined },
    check: (r, _d, dtype) => {
      const t = asTensor(r);
      expectTensor(t, dtype, [rowsOf(axis), 2]);
      expectShiftedClose(t.data, refMaxSumShiftExp(gaussT(), weighted ? expPQ() : undefined, axis), 1, dtype, maxAbsFinite(gaussT().data), text);
    },
  });

  const SUMF = 'Exp(-g*SqDist(x,y))*(a+b)';
  return [
    sum(`Sum_Reduction(${SUMF},0)`, SUMF, 1),
    sum(`Sum_Reduction(${SUMF},1)`, SUMF, 0),
    sum('Sum_Reduction(SqDist(x,y),0,)', 'SqDist(x,y)', 1),
    sum(' Sum_Reduction( SqDist(x,y) , 1 ) ', 'SqDist(x,y)', 0),
    kmin('KMin_Reduction(SqDist(x,y),3,0)', 1),
    kmin('KMin_Reduction(SqDist(x,y),3,1,)', 0),
    argmin(1),
    argmin(0),
    maxArgmax(1),
    maxArgmax(0),
    msse(`Max_SumShiftExp_Reduction(${GAUSS},1)`, 0, false),
    msse(`Max_SumShiftExpWeight_Reduction(${GAUSS},0,Exp(p-q))`, 1, true),
    msse(`Max_SumShiftExpWeight_Reduction(${GAUSS},1,Exp(p-q),)`, 0, true),
  ];
}

describe.each([[7, 5], [1003, 13]] as const)('keopscore\'s whole-formula spelling at M = %d, N = %d', (M, N) => {
  const data = makeData(M, N, 9300 + M);
  const cases = spellingCases(M, N, data);
  const flat = (r: unknown): number[][] => (r !== null && typeof r === 'object' && 'indices' in r
    ? [Array.from(asPair(r).values.data), Array.from(asPair(r).indices.data)]
    : [Array.from(asTensor(r).data)]);

  test.each(cases.flatMap((c) => DTYPES.flatMap((dtype) => BACKENDS.map((backend) => [`${c.text}, ${dtype}, ${backend}`, c, dtype, backend] as const))))(
    '%s matches the reference and the options form', async (_title, c, dtype, backend) => {
      const spelled = new Genred(c.text, ALIASES);
      const result = await runOn(spelled, argsOf(data, dtype), dtype, backend);
      c.check(result, data, dtype);
      const viaOptions = await runOn(new Genred(c.formula, ALIASES, c.options), argsOf(data, dtype), dtype, backend);
      expect(flat(result)).toEqual(flat(viaOptions));
    },
  );

  test('options that agree with the spelling are accepted and change nothing', () => {
    const args = argsOf(data, 'float64');
    const plain = asTensor(new Genred('KMin_Reduction(SqDist(x,y),3,1)', ALIASES).runSync(args));
    const agreeing = asTensor(new Genred('KMin_Reduction(SqDist(x,y),3,1)', ALIASES, { reduction: 'KMin', axis: 0, k: 3 }).runSync(args));
    expectTensor(agreeing, 'float64', [N, 3]);
    expect(Array.from(agreeing.data)).toEqual(Array.from(plain.data));
  });
});

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

describe('errors of the new reductions and spellings', () => {
  const al = ALIASES;
  const opt = (o: Record<string, unknown>) => o as never;

  test.each([
    ['Sum_Reduction(SqDist(x,y),0) with { reduction: Sum, axis: 0 } (the tag says axis 1)', 'Sum_Reduction(SqDist(x,y),0)', { reduction: 'Sum', axis: 0 }],
    ['Sum_Reduction(SqDist(x,y),1) with { reduction: Sum, axis: 1 }', 'Sum_Reduction(SqDist(x,y),1)', { reduction: 'Sum', axis: 1 }],
    ['Sum_Reduction(SqDist(x,y),0) with { reduction: Min, axis: 1 }', 'Sum_Reduction(SqDist(x,y),0)', { reduction: 'Min', axis: 1 }],
    ['KMin_Reduction(SqDist(x,y),3,0) with k: 4', 'KMin_Reduction(SqDist(x,y),3,0)', { reduction: 'KMin', axis: 1, k: 4 }],
    ['Max_SumShiftExpWeight_Reduction(F,0,Exp(p-q)) with formula2: a', `Max_SumShiftExpWeight_Reduction(${GAUSS},0,Exp(p-q))`, { reduction: 'Max_SumShiftExpWeight', axis: 1, formula2: 'a' }],
  ])('options contradicting the spelling are an OptionError: %s', (_t, text, o) => {
    expect(() => new Genred(text, al, opt(o))).toThrow(OptionError);
  });

  test.each([
    'Sum_Reduction(SqDist(x,y),2)',
    'Sum_Reduction(SqDist(x,y),-1)',
    'Sum_Reduction(SqDist(x,y),i)',
    'KMin_Reduction(SqDist(x,y),3,2)',
    `Max_SumShiftExpWeight_Reduction(${GAUSS},3,Exp(p-q))`,
  ])('a tag other than 0 or 1 is a FormulaSyntaxError: %s', (text) => {
    expect(() => new Genred(text, al)).toThrow(FormulaSyntaxError);
  });

  test.each(['LogSumExpWeight', 'Max_SumShiftExpWeight', 'SoftMax', 'SumSoftMaxWeight'])(
    '%s without formula2 is an OptionError', (reduction) => {
      expect(() => new Genred(GAUSS, al, opt({ reduction, axis: 1 }))).toThrow(OptionError);
    },
  );

  test.each(['Sum', 'Max_SumShiftExp', 'Min_ArgMin', 'MinArgMin'])('formula2 on %s is an OptionError', (reduction) => {
    expect(() => new Genred(GAUSS, al, opt({ reduction, axis: 1, formula2: 'b' }))).toThrow(OptionError);
  });

  test.each([
    ['Max_SumShiftExp', { reduction: 'Max_SumShiftExp', axis: 1 }],
    ['Max_SumShiftExpWeight', { reduction: 'Max_SumShiftExpWeight', axis: 1, formula2: 'b' }],
    ['LogSumExpWeight', { reduction: 'LogSumExpWeight', axis: 0, formula2: 'a' }],
    ['LogSumExp with formula2', { reduction: 'LogSumExp', axis: 1, formula2: 'b' }],
  ])('%s of a formula of dimension 3 (x-y) is a ShapeError', (_t, o) => {
    expect(() => new Genred('x-y', al, opt(o))).toThrow(ShapeError);
  });

  test('Max_SumShiftExp_Reduction of a formula of dimension 3 is a ShapeError', () => {
    expect(() => new Genred('Max_SumShiftExp_Reduction(x-y,0)', al)).toThrow(ShapeError);
  });
});

// ---------------------------------------------------------------------------------------
// An empty reduced side; a NaN at one pair
// ---------------------------------------------------------------------------------------

describe('an empty reduced side gives the reductions of nothing', () => {
  // axis 1: N = 0 with M = 4 output rows; axis 0: M = 0 with N = 4. The weights Exp(p-q)
  // depend on both sides, so that the formula is defined either way.
  const EMPTY: { reduction: ReductionName; formula2?: string; row: number[] }[] = [
    { reduction: 'LogSumExpWeight', formula2: 'Exp(p-q)', row: [-Infinity] },
    { reduction: 'LogSumExpWeight', formula2: 'Exp(p-q)*(a+b)', row: [-Infinity, -Infinity] },
    { reduction: 'Max_SumShiftExp', row: [-Infinity, 0] },
    { reduction: 'Max_SumShiftExpWeight', formula2: 'Exp(p-q)', row: [-Infinity, 0] },
  ];
  const cases = EMPTY.flatMap((e) => AXES.flatMap((axis) => DTYPES.flatMap((dtype) => BACKENDS.map((backend) => [
    `${e.reduction}${e.formula2 ? ` weighted by ${e.formula2}` : ''} over axis ${axis}, ${dtype}, ${backend}`, e, axis, dtype, backend,
  ] as const))));

  test.each(cases)('%s', async (_t, e, axis, dtype, backend) => {
    const [M, N] = axis === 1 ? [4, 0] : [0, 4];
    const d = makeData(M, N, 9500);
    const g = new Genred(GAUSS, ALIASES, { reduction: e.reduction, axis, formula2: e.formula2 });
    const out = asTensor(await runOn(g, argsOf(d, dtype), dtype, backend));
    expectTensor(out, dtype, [4, e.row.length]);
    // (+0 and -0 are both the zero of an empty sum.)
    expect(Array.from(out.data, (v) => (v === 0 ? 0 : v))).toEqual(new Array(4).fill(e.row).flat());
  });
});

describe('a NaN in F at one pair', () => {
  // F = -g*SqDist(x,y) + Sqrt(p-q): p in [1, 2] and q in [0, 0.4] except p[I0] = 0.5 and
  // q[J0] = 0.9, so p - q < 0 (Sqrt NaN) at the pair (I0, J0) only.
  const FORMULA = '-g*SqDist(x,y)+Sqrt(p-q)';
  const I0 = 3;
  const J0 = 2;

  function nanData(M: number, N: number): Data {
    const d = makeData(M, N, 9700 + M);
    const rng = new Rng(9701 + N);
    const p = uniform(rng, M, 1, 2);
    const q = uniform(rng, N, 0, 0.4);
    p[I0] = 0.5;
    q[J0] = 0.9;
    return { ...d, p: dual(p), q: dual(q) };
  }

  const cases = ([[7, 5], [1003, 13]] as const).flatMap(([M, N]) => AXES.flatMap((axis) => DTYPES.flatMap((dtype) => BACKENDS.map((backend) => [
    `LogSumExpWeight over axis ${axis} at M = ${M}, N = ${N}, ${dtype}, ${backend}: NaN in that row only`, M, N, axis, dtype, backend,
  ] as const))));

  test.each(cases)('%s', async (_t, M, N, axis, dtype, backend) => {
    const d = nanData(M, N);
    const vd = V_DEFS[0];
    const g = new Genred(FORMULA, ALIASES, { reduction: 'LogSumExpWeight', axis, formula2: vd.formula(axis) });
    const out = asTensor(await runOn(g, argsOf(d, dtype), dtype, backend));
    const rows = axis === 1 ? M : N;
    expectTensor(out, dtype, [rows, 2]);
    const F = tabulate(M, N, 1, (i, j) => [-G * sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3)) + Math.sqrt(d.p.f64[i] - d.q.f64[j])]);
    let nanPairs = 0;
    for (let k = 0; k < F.data.length; k++) if (Number.isNaN(F.data[k])) nanPairs++;
    expect(nanPairs).toBe(1);
    const expected = refLogSumExpWeight(F, tabulate(M, N, 2, vd.at(d, axis)), axis);
    const bad = axis === 1 ? I0 : J0;
    // The reference has NaN in exactly the bad row (both columns); expectCloseElementwise demands NaN there and closeness elsewhere.
    expect(Array.from(expected, (v, k) => (Number.isNaN(v) ? Math.floor(k / 2) : -1)).filter((r) => r >= 0)).toEqual([bad, bad]);
    expectLogSumClose(out.data, expected, dtype, maxAbsFinite(F.data), 'LogSumExpWeight');
  });

  // The max itself is NaN too, whichever tile of the reduced side the NaN falls in.
  const shifted = ([[7, 5], [1003, 13]] as const).flatMap(([M, N]) => AXES.flatMap((axis) => BACKENDS.flatMap((backend) =>
    (['Max_SumShiftExp', 'Max_SumShiftExpWeight'] as const).map((reduction) => [
      `${reduction} over axis ${axis} at M = ${M}, N = ${N}, ${backend}: that row is NaN, m included, and only that row`, M, N, axis, backend, reduction,
    ] as const))));
  test.each(shifted)('%s', async (_t, M, N, axis, backend, reduction) => {
    const d = nanData(M, N);
    const weighted = reduction === 'Max_SumShiftExpWeight';
    const g = new Genred(FORMULA, ALIASES, { reduction, axis, ...(weighted ? { formula2: V_DEFS[0].formula(axis) } : {}) });
    const out = asTensor(await runOn(g, argsOf(d, 'float64'), 'float64', backend));
    const cols = weighted ? 3 : 2;
    expectTensor(out, 'float64', [axis === 1 ? M : N, cols]);
    const bad = axis === 1 ? I0 : J0;
    const nanRows = new Set<number>();
    const values = Array.from(out.data);
    values.forEach((v, k) => { if (Number.isNaN(v)) nanRows.add(Math.floor(k / cols)); });
    expect([...nanRows]).toEqual([bad]);
    expect(values.slice(bad * cols, (bad + 1) * cols).every(Number.isNaN)).toBe(true);
  });
});

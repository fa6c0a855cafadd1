/**
 * Every reduction of API.md, on both axes, in float32 and float64, through Genred formula
 * strings and through the LazyTensor API, against the float64 brute-force references of
 * helpers/reference.ts. Then the fused radial kernels against the generic interpreter,
 * one test per op family of the formula language, empty inputs, NaN rows, pruning and
 * the SIMD levels.
 *
 * Stated tolerances (see helpers/reference.ts):
 * - sums: float32 ‖a − e‖∞ ≤ 2e-5·‖e‖∞ + 1e-7·‖Σ|F|‖∞, float64 1e-10·‖e‖∞ + 1e-13·‖Σ|F|‖∞
 *   (expectSumClose);
 * - min/max/k-min values: F at one pair, a handful of roundings: element-wise relative
 *   error ≤ 8 units of roundoff of the dtype (VALUE_RTOL);
 * - indices: the reference's (lowest index on exact ties); where float32 rounding may
 *   resolve a near tie the other way, an index whose reference value is within twice
 *   VALUE_RTOL of the reference's choice is accepted.
 * For float32 every input is float32-representable (helpers `dual`, `pick`), so one
 * float64 reference on the float32-rounded inputs serves both dtypes.
 */
import * as fs from 'fs';
import * as util from 'util';
import type { Arg } from '../lib/tensor';
import { Genred, info, LazyTensor, Pm, Vi, Vj } from '../lib/index';
import { Kernel, KernelName, ReductionName } from '../lib/formula/program';
import {
  asPair, asTensor, dot, DType, DTYPES, dual, Dual, expectClose, expectCloseElementwise, expectIndices, expectSumClose,
  expectTensor, maxAbsFinite, refAbsSum, SUM_ATOL_FACTOR, SUM_RTOL, pick, refKMin, refLogSumExp, refMax, refMin, refSum, refSumSoftMaxWeight, Rng, row,
  sqdist, Table, tableValueAt, tabulate, TensorLike, uniform, PairFn, makeSizeData, SizeData,
} from './helpers/reference';

/** Math through a module binding: a global lookup is ~50× slower in jest's sandbox, and the references call it per pair. */
const math = Math;

/** Element-wise relative tolerance of a min/max value: 8 units of roundoff. */
const VALUE_RTOL: Record<DType, number> = { float32: 8 * 2 ** -24, float64: 8 * 2 ** -53 };
/** Two engine paths compared with each other: twice the sum tolerance of either against the reference. */
const PATHS_RTOL: Record<DType, number> = { float32: 4e-5, float64: 2e-10 };

const AXES: readonly (0 | 1)[] = [1, 0];

type Family = 'sum' | 'minmax' | 'kmin' | 'lse' | 'ssmw';

interface Spec {
  label: string;
  reduction: ReductionName;
  k?: number;
  family: Family;
}

const KSPECS: Spec[] = [1, 3, 10].flatMap((k) =>
  (['KMin', 'ArgKMin', 'KMin_ArgKMin'] as const).map((reduction) => ({ label: `${reduction} (k = ${k})`, reduction, k, family: 'kmin' as const })),
);

const SPECS: Spec[] = [
  { label: 'Sum', reduction: 'Sum', family: 'sum' },
  { label: 'Min', reduction: 'Min', family: 'minmax' },
  { label: 'Max', reduction: 'Max', family: 'minmax' },
  { label: 'ArgMin', reduction: 'ArgMin', family: 'minmax' },
  { label: 'ArgMax', reduction: 'ArgMax', family: 'minmax' },
  { label: 'Min_ArgMin', reduction: 'Min_ArgMin', family: 'minmax' },
  { label: 'Max_ArgMax', reduction: 'Max_ArgMax', family: 'minmax' },
  ...KSPECS,
  { label: 'LogSumExp', reduction: 'LogSumExp', family: 'lse' },
  { label: 'SumSoftMaxWeight', reduction: 'SumSoftMaxWeight', family: 'ssmw' },
];

const makeData = makeSizeData;

interface FamilyDef {
  formula: string;
  formula2?: string;
  aliases: string[];
  /** Columns of F (of the weights for SumSoftMaxWeight). */
  dim: number;
  pair: (d: SizeData) => { dim: number; f: PairFn };
  weights?: (d: SizeData) => { dim: number; f: PairFn };
  args: (d: SizeData, dtype: DType) => Arg[];
  lazy: (d: SizeData, dtype: DType) => { F: LazyTensor; W?: LazyTensor };
}

const FAMILIES: Record<Family, FamilyDef> = {
  sum: {
    formula: 'Cos((x|y))*b',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)'],
    dim: 2,
    pair: (d) => ({
      dim: 2,
      f: (i, j) => {
        const c = math.cos(dot(row(d.x.f64, i, 3), row(d.y.f64, j, 3)));
        return [c * d.b.f64[2 * j], c * d.b.f64[2 * j + 1]];
      },
    }),
    args: (d, t) => [pick(d.x, t), pick(d.y, t), pick(d.b, t)],
    lazy: (d, t) => ({ F: Vi(pick(d.x, t), 3).dot(Vj(pick(d.y, t), 3)).cos().mul(Vj(pick(d.b, t), 2)) }),
  },
  minmax: {
    formula: 'Square(x-y)',
    aliases: ['x = Vi(3)', 'y = Vj(3)'],
    dim: 3,
    pair: (d) => ({
      dim: 3,
      f: (i, j) => [0, 1, 2].map((c) => (d.x.f64[3 * i + c] - d.y.f64[3 * j + c]) ** 2),
    }),
    args: (d, t) => [pick(d.x, t), pick(d.y, t)],
    lazy: (d, t) => ({ F: Vi(pick(d.x, t), 3).sub(Vj(pick(d.y, t), 3)).square() }),
  },
  kmin: {
    formula: 'SqDist(x,y)',
    aliases: ['x = Vi(3)', 'y = Vj(3)'],
    dim: 1,
    pair: (d) => ({ dim: 1, f: (i, j) => [sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3))] }),
    args: (d, t) => [pick(d.x, t), pick(d.y, t)],
    lazy: (d, t) => ({ F: Vi(pick(d.x, t), 3).sqdist(Vj(pick(d.y, t), 3)) }),
  },
  lse: {
    formula: 'g*(x|y)',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)'],
    dim: 1,
    pair: (d) => ({ dim: 1, f: (i, j) => [d.g * dot(row(d.x.f64, i, 3), row(d.y.f64, j, 3))] }),
    args: (d, t) => [pick(d.x, t), pick(d.y, t), d.g],
    lazy: (d, t) => ({ F: Pm(d.g).mul(Vi(pick(d.x, t), 3).dot(Vj(pick(d.y, t), 3))) }),
  },
  ssmw: {
    formula: 'g*(x|y)',
    formula2: 'b',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'],
    dim: 2,
    pair: (d) => FAMILIES.lse.pair(d),
    weights: (d) => ({ dim: 2, f: (_i, j) => row(d.b.f64, j, 2) }),
    args: (d, t) => [pick(d.x, t), pick(d.y, t), pick(d.b, t), [d.g]],
    lazy: (d, t) => ({
      F: Pm([d.g]).mul(Vi(pick(d.x, t), 3).dot(Vj(pick(d.y, t), 3))),
      W: Vj(pick(d.b, t), 2),
    }),
  },
};

/** Runs one reduction of a LazyTensor by its method, sync or async. */
function runLazy(spec: Spec, F: LazyTensor, W: LazyTensor | undefined, axis: 0 | 1, sync: boolean): unknown {
  const k = spec.k as number;
  switch (spec.reduction) {
    case 'Sum': return sync ? F.sumSync(axis) : F.sum(axis);
    case 'Min': return sync ? F.minSync(axis) : F.min(axis);
    case 'Max': return sync ? F.maxSync(axis) : F.max(axis);
    case 'ArgMin': return sync ? F.argminSync(axis) : F.argmin(axis);
    case 'ArgMax': return sync ? F.argmaxSync(axis) : F.argmax(axis);
    case 'Min_ArgMin': return sync ? F.minArgminSync(axis) : F.minArgmin(axis);
    case 'Max_ArgMax': return sync ? F.maxArgmaxSync(axis) : F.maxArgmax(axis);
    case 'KMin': return sync ? F.kminSync(k, axis) : F.kmin(k, axis);
    case 'ArgKMin': return sync ? F.argkminSync(k, axis) : F.argkmin(k, axis);
    case 'KMin_ArgKMin': return sync ? F.kminArgkminSync(k, axis) : F.kminArgkmin(k, axis);
    case 'LogSumExp': return sync ? F.logsumexpSync(axis) : F.logsumexp(axis);
    case 'SumSoftMaxWeight': return sync ? F.sumSoftmaxWeightSync(W as LazyTensor, axis) : F.sumSoftmaxWeight(W as LazyTensor, axis);
  }
}

const INDEX_ONLY = new Set<ReductionName>(['ArgMin', 'ArgMax', 'ArgKMin']);
const PAIRED = new Set<ReductionName>(['Min_ArgMin', 'Max_ArgMax', 'KMin_ArgKMin']);

/** The values and/or indices of a result, with their element types and shapes checked. */
function parts(spec: Spec, result: unknown, dtype: DType, shape: [number, number]): { values?: TensorLike; indices?: TensorLike } {
  if (PAIRED.has(spec.reduction)) {
    const p = asPair(result);
    expectTensor(p.values, dtype, shape);
    expectTensor(p.indices, 'int32', shape);
    return p;
  }
  const t = asTensor(result);
  if (INDEX_ONLY.has(spec.reduction)) {
    expectTensor(t, 'int32', shape);
    return { indices: t };
  }
  expectTensor(t, dtype, shape);
  return { values: t };
}

/** Checks values against F at the returned indices (the index must be one that gives the value). */
function expectConsistent(values: TensorLike, indices: TensorLike, valueAt: (p: number, q: number) => number, dtype: DType): void {
  const at = Array.from(indices.data, (q, p) => (q >= 0 ? valueAt(p, q) : NaN));
  expectCloseElementwise(values.data, at, VALUE_RTOL[dtype], 0, 'values at the returned indices');
}

/** Within one row (and component) of a k-min result, the k indices are distinct. */
function expectDistinctPerRow(indices: TensorLike, k: number, dim: number): void {
  const [rows] = indices.shape;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < dim; c++) {
      const seen = new Set<number>();
      for (let l = 0; l < k; l++) seen.add(indices.data[r * k * dim + l * dim + c]);
      if (seen.size !== k) throw new Error(`row ${r}, component ${c}: the ${k} indices are not distinct`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Every reduction, both axes, both dtypes, Genred and LazyTensor
// ---------------------------------------------------------------------------------------

// 2500 spans two full tiles of the widest tile (1024 lanes) and a partial one.
const SIZES: readonly [number, number][] = [[1, 1], [1, 1003], [7, 7], [7, 517], [1003, 1], [517, 1003], [1003, 517], [5, 2500], [2500, 5]];

describe.each(SIZES)('reductions against the float64 reference at M = %d, N = %d', (M, N) => {
  const data = makeData(M, N, 1000 * M + N);
  const tables = new Map<string, Table>();
  const refs = new Map<string, unknown>();
  const table = (key: string, make: () => { dim: number; f: PairFn }): Table => {
    let t = tables.get(key);
    if (t === undefined) {
      const { dim, f } = make();
      t = tabulate(M, N, dim, f);
      tables.set(key, t);
    }
    return t;
  };
  const memo = <T>(key: string, make: () => T): T => {
    if (!refs.has(key)) refs.set(key, make());
    return refs.get(key) as T;
  };
  afterAll(() => {
    tables.clear();
    refs.clear();
  });

  function check(spec: Spec, axis: 0 | 1, dtype: DType, result: unknown): void {
    const fam = FAMILIES[spec.family];
    const F = table(spec.family === 'ssmw' ? 'lse' : spec.family, () => fam.pair(data));
    const rows = axis === 1 ? M : N;
    const k = spec.k ?? 1;
    const cols = k * fam.dim;
    const got = parts(spec, result, dtype, [rows, cols]);
    const key = `${spec.label}|${axis}`;
    switch (spec.family) {
      case 'sum':
        expectSumClose((got.values as TensorLike).data, F, axis, dtype, spec.label);
        return;
      case 'lse': {
        // F = 1.5 (x|y) lies in [-4.5, 4.5]; each term's float32 rounding moves the
        // log-sum-exp by at most max |δF| ≈ 8u·4.5 ≈ 2e-6 (absolute).
        const expected = memo(key, () => refLogSumExp(F, axis));
        expectClose((got.values as TensorLike).data, expected, dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 1e-5 : 1e-12, spec.label);
        return;
      }
      case 'ssmw': {
        const V = table('weights', () => (fam.weights as FamilyDef['pair'])(data));
        const expected = memo(key, () => refSumSoftMaxWeight(F, V, axis));
        // A weighted mean of b in [-1, 1]: relative 2e-5 of the largest output plus 2e-6 absolute.
        expectClose((got.values as TensorLike).data, expected, dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 2e-6 : 1e-13, spec.label);
        return;
      }
      case 'minmax':
      case 'kmin': {
        const isMax = spec.reduction === 'Max' || spec.reduction === 'ArgMax' || spec.reduction === 'Max_ArgMax';
        // One reference per kind (Min, ArgMin and Min_ArgMin share refMin; the k-min ones refKMin).
        const kind = spec.family === 'kmin' ? `kmin${k}` : isMax ? 'max' : 'min';
        const ref = memo(`${kind}|${axis}`, () => (spec.family === 'kmin' ? refKMin(F, axis, k) : isMax ? refMax(F, axis) : refMin(F, axis)));
        const valueAt = tableValueAt(F, axis, cols);
        if (got.values) expectCloseElementwise(got.values.data, ref.values, VALUE_RTOL[dtype], 0, `${spec.label} values`);
        if (got.indices) {
          expectIndices(got.indices.data, ref.indices, { valueAt, rtol: 2 * VALUE_RTOL[dtype] }, `${spec.label} indices`);
          if (spec.family === 'kmin') expectDistinctPerRow(got.indices, k, fam.dim);
        }
        if (got.values && got.indices) expectConsistent(got.values, got.indices, valueAt, dtype);
        return;
      }
    }
  }

  const cases = SPECS.flatMap((spec) => AXES.flatMap((axis) => {
    const reduced = axis === 1 ? N : M;
    if ((spec.k ?? 1) > reduced) return [];
    const apis = ['Genred', 'LazyTensor'] as const;
    return DTYPES.flatMap((dtype) => apis.map((api) => ({ spec, axis, dtype, api })));
  }));

  // Genred runs async in float32 and Sync in float64, LazyTensor the other way round, so
  // that all four entry points see every reduction.
  test.each(cases.map((c) => [`${c.spec.label} over axis ${c.axis} in ${c.dtype} through ${c.api}${(c.api === 'Genred') === (c.dtype === 'float64') ? ' (Sync)' : ' (async)'} matches the reference`, c] as const))(
    '%s', async (_title, { spec, axis, dtype, api }) => {
      const fam = FAMILIES[spec.family];
      const sync = (api === 'Genred') === (dtype === 'float64');
      let result: unknown;
      if (api === 'Genred') {
        const g = new Genred(fam.formula, fam.aliases, { reduction: spec.reduction, axis, k: spec.k, formula2: fam.formula2 });
        result = sync ? g.runSync(fam.args(data, dtype)) : await g.run(fam.args(data, dtype));
      } else {
        const { F, W } = fam.lazy(data, dtype);
        result = await runLazy(spec, F, W, axis, sync);
      }
      check(spec, axis, dtype, result);
    },
  );
});

// ---------------------------------------------------------------------------------------
// Reductions: particular cases
// ---------------------------------------------------------------------------------------

describe('reductions: particular cases', () => {
  test.each(DTYPES)('KMin_ArgKMin with k = 64 over j (517 × 1003, %s) matches the reference', async (dtype) => {
    const d = makeData(517, 1003, 64);
    const F = tabulate(517, 1003, 1, FAMILIES.kmin.pair(d).f);
    const ref = refKMin(F, 1, 64);
    const g = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin_ArgKMin', axis: 1, k: 64 });
    const r = asPair(await g.run([pick(d.x, dtype), pick(d.y, dtype)]));
    expectTensor(r.values, dtype, [517, 64]);
    expectTensor(r.indices, 'int32', [517, 64]);
    const valueAt = tableValueAt(F, 1, 64);
    expectCloseElementwise(r.values.data, ref.values, VALUE_RTOL[dtype]);
    expectIndices(r.indices.data, ref.indices, { valueAt, rtol: 2 * VALUE_RTOL[dtype] });
    expectDistinctPerRow(r.indices, 64, 1);
  });

  test('argkminSync with k = 64 over i through the LazyTensor API (float32) matches the reference', () => {
    const d = makeData(1003, 517, 65);
    const F = tabulate(1003, 517, 1, FAMILIES.kmin.pair(d).f);
    const ref = refKMin(F, 0, 64);
    const r = Vi(d.x.f32, 3).sqdist(Vj(d.y.f32, 3)).argkminSync(64, 0);
    expectTensor(r, 'int32', [517, 64]);
    expectIndices(r.data, ref.indices, { valueAt: tableValueAt(F, 0, 64), rtol: 2 * VALUE_RTOL.float32 });
    expectDistinctPerRow(r, 64, 1);
  });

  test.each(DTYPES)('ArgMin of SqDist (nearest neighbour, 517 × 1003, %s) matches the reference', async (dtype) => {
    const d = makeData(517, 1003, 66);
    const F = tabulate(517, 1003, 1, FAMILIES.kmin.pair(d).f);
    const ref = refMin(F, 1);
    const r = asTensor(await Vi(pick(d.x, dtype), 3).sqdist(Vj(pick(d.y, dtype), 3)).argmin(1));
    expectTensor(r, 'int32', [517, 1]);
    expectIndices(r.data, ref.indices, { valueAt: tableValueAt(F, 1, 1), rtol: 2 * VALUE_RTOL[dtype] });
  });

  test.each(DTYPES)('KMin_ArgKMin of a dimension-3 formula (k = 3, %s) is laid out [l·dim + c] per component', async (dtype) => {
    const d = makeData(57, 301, 67);
    const F = tabulate(57, 301, 3, FAMILIES.minmax.pair(d).f);
    const ref = refKMin(F, 1, 3);
    const g = new Genred('Square(x-y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin_ArgKMin', axis: 1, k: 3 });
    const r = asPair(await g.run([pick(d.x, dtype), pick(d.y, dtype)]));
    expectTensor(r.values, dtype, [57, 9]);
    expectTensor(r.indices, 'int32', [57, 9]);
    const valueAt = tableValueAt(F, 1, 9);
    expectCloseElementwise(r.values.data, ref.values, VALUE_RTOL[dtype]);
    expectIndices(r.indices.data, ref.indices, { valueAt, rtol: 2 * VALUE_RTOL[dtype] });
    expectConsistent(r.values, r.indices, valueAt, dtype);
    expectDistinctPerRow(r.indices, 3, 3);
  });

  /**
   * Exact ties: integer points from a few distinct rows, so that SqDist takes the same
   * exact value (in float32 too) at hundreds of indices spread over every tile and
   * thread block. The lowest index must win, and k-min must list equal values in
   * increasing index order.
   */
  function tiedData(M: number, N: number, seed: number): { x: Dual; y: Dual; F: Table } {
    const rng = new Rng(seed);
    const xs = [[0, 0], [3, 1], [-2, 4], [1, -1]];
    const ys = [[1, 0], [0, 2], [-1, -1], [2, 2], [4, 0]];
    const x = dual(Array.from({ length: M }, () => xs[rng.int(xs.length)]).flat());
    const y = dual(Array.from({ length: N }, () => ys[rng.int(ys.length)]).flat());
    const F = tabulate(M, N, 1, (i, j) => [sqdist(row(x.f64, i, 2), row(y.f64, j, 2))]);
    return { x, y, F };
  }

  const TIE_CASES = DTYPES.flatMap((dtype) => AXES.flatMap((axis) =>
    (['Min_ArgMin', 'Max_ArgMax', 'KMin_ArgKMin'] as const).map((reduction) => [reduction, axis, dtype] as const)));

  test.each(TIE_CASES)('%s over axis %d (%s) on exact ties returns the lowest indices, in increasing order', async (reduction, axis, dtype) => {
    const { x, y, F } = tiedData(300, 2500, 68); // ties across tiles on axis 1
    const k = reduction === 'KMin_ArgKMin' ? 10 : undefined;
    const g = new Genred('SqDist(x,y)', ['x = Vi(2)', 'y = Vj(2)'], { reduction, axis, k });
    const r = asPair(await g.run([pick(x, dtype), pick(y, dtype)]));
    const ref = reduction === 'Max_ArgMax' ? refMax(F, axis) : k ? refKMin(F, axis, k) : refMin(F, axis);
    // Integer data: the values are exact in both dtypes, and so is the choice of index.
    expectCloseElementwise(r.values.data, ref.values, 0);
    expectIndices(r.indices.data, ref.indices);
  });

  test.each(DTYPES)('ArgKMin (k = 10) on exact ties through the LazyTensor API (%s) returns the lowest indices in order', (dtype) => {
    const { x, y, F } = tiedData(40, 1003, 69);
    const r = Vi(pick(x, dtype), 2).sqdist(Vj(pick(y, dtype), 2)).argkminSync(10, 1);
    expectIndices(r.data, refKMin(F, 1, 10).indices);
  });

  test.each(DTYPES)('KMin_ArgKMin with k equal to the reduced rows (k = N = 13, %s) sorts every row completely', async (dtype) => {
    const d = makeData(21, 13, 77);
    const F = tabulate(21, 13, 1, FAMILIES.kmin.pair(d).f);
    const ref = refKMin(F, 1, 13);
    const r = asPair(await new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin_ArgKMin', axis: 1, k: 13 }).run([pick(d.x, dtype), pick(d.y, dtype)]));
    expectCloseElementwise(r.values.data, ref.values, VALUE_RTOL[dtype]);
    expectIndices(r.indices.data, ref.indices, { valueAt: tableValueAt(F, 1, 13), rtol: 2 * VALUE_RTOL[dtype] });
    expectDistinctPerRow(r.indices, 13, 1);
  });

  test.each(DTYPES)('LogSumExp and SumSoftMaxWeight with F = -Infinity on some pairs (and on whole rows) follow the reference (%s)', async (dtype) => {
    // F = Log(ReLU(x - y)): -Infinity wherever x ≤ y; rows with x below every y are all -Infinity.
    const rng = new Rng(78);
    const M = 40;
    const N = 300;
    const x = dual(Float64Array.from({ length: M }, (_, i) => (i % 5 === 0 ? -1 - rng.next() : rng.uniform(0, 1))));
    const y = dual(uniform(rng, N, 0, 1));
    const c = dual(uniform(rng, N, -1, 1));
    const F = tabulate(M, N, 1, (i, j) => [math.log(math.max(x.f64[i] - y.f64[j], 0))]);
    const V = tabulate(M, N, 1, (_i, j) => [c.f64[j]]);
    const al = ['x = Vi(1)', 'y = Vj(1)', 'c = Vj(1)'];
    const args = [pick(x, dtype), pick(y, dtype), pick(c, dtype)];
    const lse = asTensor(await new Genred('Log(ReLU(x-y))', al, { reduction: 'LogSumExp', axis: 1 }).run(args));
    expectClose(lse.data, refLogSumExp(F, 1), dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 1e-5 : 1e-12, 'LogSumExp');
    const sw = asTensor(await new Genred('Log(ReLU(x-y))', al, { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'c' }).run(args));
    expectClose(sw.data, refSumSoftMaxWeight(F, V, 1), dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 2e-6 : 1e-13, 'SumSoftMaxWeight');
  });

  test.each(DTYPES)('LogSumExp of large values (F up to ±1500, %s) does not overflow', async (dtype) => {
    const d = makeData(203, 311, 70);
    const g = 500;
    const F = tabulate(203, 311, 1, (i, j) => [g * dot(row(d.x.f64, i, 3), row(d.y.f64, j, 3))]);
    const r = asTensor(await new Genred('g*(x|y)', ['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)'], { reduction: 'LogSumExp', axis: 1 })
      .run([pick(d.x, dtype), pick(d.y, dtype), g]));
    // F is rounded to float32 with |F| ≤ 1500: about 8u·1500 ≈ 7e-4 absolute at worst.
    expectClose(r.data, refLogSumExp(F, 1), dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 1e-3 : 1e-9);
  });

  test.each(DTYPES)('SumSoftMaxWeight of large values (F up to ±1500, %s) does not overflow', async (dtype) => {
    const d = makeData(203, 311, 71);
    const g = 500;
    const F = tabulate(203, 311, 1, (i, j) => [g * dot(row(d.x.f64, i, 3), row(d.y.f64, j, 3))]);
    const V = tabulate(203, 311, 2, (_i, j) => row(d.b.f64, j, 2));
    const r = asTensor(await new Genred('g*(x|y)', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'],
      { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b' }).run([pick(d.x, dtype), pick(d.y, dtype), pick(d.b, dtype), g]));
    expectTensor(r, dtype, [203, 2]);
    // With F this steep the weights hang on differences of F of a few units, which float32
    // rounding of F (≈ 7e-4 absolute) moves by exp(±7e-4): 1e-3 of |b| ≤ 1.
    expectClose(r.data, refSumSoftMaxWeight(F, V, 1), dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 1e-3 : 1e-9);
  });

  test.each(DTYPES)('SumSoftMaxWeight with weights that depend on i and j (%s) matches the reference', async (dtype) => {
    const d = makeData(101, 257, 72);
    const F = tabulate(101, 257, 1, (i, j) => [-sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3))]);
    const V = tabulate(101, 257, 3, (i, j) => row(d.x.f64, i, 3).map((v, c) => v * d.y.f64[3 * j + c]));
    const r = asTensor(await new Genred('-SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'x*y' })
      .run([pick(d.x, dtype), pick(d.y, dtype)]));
    expectTensor(r, dtype, [101, 3]);
    expectClose(r.data, refSumSoftMaxWeight(F, V, 1), dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 2e-6 : 1e-13);
  });

  test('a Tensor { data, shape } is accepted in place of a flat array and gives the same sum', async () => {
    const d = makeData(31, 47, 73);
    const F = tabulate(31, 47, 2, FAMILIES.sum.pair(d).f);
    const g = new Genred(FAMILIES.sum.formula, FAMILIES.sum.aliases, { reduction: 'Sum', axis: 1 });
    const r = asTensor(await g.run([{ data: d.x.f64, shape: [31, 3] }, { data: d.y.f64, shape: [47, 3] }, { data: d.b.f64, shape: [47, 2] }]));
    expectTensor(r, 'float64', [31, 2]);
    expectSumClose(r.data, F, 1, 'float64');
  });

  test.each(DTYPES)('typed arrays that view the middle of a larger buffer (subarray) are read from their offset (%s)', async (dtype) => {
    const d = makeData(29, 41, 74);
    const F = tabulate(29, 41, 2, FAMILIES.sum.pair(d).f);
    const inside = (a: Float32Array | Float64Array, before: number): Float32Array | Float64Array => {
      const big = dtype === 'float32' ? new Float32Array(a.length + before + 3).fill(NaN) : new Float64Array(a.length + before + 3).fill(NaN);
      big.set(a, before);
      return big.subarray(before, before + a.length);
    };
    const g = new Genred(FAMILIES.sum.formula, FAMILIES.sum.aliases, { reduction: 'Sum', axis: 1 });
    const r = asTensor(await g.run([inside(pick(d.x, dtype), 5), inside(pick(d.y, dtype), 1), inside(pick(d.b, dtype), 7)]));
    expectSumClose(r.data, F, 1, dtype);
    const lazy = Vi(inside(pick(d.x, dtype), 2), 3).dot(Vj(inside(pick(d.y, dtype), 9), 3)).cos().mul(Vj(inside(pick(d.b, dtype), 4), 2)).sumSync(1);
    expectSumClose(lazy.data, F, 1, dtype, 'LazyTensor');
  });

  test('arrays over a SharedArrayBuffer are accepted (float64)', async () => {
    const d = makeData(23, 37, 75);
    const F = tabulate(23, 37, 2, FAMILIES.sum.pair(d).f);
    const shared = (a: Float64Array): Float64Array => {
      const s = new Float64Array(new SharedArrayBuffer(a.length * 8));
      s.set(a);
      return s;
    };
    const g = new Genred(FAMILIES.sum.formula, FAMILIES.sum.aliases, { reduction: 'Sum', axis: 1 });
    expectSumClose(asTensor(await g.run([shared(d.x.f64), shared(d.y.f64), shared(d.b.f64)])).data, F, 1, 'float64');
  });

  test('Vi and Vj take a Tensor { data, shape } and give the same sum', async () => {
    const d = makeData(19, 53, 76);
    const F = tabulate(19, 53, 2, FAMILIES.sum.pair(d).f);
    const r = await Vi({ data: d.x.f32, shape: [19, 3] }).dot(Vj({ data: d.y.f32, shape: [53, 3] })).cos().mul(Vj({ data: d.b.f32, shape: [53, 2] })).sum(1);
    expectTensor(r, 'float32', [19, 2]);
    expectSumClose(r.data, F, 1, 'float32');
  });
});

// ---------------------------------------------------------------------------------------
// Fused radial kernels against the generic interpreter and the reference
// ---------------------------------------------------------------------------------------

type RadialKernel = Exclude<KernelName, 'none' | 'sqdist'>;

/** E = g*SqDist(x,y); each kernel spelled as lib/formula/kernels.ts recognises it, and phi(s). */
const E = 'g*SqDist(x,y)';
const RADIAL: Record<RadialKernel, { phi: string; ref: (s: number) => number }> = {
  gaussian: { phi: `Exp(-${E})`, ref: (s) => math.exp(-s) },
  laplace: { phi: `Exp(-Sqrt(${E}))`, ref: (s) => math.exp(-math.sqrt(s)) },
  cauchy: { phi: `Inv(IntCst(1)+${E})`, ref: (s) => 1 / (1 + s) },
  imq: { phi: `Rsqrt(IntCst(1)+${E})`, ref: (s) => 1 / math.sqrt(1 + s) },
  matern32: { phi: `(IntCst(1)+Sqrt(${E}))*Exp(-Sqrt(${E}))`, ref: (s) => (1 + math.sqrt(s)) * math.exp(-math.sqrt(s)) },
  matern52: {
    phi: `(IntCst(1)+Sqrt(${E})+${E}/IntCst(3))*Exp(-Sqrt(${E}))`,
    ref: (s) => (1 + math.sqrt(s) + s / 3) * math.exp(-math.sqrt(s)),
  },
};
const RADIAL_NAMES = Object.keys(RADIAL) as RadialKernel[];

/** The recognised spelling, and one the recogniser misses (a sum at the top) with the same value. */
const recognisedSpelling = (k: RadialKernel, b = 'b'): string => `${RADIAL[k].phi}*${b}`;
const missedSpelling = (k: RadialKernel, b = 'b'): string => `${RADIAL[k].phi}*${b} + Zero(1)*${b}`;

interface KernelData { M: number; N: number; D: number; B: number; x: Dual; y: Dual; b: Dual; g: number }

function kernelData(M: number, N: number, D: number, B: number, bRows: number, seed: number): KernelData {
  const rng = new Rng(seed);
  return {
    M, N, D, B, g: 1.5 / D,
    x: dual(uniform(rng, M * D, 0, 1)),
    y: dual(uniform(rng, N * D, 0, 1)),
    b: dual(uniform(rng, bRows * B, -1, 1)),
  };
}

function radialTable(k: RadialKernel, d: KernelData, bOnI = false): Table {
  const phi = RADIAL[k].ref;
  return tabulate(d.M, d.N, d.B, (i, j) => {
    const s = d.g * sqdist(row(d.x.f64, i, d.D), row(d.y.f64, j, d.D));
    const v = phi(s);
    return row(d.b.f64, bOnI ? i : j, d.B).map((b) => v * b);
  });
}

describe('fused radial kernels', () => {
  // N spans several j-tiles ("a few hundred columns"); M is odd, so register-blocked rows have a remainder.
  const KM = 131;
  const KN = 1003;
  const cache = new Map<string, { data: KernelData; table: Table; fast: Map<DType, ArrayLike<number>>; slow: Map<DType, ArrayLike<number>> }>();
  afterAll(() => cache.clear());
  const entry = (k: RadialKernel, D: number, B: number) => {
    const key = `${k}|${D}|${B}`;
    let e = cache.get(key);
    if (e === undefined) {
      const data = kernelData(KM, KN, D, B, KN, 7 * D + B + RADIAL_NAMES.indexOf(k) * 100);
      e = { data, table: radialTable(k, data), fast: new Map(), slow: new Map() };
      cache.set(key, e);
    }
    return e;
  };
  const aliases = (D: number, B: number): string[] => [`x = Vi(${D})`, `y = Vj(${D})`, `b = Vj(${B})`, 'g = Pm(1)'];

  const CASES = RADIAL_NAMES.flatMap((k) => [1, 3, 5].flatMap((D) => [1, 3].flatMap((B) => DTYPES.map((dtype) => [k, D, B, dtype] as const))));

  test.each(CASES)('%s (D = %d, b of dimension %d, %s) in its recognised spelling takes the fused path and matches the reference', async (k, D, B, dtype) => {
    const e = entry(k, D, B);
    const g = new Genred(recognisedSpelling(k), aliases(D, B), { reduction: 'Sum', axis: 1 });
    expect(Array.from(g.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel[k]]);
    const r = asTensor(await g.run([pick(e.data.x, dtype), pick(e.data.y, dtype), pick(e.data.b, dtype), e.data.g]));
    expectTensor(r, dtype, [KM, B]);
    e.fast.set(dtype, r.data);
    expectSumClose(r.data, e.table, 1, dtype, 'fused');
  });

  test.each(CASES)('%s (D = %d, b of dimension %d, %s) spelled so the recogniser misses it runs generically and matches the reference', async (k, D, B, dtype) => {
    const e = entry(k, D, B);
    const g = new Genred(missedSpelling(k), aliases(D, B), { reduction: 'Sum', axis: 1 });
    expect(g.compiled.lowered.kernel.length).toBe(0);
    const r = asTensor(await g.run([pick(e.data.x, dtype), pick(e.data.y, dtype), pick(e.data.b, dtype), e.data.g]));
    expectTensor(r, dtype, [KM, B]);
    e.slow.set(dtype, r.data);
    expectSumClose(r.data, e.table, 1, dtype, 'generic');
  });

  test.each(CASES)('%s (D = %d, b of dimension %d, %s): the fused path and the generic interpreter agree', async (k, D, B, dtype) => {
    const e = entry(k, D, B);
    const args = [pick(e.data.x, dtype), pick(e.data.y, dtype), pick(e.data.b, dtype), e.data.g];
    const fast = e.fast.get(dtype) ?? asTensor(await new Genred(recognisedSpelling(k), aliases(D, B), { reduction: 'Sum', axis: 1 }).run(args)).data;
    const slow = e.slow.get(dtype) ?? asTensor(await new Genred(missedSpelling(k), aliases(D, B), { reduction: 'Sum', axis: 1 }).run(args)).data;
    // Both against each other: twice the sum tolerance, on the scale of the terms.
    expectClose(fast, slow, PATHS_RTOL[dtype], 2 * SUM_ATOL_FACTOR[dtype] * maxAbsFinite(refAbsSum(e.table, 1)), 'fused vs generic');
  });

  const AXIS0 = RADIAL_NAMES.flatMap((k) => DTYPES.map((dtype) => [k, dtype] as const));
  test.each(AXIS0)('%s over i (axis 0) with an i-vector weight (%s) takes the fused path and matches the reference', async (k, dtype) => {
    const data = kernelData(311, 203, 3, 2, 311, 300 + RADIAL_NAMES.indexOf(k));
    const t = radialTable(k, data, true);
    const al = ['x = Vi(3)', 'y = Vj(3)', 'a = Vi(2)', 'g = Pm(1)'];
    const g = new Genred(recognisedSpelling(k, 'a'), al, { reduction: 'Sum', axis: 0 });
    expect(Array.from(g.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel[k]]);
    const args = [pick(data.x, dtype), pick(data.y, dtype), pick(data.b, dtype), data.g];
    const fast = asTensor(await g.run(args));
    expectTensor(fast, dtype, [203, 2]);
    expectSumClose(fast.data, t, 0, dtype, 'fused');
    const slow = asTensor(await new Genred(missedSpelling(k, 'a'), al, { reduction: 'Sum', axis: 0 }).run(args));
    expectSumClose(slow.data, t, 0, dtype, 'generic');
  });

  test.each(DTYPES)('the Gaussian kernel through the LazyTensor API (%s) takes the fused path and matches the reference', async (dtype) => {
    const e = entry('gaussian', 3, 1);
    const K = Vi(pick(e.data.x, dtype), 3).sqdist(Vj(pick(e.data.y, dtype), 3)).mul(Pm(e.data.g)).neg().exp().mul(Vj(pick(e.data.b, dtype), 1));
    const r = await K.sum(1);
    expectTensor(r, dtype, [KM, 1]);
    expectSumClose(r.data, e.table, 1, dtype);
    const mv = await Vi(pick(e.data.x, dtype), 3).sqdist(Vj(pick(e.data.y, dtype), 3)).mul(-e.data.g).exp().matvec(pick(e.data.b, dtype));
    expectTensor(mv, dtype, [KM, 1]);
    expectSumClose(mv.data, e.table, 1, dtype, 'matvec');
  });

  const SMALL: [number, number][] = [[1, 1], [1, 17], [2, 3], [3, 1003], [5, 33], [17, 16], [33, 7]];
  const SMALL_CASES = SMALL.flatMap(([m, n]) => (['gaussian', 'matern32'] as const).flatMap((k) => DTYPES.map((dtype) => [k, m, n, dtype] as const)));
  test.each(SMALL_CASES)('%s at the small, odd size M = %d, N = %d (%s) takes the fused path and matches the reference and the generic path', async (k, m, n, dtype) => {
    const data = kernelData(m, n, 3, 3, n, 10 * m + n);
    const t = radialTable(k, data);
    const al = aliases(3, 3);
    const args = [pick(data.x, dtype), pick(data.y, dtype), pick(data.b, dtype), data.g];
    const g = new Genred(recognisedSpelling(k), al, { reduction: 'Sum', axis: 1 });
    expect(Array.from(g.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel[k]]);
    const fast = asTensor(await g.run(args));
    expectTensor(fast, dtype, [m, 3]);
    expectSumClose(fast.data, t, 1, dtype, 'fused');
    expectSumClose(asTensor(await new Genred(missedSpelling(k), al, { reduction: 'Sum', axis: 1 }).run(args)).data, t, 1, dtype, 'generic');
  });

  /** Other spellings the recogniser takes, with the kernel and scale they mean. */
  const SPELLINGS: { formula: string; tag: RadialKernel; scale: (p: { g: number; s: number }) => number }[] = [
    { formula: 'Exp(-SqDist(x,y)/s)*b', tag: 'gaussian', scale: ({ s }) => 1 / s },
    { formula: 'b*Exp(SqDist(x,y)*(-g))', tag: 'gaussian', scale: ({ g }) => g },
    { formula: 'Exp(-(g*SqDist(x,y)))*b', tag: 'gaussian', scale: ({ g }) => g },
    { formula: 'Exp(-g*s*SqDist(y,x))*b', tag: 'gaussian', scale: ({ g, s }) => g * s },
    { formula: 'Exp(-Sqrt(SqDist(x,y)*g/s))*b', tag: 'laplace', scale: ({ g, s }) => g / s },
    { formula: '(IntCst(1)/(IntCst(1)+g*SqDist(x,y)))*b', tag: 'cauchy', scale: ({ g }) => g },
    { formula: 'b*Inv(1+SqDist(x,y)*g)', tag: 'cauchy', scale: ({ g }) => g },
    { formula: 'Rsqrt(g*SqDist(x,y)+1)*b', tag: 'imq', scale: ({ g }) => g },
    { formula: `Exp(-Sqrt(${E}))*(IntCst(1)+Sqrt(${E}))*b`, tag: 'matern32', scale: ({ g }) => g },
    { formula: `(${E}/IntCst(3)+IntCst(1)+Sqrt(${E}))*Exp(-Sqrt(${E}))*b`, tag: 'matern52', scale: ({ g }) => g },
    { formula: `(IntCst(1)+Sqrt(${E})+Square(Sqrt(${E}))/IntCst(3))*Exp(-Sqrt(${E}))*b`, tag: 'matern52', scale: ({ g }) => g },
  ];
  const SPELLING_CASES = SPELLINGS.flatMap((sp) => DTYPES.map((dtype) => [sp.formula, dtype, sp] as const));

  test.each(SPELLING_CASES)('%s (%s) is recognised and matches the reference with its scale', async (formula, dtype, sp) => {
    const data = kernelData(129, 257, 3, 2, 257, 400 + SPELLINGS.indexOf(sp));
    const p = { g: 0.8, s: 2.5 };
    const phi = RADIAL[sp.tag].ref;
    const sc = sp.scale(p);
    const t = tabulate(129, 257, 2, (i, j) => {
      const v = phi(sc * sqdist(row(data.x.f64, i, 3), row(data.y.f64, j, 3)));
      return row(data.b.f64, j, 2).map((b) => v * b);
    });
    const g = new Genred(formula, ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)', 's = Pm(1)'], { reduction: 'Sum', axis: 1 });
    expect(Array.from(g.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel[sp.tag]]);
    // g as a number, s as a typed array of the call's dtype.
    const sArg = dtype === 'float32' ? Float32Array.of(p.s) : Float64Array.of(p.s);
    const r = asTensor(await g.run([pick(data.x, dtype), pick(data.y, dtype), pick(data.b, dtype), p.g, sArg]));
    expectSumClose(r.data, t, 1, dtype);
  });

  // A kernel's value at infinite distance is 0. Where g·|x − y|² overflows the type, Matérn's
  // polynomial times its exponential would be inf·0 = NaN; the fused kernels give 0 there,
  // every kernel alike (a plan's run reads columns past the kernel's reach, which may be
  // that far). The float64 reference takes phi(inf) = 0 for the same limit.
  test.each(RADIAL_NAMES.flatMap((k) => DTYPES.map((dtype) => [k, dtype] as const)))(
    '%s (%s) is 0, not NaN, where g·|x − y|² overflows the type',
    async (k, dtype) => {
      const rng = new Rng(620 + RADIAL_NAMES.indexOf(k));
      const M = 7;
      const N = 1003;
      const far = 1e3;
      // Rows near the origin; columns: the rows themselves (phi(0) = 1), others near, the rest far.
      const xs = uniform(rng, M * 3, 0, 1);
      const ys = uniform(rng, N * 3, 0, 1).map((v, q) => (q < M * 3 ? xs[q] : q >= 600 * 3 ? v + far : v));
      const g = dtype === 'float32' ? 1e33 : 1e303;  // far pairs: g·|x − y|² ≈ 3e39 (float32), 3e309 (float64)
      const x = dual(xs);
      const y = dual(ys);
      const b = dual(uniform(rng, N, -1, 1));
      const phi = RADIAL[k].ref;
      const t = tabulate(M, N, 1, (i, j) => {
        const s = g * sqdist(row(x.f64, i, 3), row(y.f64, j, 3));
        return [(s === Infinity ? 0 : phi(s)) * b.f64[j]];
      });
      const gen = new Genred(recognisedSpelling(k), ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
      expect(Array.from(gen.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel[k]]);
      const r = asTensor(await gen.run([pick(x, dtype), pick(y, dtype), pick(b, dtype), g]));
      expect(Array.from(r.data).every(Number.isFinite)).toBe(true);
      expectSumClose(r.data, t, 1, dtype);
    },
  );

  /** Near misses that must not be taken for a kernel, and still compute the right thing. */
  const NEAR_MISSES: { formula: string; aliases: string[]; ref: (x: number[], y: number[], b: number[], a: number[], w: number[]) => number[]; dim: number }[] = [
    {
      formula: 'Exp(-w*SqDist(x,y))*b', aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(3)', 'a = Vi(3)', 'w = Pm(3)'], dim: 3,
      ref: (x, y, b, _a, w) => w.map((wc, c) => math.exp(-wc * sqdist(x, y)) * b[c]),
    },
    {
      formula: 'Exp(-SqDist(x,y))*a', aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(3)', 'a = Vi(3)', 'w = Pm(3)'], dim: 3,
      ref: (x, y, _b, a) => a.map((ac) => math.exp(-sqdist(x, y)) * ac),
    },
    {
      formula: 'Exp(-SqDist(x,y)*(x|y))*b', aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(3)', 'a = Vi(3)', 'w = Pm(3)'], dim: 3,
      ref: (x, y, b) => b.map((bc) => math.exp(-sqdist(x, y) * dot(x, y)) * bc),
    },
    {
      formula: 'Exp(-SqDist(x,y))*b*b', aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(3)', 'a = Vi(3)', 'w = Pm(3)'], dim: 3,
      ref: (x, y, b) => b.map((bc) => math.exp(-sqdist(x, y)) * bc * bc),
    },
    {
      formula: 'Inv(IntCst(2)+SqDist(x,y))*b', aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(3)', 'a = Vi(3)', 'w = Pm(3)'], dim: 3,
      ref: (x, y, b) => b.map((bc) => bc / (2 + sqdist(x, y))),
    },
  ];
  const NEAR_CASES = NEAR_MISSES.flatMap((nm) => DTYPES.map((dtype) => [nm.formula, dtype, nm] as const));

  test.each(NEAR_CASES)('the near miss %s (%s) is not taken for a fused kernel and matches the reference', async (_f, dtype, nm) => {
    const rng = new Rng(500 + NEAR_MISSES.indexOf(nm));
    const M = 97;
    const N = 211;
    const x = dual(uniform(rng, M * 3, 0, 1));
    const y = dual(uniform(rng, N * 3, 0, 1));
    const b = dual(uniform(rng, N * 3, -1, 1));
    const a = dual(uniform(rng, M * 3, -1, 1));
    const w = [0.5, 1, 2];
    const t = tabulate(M, N, nm.dim, (i, j) => nm.ref(row(x.f64, i, 3), row(y.f64, j, 3), row(b.f64, j, 3), row(a.f64, i, 3), w));
    const g = new Genred(nm.formula, nm.aliases, { reduction: 'Sum', axis: 1 });
    expect(g.compiled.lowered.kernel.length).toBe(0);
    const r = asTensor(await g.run([pick(x, dtype), pick(y, dtype), pick(b, dtype), pick(a, dtype), w]));
    expectSumClose(r.data, t, 1, dtype);
  });
});

// ---------------------------------------------------------------------------------------
// Block-sparse pruning
// ---------------------------------------------------------------------------------------

describe('block-sparse pruning', () => {
  /** 8 tight clusters far apart: a narrow Gaussian between clusters is ~1e-80, ripe for pruning. */
  function clustered(n: number, rng: Rng): Float64Array {
    const centres = Array.from({ length: 8 }, (_, c) => [3 * (c % 4), 3 * math.floor(c / 4)]);
    const out = new Float64Array(n * 2);
    for (let p = 0; p < n; p++) {
      const c = centres[rng.int(8)];
      out[2 * p] = c[0] + 0.1 * rng.normal();
      out[2 * p + 1] = c[1] + 0.1 * rng.normal();
    }
    return out;
  }
  const rng = new Rng(600);
  const M = 1000;
  const N = 1100;
  const x = dual(clustered(M, rng));
  const y = dual(clustered(N, rng));
  const b = dual(uniform(rng, N, 0.5, 1.5));
  const gamma = 20;
  const t = tabulate(M, N, 1, (i, j) => [math.exp(-gamma * sqdist(row(x.f64, i, 2), row(y.f64, j, 2))) * b.f64[j]]);
  const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(2)', 'y = Vj(2)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });

  test.each(DTYPES)('a narrow Gaussian on clustered data (%s) matches the reference with pruning on (the default) and off', async (dtype) => {
    const args = [pick(x, dtype), pick(y, dtype), pick(b, dtype), gamma];
    const pruned = asTensor(await gauss.run(args));
    const full = asTensor(await gauss.run(args, { prune: false }));
    expectSumClose(pruned.data, t, 1, dtype, 'prune default');
    expectSumClose(full.data, t, 1, dtype, 'prune false');
  });

  const PRUNE_KERNELS = RADIAL_NAMES.flatMap((k) => DTYPES.map((dtype) => [k, dtype] as const));
  test.each(PRUNE_KERNELS)('the %s kernel on clustered data (%s, pruning on by default) matches the reference', async (k, dtype) => {
    const tk = tabulate(M, N, 1, (i, j) => [RADIAL[k].ref(gamma * sqdist(row(x.f64, i, 2), row(y.f64, j, 2))) * b.f64[j]]);
    const g = new Genred(`${RADIAL[k].phi}*b`, ['x = Vi(2)', 'y = Vj(2)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
    expect(Array.from(g.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel[k]]);
    expectSumClose(asTensor(await g.run([pick(x, dtype), pick(y, dtype), pick(b, dtype), gamma])).data, tk, 1, dtype);
  });

  test.each(DTYPES)('a NaN in one row of x of the clustered data (%s) gives NaN in that row only, with pruning on', async (dtype) => {
    const xv = Float64Array.from(x.f64);
    xv[2 * 123] = NaN;
    const xn = dual(xv);
    const tn = tabulate(M, N, 1, (i, j) => [math.exp(-gamma * sqdist(row(xn.f64, i, 2), row(y.f64, j, 2))) * b.f64[j]]);
    const r = asTensor(await gauss.run([pick(xn, dtype), pick(y, dtype), pick(b, dtype), gamma]));
    const nanRows = Array.from(r.data).flatMap((v, i) => (Number.isNaN(v) ? [i] : []));
    expect(nanRows).toEqual([123]);
    expectSumClose(r.data, tn, 1, dtype);
  });

  test('pruneTolerance 1e-3 keeps the float64 result within 1e-3 relative of the reference', async () => {
    const r = asTensor(await gauss.run([x.f64, y.f64, b.f64, gamma], { pruneTolerance: 1e-3 }));
    expectClose(r.data, refSum(t, 1), 1e-3);
  });

  test('pruning gives the same result on both axes (axis 0 with an i-vector weight, float64)', async () => {
    const g0 = new Genred('Exp(-g*SqDist(x,y))*a', ['x = Vi(2)', 'y = Vj(2)', 'a = Vi(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 0 });
    const a = dual(uniform(new Rng(601), M, 0.5, 1.5));
    const t0 = tabulate(M, N, 1, (i, j) => [math.exp(-gamma * sqdist(row(x.f64, i, 2), row(y.f64, j, 2))) * a.f64[i]]);
    const r = asTensor(await g0.run([x.f64, y.f64, a.f64, gamma]));
    expectSumClose(r.data, t0, 0, 'float64');
  });
});

// ---------------------------------------------------------------------------------------
// One test per op family of the formula language, reduced with Sum over j
// ---------------------------------------------------------------------------------------

describe('op families of the formula language (Sum over j against a float64 formula)', () => {
  const M = 37;
  const N = 211;
  const rng = new Rng(700);
  /** Values well inside (n - 0.3, n + 0.3)·scale, never near a rounding boundary. */
  const nearIntegers = (count: number, lo: number, hi: number, scale: number): Float64Array =>
    Float64Array.from({ length: count }, () => (lo + rng.int(hi - lo + 1) + 0.6 * (rng.next() - 0.5)) * scale);
  const V = {
    x: { cat: 'Vi', dim: 3, data: dual(uniform(rng, M * 3, 0.5, 2)) },
    y: { cat: 'Vj', dim: 3, data: dual(uniform(rng, N * 3, 0.5, 2)) },
    u: { cat: 'Vi', dim: 3, data: dual(uniform(rng, M * 3, -2, 2)) },
    v: { cat: 'Vj', dim: 3, data: dual(uniform(rng, N * 3, -2, 2)) },
    w: { cat: 'Vj', dim: 1, data: dual(uniform(rng, N, -1, 1)) },
    c: { cat: 'Vj', dim: 2, data: dual(uniform(rng, N * 2, -1, 1)) },
    A: { cat: 'Vj', dim: 6, data: dual(uniform(rng, N * 6, -1, 1)) },
    /** Round(·, 2): values near multiples of 0.01. */
    r: { cat: 'Vi', dim: 3, data: dual(nearIntegers(M * 3, -300, 300, 0.01)) },
    /** Floor: values in (n + 0.1, n + 0.9). */
    f: { cat: 'Vi', dim: 3, data: dual(Float64Array.from({ length: M * 3 }, () => -3 + rng.int(6) + 0.1 + 0.8 * rng.next())) },
    /** Mod(·, 1.5, 0.25): (m - 0.25)/1.5 in (n + 0.1, n + 0.9). */
    m: { cat: 'Vi', dim: 3, data: dual(Float64Array.from({ length: M * 3 }, () => 0.25 + 1.5 * (-3 + rng.int(6) + 0.1 + 0.8 * rng.next()))) },
    /** OneHot(·, 5): values near the integers -1..6 (some outside 0..4). */
    k: { cat: 'Vi', dim: 1, data: dual(nearIntegers(M, -1, 6, 1)) },
  } as const;
  type VarName = keyof typeof V;

  /** A symmetric positive definite 3×3 matrix (row-major), float32-representable. */
  const W = dual([2.0, 0.5, -0.25, 0.5, 1.5, 0.375, -0.25, 0.375, 1.0]);
  const P = dual(uniform(rng, 6, -1, 1));

  type ParamForm = 'number' | 'number[]' | 'typed array';
  interface Param { name: string; dim: number; values: Dual; form: ParamForm }
  const param = (name: string, values: number[], form: ParamForm): Param => ({ name, dim: values.length, values: dual(values), form });

  interface OpCase {
    family: string;
    formula: string;
    vars: VarName[];
    params?: Param[];
    dim: number;
    /** F(i, j) from the rows of the variables (and the parameter values). */
    f: (r: Record<string, number[]>) => number[];
  }
  const sign = (v: number): number => (v > 0 ? 1 : v < 0 ? -1 : 0);
  const each = (a: number[], f: (v: number, c: number) => number): number[] => a.map(f);
  const sq = (a: number[]): number => a.reduce((s, v) => s + v * v, 0);
  // The weighted squared norm of d = u - v (WeightedSqNorm(w,u-v) and WeightedSqDist(w,u,v)
  // are the same number), for a weight of dimension 1, D and D×D (symmetric, row-major).
  const weightedSq = {
    isotropic: (u: number[], v: number[], g: number[]): number => g[0] * sqdist(u, v),
    diagonal: (u: number[], v: number[], p: number[]): number => each(u, (uc, c) => p[c] * (uc - v[c]) ** 2).reduce((s, t) => s + t, 0),
    full: (u: number[], v: number[], w: number[]): number => {
      const d = each(u, (uc, c) => uc - v[c]);
      let s = 0;
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) s += d[a] * w[3 * a + b] * d[b];
      return s;
    },
  };

  const OP_CASES: OpCase[] = [
    {
      family: 'arithmetic with dim-1 broadcast (Add Subtract Mult Divide Minus)', formula: 'u*g - v/x + -u + IntCst(2)', vars: ['u', 'v', 'x'],
      params: [param('g', [0.75], 'number')], dim: 3, f: ({ u, v, x, g }) => each(u, (uc, c) => uc * g[0] - v[c] / x[c] - uc + 2),
    },
    { family: 'Exp', formula: 'Exp(x-y)', vars: ['x', 'y'], dim: 3, f: ({ x, y }) => each(x, (xc, c) => math.exp(xc - y[c])) },
    { family: 'Log', formula: 'Log(x+y)', vars: ['x', 'y'], dim: 3, f: ({ x, y }) => each(x, (xc, c) => math.log(xc + y[c])) },
    { family: 'Sqrt', formula: 'Sqrt(x*y)', vars: ['x', 'y'], dim: 3, f: ({ x, y }) => each(x, (xc, c) => math.sqrt(xc * y[c])) },
    { family: 'Rsqrt', formula: 'Rsqrt(x+y)', vars: ['x', 'y'], dim: 3, f: ({ x, y }) => each(x, (xc, c) => 1 / math.sqrt(xc + y[c])) },
    {
      family: 'Rsqrt of 0 is 0 (KeOps convention, native/ops.h)', formula: 'Rsqrt(u-u)*v + Rsqrt(x)', vars: ['u', 'v', 'x'], dim: 3,
      f: ({ x }) => each(x, (xc) => 1 / math.sqrt(xc)),
    },
    { family: 'Square', formula: 'Square(u-v)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (uc, c) => (uc - v[c]) ** 2) },
    { family: 'Inv', formula: 'Inv(x+y)', vars: ['x', 'y'], dim: 3, f: ({ x, y }) => each(x, (xc, c) => 1 / (xc + y[c])) },
    { family: 'Abs', formula: 'Abs(u-v)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (uc, c) => math.abs(uc - v[c])) },
    {
      family: 'Sign (-1, 0, 1)', formula: 'Sign(u-v) + Sign(u-u)', vars: ['u', 'v'], dim: 3,
      f: ({ u, v }) => each(u, (uc, c) => sign(uc - v[c])),
    },
    {
      family: 'Step (1 where f ≥ 0, so Step(0) = 1)', formula: 'Step(u-v) + Step(u-u)', vars: ['u', 'v'], dim: 3,
      f: ({ u, v }) => each(u, (uc, c) => (uc - v[c] >= 0 ? 1 : 0) + 1),
    },
    { family: 'ReLU', formula: 'ReLU(u-v)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (uc, c) => math.max(uc - v[c], 0)) },
    { family: 'Sin', formula: 'Sin(u*v)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (uc, c) => math.sin(uc * v[c])) },
    { family: 'Cos', formula: 'Cos(u-v)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (uc, c) => math.cos(uc - v[c])) },
    { family: 'Atan', formula: 'Atan(u*v)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (uc, c) => math.atan(uc * v[c])) },
    {
      family: 'Atan2 (and a dim-1 operand broadcast)', formula: 'Atan2(u,v) + Atan2(u,w)', vars: ['u', 'v', 'w'], dim: 3,
      f: ({ u, v, w }) => each(u, (uc, c) => math.atan2(uc, v[c]) + math.atan2(uc, w[0])),
    },
    {
      family: 'Pow (positive and negative integer exponents)', formula: 'Pow(u-v,3) + Pow(x,-2)', vars: ['u', 'v', 'x'], dim: 3,
      f: ({ u, v, x }) => each(u, (uc, c) => (uc - v[c]) ** 3 + x[c] ** -2),
    },
    {
      family: 'Powf (with a parameter exponent given as number[])', formula: 'Powf(x,y) + Powf(y,g)', vars: ['x', 'y'],
      params: [param('g', [1.7], 'number[]')], dim: 3, f: ({ x, y, g }) => each(x, (xc, c) => xc ** y[c] + y[c] ** g[0]),
    },
    {
      family: 'Clamp (constant and parameter bounds)', formula: 'Clamp(u-v,-0.5,g)', vars: ['u', 'v'],
      params: [param('g', [0.75], 'number')], dim: 3, f: ({ u, v, g }) => each(u, (uc, c) => math.min(math.max(uc - v[c], -0.5), g[0])),
    },
    {
      family: 'IfElse (g where f ≥ 0, so IfElse(0, a, b) = a)', formula: 'IfElse(u-v,x,y) + IfElse(u-u,x,y)', vars: ['u', 'v', 'x', 'y'], dim: 3,
      f: ({ u, v, x, y }) => each(u, (uc, c) => (uc - v[c] >= 0 ? x[c] : y[c]) + x[c]),
    },
    {
      family: 'Round (to 2 decimals)', formula: 'Round(r,2)*y', vars: ['r', 'y'], dim: 3,
      f: ({ r, y }) => each(r, (rc, c) => (math.round(rc * 100) / 100) * y[c]),
    },
    { family: 'Floor', formula: 'Floor(f)*y', vars: ['f', 'y'], dim: 3, f: ({ f, y }) => each(f, (fc, c) => math.floor(fc) * y[c]) },
    {
      family: 'Mod (a parameter modulus given as a typed array)', formula: 'Mod(m,g,0.25)*y', vars: ['m', 'y'],
      params: [param('g', [1.5], 'typed array')], dim: 3,
      f: ({ m, y }) => each(m, (mc, c) => (mc - 1.5 * math.floor((mc - 0.25) / 1.5)) * y[c]),
    },
    { family: 'SqNorm2', formula: 'SqNorm2(u-v)', vars: ['u', 'v'], dim: 1, f: ({ u, v }) => [sq(each(u, (uc, c) => uc - v[c]))] },
    { family: 'Norm2', formula: 'Norm2(u-v)', vars: ['u', 'v'], dim: 1, f: ({ u, v }) => [math.sqrt(sq(each(u, (uc, c) => uc - v[c])))] },
    {
      family: 'Normalize', formula: 'Normalize(u-v)', vars: ['u', 'v'], dim: 3,
      f: ({ u, v }) => {
        const d = each(u, (uc, c) => uc - v[c]);
        const n = math.sqrt(sq(d));
        return d.map((dc) => dc / n);
      },
    },
    {
      family: 'Scalprod, infix | and called', formula: '(u|v)*y + Scalprod(u,x)', vars: ['u', 'v', 'x', 'y'], dim: 3,
      f: ({ u, v, x, y }) => y.map((yc) => dot(u, v) * yc + dot(u, x)),
    },
    { family: 'Sum (of the components)', formula: 'Sum(u*v)', vars: ['u', 'v'], dim: 1, f: ({ u, v }) => [dot(u, v)] },
    { family: 'Max (of the components)', formula: 'Max(u-v)', vars: ['u', 'v'], dim: 1, f: ({ u, v }) => [math.max(...each(u, (uc, c) => uc - v[c]))] },
    { family: 'Min (of the components)', formula: 'Min(u-v)', vars: ['u', 'v'], dim: 1, f: ({ u, v }) => [math.min(...each(u, (uc, c) => uc - v[c]))] },
    { family: 'Elem', formula: 'Elem(u,2)*v', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => v.map((vc) => u[2] * vc) },
    { family: 'Extract', formula: 'Extract(Concat(u,v),2,3)', vars: ['u', 'v'], dim: 3, f: ({ u, v }) => [u[2], v[0], v[1]] },
    { family: 'Concat', formula: 'Concat(u,v*w)', vars: ['u', 'v', 'w'], dim: 6, f: ({ u, v, w }) => [...u, ...v.map((vc) => vc * w[0])] },
    {
      family: 'OneHot (zeros outside 0..dim-1)', formula: 'OneHot(k,5)*w', vars: ['k', 'w'], dim: 5,
      f: ({ k, w }) => [0, 1, 2, 3, 4].map((c) => (math.round(k[0]) === c ? w[0] : 0)),
    },
    {
      family: 'WeightedSqNorm with a weight of dimension 1 (number)', formula: 'WeightedSqNorm(g,u-v)', vars: ['u', 'v'],
      params: [param('g', [0.625], 'number')], dim: 1, f: ({ u, v, g }) => [weightedSq.isotropic(u, v, g)],
    },
    {
      family: 'WeightedSqNorm with a weight of dimension D (number[])', formula: 'WeightedSqNorm(p,u-v)', vars: ['u', 'v'],
      params: [param('p', [0.5, 1.25, 2], 'number[]')], dim: 1, f: ({ u, v, p }) => [weightedSq.diagonal(u, v, p)],
    },
    {
      family: 'WeightedSqNorm with a symmetric D×D weight (typed array)', formula: 'WeightedSqNorm(W,u-v)', vars: ['u', 'v'],
      params: [{ name: 'W', dim: 9, values: W, form: 'typed array' }], dim: 1, f: ({ u, v, W: w }) => [weightedSq.full(u, v, w)],
    },
    {
      family: 'WeightedSqDist with a weight of dimension 1 (number)', formula: 'WeightedSqDist(g,u,v)', vars: ['u', 'v'],
      params: [param('g', [0.625], 'number')], dim: 1, f: ({ u, v, g }) => [weightedSq.isotropic(u, v, g)],
    },
    {
      family: 'WeightedSqDist with a weight of dimension D (number[])', formula: 'WeightedSqDist(p,u,v)', vars: ['u', 'v'],
      params: [param('p', [0.5, 1.25, 2], 'number[]')], dim: 1, f: ({ u, v, p }) => [weightedSq.diagonal(u, v, p)],
    },
    {
      family: 'WeightedSqDist with a symmetric D×D weight (typed array)', formula: 'WeightedSqDist(W,u,v)', vars: ['u', 'v'],
      params: [{ name: 'W', dim: 9, values: W, form: 'typed array' }], dim: 1, f: ({ u, v, W: w }) => [weightedSq.full(u, v, w)],
    },
    {
      family: 'MatVecMult (row-major: out_r = Σ_c A[r·3+c] u_c)', formula: 'MatVecMult(A,u)', vars: ['A', 'u'], dim: 2,
      f: ({ A, u }) => [0, 1].map((r) => A[3 * r] * u[0] + A[3 * r + 1] * u[1] + A[3 * r + 2] * u[2]),
    },
    {
      family: 'MatVecMult with a parameter matrix (typed array)', formula: 'MatVecMult(P,u-v)', vars: ['u', 'v'],
      params: [{ name: 'P', dim: 6, values: P, form: 'typed array' }], dim: 2,
      f: ({ u, v, P: p }) => {
        const d = each(u, (uc, c) => uc - v[c]);
        return [0, 1].map((r) => p[3 * r] * d[0] + p[3 * r + 1] * d[1] + p[3 * r + 2] * d[2]);
      },
    },
    {
      family: 'VecMatMult (row-major: out_c = Σ_r u_r A[r·2+c])', formula: 'VecMatMult(u,A)', vars: ['u', 'A'], dim: 2,
      f: ({ u, A }) => [0, 1].map((c) => u[0] * A[c] + u[1] * A[2 + c] + u[2] * A[4 + c]),
    },
    {
      family: 'TensorProd (row-major: out[k·2+l] = u_k c_l)', formula: 'TensorProd(u,c)', vars: ['u', 'c'], dim: 6,
      f: ({ u, c }) => u.flatMap((uk) => c.map((cl) => uk * cl)),
    },
  ];

  const CASES = OP_CASES.flatMap((oc) => DTYPES.map((dtype) => [oc.family, oc.formula, dtype, oc] as const));

  test.each(CASES)('%s: Sum over j of %s (%s) matches the float64 formula', async (_family, _formula, dtype, oc) => {
    const params = oc.params ?? [];
    const aliases = [
      ...oc.vars.map((n) => `${n} = ${V[n].cat}(${V[n].dim})`),
      ...params.map((p) => `${p.name} = Pm(${p.dim})`),
    ];
    const args: Arg[] = [
      ...oc.vars.map((n) => pick(V[n].data, dtype)),
      ...params.map((p) => (p.form === 'number' ? p.values.f64[0] : p.form === 'number[]' ? Array.from(p.values.f64) : pick(p.values, dtype))),
    ];
    const t = tabulate(M, N, oc.dim, (i, j) => {
      const rows: Record<string, number[]> = {};
      oc.vars.forEach((n) => { rows[n] = row(V[n].data.f64, V[n].cat === 'Vi' ? i : j, V[n].dim); });
      params.forEach((p) => { rows[p.name] = Array.from(p.values.f64); });
      return oc.f(rows);
    });
    const g = new Genred(oc.formula, aliases, { reduction: 'Sum', axis: 1 });
    expect(g.cols).toBe(oc.dim);
    const r = asTensor(await g.run(args));
    expectTensor(r, dtype, [M, oc.dim]);
    expectSumClose(r.data, t, 1, dtype);
  });

  test.each(DTYPES)('the same op families through LazyTensor methods (%s) match the float64 formula', async (dtype) => {
    const x = Vi(pick(V.x.data, dtype), 3);
    const y = Vj(pick(V.y.data, dtype), 3);
    const u = Vi(pick(V.u.data, dtype), 3);
    const v = Vj(pick(V.v.data, dtype), 3);
    // One formula chaining many methods: exp log sqrt rsqrt square inv abs sign step relu
    // sin cos atan atan2 pow powf clamp ifelse sqnorm2 norm2 normalize dot sumDims elem
    // extract concat weightedSqDist matvecmult tensorprod.
    const K = x.sub(y).exp().add(x.add(y).log()).add(x.mul(y).sqrt()).add(x.add(y).rsqrt()).add(u.sub(v).square())
      .add(x.add(y).inv()).add(u.sub(v).abs()).add(u.sub(v).sign()).add(u.sub(v).step()).add(u.sub(v).relu())
      .add(u.mul(v).sin()).add(u.sub(v).cos()).add(u.mul(v).atan()).add(u.atan2(v)).add(u.sub(v).pow(3))
      .add(x.powf(y)).add(u.sub(v).clamp(-0.5, 0.75)).add(u.sub(v).ifelse(x, y))
      .add(u.sub(v).sqnorm2()).add(u.sub(v).norm2()).add(u.sub(v).normalize()).add(u.dot(v)).add(u.mul(v).sumDims())
      .add(u.elem(2)).add(u.concat(v).extract(2, 3)).add(u.weightedSqDist(v, Pm([0.5, 1.25, 2])))
      .add(Pm(pick(P, dtype)).matvecmult(u.sub(v)).concat(u.elem(0)))
      .add(u.extract(0, 1).tensorprod(v));
    const Pv = Array.from(P.f64);
    const t = tabulate(M, N, 3, (i, j) => {
      const X = row(V.x.data.f64, i, 3); const Y = row(V.y.data.f64, j, 3);
      const U = row(V.u.data.f64, i, 3); const Vv = row(V.v.data.f64, j, 3);
      const d = each(U, (uc, c) => uc - Vv[c]);
      const n = math.sqrt(sq(d));
      const wsd = 0.5 * d[0] ** 2 + 1.25 * d[1] ** 2 + 2 * d[2] ** 2;
      const mv = [0, 1].map((r) => Pv[3 * r] * d[0] + Pv[3 * r + 1] * d[1] + Pv[3 * r + 2] * d[2]);
      const cat = [...mv, U[0]];
      const ext = [U[2], Vv[0], Vv[1]];
      return [0, 1, 2].map((c) => math.exp(X[c] - Y[c]) + math.log(X[c] + Y[c]) + math.sqrt(X[c] * Y[c]) + 1 / math.sqrt(X[c] + Y[c])
        + d[c] ** 2 + 1 / (X[c] + Y[c]) + math.abs(d[c]) + sign(d[c]) + (d[c] >= 0 ? 1 : 0) + math.max(d[c], 0)
        + math.sin(U[c] * Vv[c]) + math.cos(d[c]) + math.atan(U[c] * Vv[c]) + math.atan2(U[c], Vv[c]) + d[c] ** 3
        + X[c] ** Y[c] + math.min(math.max(d[c], -0.5), 0.75) + (d[c] >= 0 ? X[c] : Y[c])
        + sq(d) + n + d[c] / n + dot(U, Vv) + dot(U, Vv) + U[2] + ext[c] + wsd + cat[c] + U[0] * Vv[c]);
    });
    const r = await K.sum(1);
    expectTensor(r, dtype, [M, 3]);
    expectSumClose(r.data, t, 1, dtype);
  });
});

// ---------------------------------------------------------------------------------------
// Empty inputs
// ---------------------------------------------------------------------------------------

describe('empty inputs', () => {
  const ALL: { reduction: ReductionName; k?: number; formula2?: string }[] = [
    { reduction: 'Sum' }, { reduction: 'Min' }, { reduction: 'Max' }, { reduction: 'ArgMin' }, { reduction: 'ArgMax' },
    { reduction: 'Min_ArgMin' }, { reduction: 'Max_ArgMax' }, { reduction: 'KMin', k: 2 }, { reduction: 'ArgKMin', k: 2 },
    { reduction: 'KMin_ArgKMin', k: 2 }, { reduction: 'LogSumExp' }, { reduction: 'SumSoftMaxWeight', formula2: 'b' },
  ];
  const aliases = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)'];
  const cols = (o: { reduction: ReductionName; k?: number }): number => (o.reduction === 'SumSoftMaxWeight' ? 2 : o.k ?? 1);
  const outputOf = (r: unknown): TensorLike[] => {
    const p = r as { values?: unknown };
    if (p && typeof p === 'object' && 'values' in p) {
      const pair = asPair(r);
      return [pair.values, pair.indices];
    }
    return [asTensor(r)];
  };

  test.each(ALL.flatMap((o) => DTYPES.map((dtype) => [o.reduction, dtype, o] as const)))(
    '%s with M = 0 over j (%s) returns an empty [0, cols] result', async (_r, dtype, o) => {
      const rng = new Rng(800);
      const g = new Genred('-SqDist(x,y)', aliases, { reduction: o.reduction, axis: 1, k: o.k, formula2: o.formula2 });
      const mk = (n: number): Float32Array | Float64Array => pick(dual(uniform(rng, n, -1, 1)), dtype);
      const r = await g.run([mk(0), mk(5 * 3), mk(5 * 2)]);
      for (const t of outputOf(r)) {
        expect(t.shape).toEqual([0, cols(o)]);
        expect(t.data.length).toBe(0);
      }
    },
  );

  test.each(ALL.flatMap((o) => DTYPES.map((dtype) => [o.reduction, dtype, o] as const)))(
    '%s with N = 0 over i (axis 0, %s) returns an empty [0, cols] result', async (_r, dtype, o) => {
      const g = new Genred('-SqDist(x,y)', aliases, { reduction: o.reduction, axis: 0, k: o.k, formula2: o.formula2 === undefined ? undefined : 'x' });
      const mk = (n: number): Float32Array | Float64Array => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
      const r = await g.run([mk(6 * 3), mk(0), mk(0)]);
      for (const t of outputOf(r)) {
        expect(t.shape).toEqual([0, o.reduction === 'SumSoftMaxWeight' ? 3 : cols(o)]);
        expect(t.data.length).toBe(0);
      }
    },
  );

  /** What a reduction over nothing gives (API.md via helpers/reference.ts). */
  const EMPTY_REDUCED: { reduction: ReductionName; values?: number; index?: number; formula2?: string }[] = [
    { reduction: 'Sum', values: 0 },
    { reduction: 'Min', values: Infinity },
    { reduction: 'ArgMin', index: -1 },
    { reduction: 'Min_ArgMin', values: Infinity, index: -1 },
    { reduction: 'Max', values: -Infinity },
    { reduction: 'ArgMax', index: -1 },
    { reduction: 'Max_ArgMax', values: -Infinity, index: -1 },
    { reduction: 'LogSumExp', values: -Infinity },
    { reduction: 'SumSoftMaxWeight', values: NaN, formula2: 'b' },
  ];
  const EMPTY_CASES = EMPTY_REDUCED.flatMap((e) => AXES.flatMap((axis) => DTYPES.map((dtype) => [e.reduction, axis, dtype, e] as const)));

  test.each(EMPTY_CASES)('%s over axis %d of an empty reduced side (%s) gives the empty-reduction value on every row', async (_r, axis, dtype, e) => {
    // axis 1: N = 0 with M = 4 rows; axis 0: M = 0 with N = 4 rows.
    const mk = (n: number): Float32Array | Float64Array => pick(dual(uniform(new Rng(n + 801), n, -1, 1)), dtype);
    const [M, N] = axis === 1 ? [4, 0] : [0, 4];
    const dimOut = e.reduction === 'SumSoftMaxWeight' ? 2 : 1;
    const al = ['x = Vi(3)', 'y = Vj(3)', 'b = Vi(2)', 'c = Vj(2)'];
    // For SumSoftMaxWeight the weights live on the output side so that they are not empty.
    const g = new Genred('-SqDist(x,y)', al, { reduction: e.reduction, axis, formula2: e.formula2 === undefined ? undefined : axis === 1 ? 'b' : 'c' });
    const r = await g.run([mk(M * 3), mk(N * 3), mk(M * 2), mk(N * 2)]);
    const rows = axis === 1 ? M : N;
    const valueTensor = e.values === undefined ? undefined : e.index === undefined ? asTensor(r) : asPair(r).values;
    const indexTensor = e.index === undefined ? undefined : e.values === undefined ? asTensor(r) : asPair(r).indices;
    if (valueTensor) {
      expectTensor(valueTensor, dtype, [rows, dimOut]);
      // (+0 and -0 are both the zero of an empty sum.)
      expect(Array.from(valueTensor.data, (v) => (v === 0 ? 0 : v))).toEqual(new Array(rows * dimOut).fill(e.values));
    }
    if (indexTensor) {
      expectTensor(indexTensor, 'int32', [rows, 1]);
      expect(Array.from(indexTensor.data)).toEqual(new Array(rows).fill(e.index));
    }
  });

  test.each(DTYPES)('the fused Gaussian with N = 0 (%s) returns zeros', async (dtype) => {
    const g = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
    expect(g.compiled.lowered.kernel.length).toBeGreaterThan(0);
    const mk = (n: number): Float32Array | Float64Array => (dtype === 'float32' ? new Float32Array(n).fill(0.5) : new Float64Array(n).fill(0.5));
    const r = asTensor(await g.run([mk(9), mk(0), mk(0), 1]));
    expectTensor(r, dtype, [3, 2]);
    expect(Array.from(r.data, (v) => (v === 0 ? 0 : v))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test.each(['KMin', 'ArgKMin', 'KMin_ArgKMin'] as const)('%s with N = 0 is rejected with an OptionError (k is more than the rows reduced)', async (reduction) => {
    const g = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction, axis: 1, k: 1 });
    await expect(g.run([new Float64Array(6), new Float64Array(0)])).rejects.toMatchObject({ name: 'OptionError' });
  });

  test('an empty LazyTensor j-side gives zeros for sum and +Infinity / -1 for minArgmin', async () => {
    const x = Vi(new Float64Array([0, 1, 2, 3, 4, 5]), 3);
    const y = Vj(new Float64Array(0), 3);
    const s = await x.sqdist(y).sum(1);
    expectTensor(s, 'float64', [2, 1]);
    expect(Array.from(s.data, (v) => (v === 0 ? 0 : v))).toEqual([0, 0]);
    const m = await x.sqdist(y).minArgmin(1);
    expect(Array.from(m.values.data)).toEqual([Infinity, Infinity]);
    expect(Array.from(m.indices.data)).toEqual([-1, -1]);
  });
});

// ---------------------------------------------------------------------------------------
// NaN rows
// ---------------------------------------------------------------------------------------

describe('NaN in one row of x', () => {
  const M = 211;
  const N = 307;
  const BAD = 17;
  function data(seed: number): { x: Dual; y: Dual; b: Dual } {
    const rng = new Rng(seed);
    const xv = uniform(rng, M * 3, 0, 1);
    xv[3 * BAD + 1] = NaN;
    return { x: dual(xv), y: dual(uniform(rng, N * 3, 0, 1)), b: dual(uniform(rng, N * 2, -1, 1)) };
  }
  const expectNaNRowOnly = (out: ArrayLike<number>, cols: number): void => {
    for (let r = 0; r < M; r++) {
      for (let c = 0; c < cols; c++) {
        const v = out[r * cols + c];
        if (r === BAD && !Number.isNaN(v)) throw new Error(`row ${r}, column ${c}: expected NaN, got ${v}`);
        if (r !== BAD && Number.isNaN(v)) throw new Error(`row ${r}, column ${c}: NaN leaked into a clean row`);
      }
    }
  };

  const SPELL = [['fused Gaussian', 'Exp(-g*SqDist(x,y))*b'], ['generic Gaussian', 'Exp(-g*SqDist(x,y))*b + Zero(1)*b']] as const;
  test.each(SPELL.flatMap(([name, f]) => DTYPES.map((dtype) => [name, dtype, f] as const)))(
    'Sum of the %s (%s) is NaN in that output row only and right elsewhere', async (_name, dtype, formula) => {
      const d = data(900);
      const g = 2;
      const t = tabulate(M, N, 2, (i, j) => {
        const k = math.exp(-g * sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3)));
        return [k * d.b.f64[2 * j], k * d.b.f64[2 * j + 1]];
      });
      const r = asTensor(await new Genred(formula, ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 })
        .run([pick(d.x, dtype), pick(d.y, dtype), pick(d.b, dtype), g]));
      expectNaNRowOnly(r.data, 2);
      expectSumClose(r.data, t, 1, dtype);
    },
  );

  // One column of b takes the fused loop's whole-vector body (1003 columns: 125 full
  // AVX2 steps and a tail); NaN must come through exp's clamps, which keep it by their
  // operand order only, whichever its sign (x86 arithmetic makes the negative one).
  test.each(DTYPES.flatMap((dtype) => AXES.map((axis) => [dtype, axis] as const)))(
    'a NaN of either sign in one row of the fused one-column Gaussian sum (%s, axis %i) is NaN there only',
    async (dtype, axis) => {
      const rows = 7;
      const cols = 1003;
      const rng = new Rng(903);
      const x = dual(uniform(rng, rows * 3, 0, 1));
      const y = dual(uniform(rng, cols * 3, 0, 1));
      const b = dual(uniform(rng, cols, -1, 1));
      const xs = pick(x, dtype).slice();
      xs[3 * 2 + 1] = NaN;
      xs[3 * 5] = NaN;
      const high = new Uint32Array(xs.buffer);
      if (dtype === 'float32') high[3 * 5] = 0xffc00000;
      else high[2 * 3 * 5 + 1] = 0xfff80000;
      const g = 3;
      const aliases = axis === 1 ? ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'] : ['x = Vj(3)', 'y = Vi(3)', 'b = Vi(1)', 'g = Pm(1)'];
      const fused = new Genred('Exp(-g*SqDist(x,y))*b', aliases, { reduction: 'Sum', axis });
      expect(Array.from(fused.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel.gaussian]);
      const r = asTensor(await fused.run([xs, pick(y, dtype), pick(b, dtype), g])).data;
      const t = tabulate(rows, cols, 1, (i, j) => [math.exp(-g * sqdist(row(x.f64, i, 3), row(y.f64, j, 3))) * b.f64[j]]);
      const expected = refSum(t, 1);
      const scale = maxAbsFinite(refAbsSum(t, 1));
      for (let i = 0; i < rows; i++) {
        if (i === 2 || i === 5) expect(Number.isNaN(r[i])).toBe(true);
        else expect(math.abs(r[i] - expected[i])).toBeLessThanOrEqual(SUM_RTOL[dtype] * math.abs(expected[i]) + SUM_ATOL_FACTOR[dtype] * scale);
      }
    },
  );

  test.each(DTYPES)('Min of SqDist (%s) is NaN in that output row only and right elsewhere', async (dtype) => {
    const d = data(901);
    const t = tabulate(M, N, 1, (i, j) => [sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3))]);
    const r = asTensor(await new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Min', axis: 1 }).run([pick(d.x, dtype), pick(d.y, dtype)]));
    expectNaNRowOnly(r.data, 1);
    expectCloseElementwise(r.data, refMin(t, 1).values, VALUE_RTOL[dtype]);
  });

  test('a NaN in one j-row makes every row of a sum over j NaN (float64)', async () => {
    const rng = new Rng(902);
    const x = uniform(rng, 20 * 3);
    const y = uniform(rng, 30 * 3);
    y[3 * 11] = NaN;
    const r = asTensor(await new Genred('Exp(-SqDist(x,y))', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 }).run([x, y]));
    expect(Array.from(r.data).every(Number.isNaN)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// SIMD levels
// ---------------------------------------------------------------------------------------

describe('instruction-set levels (LAZYKERNEL_SIMD)', () => {
  const LEVELS = ['base', 'avx2', 'avx512'] as const;
  type Level = (typeof LEVELS)[number];
  /** What this CPU supports, from /proc/cpuinfo (x86-64 Linux); base elsewhere. */
  function supported(): Level[] {
    let flags = new Set<string>();
    try {
      const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
      flags = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
    } catch {
      // not Linux: base only
    }
    const out: Level[] = ['base'];
    if (flags.has('avx2') && flags.has('fma')) out.push('avx2');
    if (out.includes('avx2') && ['avx512f', 'avx512dq', 'avx512vl', 'avx512bw'].every((f) => flags.has(f))) out.push('avx512');
    return out;
  }
  const SUPPORTED = supported();
  /**
   * The engine reads the C environment (getenv) at each call. Jest gives each test file a
   * copy of process.env, whose writes never reach the C environment, so the variable is
   * set in the real process's env too: `process` as seen by a function of Node's own realm
   * (util.inspect's Function constructor).
   */
  const realEnv = ((util.inspect.constructor as FunctionConstructor)('return process')() as NodeJS.Process).env;
  const envs = [process.env, realEnv];
  const saved = envs.map((e) => e.LAZYKERNEL_SIMD);
  const setLevel = (level: string): void => envs.forEach((e) => { e.LAZYKERNEL_SIMD = level; });
  afterEach(() => {
    envs.forEach((e, k) => {
      if (saved[k] === undefined) delete e.LAZYKERNEL_SIMD;
      else e.LAZYKERNEL_SIMD = saved[k];
    });
  });

  const rng = new Rng(1000);
  const M = 203;
  const N = 517;
  const x = dual(uniform(rng, M * 3, 0, 1));
  const y = dual(uniform(rng, N * 3, 0, 1));
  const b = dual(uniform(rng, N, -1, 1));
  const gamma = 2;
  const tGauss = tabulate(M, N, 1, (i, j) => [math.exp(-gamma * sqdist(row(x.f64, i, 3), row(y.f64, j, 3))) * b.f64[j]]);
  const tGeneric = tabulate(M, N, 1, (i, j) => [math.cos(dot(row(x.f64, i, 3), row(y.f64, j, 3))) * b.f64[j] + math.sqrt(sqdist(row(x.f64, i, 3), row(y.f64, j, 3)))]);
  const aliases = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
  const gauss = new Genred('Exp(-g*SqDist(x,y))*b', aliases, { reduction: 'Sum', axis: 1 });
  const generic = new Genred('Cos((x|y))*b + Norm2(x-y)', aliases, { reduction: 'Sum', axis: 1 });

  test.each(LEVELS.flatMap((level) => DTYPES.map((dtype) => [level, dtype] as const)))(
    'with LAZYKERNEL_SIMD=%s (%s) info reports the level used (capped at the CPU) and both paths match the reference', async (level, dtype) => {
      setLevel(level);
      const expected = SUPPORTED.includes(level) ? level : SUPPORTED[SUPPORTED.length - 1];
      expect(info().cpu.simd).toBe(expected);
      const args = [pick(x, dtype), pick(y, dtype), pick(b, dtype), gamma];
      expect(gauss.compiled.lowered.kernel[0]).toBe(Kernel.gaussian);
      expectSumClose(asTensor(await gauss.run(args)).data, tGauss, 1, dtype, `fused at ${level}`);
      expectSumClose(asTensor(gauss.runSync(args)).data, tGauss, 1, dtype, `fused Sync at ${level}`);
      expectSumClose(asTensor(await generic.run(args)).data, tGeneric, 1, dtype, `generic at ${level}`);
      // A reduction other than Sum at this level too.
      const kmin = asPair(await new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin_ArgKMin', axis: 1, k: 3 })
        .run([pick(x, dtype), pick(y, dtype)]));
      const F = tabulate(M, N, 1, (i, j) => [sqdist(row(x.f64, i, 3), row(y.f64, j, 3))]);
      expectCloseElementwise(kmin.values.data, refKMin(F, 1, 3).values, VALUE_RTOL[dtype]);
      expectIndices(kmin.indices.data, refKMin(F, 1, 3).indices, { valueAt: tableValueAt(F, 1, 3), rtol: 2 * VALUE_RTOL[dtype] });
    },
  );
});

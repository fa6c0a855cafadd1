/**
 * The checks of the CUDA path, shared by test/cuda.emulated.test.ts (the kernel code run
 * on the host, LAZYKERNEL_CUDA=emulated) and test/cuda.test.ts (a real device, where
 * one exists): every reduction, both axes, float32 and float64, sizes that are not
 * multiples of any block (1, 7, 300 + 3, 4000 + 3), several launch shapes (2D split
 * included), the fused radial kernels and a set of op families, each against a float64
 * brute force written here or in reference.ts.
 *
 * Tolerances (as test/reduce.test.ts): sums 2e-5·‖e‖∞ + 1e-7·‖Σ|F|‖∞ in float32,
 * 1e-10 / 1e-13 in float64 (expectSumClose); min/max/k-min values 8 units of roundoff,
 * indices the reference's or, on a near tie, one whose value is within 16 units;
 * LogSumExp 2e-5 relative + 1e-5 absolute (F within ±4.5); softmax weights 2e-5 + 2e-6.
 */
import * as util from 'util';
import { AbortError, Genred, KernelSolve } from '../../lib/index';
import { cholesky, cholSolve, columnError, gram, trueResidual } from './dense';
import type { ReductionName } from '../../lib/formula/program';
import type { Arg } from '../../lib/tensor';
import {
  asPair, asTensor, dot, DType, DTYPES, dual, Dual, expectClose, expectCloseElementwise, expectIndices, expectSumClose,
  makeSizeData, normal, pick, refKMin, refLogSumExp, refMax, refMin, refSumSoftMaxWeight, Rng, row, sqdist, SizeData, sumExpectation,
  Table, tableValueAt, tabulate, uniform,
} from './reference';

const math = Math;
const VALUE_RTOL: Record<DType, number> = { float32: 8 * 2 ** -24, float64: 8 * 2 ** -53 };

/** A launch shape forced through LAZYKERNEL_CUDA_BLOCK / _SPLITS; {} lets the plan choose. */
export interface Shape {
  block?: number;
  splits?: number;
}

function withShape<T>(shape: Shape, run: () => T): T {
  const set = (name: string, v: number | undefined): void => {
    if (v === undefined) delete process.env[name];
    else process.env[name] = String(v);
  };
  set('LAZYKERNEL_CUDA_BLOCK', shape.block);
  set('LAZYKERNEL_CUDA_SPLITS', shape.splits);
  try {
    return run();
  } finally {
    set('LAZYKERNEL_CUDA_BLOCK', undefined);
    set('LAZYKERNEL_CUDA_SPLITS', undefined);
  }
}

type Data = SizeData;
const makeData = makeSizeData;

const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'];
const args = (d: Data, t: DType): Arg[] => [pick(d.x, t), pick(d.y, t), pick(d.b, t), d.g];
const X = (d: Data, i: number): number[] => row(d.x.f64, i, 3);
const Y = (d: Data, j: number): number[] => row(d.y.f64, j, 3);

type Check = 'sum' | 'extremum' | 'kmin' | 'lse' | 'ssmw';
interface Case {
  label: string;
  reduction: ReductionName;
  k?: number;
  formula: string;
  formula2?: string;
  check: Check;
  /** F(i, j) in float64 (the weights' for ssmw come from b). */
  f: (d: Data) => (i: number, j: number) => number[];
  dim: number;
}

const squareDiff = (d: Data) => (i: number, j: number): number[] => [0, 1, 2].map((c) => (X(d, i)[c] - Y(d, j)[c]) ** 2);
const scaledDot = (d: Data) => (i: number, j: number): number[] => [d.g * dot(X(d, i), Y(d, j))];
const extremum = (reduction: ReductionName): Case => ({ label: reduction, reduction, formula: 'Square(x-y)', check: 'extremum', f: squareDiff, dim: 3 });
const kmin = (reduction: ReductionName, k: number): Case => ({
  label: `${reduction} (k = ${k})`, reduction, k, formula: 'SqDist(x,y)', check: 'kmin', dim: 1,
  f: (d) => (i, j) => [sqdist(X(d, i), Y(d, j))],
});

const CASES: Case[] = [
  {
    label: 'Sum (interpreter)', reduction: 'Sum', formula: 'Cos((x|y))*b', check: 'sum', dim: 2,
    f: (d) => (i, j) => { const c = math.cos(dot(X(d, i), Y(d, j))); return [c * d.b.f64[2 * j], c * d.b.f64[2 * j + 1]]; },
  },
  {
    label: 'Sum (fused Gaussian)', reduction: 'Sum', formula: 'Exp(-g*SqDist(x,y))*b', check: 'sum', dim: 2,
    f: (d) => (i, j) => { const k = math.exp(-d.g * sqdist(X(d, i), Y(d, j))); return [k * d.b.f64[2 * j], k * d.b.f64[2 * j + 1]]; },
  },
  {
    label: 'Sum (fused Matérn 5/2)', reduction: 'Sum', check: 'sum', dim: 2,
    formula: '(IntCst(1)+Sqrt(g*SqDist(x,y))+g*SqDist(x,y)/IntCst(3))*Exp(-Sqrt(g*SqDist(x,y)))*b',
    f: (d) => (i, j) => {
      const s = d.g * sqdist(X(d, i), Y(d, j));
      const r = math.sqrt(s);
      const k = (1 + r + s / 3) * math.exp(-r);
      return [k * d.b.f64[2 * j], k * d.b.f64[2 * j + 1]];
    },
  },
  ...(['Min', 'Max', 'ArgMin', 'ArgMax', 'Min_ArgMin', 'Max_ArgMax'] as const).map(extremum),
  ...[1, 3].flatMap((k) => (['KMin', 'ArgKMin', 'KMin_ArgKMin'] as const).map((r) => kmin(r, k))),
  { label: 'LogSumExp', reduction: 'LogSumExp', formula: 'g*(x|y)', check: 'lse', f: scaledDot, dim: 1 },
  { label: 'SumSoftMaxWeight', reduction: 'SumSoftMaxWeight', formula: 'g*(x|y)', formula2: 'b', check: 'ssmw', f: scaledDot, dim: 2 },
];

const INDEX_ONLY = new Set<ReductionName>(['ArgMin', 'ArgMax', 'ArgKMin']);
const PAIRED = new Set<ReductionName>(['Min_ArgMin', 'Max_ArgMax', 'KMin_ArgKMin']);
const IS_MAX = new Set<ReductionName>(['Max', 'ArgMax', 'Max_ArgMax']);

function expectType(a: unknown, type: DType | 'int32'): void {
  const ok = type === 'float32' ? util.types.isFloat32Array(a) : type === 'float64' ? util.types.isFloat64Array(a) : util.types.isInt32Array(a);
  if (!ok) throw new Error(`expected a ${type} array`);
}

/**
 * The float64 answer to case `c` over `axis` from its table F, computed once and returned
 * as a check of one result in either dtype: at the device suite's largest size, F and the
 * k-min reference cost seconds in JS, and each (case, axis) is checked eight times.
 */
function expectation(c: Case, d: Data, F: Table, axis: 0 | 1): (dtype: DType, result: unknown) => void {
  const rows = axis === 1 ? d.M : d.N;
  const k = c.k ?? 1;
  const cols = k * c.dim;
  let compare: (dtype: DType, values: ArrayLike<number> | undefined, indices: ArrayLike<number> | undefined) => void;
  switch (c.check) {
    case 'sum': {
      const expectSum = sumExpectation(F, axis);
      compare = (dtype, values) => expectSum(values as ArrayLike<number>, dtype, c.label);
      break;
    }
    case 'lse': {
      const expected = refLogSumExp(F, axis);
      compare = (dtype, values) => expectClose(values as ArrayLike<number>, expected, dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 1e-5 : 1e-12, c.label);
      break;
    }
    case 'ssmw': {
      const V = tabulate(d.M, d.N, 2, (_i, j) => row(d.b.f64, j, 2));
      const expected = refSumSoftMaxWeight(F, V, axis);
      compare = (dtype, values) => expectClose(values as ArrayLike<number>, expected, dtype === 'float32' ? 2e-5 : 1e-10, dtype === 'float32' ? 2e-6 : 1e-13, c.label);
      break;
    }
    default: {
      const ref = c.check === 'kmin' ? refKMin(F, axis, k) : IS_MAX.has(c.reduction) ? refMax(F, axis) : refMin(F, axis);
      const valueAt = tableValueAt(F, axis, cols);
      compare = (dtype, values, indices) => {
        if (values) expectCloseElementwise(values, ref.values, VALUE_RTOL[dtype], 0, `${c.label} values`);
        if (indices) expectIndices(indices, ref.indices, { valueAt, rtol: 2 * VALUE_RTOL[dtype] }, `${c.label} indices`);
      };
    }
  }
  return (dtype, result) => {
    let values: ArrayLike<number> | undefined;
    let indices: ArrayLike<number> | undefined;
    if (PAIRED.has(c.reduction)) {
      const p = asPair(result);
      values = p.values.data;
      indices = p.indices.data;
      expectType(values, dtype);
      expectType(indices, 'int32');
    } else {
      const t = asTensor(result);
      expect(t.shape).toEqual([rows, cols]);
      expectType(t.data, INDEX_ONLY.has(c.reduction) ? 'int32' : dtype);
      if (INDEX_ONLY.has(c.reduction)) indices = t.data;
      else values = t.data;
    }
    compare(dtype, values, indices);
  };
}

/**
 * Defines the suite. `sizes` are (M, N) pairs; `shapes` the launch shapes each case runs
 * under (synchronously); each case also runs once through the async entry point.
 */
export function deviceSuite(sizes: readonly [number, number][], shapes: readonly Shape[]): void {
  describe.each(sizes)('the CUDA path at M = %d, N = %d', (M, N) => {
    const data = makeData(M, N, 31 * M + N);
    const cases = CASES.flatMap((c) => ([1, 0] as const).flatMap((axis) => {
      // SumSoftMaxWeight's weights b are a j-variable: over axis 0 they would be on the output side.
      if (c.check === 'ssmw' && axis === 0) return [];
      if ((c.k ?? 1) > (axis === 1 ? N : M)) return [];
      return DTYPES.map((dtype) => ({ name: `${c.label}, axis ${axis}, ${dtype}`, c, axis, dtype }));
    }));
    // A case's tests run one after the other: keep only its table and its answers.
    let kept: { c: Case; F: Table; answers: Map<0 | 1, ReturnType<typeof expectation>> } | undefined;
    const answer = (c: Case, axis: 0 | 1): ReturnType<typeof expectation> => {
      // The table is always over (x-row i, y-row j); axis 0 reduces over i.
      if (kept?.c !== c) kept = { c, F: tabulate(M, N, c.check === 'ssmw' ? 1 : c.dim, c.f(data)), answers: new Map() };
      const { F, answers } = kept;
      if (!answers.has(axis)) answers.set(axis, expectation(c, data, F, axis));
      return answers.get(axis) as ReturnType<typeof expectation>;
    };
    test.each(cases)('$name matches the float64 reference under every launch shape', async ({ c, axis, dtype }) => {
      const g = new Genred(c.formula, ALIASES, { reduction: c.reduction, axis, k: c.k, formula2: c.formula2 });
      const check = answer(c, axis);
      for (const shape of shapes) check(dtype, withShape(shape, () => g.runSync(args(data, dtype), { backend: 'cuda' })));
      check(dtype, await g.run(args(data, dtype), { backend: 'cuda' }));
    });
  });
}

/** Op families through the device interpreter, Sum over j against a float64 formula. */
export function deviceOpSuite(shapes: readonly Shape[]): void {
  const M = 37;
  const N = 211;
  const rng = new Rng(77);
  const x = dual(uniform(rng, M * 3, 0.5, 2));
  const y = dual(uniform(rng, N * 3, -2, 2));
  const OPS: { formula: string; dim: number; f: (a: number[], b: number[]) => number[] }[] = [
    { formula: 'Sin(x-y)*Cos(x+y)', dim: 3, f: (a, b) => a.map((v, c) => math.sin(v - b[c]) * math.cos(v + b[c])) },
    { formula: 'Atan2(x,y)/Sqrt(x)', dim: 3, f: (a, b) => a.map((v, c) => math.atan2(v, b[c]) / math.sqrt(v)) },
    { formula: 'Concat(Log(x)*Abs(y), Inv(x)-Square(y))', dim: 6, f: (a, b) => [...a.map((v, c) => math.log(v) * math.abs(b[c])), ...a.map((v, c) => 1 / v - b[c] * b[c])] },
    { formula: 'Pow(x-y,3)+Powf(x,Abs(y))', dim: 3, f: (a, b) => a.map((v, c) => (v - b[c]) ** 3 + v ** math.abs(b[c])) },
    { formula: 'Clamp(y,x-IntCst(2),x)*Step(y)+ReLU(y-x)', dim: 3, f: (a, b) => a.map((v, c) => math.min(math.max(b[c], v - 2), v) * (b[c] >= 0 ? 1 : 0) + math.max(b[c] - v, 0)) },
    { formula: 'IfElse(y,Sign(y),Rsqrt(x))', dim: 3, f: (a, b) => a.map((v, c) => (b[c] >= 0 ? math.sign(b[c]) : 1 / math.sqrt(v))) },
    { formula: 'Elem(x,1)*Extract(y,1,2)', dim: 2, f: (a, b) => [a[1] * b[1], a[1] * b[2]] },
    { formula: 'TensorProd(x,y)', dim: 9, f: (a, b) => a.flatMap((u) => b.map((v) => u * v)) },
    { formula: 'MatVecMult(TensorProd(x,y),y)', dim: 3, f: (a, b) => a.map((u) => u * dot(b, b)) },
    { formula: 'Exp(-SqNorm2(x-y))*Sum(y)', dim: 1, f: (a, b) => [math.exp(-sqdist(a, b)) * (b[0] + b[1] + b[2])] },
    { formula: 'Max(x*y)+Min(x-y)', dim: 1, f: (a, b) => [math.max(...a.map((v, c) => v * b[c])) + math.min(...a.map((v, c) => v - b[c]))] },
  ];
  describe('op families through the device interpreter (Sum over j)', () => {
    const cases = OPS.flatMap((op) => DTYPES.map((dtype) => ({ name: `${op.formula}, ${dtype}`, op, dtype })));
    test.each(cases)('$name', ({ op, dtype }) => {
      const g = new Genred(op.formula, ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 });
      const F = tabulate(M, N, op.dim, (i, j) => op.f(row(x.f64, i, 3), row(y.f64, j, 3)));
      for (const shape of shapes) {
        const t = asTensor(withShape(shape, () => g.runSync([pick(x, dtype), pick(y, dtype)], { backend: 'cuda' })));
        expectSumClose(t.data, F, 1, dtype, op.formula);
      }
    });
  });
}

/**
 * KernelSolve through the CUDA backend, against a dense float64 Cholesky solve: the
 * reference setting's kernel (γ = 1e4 would leave points nearly independent at this N,
 * so γ = 30 couples them), α = 0.8, one and three right-hand sides, N = 300 + 7.
 * Tolerances: the returned x's true residual (float64, dense K) within 10× tol, and x
 * within 1e-4 (float32) or 1e-8 (float64) of the dense solution, relative per column.
 */
export function deviceSolveSuite(): void {
  const n = 307;
  const alpha = 0.8;
  const gamma = 30;
  describe('KernelSolve through the CUDA backend', () => {
    const cases = [1, 3].flatMap((dv) => DTYPES.map((dtype) => ({ name: `dv = ${dv}, ${dtype}`, dv, dtype })));
    test.each(cases)('$name: the dense float64 solution, the stated residual', async ({ dv, dtype }) => {
      const rng = new Rng(400 + dv);
      const x = dual(uniform(rng, n * 3));
      const b = dual(normal(rng, n * dv));
      const K = gram(x.f64, n, (d2) => math.exp(-gamma * d2));
      const ref = cholSolve(cholesky(K, n, alpha), n, b.f64, dv);
      const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', `a = Vj(${dv})`, 'g = Pm(1)'], 'a', { axis: 1 });
      const tol = dtype === 'float32' ? 1e-5 : 1e-10;
      const args = [pick(x, dtype), pick(x, dtype), pick(b, dtype), gamma];
      const progress: number[] = [];
      const r = await solver.run(args, { alpha, tol, backend: 'cuda', onProgress: (p) => { if (p.phase === 'iterate') progress.push(p.iteration); } });
      expect(r.converged).toBe(true);
      expect(r.residual).toBeLessThanOrEqual(tol);
      expect(progress.length).toBe(r.iterations);
      expect(trueResidual(K, n, alpha, r.x.data, b.f64, dv)).toBeLessThanOrEqual(10 * tol);
      expect(columnError(r.x.data, ref, n, dv)).toBeLessThanOrEqual(dtype === 'float32' ? 1e-4 : 1e-8);
    });
    test('an aborted solve rejects with an AbortError', async () => {
      const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
      const x = uniform(new Rng(5), n * 3);
      const controller = new AbortController();
      const run = solver.run([x, x, uniform(new Rng(6), n), gamma], {
        alpha, tol: 1e-12, backend: 'cuda', signal: controller.signal, onProgress: () => controller.abort(),
      });
      await expect(run).rejects.toBeInstanceOf(AbortError);
    });
  });
}

/**
 * The LazyTensor methods of the ops issue 14 added (pykeops' names), placeholder
 * variables, the weighted exponential sums through LazyTensor, and KeOps' whole list of
 * formula names: each runs or gives its documented error.
 *
 * Every value is checked against a float64 brute force written here, summed over j
 * (axis 1) and over i (axis 0), in float32 and float64, at sizes (1, 1), (7, 5) and
 * (1003, 13), with expectSumClose's tolerances (float32 2e-5·‖e‖∞ + 1e-7·‖Σ|F|‖∞, float64
 * 1e-10 / 1e-13; test/helpers/reference.ts); inputs are float32-representable, so one
 * float64 reference serves both dtypes. The log-sum-exps: 8 units of roundoff of the
 * dtype times (|F|max + 16), relative to the larger of 1 and the value.
 */
import { FormulaSyntaxError, Genred, LazyTensor, OptionError, Pm, Vi, Vj } from '../lib/index';
import {
  asTensor, DType, DTYPES, dual, Dual, expectClose, expectSumClose, pick, Rng, row, tabulate, uniform,
} from './helpers/reference';

const math = Math;
const SIZES: readonly [number, number][] = [[1, 1], [7, 5], [1003, 13]];
const AXES: readonly (0 | 1)[] = [1, 0];

interface Data { M: number; N: number; u: Dual; v: Dual; a: Dual; b: Dual }
function makeData(M: number, N: number): Data {
  const rng = new Rng(M * 131 + N);
  // u, v in (-0.9, 0.9) (arc sines), a, b in (0.1, 1.1) (logs, quotients): dims 4 (two complex numbers).
  return {
    M, N, u: dual(uniform(rng, M * 4, -0.9, 0.9)), v: dual(uniform(rng, N * 4, -0.9, 0.9)),
    a: dual(uniform(rng, M * 4, 0.1, 1.1)), b: dual(uniform(rng, N * 4, 0.1, 1.1)),
  };
}

type Lz = LazyTensor;
interface MethodCase {
  method: string;
  dim: number;
  build: (t: { u: Lz; v: Lz; a: Lz; b: Lz }) => Lz;
  f: (r: { u: number[]; v: number[]; a: number[]; b: number[] }) => number[];
}

const each = (x: number[], f: (v: number, k: number) => number): number[] => x.map(f);
const cmul = (p: number[], q: number[]): number[] => [p[0] * q[0] - p[1] * q[1], p[0] * q[1] + p[1] * q[0]];
/** Complex entries of an interleaved vector, as [re, im] pairs. */
const pairs = (z: number[]): number[][] => Array.from({ length: z.length / 2 }, (_, k) => [z[2 * k], z[2 * k + 1]]);
const flat = (zs: number[][]): number[] => zs.flat();
const bool = (c: boolean): number => (c ? 1 : 0);

function bsplineRef(t: number[], x: number, order: number): number[] {
  let B = t.slice(0, -1).map((tj, j) => bool(tj <= x && x < t[j + 1]));
  const w = (i: number, k: number): number => (t[i] < t[i + k] ? (x - t[i]) / (t[i + k] - t[i]) : 0);
  for (let k = 1; k <= order; k++) B = B.slice(0, -1).map((bi, i) => w(i, k) * bi + (1 - w(i + 1, k)) * B[i + 1]);
  return B;
}

function softDtwRef(x: number[], y: number[], gamma: number): number {
  const r: number[][] = x.map(() => y.map(() => 0));
  x.forEach((xi, i) => y.forEach((yj, j) => {
    let prev = 0;
    if (i > 0 && j > 0) {
      const ps = [r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]];
      const m = math.min(...ps);
      prev = m - gamma * math.log(ps.reduce((s, p) => s + math.exp((m - p) / gamma), 0));
    } else if (i > 0) prev = r[i - 1][0];
    else if (j > 0) prev = r[0][j - 1];
    r[i][j] = (xi - yj) ** 2 + prev;
  }));
  return r[x.length - 1][y.length - 1];
}

const METHODS: MethodCase[] = [
  { method: 'acos', dim: 4, build: ({ u }) => u.acos(), f: ({ u }) => u.map(math.acos) },
  { method: 'asin', dim: 4, build: ({ u, v }) => u.sub(v).mul(0.5).asin(), f: ({ u, v }) => each(u, (x, k) => math.asin((x - v[k]) * 0.5)) },
  {
    method: 'sinxdivx (1 at 0)', dim: 4, build: ({ u, v }) => u.sinxdivx().add(v.sub(v).sinxdivx()),
    f: ({ u }) => u.map((x) => math.sin(x) / x + 1),
  },
  { method: 'sinc', dim: 4, build: ({ u }) => u.sinc(), f: ({ u }) => u.map((x) => math.sin(math.PI * x) / (math.PI * x)) },
  { method: 'xlogx (0 at 0)', dim: 4, build: ({ a, u }) => a.xlogx().add(u.sub(u).xlogx()), f: ({ a }) => a.map((x) => x * math.log(x)) },
  {
    method: 'lt le gt ge eq ne', dim: 4,
    build: ({ u, v }) => u.lt(v).add(u.le(v).mul(2)).add(u.gt(v).mul(4)).add(u.ge(v).mul(8)).add(u.eq(u).mul(16)).add(u.ne(v).mul(32)),
    f: ({ u, v }) => each(u, (x, k) => bool(x < v[k]) + 2 * bool(x <= v[k]) + 4 * bool(x > v[k]) + 8 * bool(x >= v[k]) + 16 + 32 * bool(x !== v[k])),
  },
  {
    method: 'argmaxDims argminDims', dim: 1, build: ({ u, v }) => u.sub(v).argmaxDims().add(u.mul(v).argminDims().mul(10)),
    f: ({ u, v }) => {
      const d = each(u, (x, k) => x - v[k]);
      const p = each(u, (x, k) => x * v[k]);
      return [d.indexOf(math.max(...d)) + 10 * p.indexOf(math.min(...p))];
    },
  },
  { method: 'gather', dim: 5, build: ({ u }) => u.gather([3, 0, 0, 2, 1]), f: ({ u }) => [u[3], u[0], u[0], u[2], u[1]] },
  {
    method: 'tensordot (2×2 matrix product)', dim: 4, build: ({ u, v }) => u.tensordot(v, [2, 2], [2, 2], [1], [0]),
    f: ({ u, v }) => [0, 1].flatMap((r) => [0, 1].map((c) => u[2 * r] * v[c] + u[2 * r + 1] * v[2 + c])),
  },
  {
    method: 'kron', dim: 16, build: ({ u, v }) => u.kron(v, [2, 2], [2, 2]),
    f: ({ u, v }) => {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) for (let k = 0; k < 2; k++) for (let j = 0; j < 2; j++) for (let l = 0; l < 2; l++) out.push(u[2 * i + j] * v[2 * k + l]);
      return out;
    },
  },
  {
    method: 'bspline (order 2, knots a parameter)', dim: 3, build: ({ u }) => Pm([-1, -0.5, 0, 0.5, 1, 1.5]).bspline(u.elem(0), 2),
    f: ({ u }) => bsplineRef([-1, -0.5, 0, 0.5, 1, 1.5], u[0], 2),
  },
  {
    method: 'softdtwSqdist', dim: 1, build: ({ u, v }) => u.softdtwSqdist(v.extract(0, 3), 0.25),
    f: ({ u, v }) => [softDtwRef(u, v.slice(0, 3), 0.25)],
  },
  { method: 'real2complex', dim: 8, build: ({ u }) => u.real2complex(), f: ({ u }) => u.flatMap((x) => [x, 0]) },
  { method: 'imag2complex', dim: 8, build: ({ u }) => u.imag2complex(), f: ({ u }) => u.flatMap((x) => [0, x]) },
  { method: 'exp1j', dim: 8, build: ({ u }) => u.exp1j(), f: ({ u }) => u.flatMap((x) => [math.cos(x), math.sin(x)]) },
  { method: 'real imag', dim: 2, build: ({ u, v }) => u.real().add(v.imag().mul(3)), f: ({ u, v }) => [u[0] + 3 * v[1], u[2] + 3 * v[3]] },
  { method: 'conj', dim: 4, build: ({ u }) => u.conj(), f: ({ u }) => [u[0], -u[1], u[2], -u[3]] },
  {
    method: 'complexAbs complexSquareAbs angle', dim: 2, build: ({ u, v }) => u.complexAbs().add(v.complexSquareAbs()).add(u.angle()),
    f: ({ u, v }) => pairs(u).map(([re, im], k) => math.hypot(re, im) + v[2 * k] ** 2 + v[2 * k + 1] ** 2 + math.atan2(im, re)),
  },
  {
    method: 'complexExp', dim: 4, build: ({ u }) => u.complexExp(),
    f: ({ u }) => flat(pairs(u).map(([re, im]) => [math.exp(re) * math.cos(im), math.exp(re) * math.sin(im)])),
  },
  { method: 'complexSum', dim: 2, build: ({ u }) => u.complexSum(), f: ({ u }) => [u[0] + u[2], u[1] + u[3]] },
  {
    method: 'complexAdd complexSub (a complex scalar broadcast)', dim: 4, build: ({ u, v }) => u.complexAdd(v.extract(2, 2)).complexSub(v),
    f: ({ u, v }) => each(u, (x, k) => x + v[2 + (k % 2)] - v[k]),
  },
  {
    method: 'complexMul complexDiv', dim: 4, build: ({ u, b }) => u.complexMul(b).complexDiv(b.extract(0, 2)),
    f: ({ u, b }) => {
      const q = [b[0], b[1]];
      const n2 = q[0] ** 2 + q[1] ** 2;
      return flat(pairs(u).map((z, k) => {
        const m = cmul(z, [b[2 * k], b[2 * k + 1]]);
        return cmul(m, [q[0] / n2, -q[1] / n2]);
      }));
    },
  },
  { method: 'complexScale', dim: 4, build: ({ u, a }) => u.complexScale(a.elem(1)), f: ({ u, a }) => u.map((x) => x * a[1]) },
];

const CASES = METHODS.flatMap((mc) => SIZES.flatMap(([M, N]) => DTYPES.map((dtype) => [mc.method, M, N, dtype, mc] as const)));

describe('LazyTensor methods of the KeOps ops (both axes) against float64 brute force', () => {
  test('every method of the table exists on LazyTensor', () => {
    for (const mc of METHODS) for (const name of mc.method.split(' (')[0].split(' ')) expect(typeof (Vi(0, 1) as unknown as Record<string, unknown>)[name]).toBe('function');
  });

  test.each(CASES)('%s at M = %d, N = %d (%s)', async (_m, M, N, dtype: DType, mc) => {
    const d = makeData(M, N);
    const t = { u: Vi(pick(d.u, dtype), 4), v: Vj(pick(d.v, dtype), 4), a: Vi(pick(d.a, dtype), 4), b: Vj(pick(d.b, dtype), 4) };
    // + 0·v₀ makes every formula read both sides: a side without variables has one row.
    const F = mc.build(t).add(t.v.elem(0).mul(0));
    expect(F.dim).toBe(mc.dim);
    const table = tabulate(M, N, mc.dim, (i, j) => mc.f({ u: row(d.u.f64, i, 4), v: row(d.v.f64, j, 4), a: row(d.a.f64, i, 4), b: row(d.b.f64, j, 4) }));
    for (const axis of AXES) {
      const out = asTensor(axis === 1 ? await F.sum(1) : F.sumSync(0));
      expect(out.shape).toEqual([axis === 1 ? M : N, mc.dim]);
      expectSumClose(out.data, table, axis, dtype, `${mc.method} axis ${axis}`);
    }
  });
});

describe('the weighted exponential sums through LazyTensor', () => {
  const lseTol = (dtype: DType, fmax: number): number => 8 * (dtype === 'float32' ? 2 ** -24 : 2 ** -53) * (fmax + 16);
  test.each(SIZES.flatMap(([M, N]) => DTYPES.map((dtype) => [M, N, dtype] as const)))('logsumexp({ weight }) and maxSumShiftExp at M = %d, N = %d (%s)', (M, N, dtype) => {
    const d = makeData(M, N);
    const u = Vi(pick(d.u, dtype), 4);
    const v = Vj(pick(d.v, dtype), 4);
    const F = u.sqdist(v).mul(-3);
    const f = (i: number, j: number): number => -3 * row(d.u.f64, i, 4).reduce((s, x, k) => s + (x - d.v.f64[j * 4 + k]) ** 2, 0);
    for (const axis of AXES) {
      const R = axis === 1 ? M : N;
      const n = axis === 1 ? N : M;
      const at = (r: number, k: number): number => (axis === 1 ? f(r, k) : f(k, r));
      // The weights are the reduced side's b (positive), so log Σ exp(F)·b_c is defined.
      const w = axis === 1 ? Vj(pick(d.b, dtype), 4) : Vi(pick(d.a, dtype), 4);
      const wr = (k: number): number[] => row((axis === 1 ? d.b : d.a).f64, k, 4);
      const lse = asTensor(F.logsumexpSync(axis, { weight: w }));
      const shifted = asTensor(F.maxSumShiftExpSync(axis, { weight: w }));
      const plain = asTensor(F.maxSumShiftExpSync(axis));
      expect(lse.shape).toEqual([R, 4]);
      expect(shifted.shape).toEqual([R, 5]);
      expect(plain.shape).toEqual([R, 2]);
      const wantLse: number[] = [];
      const wantShifted: number[] = [];
      const wantPlain: number[] = [];
      for (let r = 0; r < R; r++) {
        const fs = Array.from({ length: n }, (_, k) => at(r, k));
        const m = math.max(...fs);
        const sums = [0, 1, 2, 3].map((c) => fs.reduce((s, x, k) => s + math.exp(x - m) * wr(k)[c], 0));
        wantLse.push(...sums.map((s) => m + math.log(s)));
        wantShifted.push(m, ...sums);
        wantPlain.push(m, fs.reduce((s, x) => s + math.exp(x - m), 0));
      }
      const tol = lseTol(dtype, 12 * 4);
      expectClose(lse.data, wantLse, tol, tol, `lse axis ${axis}`);
      expectClose(shifted.data, wantShifted, tol, tol, `shifted axis ${axis}`);
      expectClose(plain.data, wantPlain, tol, tol, `plain axis ${axis}`);
    }
  });
});

describe('placeholder variables', () => {
  test.each(DTYPES)('Vi(index, dim), Vj, Pm build a formula bound at call time by .genred() (%s)', async (dtype) => {
    const d = makeData(1003, 13);
    const K = Vi(0, 4).sqdist(Vj(1, 4)).mul(Pm(2, 1)).neg().exp().mul(Vj(3, 4));
    expect(K.formula).toBe('(Exp(-(SqDist(Vi(0,4),Vj(1,4))*Pm(2,1)))*Vj(3,4))');
    const table = tabulate(1003, 13, 4, (i, j) => {
      const k = math.exp(-0.5 * row(d.u.f64, i, 4).reduce((s, x, c) => s + (x - d.v.f64[j * 4 + c]) ** 2, 0));
      return row(d.b.f64, j, 4).map((x) => k * x);
    });
    for (const axis of AXES) {
      const g = K.genred({ reduction: 'Sum', axis });
      expect(g).toBeInstanceOf(Genred);
      const out = asTensor(await g.run([pick(d.u, dtype), pick(d.v, dtype), 0.5, pick(d.b, dtype)]));
      expectSumClose(out.data, table, axis, dtype, `axis ${axis}`);
    }
    // Weights are a placeholder formula too (formula2).
    const soft = Vi(0, 4).sqdist(Vj(1, 4)).mul(Pm(2, 1)).neg().genred({ reduction: 'SumSoftMaxWeight', axis: 1, weights: Vj(3, 4) });
    expect(soft.runSync([pick(d.u, dtype), pick(d.v, dtype), 0.5, pick(d.b, dtype)]).shape).toEqual([1003, 4]);
  });

  test('placeholders refuse data reductions, mixed data, bad indices and gaps, with clear errors', () => {
    const x = new Float64Array(12);
    const K = Vi(0, 3).sqdist(Vj(1, 3));
    expect(() => K.sumSync(1)).toThrow(OptionError);
    expect(() => K.sumSync(1)).toThrow(/placeholder variables \(Vi\(0,3\), Vj\(1,3\)\)/);
    expect(() => Vi(x, 3).sqdist(Vj(1, 3)).genred({ reduction: 'Sum', axis: 1 })).toThrow(/cannot also hold data/);
    expect(() => Vi(-1, 3)).toThrow(OptionError);
    expect(() => Vi(1.5, 3)).toThrow(OptionError);
    expect(() => Vi(0, 0)).toThrow();
    expect(() => Vi(0, 3).add(Vj(2, 3)).genred({ reduction: 'Sum', axis: 1 })).toThrow(/slot 1 is never declared/);
    expect(() => Vi(0, 3).add(Vj(0, 3)).genred({ reduction: 'Sum', axis: 1 })).toThrow(FormulaSyntaxError);
    // A one-number Pm is still a parameter value.
    expect(Vi(x, 3).mul(Pm(2)).sumSync(1).data[0]).toBe(0);
  });
});

/**
 * KeOps' names (keopscore.formulas: maths, complex, variables, autodiff, factorization,
 * linear operators, reductions), each in a formula: it compiles, or is refused with the
 * error docs/ops.md documents.
 */
const A = ['x = Vi(3)', 'y = Vj(3)', 'z = Vi(2)', 'w = Vj(2)', 'g = Pm(1)', 'k = Vj(6)', 'M = Vj(9)', 's = Vi(1)'];
const KEOPS_NAMES: Record<string, string> = {
  Abs: 'Abs(x)', Acos: 'Acos(x)', Add: 'Add(x,y)', ArgMax: 'ArgMax(x)', ArgMin: 'ArgMin(x)', Asin: 'Asin(x)', Atan: 'Atan(x)',
  Atan2: 'Atan2(x,y)', BSpline: 'BSpline(k,s,2)', Clamp: 'Clamp(x,y,g)', ClampInt: 'ClampInt(x,0,1)', Concat: 'Concat(x,y)',
  Cos: 'Cos(x)', DiffClampInt: 'DiffClampInt(x,0,1)', Divide: 'Divide(x,y)', Elem: 'Elem(x,1)', ElemT: 'ElemT(g,3,1)',
  Equal: 'Equal(x,y)', Exp: 'Exp(x)', Extract: 'Extract(x,1,2)', ExtractT: 'ExtractT(z,1,4)', Floor: 'Floor(x)',
  GradMatrix: 'GradMatrix(SqDist(x,y),x)', IfElse: 'IfElse(x,y,g)', IntInv: 'IntInv(3)*x', Inv: 'Inv(x)',
  Kron: 'Kron(x,y,[3],[3])', LessOrEqual: 'LessOrEqual(x,y)', LessThan: 'LessThan(x,y)', Log: 'Log(x)',
  MatVecMult: 'MatVecMult(M,x)', Max: 'Max(x)', Min: 'Min(x)', Minus: 'Minus(x)', Mod: 'Mod(x,g,IntCst(0))', Mult: 'Mult(x,y)',
  Norm2: 'Norm2(x)', Normalize: 'Normalize(x)', NotEqual: 'NotEqual(x,y)', OneHot: 'OneHot(s,4)', Pow: 'Pow(x,3)',
  Powf: 'Powf(x,g)', ReLU: 'ReLU(x)', Round: 'Round(x,2)', Rsqrt: 'Rsqrt(x)', Scalprod: 'Scalprod(x,y)', Sign: 'Sign(x)',
  Sin: 'Sin(x)', SinXDivX: 'SinXDivX(x)', SoftDTW_SqDist: 'SoftDTW_SqDist(x,y,g)', SqDist: 'SqDist(x,y)', SqNorm2: 'SqNorm2(x)',
  SqNormDiag: 'SqNormDiag(y,x)', SqNormIso: 'SqNormIso(g,x)', Sqrt: 'Sqrt(x)', Square: 'Square(x)', Step: 'Step(x)',
  Subtract: 'Subtract(x,y)', Sum: 'Sum(x)', SumT: 'SumT(s,3)', SymSqNorm: 'SymSqNorm(M,x)', TensorDot: 'TensorDot(x,y,[3],[3],[0],[0])',
  TensorProd: 'TensorProd(x,y)', VecMatMult: 'VecMatMult(x,M)', WeightedSqDist: 'WeightedSqDist(g,x,y)',
  WeightedSqNorm: 'WeightedSqNorm(g,x)', XLogX: 'XLogX(x)',
  ComplexAbs: 'ComplexAbs(z)', ComplexAdd: 'ComplexAdd(z,w)', ComplexAngle: 'ComplexAngle(z)', ComplexDivide: 'ComplexDivide(z,w)',
  ComplexExp: 'ComplexExp(z)', ComplexExp1j: 'ComplexExp1j(x)', ComplexImag: 'ComplexImag(z)', ComplexMult: 'ComplexMult(z,w)',
  ComplexReal: 'ComplexReal(z)', ComplexRealScal: 'ComplexRealScal(g,z)', ComplexSquareAbs: 'ComplexSquareAbs(z)',
  ComplexSubtract: 'ComplexSubtract(z,w)', ComplexSum: 'ComplexSum(z)', ComplexSumT: 'ComplexSumT(z,4)', Conj: 'Conj(z)',
  Imag2Complex: 'Imag2Complex(x)', Real2Complex: 'Real2Complex(x)',
  IntCst: 'IntCst(2)*x', RatCst: 'RatCst(1,3)*x', Var: 'Var(0,3,0)', Zero: 'Zero(3)+x',
  Grad: 'Grad(SqDist(x,y),x,g)', Diff: 'Diff(SqDist(x,y),x,x)', Laplacian: 'Laplacian(SqDist(x,y),x)',
  Divergence: 'Divergence(x*SqDist(x,y),x)', Factorize: 'Factorize(Exp(x)*SqDist(x,y),SqDist(x,y))', AutoFactorize: 'AutoFactorize(x)',
  Sum_Reduction: 'Sum_Reduction(SqDist(x,y),0)', Min_Reduction: 'Min_Reduction(SqDist(x,y),1)', Max_Reduction: 'Max_Reduction(x,0)',
  ArgMin_Reduction: 'ArgMin_Reduction(x,0)', ArgMax_Reduction: 'ArgMax_Reduction(x,1)', Min_ArgMin_Reduction: 'Min_ArgMin_Reduction(x,0)',
  Max_ArgMax_Reduction: 'Max_ArgMax_Reduction(x,0)', KMin_Reduction: 'KMin_Reduction(x,2,1)', ArgKMin_Reduction: 'ArgKMin_Reduction(x,2,1)',
  KMin_ArgKMin_Reduction: 'KMin_ArgKMin_Reduction(x,2,1)', Max_SumShiftExp_Reduction: 'Max_SumShiftExp_Reduction(-SqDist(x,y),0)',
  Max_SumShiftExpWeight_Reduction: 'Max_SumShiftExpWeight_Reduction(-SqDist(x,y),0,y)', Zero_Reduction: 'Zero_Reduction(3,0)',
};
const KEOPS_REFUSED: Record<string, string> = {
  AdjointOperator: 'AdjointOperator(x)', SumLinOperator: 'SumLinOperator(x)', TraceOperator: 'TraceOperator(x)',
  Grad_WithSavedForward: 'Grad_WithSavedForward(x,x,x,x)', Diff_WithSavedForward: 'Diff_WithSavedForward(x,x,x,x)',
};

describe("KeOps' formula names", () => {
  test.each(Object.entries(KEOPS_NAMES))('%s runs: %s', (_name, formula) => {
    const whole = /_Reduction\(/.test(formula);
    const g = new Genred(formula, A, whole ? undefined : { reduction: 'Sum', axis: 1 });
    const args = [new Float64Array(6).fill(0.5), new Float64Array(3).fill(0.25), new Float64Array(4).fill(0.5), new Float64Array(2).fill(0.75),
      0.5, Float64Array.of(0, 0.2, 0.4, 0.6, 0.8, 1), new Float64Array(9).fill(0.1), Float64Array.of(0.3, 0.7)];
    const out = g.runSync(args as never) as unknown;
    const data = (out as { data?: ArrayLike<number>; values?: { data: ArrayLike<number> } }).data ?? (out as { values: { data: ArrayLike<number> } }).values.data;
    expect(data.length).toBeGreaterThan(0);
  });
  test.each(Object.entries(KEOPS_REFUSED))('%s is refused, saying it is a KeOps internal', (name, formula) => {
    expect(() => new Genred(formula, A, { reduction: 'Sum', axis: 1 })).toThrow(FormulaSyntaxError);
    expect(() => new Genred(formula, A, { reduction: 'Sum', axis: 1 })).toThrow(new RegExp(`${name} is a KeOps .*internal`));
  });
  test('the lists hold all 112 names of keopscore.formulas: 67 maths, 17 complex, 4 variables, 6 autodiff, 2 factorization, 3 linear operators, 13 reductions', () => {
    expect(Object.keys(KEOPS_NAMES).length + Object.keys(KEOPS_REFUSED).length).toBe(112);
  });
});

describe('review cases: gradients at the edges, spellings, sizes', () => {
  const B = ['x = Vi(1)', 'e = Vi(1)', 'y = Vj(1)', 't = Pm(6)'];
  const run = (formula: string, x: number[], aliases = B, extra: (number[] | Float64Array)[] = [new Float64Array(6)]): Float64Array => {
    const g = new Genred(formula, aliases, { reduction: 'Sum', axis: 1 });
    const args = [Float64Array.from(x), new Float64Array(x.length).fill(1), Float64Array.of(0), ...extra];
    return g.runSync(args as never).data as Float64Array;
  };

  test("BSpline's gradient on repeated knots is finite and matches central differences (float64, 1e-6)", () => {
    const knots = [0, 0, 0, 1, 2, 2];
    const xs = [0.25, 0.5, 1.25, 1.75];
    const value = (x: number[]): Float64Array => run('Sum(BSpline(t,x,2))*y+Sum(BSpline(t,x,2)*BSpline(t,x,2))', x, B, [knots]);
    const grad = run('Grad(Sum(BSpline(t,x,2))*y+Sum(BSpline(t,x,2)*BSpline(t,x,2)),x,e)', xs, B, [knots]);
    const h = 1e-6;
    xs.forEach((x, k) => {
      const fd = (value([x + h])[0] - value([x - h])[0]) / (2 * h);
      expect(Number.isFinite(grad[k])).toBe(true);
      expect(Math.abs(grad[k] - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
    });
  });

  test("Clamp's and ClampInt's gradients are DiffClampInt's: 1 on the closed interval, bounds included", () => {
    const xs = [-0.5, 0, 0.5, 1, 1.5];
    const want = [0, 1, 1, 1, 0];
    expect(Array.from(run('Grad(ClampInt(x,0,1),x,e)', xs))).toEqual(want);
    expect(Array.from(run('Grad(Clamp(x,IntCst(0),IntCst(1)),x,e)', xs))).toEqual(want);
    expect(Array.from(run('DiffClampInt(x,0,1)', xs))).toEqual(want);
  });

  test('an integer constant exponent is Square or Pow however it is written (2, 2.0, (2), -(1)); others are Powf', () => {
    const xs = [-3, 0.5, 2];
    for (const f of ['x**2', 'x**2.0', 'x**(2)', '(x)**(2.)']) expect(Array.from(run(f, xs))).toEqual([9, 0.25, 4]);
    expect(Array.from(run('x**-(1)', xs))).toEqual([-1 / 3, 2, 0.5]);
    expect(Array.from(run('x**3', xs))).toEqual([-27, 0.125, 8]);
    expect(Number.isNaN(run('x**0.5', xs)[0])).toBe(true); // Powf: exp(0.5 log x), NaN for x < 0
    expect(Array.from(run('-x**2', xs))).toEqual([-9, -0.25, -4]);
  });

  test('whole-formula spellings: Max_SumShiftExp_Reduction with a weight is the weighted one; a spelling must be the whole formula', () => {
    const A2 = ['x = Vi(3)', 'y = Vj(3)'];
    const x = Float64Array.of(0.1, 0.2, 0.3, 0.5, 0.1, 0.9);
    const y = Float64Array.of(0.4, 0.4, 0.1, 0.2, 0.8, 0.3, 0.7, 0.6, 0.5);
    const a = asTensor(new Genred('Max_SumShiftExp_Reduction(-SqDist(x,y),0,y)', A2).runSync([x, y]));
    const b = new Genred('-SqDist(x,y)', A2, { reduction: 'Max_SumShiftExpWeight', axis: 1, formula2: 'y' }).runSync([x, y]);
    expect(a.shape).toEqual([2, 4]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(() => new Genred('Sum_Reduction(x,0)*Sum_Reduction(y,0)', A2)).toThrow(/must be the whole formula/);
  });

  test('gather refuses a non-array with an OptionError; a broadcast gradient stays a few instructions', () => {
    expect(() => Vi(new Float64Array(3), 3).gather(3 as never)).toThrow(OptionError);
    const g = new Genred('Grad(SumT(x,1000)*y,x,e)', ['x = Vi(1)', 'e = Vi(1000)', 'y = Vj(1)'], { reduction: 'Sum', axis: 1 });
    expect(g.compiled.lowered.code.length / 6).toBeLessThan(12);
    const e = Float64Array.from({ length: 1000 }, (_, k) => k % 7);
    const out = g.runSync([Float64Array.of(2), e, Float64Array.of(3)]);
    expect(out.data[0]).toBe(3 * e.reduce((s, v) => s + v, 0));
  });
});

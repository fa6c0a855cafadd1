/**
 * The KeOps operations added to the formula language, through Genred formula strings,
 * against float64 brute-force references written here in plain JavaScript maths from
 * KeOps' definitions (never from the library's own code):
 *
 * - maths: Acos, Asin, SinXDivX (1 at 0), XLogX (0 at 0), ClampInt, DiffClampInt,
 *   IntInv, RatCst, SqNormDiag, SqNormIso, SymSqNorm, Factorize, AutoFactorize;
 * - comparisons Equal, NotEqual, LessThan, LessOrEqual and the infix < <= > >= (with
 *   exact ties, from Floor of values that are never near an integer; lowest precedence);
 * - ArgMax, ArgMin (the first extreme component, ties included), Gather, ElemT,
 *   ExtractT, SumT;
 * - TensorDot (dot, matrix product, outer product, a two-axis contraction, permutations),
 *   Kron (np.kron), BSpline (Cox–de Boor, orders 0..3, repeated knots, x on a knot);
 * - complex numbers as interleaved (re, im) pairs, with a dimension-2 operand broadcast;
 * - syntax: ** (Square, Pow, Powf), -x**2 = -(x²), trailing commas;
 * - and the errors of a few malformed formulas (the message must name the problem).
 *
 * Every case is reduced with Sum over both axes (axis 1: over j, M rows; axis 0: over i,
 * N rows), in float32 and float64, at (M, N) = (1, 1), (7, 5) and (1003, 13) (multiples
 * of no tile), on the CPU engine and once more through the emulated CUDA path
 * (LAZYKERNEL_CUDA=emulated, run option backend: 'cuda'), all against the same float64
 * reference. Every formula fits the device tables (128 instructions, 256 constants, 128
 * register values per pair), hence order 3 B-splines on five knots and ComplexDivide on
 * two complex entries.
 *
 * Stated tolerances (helpers/reference.ts, expectSumClose, as test/reduce.test.ts):
 *   float32: ‖a − e‖∞ ≤ 2e-5·‖e‖∞ + 1e-7·‖Σ|F|‖∞
 *   float64: ‖a − e‖∞ ≤ 1e-10·‖e‖∞ + 1e-13·‖Σ|F|‖∞
 * Inputs are float32-representable (helpers `dual`, `pick`), so one float64 reference on
 * them serves both dtypes; values compared or floored are kept away from the decision
 * boundaries, so 0/1 results and indices are exact in both dtypes.
 */
import { FormulaSyntaxError, Genred, ShapeError } from '../lib/index';
import type { Arg } from '../lib/tensor';
import {
  asTensor, caught, DType, DTYPES, dual, Dual, expectSumClose, expectTensor, lazily, pick, Rng, row, Table, tabulate,
} from './helpers/reference';

process.env.LAZYKERNEL_CUDA = 'emulated';

/** Math through a module binding: a global lookup is ~50× slower in jest's sandbox. */
const math = Math;

const SIZES: readonly (readonly [number, number])[] = [[1, 1], [7, 5], [1003, 13]];
const AXES: readonly (0 | 1)[] = [1, 0];

// ---------------------------------------------------------------------------------------
// The data: variables (drawn per size, fixed seeds) and parameters (fixed values)
// ---------------------------------------------------------------------------------------

type Gen = (rng: Rng, n: number) => number[];
const unif = (lo: number, hi: number): Gen => (rng, n) => Array.from({ length: n }, () => rng.uniform(lo, hi));
/** Values in (n + 0.1, n + 0.9) for integers n in lo..hi: Floor is exact and ties are frequent. */
const nearInt = (lo: number, hi: number): Gen => (rng, n) => Array.from({ length: n }, () => lo + rng.int(hi - lo + 1) + 0.1 + 0.8 * rng.next());
/** Complex entries with modulus in [0.5, 1.5]: safe denominators. */
const awayFromZero: Gen = (rng, n) => Array.from({ length: n / 2 }, () => {
  const rho = rng.uniform(0.5, 1.5);
  const phi = rng.uniform(-math.PI, math.PI);
  return [rho * math.cos(phi), rho * math.sin(phi)];
}).flat();
/** Spline abscissae in [0, 1); one in four lands exactly on a knot (of either knot set). */
const KNOT_VALUES = [0, 0.2, 0.4, 0.6, 0.8, 0.5, 0.75];
const splineX: Gen = (rng, n) => Array.from({ length: n }, () => (rng.next() < 0.25 ? KNOT_VALUES[rng.int(KNOT_VALUES.length)] : rng.next()));

interface VarSpec { cat: 'Vi' | 'Vj'; dim: number; gen: Gen }
const VARS: Record<string, VarSpec> = {
  u: { cat: 'Vi', dim: 3, gen: unif(-1, 1) },
  v: { cat: 'Vj', dim: 3, gen: unif(-1, 1) },
  x: { cat: 'Vi', dim: 3, gen: unif(0.5, 2) },
  y: { cat: 'Vj', dim: 3, gen: unif(0.5, 2) },
  s: { cat: 'Vi', dim: 1, gen: unif(-1, 1) },
  w: { cat: 'Vj', dim: 1, gen: unif(-1, 1) },
  a: { cat: 'Vi', dim: 4, gen: nearInt(-2, 2) },
  b: { cat: 'Vj', dim: 4, gen: nearInt(-2, 2) },
  e: { cat: 'Vj', dim: 1, gen: nearInt(-2, 2) },
  A: { cat: 'Vi', dim: 6, gen: unif(-1, 1) },
  B: { cat: 'Vj', dim: 6, gen: unif(-1, 1) },
  C: { cat: 'Vj', dim: 12, gen: unif(-1, 1) },
  D: { cat: 'Vi', dim: 12, gen: unif(-1, 1) },
  S: { cat: 'Vj', dim: 9, gen: unif(-1, 1) },
  t: { cat: 'Vi', dim: 1, gen: splineX },
  r: { cat: 'Vj', dim: 1, gen: splineX },
  z: { cat: 'Vi', dim: 6, gen: unif(-1, 1) },
  /** Two complex entries (ComplexDivide of three is past the device's 128 register values). */
  o: { cat: 'Vi', dim: 4, gen: unif(-1, 1) },
  p: { cat: 'Vj', dim: 4, gen: awayFromZero },
  k: { cat: 'Vi', dim: 2, gen: unif(-1, 1) },
  q: { cat: 'Vj', dim: 6, gen: awayFromZero },
  c: { cat: 'Vj', dim: 2, gen: awayFromZero },
};

/** Parameters (Pm), passed as number[]; float32-representable through `dual`. */
const PARAMS: Record<string, Dual> = {
  g: dual([0.5, 1.25, 2]),
  h: dual([0.75]),
  W: dual([0.5, -0.25, 1.5, 0.75, 2, -1, 0.125, 0.375, -0.625]),
  /** Sorted knots. */
  K: dual([0, 0.2, 0.4, 0.6, 0.8, 1]),
  J: dual([0, 0.2, 0.4, 0.6, 1]),
  /** Sorted knots with repeats (B-spline ratios over a zero-length span are 0). */
  L: dual([0, 0.5, 0.5, 0.75, 1]),
};

interface SizeData { M: number; N: number; vars: Record<string, Dual> }
const DATA = SIZES.map(([M, N], n) => lazily((): SizeData => {
  const rng = new Rng(4200 + n);
  const vars: Record<string, Dual> = {};
  for (const [name, spec] of Object.entries(VARS)) vars[name] = dual(spec.gen(rng, (spec.cat === 'Vi' ? M : N) * spec.dim));
  return { M, N, vars };
}));

// ---------------------------------------------------------------------------------------
// Small reference maths
// ---------------------------------------------------------------------------------------

type Vec = number[];
const each = (a: Vec, f: (v: number, c: number) => number): Vec => a.map(f);
/** Element-wise with KeOps' broadcast of a dimension-1 operand. */
const zip = (a: Vec, b: Vec, f: (p: number, q: number) => number): Vec => {
  const n = math.max(a.length, b.length);
  return Array.from({ length: n }, (_, c) => f(a.length === 1 ? a[0] : a[c], b.length === 1 ? b[0] : b[c]));
};
const minus = (a: Vec, b: Vec): Vec => zip(a, b, (p, q) => p - q);
const sum = (a: Vec): number => a.reduce((acc, v) => acc + v, 0);
/** dᵀ A d for a row-major dim(d)² matrix A. */
const quadraticForm = (A: Vec, d: Vec): number => sum(d.flatMap((dm, m) => d.map((dl, l) => A[d.length * m + l] * dm * dl)));
const floor = (a: Vec): Vec => a.map((v) => math.floor(v));
const bit = (cond: boolean): number => (cond ? 1 : 0);
/** The index of the first component best by `better`. */
const argBest = (a: Vec, better: (p: number, q: number) => boolean): number => {
  let best = 0;
  for (let c = 1; c < a.length; c++) if (better(a[c], a[best])) best = c;
  return best;
};

// Complex vectors, interleaved (re, im); a single complex number broadcasts.
type Cx = [number, number];
const entries = (z: Vec): Cx[] => Array.from({ length: z.length / 2 }, (_, n) => [z[2 * n], z[2 * n + 1]] as Cx);
const flat = (zs: Cx[]): Vec => zs.flat();
const czip = (f: Vec, g: Vec, op: (p: Cx, q: Cx) => Cx): Vec => {
  const F = entries(f);
  const G = entries(g);
  const n = math.max(F.length, G.length);
  return flat(Array.from({ length: n }, (_, m) => op(F.length === 1 ? F[0] : F[m], G.length === 1 ? G[0] : G[m])));
};
const cmul = ([a, b]: Cx, [c, d]: Cx): Cx => [a * c - b * d, a * d + b * c];
const cdiv = ([a, b]: Cx, [c, d]: Cx): Cx => {
  const n = c * c + d * d;
  return [(a * c + b * d) / n, (b * c - a * d) / n];
};

/** Cox–de Boor, from the definition (ratios over an empty span are 0). */
function bspline(t: Vec, x: number, order: number): Vec {
  let B = t.slice(0, -1).map((tj, j) => bit(tj <= x && x < t[j + 1]));
  const ratio = (i: number, k: number): number => (t[i] < t[i + k] ? (x - t[i]) / (t[i + k] - t[i]) : 0);
  for (let k = 1; k <= order; k++) {
    const prev = B;
    B = prev.slice(0, -1).map((_, i) => ratio(i, k) * prev[i] + (1 - ratio(i + 1, k)) * prev[i + 1]);
  }
  return B;
}

/** Row-major 2-D access. */
const at2 = (m: Vec, cols: number, i: number, j: number): number => m[i * cols + j];

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

interface OpCase {
  family: string;
  formula: string;
  /** Variables and parameters, in argument order. */
  uses: string[];
  dim: number;
  /** F(i, j) from the rows of the variables and the parameter values. */
  f: (r: Record<string, Vec>) => Vec;
}

const OP_CASES: OpCase[] = [
  // Maths
  { family: 'Acos', formula: 'Acos(u*v)', uses: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (p, c) => math.acos(p * v[c])) },
  { family: 'Asin (dim-1 broadcast)', formula: 'Asin(u*w)', uses: ['u', 'w'], dim: 3, f: ({ u, w }) => each(u, (p) => math.asin(p * w[0])) },
  {
    family: 'SinXDivX (exactly 1 at 0)', formula: 'SinXDivX(u-v) + SinXDivX(u-u)', uses: ['u', 'v'], dim: 3,
    f: ({ u, v }) => each(u, (p, c) => math.sin(p - v[c]) / (p - v[c]) + 1),
  },
  {
    family: 'XLogX (0 at 0)', formula: 'XLogX(x*y) + XLogX(u-u)*v', uses: ['x', 'y', 'u', 'v'], dim: 3,
    f: ({ x, y }) => each(x, (p, c) => p * y[c] * math.log(p * y[c])),
  },
  {
    family: 'ClampInt', formula: 'ClampInt(3*u-v,-1,2)', uses: ['u', 'v'], dim: 3,
    f: ({ u, v }) => each(u, (p, c) => math.min(math.max(3 * p - v[c], -1), 2)),
  },
  {
    family: 'DiffClampInt (1 on the closed interval, ties at both bounds)', formula: 'DiffClampInt(Floor(a)+Floor(b),-1,1) + 2*DiffClampInt(3*s-w,-1,2)',
    uses: ['a', 'b', 's', 'w'], dim: 4,
    f: ({ a, b, s, w }) => {
      const d = (f: number, lo: number, hi: number): number => (f < lo || f > hi ? 0 : 1);
      return zip(floor(a), floor(b), (p, q) => d(p + q, -1, 1) + 2 * d(3 * s[0] - w[0], -1, 2));
    },
  },
  {
    family: 'IntInv and RatCst', formula: 'IntInv(3)*u + RatCst(2,7)*v + RatCst(-5,3)*w', uses: ['u', 'v', 'w'], dim: 3,
    f: ({ u, v, w }) => each(u, (p, c) => (1 / 3) * p + (2 / 7) * v[c] + (-5 / 3) * w[0]),
  },
  {
    family: 'SqNormDiag with a weight of dim(x) (parameter)', formula: 'SqNormDiag(g,u-v)', uses: ['u', 'v', 'g'], dim: 1,
    f: ({ u, v, g }) => [sum(each(minus(u, v), (d, c) => g[c] * d * d))],
  },
  {
    family: 'SqNormDiag with a weight of dim 1 and a Vj weight of dim(x)', formula: 'SqNormDiag(h,u-v) + SqNormDiag(y,u)', uses: ['u', 'v', 'h', 'y'], dim: 1,
    f: ({ u, v, h, y }) => [sum(each(minus(u, v), (d) => h[0] * d * d)) + sum(each(u, (p, c) => y[c] * p * p))],
  },
  {
    family: 'SqNormIso', formula: 'SqNormIso(h,u-v) + SqNormIso(w,u)', uses: ['u', 'v', 'h', 'w'], dim: 1,
    f: ({ u, v, h, w }) => [h[0] * sum(each(minus(u, v), (d) => d * d)) + w[0] * sum(each(u, (p) => p * p))],
  },
  {
    family: 'SymSqNorm (Vj matrix)', formula: 'SymSqNorm(S,u-x)', uses: ['S', 'u', 'x'], dim: 1,
    f: ({ S, u, x }) => [quadraticForm(S, minus(u, x))],
  },
  {
    family: 'SymSqNorm (parameter matrix)', formula: 'SymSqNorm(W,u-v)', uses: ['u', 'v', 'W'], dim: 1,
    f: ({ u, v, W }) => [quadraticForm(W, minus(u, v))],
  },
  {
    family: 'Factorize and AutoFactorize (the formula itself)', formula: 'Factorize(Exp(-SqDist(u,v))*w, SqDist(u,v)) + AutoFactorize(Sum(u*v) + Exp(s*w))',
    uses: ['u', 'v', 'w', 's'], dim: 1,
    f: ({ u, v, w, s }) => [math.exp(-sum(each(minus(u, v), (d) => d * d))) * w[0] + sum(each(u, (p, c) => p * v[c])) + math.exp(s[0] * w[0])],
  },

  // Comparisons
  {
    family: 'Equal and NotEqual (exact ties)', formula: 'Equal(Floor(a),Floor(b)) + 2*NotEqual(Floor(a),Floor(e))', uses: ['a', 'b', 'e'], dim: 4,
    f: ({ a, b, e }) => zip(floor(a), floor(b), (p, q) => bit(p === q)).map((eq, c) => eq + 2 * bit(math.floor(a[c]) !== math.floor(e[0]))),
  },
  {
    family: 'LessThan and LessOrEqual (exact ties)', formula: 'LessThan(Floor(a),Floor(b)) + 2*LessOrEqual(Floor(a),Floor(b))', uses: ['a', 'b'], dim: 4,
    f: ({ a, b }) => zip(floor(a), floor(b), (p, q) => bit(p < q) + 2 * bit(p <= q)),
  },
  {
    family: 'LessThan, LessOrEqual of continuous values, dim-1 broadcast', formula: 'LessThan(u,w) + 2*LessOrEqual(s,v)', uses: ['u', 'w', 's', 'v'], dim: 3,
    f: ({ u, w, s, v }) => each(u, (p, c) => bit(p < w[0]) + 2 * bit(s[0] <= v[c])),
  },
  {
    family: 'infix < <= > >= (exact ties; > and >= swap the operands)',
    formula: '(Floor(a) < Floor(b)) + 2*(Floor(a) <= Floor(b)) + 4*(Floor(a) > Floor(b)) + 8*(Floor(a) >= Floor(b))', uses: ['a', 'b'], dim: 4,
    f: ({ a, b }) => zip(floor(a), floor(b), (p, q) => bit(p < q) + 2 * bit(p <= q) + 4 * bit(p > q) + 8 * bit(p >= q)),
  },
  {
    family: 'infix comparison has the lowest precedence (compares the sums)', formula: 'x+1 < y*2', uses: ['x', 'y'], dim: 3,
    f: ({ x, y }) => each(x, (p, c) => bit(p + 1 < y[c] * 2)),
  },
  {
    family: 'infix comparison below | (compares the scalar product)', formula: 'u|v >= w', uses: ['u', 'v', 'w'], dim: 1,
    f: ({ u, v, w }) => [bit(sum(each(u, (p, c) => p * v[c])) >= w[0])],
  },

  // Components
  {
    family: 'ArgMax and ArgMin (the first extreme component, with ties)', formula: 'ArgMax(Floor(a)*Floor(b)) + 10*ArgMin(Floor(a)+Floor(b))', uses: ['a', 'b'], dim: 1,
    f: ({ a, b }) => {
      const fa = floor(a);
      const fb = floor(b);
      return [argBest(zip(fa, fb, (p, q) => p * q), (p, q) => p > q) + 10 * argBest(zip(fa, fb, (p, q) => p + q), (p, q) => p < q)];
    },
  },
  {
    family: 'ArgMax and ArgMin of continuous values', formula: 'ArgMax(u-v) + 10*ArgMin(A*B)', uses: ['u', 'v', 'A', 'B'], dim: 1,
    f: ({ u, v, A, B }) => [argBest(minus(u, v), (p, q) => p > q) + 10 * argBest(zip(A, B, (p, q) => p * q), (p, q) => p < q)],
  },
  {
    family: 'Gather (repeats, any order)', formula: 'Gather(A*B,[5,0,3,3,1])', uses: ['A', 'B'], dim: 5,
    f: ({ A, B }) => [5, 0, 3, 3, 1].map((m) => A[m] * B[m]),
  },
  {
    family: 'Gather of one component (then broadcast)', formula: 'Gather(u-x,[1])*v', uses: ['u', 'x', 'v'], dim: 3,
    f: ({ u, x, v }) => v.map((q) => (u[1] - x[1]) * q),
  },
  {
    family: 'ElemT', formula: 'ElemT(s*w,4,2) + ElemT(Sum(u*v),4,0)', uses: ['s', 'w', 'u', 'v'], dim: 4,
    f: ({ s, w, u, v }) => [sum(each(u, (p, c) => p * v[c])), 0, s[0] * w[0], 0],
  },
  {
    family: 'ExtractT (inside, at the start, at the end)', formula: 'ExtractT(u-v,1,5) + ExtractT(u*y,0,5) + ExtractT(s*w,4,5)', uses: ['u', 'v', 'y', 's', 'w'], dim: 5,
    f: ({ u, v, y, s, w }) => {
      const d = minus(u, v);
      return [u[0] * y[0], d[0] + u[1] * y[1], d[1] + u[2] * y[2], d[2], s[0] * w[0]];
    },
  },
  {
    family: 'SumT', formula: 'SumT(Sum(u*v),3) - SumT(w,3)*x', uses: ['u', 'v', 'w', 'x'], dim: 3,
    f: ({ u, v, w, x }) => x.map((p) => sum(each(u, (q, c) => q * v[c])) - w[0] * p),
  },

  // Tensors
  {
    family: 'TensorDot: dot product', formula: 'TensorDot(x, y, [3], [3], [0], [0])', uses: ['x', 'y'], dim: 1,
    f: ({ x, y }) => [sum(each(x, (p, c) => p * y[c]))],
  },
  {
    family: 'TensorDot: 2×3 times 3×2 matrix product', formula: 'TensorDot(A, B, [2,3], [3,2], [1], [0])', uses: ['A', 'B'], dim: 4,
    f: ({ A, B }) => {
      const out: Vec = [];
      for (let i = 0; i < 2; i++) for (let l = 0; l < 2; l++) out.push(sum([0, 1, 2].map((j) => at2(A, 3, i, j) * at2(B, 2, j, l))));
      return out;
    },
  },
  {
    family: 'TensorDot: transposed matrix product (permute [1,0])', formula: 'TensorDot(A, B, [2,3], [3,2], [1], [0], [1,0])', uses: ['A', 'B'], dim: 4,
    f: ({ A, B }) => {
      const out: Vec = [];
      for (let l = 0; l < 2; l++) for (let i = 0; i < 2; i++) out.push(sum([0, 1, 2].map((j) => at2(A, 3, i, j) * at2(B, 2, j, l))));
      return out;
    },
  },
  {
    family: 'TensorDot: 2×3 times 3×4, transposed (permute [1,0])', formula: 'TensorDot(A, C, [2,3], [3,4], [1], [0], [1,0])', uses: ['A', 'C'], dim: 8,
    f: ({ A, C }) => {
      const out: Vec = [];
      for (let l = 0; l < 4; l++) for (let i = 0; i < 2; i++) out.push(sum([0, 1, 2].map((j) => at2(A, 3, i, j) * at2(C, 4, j, l))));
      return out;
    },
  },
  {
    family: 'TensorDot: outer product of a vector and a 2×3 matrix', formula: 'TensorDot(k*s, B, [2], [2,3], [], [])', uses: ['k', 's', 'B'], dim: 12,
    f: ({ k, s, B }) => k.flatMap((p) => B.map((q) => p * s[0] * q)),
  },
  {
    family: 'TensorDot: outer product (dim 16)', formula: 'TensorDot(Extract(A,0,4), Extract(B,2,4), [2,2], [2,2], [], [])', uses: ['A', 'B'], dim: 16,
    f: ({ A, B }) => A.slice(0, 4).flatMap((p) => B.slice(2, 6).map((q) => p * q)),
  },
  {
    family: 'TensorDot: outer product with a 3-cycle permute [2,0,1]', formula: 'TensorDot(A, c, [2,3], [2], [], [], [2,0,1])', uses: ['A', 'c'], dim: 12,
    // Kept axes (i: 2, j: 3, m: 2); output axis p is kept axis q where permute[q] = p: out[j, m, i].
    f: ({ A, c }) => {
      const out: Vec = [];
      for (let j = 0; j < 3; j++) for (let m = 0; m < 2; m++) for (let i = 0; i < 2; i++) out.push(at2(A, 3, i, j) * c[m]);
      return out;
    },
  },
  {
    family: 'TensorDot: contraction over two axes (crossed)', formula: 'TensorDot(D, C, [2,3,2], [2,3,2], [1,2], [1,0])', uses: ['D', 'C'], dim: 4,
    // out[i, l] = Σ_{j,m} D[i, j, m] · C[m, j, l]
    f: ({ D, C }) => {
      const out: Vec = [];
      for (let i = 0; i < 2; i++) {
        for (let l = 0; l < 2; l++) {
          let acc = 0;
          for (let j = 0; j < 3; j++) for (let m = 0; m < 2; m++) acc += D[i * 6 + j * 2 + m] * C[m * 6 + j * 2 + l];
          out.push(acc);
        }
      }
      return out;
    },
  },
  {
    family: 'Kron of 2×2 and 2×3 (np.kron, dim 24)', formula: 'Kron(Extract(A,0,4), B, [2,2], [2,3])', uses: ['A', 'B'], dim: 24,
    // K[i·2 + m, j·3 + l] = A[i, j] · B[m, l], row-major over (4, 6).
    f: ({ A, B }) => {
      const out = new Array<number>(24);
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 2; j++) {
          for (let m = 0; m < 2; m++) for (let l = 0; l < 3; l++) out[(i * 2 + m) * 6 + (j * 3 + l)] = at2(A, 2, i, j) * at2(B, 3, m, l);
        }
      }
      return out;
    },
  },
  {
    family: 'Kron of vectors, trailing commas', formula: 'Kron(x, y, [3,], [3],)', uses: ['x', 'y'], dim: 9,
    f: ({ x, y }) => x.flatMap((p) => y.map((q) => p * q)),
  },
  // (Order 3 on six knots is past the device's 128 instructions: it runs on five.)
  ...([[0, 'K'], [1, 'K'], [2, 'K'], [3, 'J']] as const).map(([order, knots]): OpCase => ({
    family: `BSpline of order ${order}, ${knots === 'K' ? 'knots 0, .2, .4, .6, .8, 1' : 'knots 0, .2, .4, .6, 1'}`, formula: `BSpline(${knots}, t, ${order})*w`,
    uses: [knots, 't', 'w'], dim: PARAMS[knots].f64.length - order - 1,
    f: (r) => bspline(r[knots], r.t[0], order).map((p) => p * r.w[0]),
  })),
  ...[1, 2, 3].map((order): OpCase => ({
    family: `BSpline of order ${order}, repeated knots 0, .5, .5, .75, 1`, formula: `BSpline(L, r, ${order})*s`, uses: ['L', 'r', 's'], dim: 4 - order,
    f: ({ L, r, s }) => bspline(L, r[0], order).map((p) => p * s[0]),
  })),

  // Complex numbers
  {
    family: 'Real2Complex and Imag2Complex', formula: 'Real2Complex(u-v) + 2*Imag2Complex(u*v)', uses: ['u', 'v'], dim: 6,
    f: ({ u, v }) => u.flatMap((p, c) => [p - v[c], 2 * p * v[c]]),
  },
  {
    family: 'ComplexReal and ComplexImag', formula: 'ComplexReal(z-q) + 2*ComplexImag(z*q)', uses: ['z', 'q'], dim: 3,
    f: ({ z, q }) => [0, 1, 2].map((n) => z[2 * n] - q[2 * n] + 2 * z[2 * n + 1] * q[2 * n + 1]),
  },
  {
    family: 'Conj', formula: 'Conj(z-q)', uses: ['z', 'q'], dim: 6,
    f: ({ z, q }) => flat(entries(minus(z, q)).map(([p, m]): Cx => [p, -m])),
  },
  {
    family: 'ComplexAbs, ComplexSquareAbs', formula: 'ComplexAbs(z-q) + 2*ComplexSquareAbs(z+q)', uses: ['z', 'q'], dim: 3,
    f: ({ z, q }) => {
      const d = entries(minus(z, q));
      const s = entries(zip(z, q, (p, m) => p + m));
      return [0, 1, 2].map((n) => math.hypot(d[n][0], d[n][1]) + 2 * (s[n][0] ** 2 + s[n][1] ** 2));
    },
  },
  {
    family: 'ComplexAngle (atan2(im, re))', formula: 'ComplexAngle(z-q)', uses: ['z', 'q'], dim: 3,
    f: ({ z, q }) => entries(minus(z, q)).map(([p, m]) => math.atan2(m, p)),
  },
  {
    family: 'ComplexAdd and ComplexSubtract (a dim-2 operand broadcasts, either side)', formula: 'ComplexAdd(z,q) + ComplexAdd(z,c) - ComplexSubtract(c,z)',
    uses: ['z', 'q', 'c'], dim: 6,
    f: ({ z, q, c }) => {
      const add = czip(z, q, ([p, m], [r, n]) => [p + r, m + n]);
      const addc = czip(z, c, ([p, m], [r, n]) => [p + r, m + n]);
      const subc = czip(c, z, ([p, m], [r, n]) => [p - r, m - n]);
      return add.map((val, l) => val + addc[l] - subc[l]);
    },
  },
  {
    family: 'ComplexMult (and a dim-2 operand first)', formula: 'ComplexMult(z,q) + ComplexMult(c,z)', uses: ['z', 'q', 'c'], dim: 6,
    f: ({ z, q, c }) => {
      const p1 = czip(z, q, cmul);
      const p2 = czip(c, z, cmul);
      return p1.map((val, l) => val + p2[l]);
    },
  },
  {
    family: 'ComplexDivide', formula: 'ComplexDivide(o,p)', uses: ['o', 'p'], dim: 4,
    f: ({ o, p }) => czip(o, p, cdiv),
  },
  {
    family: 'ComplexDivide by a dim-2 operand', formula: 'ComplexDivide(z,c)', uses: ['z', 'c'], dim: 6,
    f: ({ z, c }) => czip(z, c, cdiv),
  },
  {
    family: 'ComplexRealScal (either order)', formula: 'ComplexRealScal(w,z) + ComplexRealScal(q,s)', uses: ['w', 'z', 'q', 's'], dim: 6,
    f: ({ w, z, q, s }) => z.map((p, l) => w[0] * p + s[0] * q[l]),
  },
  {
    family: 'ComplexExp', formula: 'ComplexExp(z-q)', uses: ['z', 'q'], dim: 6,
    f: ({ z, q }) => flat(entries(minus(z, q)).map(([p, m]): Cx => [math.exp(p) * math.cos(m), math.exp(p) * math.sin(m)])),
  },
  {
    family: 'ComplexExp1j (real argument)', formula: 'ComplexExp1j(u*v)', uses: ['u', 'v'], dim: 6,
    f: ({ u, v }) => u.flatMap((p, c) => [math.cos(p * v[c]), math.sin(p * v[c])]),
  },
  {
    family: 'ComplexSum', formula: 'ComplexSum(ComplexMult(z,q))', uses: ['z', 'q'], dim: 2,
    f: ({ z, q }) => entries(czip(z, q, cmul)).reduce((acc, [p, m]) => [acc[0] + p, acc[1] + m], [0, 0]),
  },
  {
    family: 'ComplexSumT (one complex number repeated)', formula: 'ComplexSumT(ComplexMult(k,c),6)', uses: ['k', 'c'], dim: 6,
    f: ({ k, c }) => {
      const [p, m] = cmul([k[0], k[1]], [c[0], c[1]]);
      return [p, m, p, m, p, m];
    },
  },

  // Syntax
  { family: '** 2 is Square', formula: 'u**2 + v', uses: ['u', 'v'], dim: 3, f: ({ u, v }) => each(u, (p, c) => p * p + v[c]) },
  {
    family: '** with integer exponents (3, -2)', formula: '(u-v)**3 + x**-2', uses: ['u', 'v', 'x'], dim: 3,
    f: ({ u, v, x }) => each(u, (p, c) => (p - v[c]) ** 3 + 1 / (x[c] * x[c])),
  },
  {
    family: '** with a non-integer exponent is Powf', formula: 'x**y + y**1.5', uses: ['x', 'y'], dim: 3,
    f: ({ x, y }) => each(x, (p, c) => math.exp(y[c] * math.log(p)) + math.exp(1.5 * math.log(y[c]))),
  },
  {
    family: '-x**2 is -(x²)', formula: '-u**2 + v - -w**2', uses: ['u', 'v', 'w'], dim: 3,
    f: ({ u, v, w }) => each(u, (p, c) => -(p * p) + v[c] + w[0] * w[0]),
  },
  {
    family: 'trailing commas in argument lists and list literals', formula: 'Gather(u-v,[2,0,2,],) + ElemT(s*w,3,1,) + Atan2(x,y,)',
    uses: ['u', 'v', 's', 'w', 'x', 'y'], dim: 3,
    f: ({ u, v, s, w, x, y }) => {
      const d = minus(u, v);
      const g = [d[2], d[0], d[2]];
      const el = [0, s[0] * w[0], 0];
      return [0, 1, 2].map((c) => g[c] + el[c] + math.atan2(x[c], y[c]));
    },
  },
];

// ---------------------------------------------------------------------------------------
// The check: every case, both dtypes, every size, both axes, CPU then the emulated device
// ---------------------------------------------------------------------------------------

function aliasOf(name: string): string {
  const v = VARS[name];
  if (v !== undefined) return `${name} = ${v.cat}(${v.dim})`;
  return `${name} = Pm(${PARAMS[name].f64.length})`;
}

function argsOf(oc: OpCase, d: SizeData, dtype: DType): Arg[] {
  return oc.uses.map((name) => (VARS[name] !== undefined ? pick(d.vars[name], dtype) : Array.from(PARAMS[name].f64)));
}

/** The float64 reference table of a case at a size (shared by both dtypes and axes). */
const TABLES = new Map<string, Table>();
function referenceTable(oc: OpCase, n: number): Table {
  const key = `${oc.formula} @ ${n}`;
  let t = TABLES.get(key);
  if (t === undefined) {
    const d = DATA[n]();
    const params: Record<string, Vec> = {};
    for (const name of oc.uses) if (VARS[name] === undefined) params[name] = Array.from(PARAMS[name].f64);
    t = tabulate(d.M, d.N, oc.dim, (i, j) => {
      const rows: Record<string, Vec> = { ...params };
      for (const name of oc.uses) {
        const v = VARS[name];
        if (v !== undefined) rows[name] = row(d.vars[name].f64, v.cat === 'Vi' ? i : j, v.dim);
      }
      return oc.f(rows);
    });
    TABLES.set(key, t);
  }
  return t;
}

describe('KeOps operations (Sum over j and over i, float32 and float64, CPU and emulated device)', () => {
  const CASES = OP_CASES.flatMap((oc) => DTYPES.map((dtype) => [oc.family, oc.formula, dtype, oc] as const));

  test.each(CASES)('%s: %s (%s)', async (_family, formula, dtype, oc) => {
    const aliases = oc.uses.map(aliasOf);
    // Both axes' sums depend on the other side's rows only if F reads a Vi and a Vj variable.
    expect(oc.uses.some((n) => VARS[n]?.cat === 'Vi') && oc.uses.some((n) => VARS[n]?.cat === 'Vj')).toBe(true);
    for (const axis of AXES) {
      const g = new Genred(formula, aliases, { reduction: 'Sum', axis });
      expect(g.cols).toBe(oc.dim);
      for (let n = 0; n < SIZES.length; n++) {
        const d = DATA[n]();
        const t = referenceTable(oc, n);
        const rows = axis === 1 ? d.M : d.N;
        const args = argsOf(oc, d, dtype);
        const label = `(M, N) = (${d.M}, ${d.N}), axis ${axis}`;

        const cpu = asTensor(await g.run(args));
        expectTensor(cpu, dtype, [rows, oc.dim]);
        expectSumClose(cpu.data, t, axis, dtype, `${label}, CPU`);

        const dev = asTensor(g.runSync(args, { backend: 'cuda' }));
        expectTensor(dev, dtype, [rows, oc.dim]);
        expectSumClose(dev.data, t, axis, dtype, `${label}, emulated device`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
// Malformed formulas
// ---------------------------------------------------------------------------------------

describe('malformed formulas are errors that name the problem', () => {
  /** Builds and runs `formula` over x = Vi(3), y = Vj(3), z = Vj(3) (those it names); returns what it threw. */
  const attempt = (formula: string): Promise<unknown> => caught(() => {
    const names = ['x', 'y', 'z'].filter((n) => new RegExp(`\\b${n}\\b`).test(formula));
    const g = new Genred(formula, names.map((n) => `${n} = ${n === 'x' ? 'Vi' : 'Vj'}(3)`), { reduction: 'Sum', axis: 1 });
    return g.runSync(names.map(() => new Float64Array(6)));
  });

  test('ElemT of an operand of dimension 3 is a ShapeError', async () => {
    const err = await attempt('ElemT(x,3,1)');
    expect(err).toBeInstanceOf(ShapeError);
    expect(String(err)).toMatch(/ElemT/);
    expect(String(err)).toMatch(/dimension 1/);
  });

  test('TensorDot with a shape that does not match the operand\'s dimension is a ShapeError', async () => {
    const err = await attempt('TensorDot(x,y,[2],[3],[0],[0])');
    expect(err).toBeInstanceOf(ShapeError);
    expect(String(err)).toMatch(/TensorDot/);
    expect(String(err)).toMatch(/shape \[2\]/);
  });

  test('TensorDot contracting axes of different lengths is a ShapeError', async () => {
    const err = await attempt('TensorDot(x,y,[3],[3,1],[0],[1])');
    expect(err).toBeInstanceOf(ShapeError);
    expect(String(err)).toMatch(/TensorDot/);
    expect(String(err)).toMatch(/contracted axes/);
  });

  test('ComplexMult of odd-dimensional operands is a ShapeError', async () => {
    const err = await attempt('ComplexMult(x,y)');
    expect(err).toBeInstanceOf(ShapeError);
    expect(String(err)).toMatch(/ComplexMult/);
    expect(String(err)).toMatch(/even dimension/);
  });

  test('AdjointOperator is refused as a KeOps internal', async () => {
    const err = await attempt('AdjointOperator(x)');
    expect(err).toBeInstanceOf(FormulaSyntaxError);
    expect(String(err)).toMatch(/AdjointOperator/);
    expect(String(err)).toMatch(/KeOps/);
    expect(String(err)).toMatch(/internal/);
  });

  test('comparisons do not chain', async () => {
    const err = await attempt('x < y < z');
    expect(err).toBeInstanceOf(FormulaSyntaxError);
    expect(String(err)).toMatch(/do not chain/);
  });
});

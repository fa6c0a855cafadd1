/**
 * Pruning of softmax-weighted sums whose weights are a Gaussian or Laplace kernel
 * (issue 8): SumSoftMaxWeight with F = -g·SqDist(x,y) or F = -Sqrt(g·SqDist(x,y)) and
 * values V a j-variable, against `prune: false` and a float64 brute force written here.
 *
 * The guarantee (native/cpu/cluster.h): the dropped weights add up to at most tol times
 * all the weights, and the dropped |w·V_c| to at most tol times all of them, per row and
 * column. With p_ij = w_ij / Σ_j w_ij the softmax probabilities, the result then moves by
 *
 *     |pruned_ic − exact_ic|  ≤  tol · (Σ_j p_ij |V_jc| + |out_ic|)  +  R_ic  +  Z_ic
 *
 * (out' − out = Σ_dropped w_j (out' − V_j) / Σ_j w_j). R_ic is the engine's own rounding:
 * each weight exp(F − m) carries a relative error of at most u·((2D + 8)·(|F_ij| + |m_i|) + 4)
 * (F from a squared distance of D terms, the shift m a rounded F too), and the tile sums
 * and the quotient add a few u more; perturbing the weights by relative ε moves the
 * quotient by at most Σ_j p_ij·ε_ij·(|V_jc| + |out_ic|). So
 *
 *     R_ic = u · Σ_j p_ij · ((2D + 8)·(|F_ij| + |m_i|) + 32) · (|V_jc| + |out_ic|),
 *
 * and Z_ic = N·(max|V| + |out_ic|)·FLUSH covers exp's flush to zero (exp.h).
 * `prune: false` (the fused loop over every pair) and the generic interpreter must meet
 * the same bound with tol = 0.
 */
import * as util from 'util';
import { Genred, RunOptions } from '../lib';
import { asTensor, dual, Dual, DType, DTYPES, lazily, pick, Rng, sqdistRows } from './helpers/reference';
import { FLUSH, U } from './helpers/radial';

const { abs: mAbs, exp: mExp, sqrt: mSqrt, max: mMax } = Math;
const { isNaN: numIsNaN, isFinite: numIsFinite } = Number;


type Profile = 'gaussian' | 'laplace';
const FORMULA: Record<Profile, string> = { gaussian: '-g*SqDist(x,y)', laplace: '-Sqrt(g*SqDist(x,y))' };
const logPhi = (profile: Profile, s: number): number => (profile === 'gaussian' ? -s : -mSqrt(s));

/** out_r = softmax_t(logPhi(g·|x_r − y_t|²)) · V_t; x are the output points, y and V the reduced ones. */
interface Problem {
  profile: Profile;
  g: number;
  D: number;
  dv: number;
  M: number;
  N: number;
  x: Dual;
  y: Dual;
  v: Dual;
  axis: 0 | 1;
}

interface Reference {
  exact: Float64Array;
  /** Σ_t p_rt |V_tc| + |out_rc|: the tolerance's scale. */
  scale: Float64Array;
  /** R_rc / u. */
  round: Float64Array;
  /** Z_rc / FLUSH. */
  flush: Float64Array;
}

function reference(p: Problem): Reference {
  const { profile, g, D, dv, M, N } = p;
  const x = p.x.f64;
  const y = p.y.f64;
  const v = p.v.f64;
  const exact = new Float64Array(M * dv);
  const scale = new Float64Array(M * dv);
  const round = new Float64Array(M * dv);
  const flush = new Float64Array(M * dv);
  let vmax = 0;
  for (const a of v) if (numIsFinite(a)) vmax = mMax(vmax, mAbs(a));
  const f = new Float64Array(N);
  for (let r = 0; r < M; r++) {
    let m = -Infinity;
    for (let t = 0; t < N; t++) {
      f[t] = logPhi(profile, g * sqdistRows(x, r, y, t, D));
      m = f[t] > m || numIsNaN(f[t]) ? f[t] : m;
    }
    let den = 0;
    for (let t = 0; t < N; t++) den += mExp(f[t] - m);
    for (let c = 0; c < dv; c++) {
      let num = 0;
      for (let t = 0; t < N; t++) num += mExp(f[t] - m) * v[t * dv + c];
      const out = num / den;
      let s = 0;
      let rr = 0;
      for (let t = 0; t < N; t++) {
        const pt = mExp(f[t] - m) / den;
        s += pt * mAbs(v[t * dv + c]);
        rr += pt * ((2 * D + 8) * (mAbs(f[t]) + mAbs(m)) + 32) * (mAbs(v[t * dv + c]) + mAbs(out));
      }
      const k = r * dv + c;
      exact[k] = out;
      scale[k] = s + mAbs(out);
      round[k] = rr;
      flush[k] = N * (vmax + mAbs(out));
    }
  }
  return { exact, scale, round, flush };
}

function expectBound(got: ArrayLike<number>, ref: Reference, tol: number, dtype: DType, dv: number, label: string): void {
  let worst = -1;
  let worstRatio = 0;
  for (let k = 0; k < ref.exact.length; k++) {
    const e = ref.exact[k];
    const a = got[k];
    if (numIsNaN(e) || numIsNaN(a)) {
      if (numIsNaN(e) !== numIsNaN(a)) throw new Error(`${label}: row ${Math.floor(k / dv)}, column ${k % dv}: got ${a}, expected ${e}`);
      continue;
    }
    const allowed = tol * ref.scale[k] + U[dtype] * ref.round[k] + FLUSH[dtype] * ref.flush[k];
    const ratio = mAbs(a - e) / allowed;
    if (!(ratio <= worstRatio)) {
      worstRatio = ratio;
      worst = k;
    }
  }
  if (worstRatio > 1) {
    const k = worst;
    throw new Error(`${label}: row ${Math.floor(k / dv)}, column ${k % dv}: got ${got[k]}, exact ${ref.exact[k]}, ` +
      `|error| ${mAbs(got[k] - ref.exact[k]).toExponential(3)} is ${worstRatio.toFixed(2)}× the bound`);
  }
}

const operators = new Map<string, Genred>();

function operator(p: Problem, formula: string): Genred {
  const key = `${formula}|${p.D}|${p.dv}|${p.axis}`;
  let op = operators.get(key);
  if (op === undefined) {
    const [i, j] = p.axis === 1 ? ['Vi', 'Vj'] : ['Vj', 'Vi'];
    const aliases = [`x = ${i}(${p.D})`, `y = ${j}(${p.D})`, `v = ${j}(${p.dv})`, 'g = Pm(1)'];
    op = new Genred(formula, aliases, { reduction: 'SumSoftMaxWeight', axis: p.axis, formula2: 'v' });
    operators.set(key, op);
  }
  return op;
}

/** prune: true unless a test says otherwise: these sizes are below the automatic threshold. */
function run(p: Problem, dtype: DType, opts: RunOptions = {}, formula = FORMULA[p.profile]): Float32Array | Float64Array {
  const args = [pick(p.x, dtype), pick(p.y, dtype), pick(p.v, dtype), p.g];
  const t = asTensor(operator(p, formula).runSync(args, { prune: true, ...opts }));
  expect(t.shape).toEqual([p.M, p.dv]);
  // util.types, not instanceof: the addon's arrays come from outside jest's sandbox.
  expect(dtype === 'float32' ? util.types.isFloat32Array(t.data) : util.types.isFloat64Array(t.data)).toBe(true);
  return t.data as Float32Array | Float64Array;
}

/** Points: `make(rng, point)` fills one point's D coordinates. */
function points(seed: number, count: number, D: number, make: (rng: Rng, pt: Float64Array, index: number) => void): Dual {
  const rng = new Rng(seed);
  const out = new Float64Array(count * D);
  const pt = new Float64Array(D);
  for (let k = 0; k < count; k++) {
    make(rng, pt, k);
    out.set(pt, k * D);
  }
  return dual(out);
}

const uniformPt = (rng: Rng, pt: Float64Array): void => pt.forEach((_, k) => { pt[k] = rng.next(); });
const values = (seed: number, count: number): Dual => points(seed, count, 1, (rng, pt) => { pt[0] = rng.uniform(-1, 1); });

interface Spec {
  name: string;
  make: () => Problem;
}

function problem(
  seed: number, profile: Profile, g: number, D: number, dv: number, M: number, N: number, axis: 0 | 1,
  xPt: (rng: Rng, pt: Float64Array, index: number) => void = uniformPt,
  yPt: (rng: Rng, pt: Float64Array, index: number) => void = uniformPt,
): Problem {
  return {
    profile, g, D, dv, M, N, axis,
    x: points(seed, M, D, xPt),
    y: points(seed + 1, N, D, yPt),
    v: values(seed + 2, N * dv),
  };
}

// Scales at which, on [0,1]^D with about a thousand points, most cluster pairs drop out.
const SPECS: Spec[] = [
  { name: 'gaussian, uniform D=3, dv=1, axis 1', make: () => problem(1, 'gaussian', 1e3, 3, 1, 1003, 1500 + 7, 1) },
  { name: 'gaussian, uniform D=3, dv=3, axis 0', make: () => problem(2, 'gaussian', 1e3, 3, 3, 777, 1200 + 3, 0) },
  { name: 'laplace, uniform D=3, dv=2, axis 1', make: () => problem(3, 'laplace', 1e4, 3, 2, 1003, 1500 + 7, 1) },
  { name: 'gaussian, uniform D=1, dv=1, axis 0', make: () => problem(4, 'gaussian', 1e5, 1, 1, 1000 + 3, 2000 + 1, 0) },
  { name: 'gaussian, uniform D=5, dv=1, axis 1', make: () => problem(5, 'gaussian', 3e2, 5, 1, 700 + 1, 900 + 7, 1) },
  {
    name: 'gaussian, clustered blobs D=2', make: () => {
      const blob = (rng: Rng, pt: Float64Array, i: number): void => {
        const c = i % 5;
        pt[0] = c * 0.2 + 0.01 * rng.normal();
        pt[1] = (c % 2) * 0.5 + 0.01 * rng.normal();
      };
      return problem(6, 'gaussian', 1e4, 2, 1, 900 + 1, 1100 + 3, 1, blob, blob);
    },
  },
  {
    name: 'gaussian, every column point equal', make: () =>
      problem(7, 'gaussian', 1e3, 3, 1, 500 + 3, 700 + 1, 1, uniformPt, (_r, pt) => pt.fill(0.5)),
  },
  {
    name: 'laplace, points on a line', make: () => {
      const line = (rng: Rng, pt: Float64Array): void => { const s = rng.next(); pt[0] = s; pt[1] = 2 * s; pt[2] = -s; };
      return problem(8, 'laplace', 1e4, 3, 1, 600 + 7, 800 + 3, 0, line, line);
    },
  },
  {
    // Row 0 is ten units away: every weight of that row underflows unless shifted.
    name: 'gaussian, one far outlier row', make: () =>
      problem(9, 'gaussian', 1e3, 3, 2, 400 + 3, 900 + 5, 1, (rng, pt, i) => { uniformPt(rng, pt); if (i === 0) pt.fill(10); }),
  },
  {
    // No column cluster touches any row cluster: the walk starts from a near leaf.
    name: 'gaussian, queries away from the data', make: () =>
      problem(10, 'gaussian', 1e2, 3, 1, 300 + 1, 1000 + 3, 1, (rng, pt) => { uniformPt(rng, pt); pt[0] += 2; }),
  },
  {
    // So narrow that each row's softmax is nearly its nearest neighbour's value.
    name: 'gaussian, very narrow (g = 1e7)', make: () => problem(11, 'gaussian', 1e7, 3, 1, 500 + 7, 700 + 1, 0),
  },
];

const CASES = SPECS.flatMap((spec) => {
  const p = lazily(spec.make);
  const ref = lazily(() => reference(p()));
  return DTYPES.map((dtype) => ({ name: `${spec.name}, ${dtype}`, dtype, p, ref }));
});

describe('pruned SumSoftMaxWeight vs prune: false vs the float64 brute force', () => {
  test.each(CASES)('$name: pruned, every pair, and the generic interpreter all within the bound', ({ dtype, p, ref }) => {
    const prob = p();
    const r = ref();
    expectBound(run(prob, dtype, { prune: false }), r, 0, dtype, prob.dv, 'prune: false');
    expectBound(run(prob, dtype), r, U[dtype], dtype, prob.dv, 'pruned');
    // `+ Zero(1)` keeps the recogniser out: the same maths through the generic interpreter.
    expectBound(run(prob, dtype, {}, `${FORMULA[prob.profile]}+Zero(1)`), r, 0, dtype, prob.dv, 'generic');
  });
});

describe('pruneTolerance trades accuracy for speed within its stated bound', () => {
  const p = lazily(() => problem(12, 'gaussian', 3e2, 3, 2, 800 + 3, 1000 + 7, 1));
  const ref = lazily(() => reference(p()));
  test.each(DTYPES)('%s: tol 1e-2 stays within tol·(Σ p|V| + |out|)', (dtype) => {
    const prob = p();
    expectBound(run(prob, dtype, { pruneTolerance: 1e-2 }), ref(), 1e-2, dtype, prob.dv, 'pruneTolerance 1e-2');
  });
  test('float64: tol 1e-2 drops visible terms (moves some result far beyond float64 rounding)', () => {
    const prob = p();
    const r = ref();
    const loose = run(prob, 'float64', { pruneTolerance: 1e-2 });
    let moved = 0;
    for (let k = 0; k < r.exact.length; k++) moved = mMax(moved, mAbs(loose[k] - r.exact[k]) / (U.float64 * r.round[k]));
    expect(moved).toBeGreaterThan(100);
  });
});

describe('softmax weights that are not a decaying kernel are never pruned', () => {
  // F = +g·SqDist grows with distance: recognised with a negative scale, so not pruned.
  test.each(DTYPES)('%s: F = g·SqDist(x,y), prune: true, matches the brute force', (dtype) => {
    const prob = problem(13, 'gaussian', -1e2, 3, 1, 300 + 1, 400 + 3, 1);
    const r = reference(prob);
    expectBound(run({ ...prob, g: 1e2 }, dtype, {}, 'g*SqDist(x,y)'), r, 0, dtype, prob.dv, 'growing weights');
  });
});

describe('NaN in the data', () => {
  test.each(DTYPES)('%s: a NaN row gives a NaN row, a NaN column point every row NaN, as without pruning', (dtype) => {
    const prob = problem(14, 'gaussian', 1e3, 3, 1, 300 + 3, 500 + 1, 1);
    const x = prob.x.f64.slice();
    x[5 * 3 + 1] = NaN;
    const withNaNRow = { ...prob, x: { f64: x, f32: Float32Array.from(x) } };
    const pruned = run(withNaNRow, dtype);
    const full = run(withNaNRow, dtype, { prune: false });
    for (let r = 0; r < prob.M; r++) expect([r, numIsNaN(pruned[r])]).toEqual([r, r === 5]);
    expect(Array.from(pruned, numIsNaN)).toEqual(Array.from(full, numIsNaN));
    expectBound(pruned, reference(withNaNRow), U[dtype], dtype, 1, 'NaN row');

    const y = prob.y.f64.slice();
    y[17 * 3] = NaN;
    const withNaNColumn = { ...prob, y: { f64: y, f32: Float32Array.from(y) } };
    expect(Array.from(run(withNaNColumn, dtype), numIsNaN)).toEqual(new Array(prob.M).fill(true));
  });
});

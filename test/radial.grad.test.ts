/**
 * The fused gradient of a radial-kernel sum (issue 13, item 4; native/cpu/radial_grad.h):
 * Grad(phi(g·SqDist(x,y))·b, x, e) summed over j, and the gradient with respect to y
 * summed over i, for the six recognised kernels, float32 and float64, both axes, sizes
 * 1, 7 and 1003, D = 3 (the loop kept in registers) and D = 5 (the general loop), b of
 * one and two columns, with pruning on and off, against a float64 brute force of the
 * closed form written here:
 *
 *     out_i = Σ_j 2g·phi'(g·|x_i − y_j|²)·(x_i − y_j)·⟨e_i, b_j⟩.
 *
 * Every case first checks that the program carries the fused gradient (kernel field 5),
 * so the loop under test is the fused one, not the generic code.
 *
 * The bound, per output entry (i, k): |got − exact| ≤ tol·A_i + u·B_ik + Z, where
 *   A_i  = Σ_c |e_ic| Σ_j 2|g|·|phi'|·|x_i − y_j|·|b_jc|   (what pruning may drop: tol of
 *          the terms' norms, native/cpu/cluster.h; tol = 0 without pruning),
 *   B_ik = Σ_c |e_ic| Σ_j 2|g|·|phi'|·|b_jc|·(|x_ik − y_jk|·((D + 3)·σ + 32) + 2(|x_ik| + |y_jk|))
 *          (rounding: the squared distance's (D + 3)u carried into phi' by its
 *          sensitivity σ, 32u for exp, the products and a tile's summation, and the
 *          rounding of the difference x_ik − y_jk itself),
 *   Z    = the flush to zero of exp below the smallest normal, N·max|b|·max|e|·2|g|·maxd·FLUSH.
 * u is the unit roundoff of the dtype (2^-24, 2^-53).
 */
import * as lower from '../lib/formula/lower';
import { Genred, LazyTensor, Vi, Vj, Pm } from '../lib';
import { bindReduction } from '../lib/lazy';
import { asTensor, dual, Dual, DType, DTYPES, pick, Rng, uniform } from './helpers/reference';
import { FLUSH, FORMULA, KernelName, KERNELS, U } from './helpers/radial';

const { abs: mAbs, exp: mExp, sqrt: mSqrt, max: mMax } = Math;

/** phi'(s) in float64, by hand from each profile (Laplace's is taken as 0 at s = 0). */
function slope(kernel: KernelName, s: number): number {
  const r = mSqrt(s);
  switch (kernel) {
    case 'gaussian': return -mExp(-s);
    case 'laplace': return r > 0 ? -mExp(-r) / (2 * r) : 0;
    case 'cauchy': return -1 / ((1 + s) * (1 + s));
    case 'imq': return -0.5 * (1 + s) ** -1.5;
    case 'matern32': return -0.5 * mExp(-r);
    case 'matern52': return -(1 + r) * mExp(-r) / 6;
  }
}

/** σ: the relative sensitivity of phi' to a relative change of s, bounded above. */
const sensitivity = (kernel: KernelName, s: number): number => (kernel === 'gaussian' ? s : mSqrt(s) + 2);

interface Problem {
  kernel: KernelName;
  g: number;
  D: number;
  dv: number;
  /** The points differentiated (rows of the output), the other points, b (on q's rows), e (on p's rows). */
  p: Dual;
  q: Dual;
  b: Dual;
  e: Dual;
}

interface Reference { exact: Float64Array; abs: Float64Array; round: Float64Array; flush: number }

/** out_i = Σ_j 2g·phi'(g|p_i − q_j|²)·(p_i − q_j)·⟨e_i, b_j⟩, with A_i and B_ik (file header). */
function reference(pr: Problem): Reference {
  const { kernel, g, D, dv } = pr;
  const p = pr.p.f64, q = pr.q.f64, b = pr.b.f64, e = pr.e.f64;
  const M = p.length / D, N = q.length / D;
  const exact = new Float64Array(M * D), abs = new Float64Array(M), round = new Float64Array(M * D);
  let dmax = 0, bmax = 0, emax = 0;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let d2 = 0;
      for (let k = 0; k < D; k++) d2 += (p[i * D + k] - q[j * D + k]) ** 2;
      dmax = mMax(dmax, mSqrt(d2));
      const s = g * d2;
      const f = 2 * g * slope(kernel, s);
      let eb = 0, ebAbs = 0;
      for (let c = 0; c < dv; c++) {
        eb += e[i * dv + c] * b[j * dv + c];
        ebAbs += mAbs(e[i * dv + c] * b[j * dv + c]);
      }
      abs[i] += mAbs(f) * mSqrt(d2) * ebAbs;
      const w = (D + 3) * sensitivity(kernel, s) + 32;
      for (let k = 0; k < D; k++) {
        const diff = p[i * D + k] - q[j * D + k];
        exact[i * D + k] += f * diff * eb;
        round[i * D + k] += mAbs(f) * ebAbs * (mAbs(diff) * w + 2 * (mAbs(p[i * D + k]) + mAbs(q[j * D + k])));
      }
    }
  }
  for (const v of b) bmax = mMax(bmax, mAbs(v));
  for (const v of e) emax = mMax(emax, mAbs(v));
  return { exact, abs, round, flush: N * bmax * emax * 2 * mAbs(g) * mMax(dmax, 1) * dv };
}

function expectBound(got: ArrayLike<number>, ref: Reference, tol: number, dtype: DType, D: number, label: string): void {
  const u = U[dtype];
  const z = ref.flush * FLUSH[dtype];
  expect(got.length).toBe(ref.exact.length);
  for (let n = 0; n < ref.exact.length; n++) {
    const i = Math.floor(n / D);
    const allowed = tol * ref.abs[i] + u * ref.round[n] + z;
    const err = mAbs(got[n] - ref.exact[n]);
    if (!(err <= allowed)) {
      throw new Error(`${label}: row ${i}, component ${n % D}: got ${got[n]}, exact ${ref.exact[n]}, |error| ${err.toExponential(3)} > allowed ${allowed.toExponential(3)}`);
    }
  }
}

/**
 * The three ways a gradient reaches the engine as a Sum: with respect to the i-points x
 * over axis 1 ('x'), with respect to the j-points y over axis 0 ('y'), and the first
 * written with the categories mirrored, reduced over axis 0 ('x, mirrored').
 */
type Way = 'x' | 'y' | 'x, mirrored';
const WAYS: readonly Way[] = ['x', 'y', 'x, mirrored'];

const operators = new Map<string, Genred>();
function operator(kernel: KernelName, D: number, dv: number, way: Way): Genred {
  const key = `${kernel}|${D}|${dv}|${way}`;
  let op = operators.get(key);
  if (op === undefined) {
    const [i, j] = way === 'x, mirrored' ? ['Vj', 'Vi'] : ['Vi', 'Vj'];
    const aliases = [`x = ${i}(${D})`, `y = ${j}(${D})`, `b = ${j}(${dv})`, 'g = Pm(1)', `e = ${i}(${dv})`];
    op = new Genred(`Grad(${FORMULA[kernel]}, ${way === 'y' ? 'y' : 'x'}, e)`, aliases, { reduction: 'Sum', axis: way === 'x' ? 1 : 0 });
    operators.set(key, op);
  }
  return op;
}

/**
 * Runs one problem: for 'x' and its mirror, p = x (the output rows) and q = y; for 'y',
 * p = y, q = x, and the problem's b (on q's rows) is the formula's e while its e (on
 * p's rows) is the formula's b.
 */
function run(pr: Problem, way: Way, dtype: DType, prune: boolean, pruneTolerance?: number): Float32Array | Float64Array {
  const op = operator(pr.kernel, pr.D, pr.dv, way);
  const kernel = op.compiled.lowered.kernel;
  expect(kernel.length).toBe(6);
  expect(kernel[5]).toBeGreaterThanOrEqual(0); // the fused gradient, not the generic code
  const [x, y, b, e] = way === 'y' ? [pr.q, pr.p, pr.e, pr.b] : [pr.p, pr.q, pr.b, pr.e];
  const t = asTensor(op.runSync([pick(x, dtype), pick(y, dtype), pick(b, dtype), pr.g, pick(e, dtype)], { prune, pruneTolerance }));
  expect(t.shape).toEqual([pr.p.f64.length / pr.D, pr.D]);
  return t.data as Float32Array | Float64Array;
}

function make(seed: number, kernel: KernelName, g: number, D: number, dv: number, M: number, N: number, same = false): Problem {
  const rng = new Rng(seed);
  const q = uniform(rng, N * D);
  const p = same ? q : uniform(rng, M * D);
  return { kernel, g, D, dv, p: dual(p), q: dual(q), b: dual(uniform(rng, N * dv, -1, 1)), e: dual(uniform(rng, M * dv, -1, 1)) };
}

describe('fused radial-kernel gradient against a float64 brute force', () => {
  const SIZES: readonly [number, number][] = [[1, 1], [7, 5], [1003, 1000 + 3]];
  KERNELS.forEach((kernel, kn) => {
    test(`${kernel}: every way, dtype, size, D = 3 and 5, b of 1 and 2 columns, pruned and not`, () => {
      for (const [D, dv] of [[3, 1], [3, 2], [5, 1]] as const) {
        for (const [M, N] of SIZES) {
          const pr = make(100 * kn + 10 * D + dv + M, kernel, 30, D, dv, M, N);
          const ref = reference(pr);
          for (const way of WAYS) {
            for (const dtype of DTYPES) {
              for (const prune of [false, true]) {
                const tol = prune ? U[dtype] : 0;
                expectBound(run(pr, way, dtype, prune), ref, tol, dtype, D, `${kernel} ${way} D=${D} dv=${dv} ${M}x${N} ${dtype} prune=${prune}`);
              }
            }
          }
        }
      }
    });

    test(`${kernel}: coincident points (y = x, as in a solve), where the gradient's terms vanish`, () => {
      const pr = make(7 + kn, kernel, 30, 3, 1, 1003, 1003, true);
      const ref = reference(pr);
      for (const dtype of DTYPES) {
        for (const prune of [false, true]) expectBound(run(pr, 'x', dtype, prune), ref, prune ? U[dtype] : 0, dtype, 3, `${kernel} y = x ${dtype} prune=${prune}`);
      }
    });
  });

  // Pruning really drops terms and stays within its tolerance. The cut-off is careful
  // (cluster.h), so the data must let it bite, as in prune.test.ts: narrow kernels on
  // uniform points in D = 2 (D = 1 for Cauchy, whose tail is polynomial), and for IMQ,
  // which decays too slowly to drop anything measurable on uniform data, two tight
  // blobs 20 apart.
  const dropCases: { kernel: KernelName; what: string; make: () => Problem }[] = [
    { kernel: 'gaussian', what: 'uniform [0,1]^2, γ = 1e2', make: () => make(501, 'gaussian', 1e2, 2, 1, 1003, 1003) },
    { kernel: 'laplace', what: 'uniform [0,1]^2, scale 1e3', make: () => make(502, 'laplace', 1e3, 2, 1, 1003, 1003) },
    { kernel: 'matern32', what: 'uniform [0,1]^2, scale 3e2', make: () => make(503, 'matern32', 3e2, 2, 1, 1003, 1003) },
    { kernel: 'matern52', what: 'uniform [0,1]^2, scale 3e2', make: () => make(504, 'matern52', 3e2, 2, 1, 1003, 1003) },
    { kernel: 'cauchy', what: 'uniform [0,1], scale 1e6', make: () => make(505, 'cauchy', 1e6, 1, 1, 1003, 1003) },
    {
      kernel: 'imq',
      what: 'two blobs (sd 0.01) 20 apart, scale 1e4',
      make: () => {
        const rng = new Rng(506);
        const x = new Float64Array(1003 * 3);
        for (let i = 0; i < 1003; i++) for (let k = 0; k < 3; k++) x[i * 3 + k] = (k === 0 && i % 2 === 1 ? 20 : 0) + 0.01 * rng.normal();
        return { kernel: 'imq', g: 1e4, D: 3, dv: 1, p: dual(x), q: dual(x), b: dual(uniform(rng, 1003, -1, 1)), e: dual(uniform(rng, 1003, -1, 1)) };
      },
    },
  ];
  test.each(dropCases)('$kernel: pruneTolerance 0.1 drops terms and stays within it ($what)', ({ make: build }) => {
    const pr = build();
    const ref = reference(pr);
    for (const way of ['x', 'y'] as const) {
      for (const dtype of DTYPES) {
        const full = run(pr, way, dtype, false);
        const pruned = run(pr, way, dtype, true, 0.1);
        expectBound(pruned, ref, 0.1, dtype, pr.D, `${pr.kernel} ${way} ${dtype} tol 0.1`);
        // Something was dropped: the two differ by more than both computations' rounding
        // somewhere. (In float64: float32's rounding bound can hide what IMQ's far blob adds.)
        if (dtype === 'float32') continue;
        let differs = 0;
        for (let n = 0; n < full.length; n++) if (mAbs(pruned[n] - full[n]) > 2 * U[dtype] * ref.round[n]) differs++;
        expect(differs).toBeGreaterThan(0);
      }
    }
  });

  test('NaN in the points or in b reaches the rows as without pruning', () => {
    const pr = make(5, 'gaussian', 30, 3, 1, 1003, 1003);
    pr.q.f64[3 * 500] = NaN;
    pr.q.f32[3 * 500] = NaN;
    for (const dtype of DTYPES) {
      for (const prune of [false, true]) {
        const got = run(pr, 'x', dtype, prune);
        expect(Array.from(got).every((v) => Number.isNaN(v))).toBe(true);
      }
    }
  });
});

describe('what is fused', () => {
  const aliases = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)', 'e = Vi(1)'];
  const fieldW = (formula: string, axis: 0 | 1 = 1, names = aliases): number => {
    const k = new Genred(formula, names, { reduction: 'Sum', axis }).compiled.lowered.kernel;
    return k.length === 0 ? -1 : k[5];
  };

  test("KeOps' spelling of the Gaussian force is fused, with e as the weights", () => {
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b, x, e)')).toBe(4);
    expect(fieldW('Grad(b*Exp(-SqDist(x,y)/g), x, e)')).toBe(4);
  });

  test('the plain kernel sum has no gradient weights', () => {
    expect(fieldW('Exp(-g*SqDist(x,y))*b')).toBe(-1);
  });

  test('near misses run the generic code', () => {
    // Not a recognised kernel inside the Grad.
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b*b, x, e)')).toBe(-1);
    // The gradient with respect to y reduced over j: a sum of a j-side gradient, not the loop's form.
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b, y, e)')).toBe(-1);
    // With respect to b, not the points.
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b, b, e)')).toBe(-1);
    // e is a formula, not a variable.
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b, x, e*e)')).toBe(-1);
    // e on the same side as b.
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b, x, f)', 1, [...aliases, 'f = Vj(1)'])).toBe(-1);
    // The gradient written out by hand is the same maths but was not built by Grad: generic.
    expect(fieldW('e*Exp(-g*SqDist(x,y))*b*(-g)*(IntCst(2)*(x-y))')).toBe(-1);
    // A gradient used inside a larger formula is not the loop's form.
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*b, x, e)*e')).toBe(-1);
  });

  test('with respect to b on the row side: b is the variable differentiated, so not fused', () => {
    // F = phi·y, differentiated with respect to y over axis 0: y is both the point and b.
    const names = ['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)', 'e = Vi(3)'];
    expect(fieldW('Grad(Exp(-g*SqDist(x,y))*y, y, e)', 0, names)).toBe(-1);
  });

  test('LazyTensor gradients keep the fused form through renumbering', () => {
    const rng = new Rng(3);
    const x = Vi(uniform(rng, 30), 3);
    const y = Vj(uniform(rng, 30), 3);
    const b = Vj(uniform(rng, 10), 1);
    const e = Vi(uniform(rng, 10), 1);
    const K: LazyTensor = x.sqdist(y).mul(Pm(-20)).exp().mul(b);
    const call = bindReduction(K.grad(x, e), { reduction: 'Sum', axis: 1 });
    expect(call.compiled.lowered.kernel[5]).toBeGreaterThanOrEqual(0);
  });

  test("Genred.vjp's gradients of a kernel sum with respect to x and y are fused", async () => {
    const spy = jest.spyOn(lower, 'lowerFormula');
    try {
      const rng = new Rng(4);
      const op = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
      const args = [uniform(rng, 21), uniform(rng, 15), uniform(rng, 5), 2];
      spy.mockClear();
      await op.vjp(args, uniform(rng, 7), ['x', 'y']);
      const lowered = spy.mock.results.map((r) => r.value as ReturnType<typeof lower.lowerFormula>);
      expect(lowered.length).toBe(2);
      for (const p of lowered) expect(p.kernel[5]).toBeGreaterThanOrEqual(0);
    } finally {
      spy.mockRestore();
    }
  });
});

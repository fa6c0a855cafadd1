/**
 * KernelSolve and LazyTensor.solve (issue 5): (αI + K) x = b by conjugate gradients in
 * native code, checked against a dense float64 Cholesky solve written here, for the seed's
 * narrow Gaussian (γ = 1/0.01², α = 0.8) and a wide, ill-conditioned one (γ = 4, α = 0.1),
 * in float32 and float64, with one and three right-hand sides. The reported residual is
 * checked against one recomputed here in float64 from the dense matrix.
 */
import * as util from 'util';
import {
  AbortError, DTypeError, FormulaSyntaxError, KernelSolve, LazyKernelError, OptionError, ShapeError, Vi, Vj,
} from '../lib';
import type { SolveOptions, SolveResult } from '../lib';
import { defaultMaxIter } from '../lib/solve';
import { dual, normal, pick, Rng, uniform } from './helpers/reference';
import { cholesky, cholSolve, columnError, gram, Problem, trueResidual } from './helpers/dense';
import { FORMULA, KernelName, phi } from './helpers/radial';
import type { Arg } from '../lib/tensor';

type DType = 'float32' | 'float64';

const gaussian = (gamma: number) => (d2: number): number => Math.exp(-gamma * d2);

/** The pairs (i, j) of a dense kernel matrix with K_ij at least `at`. */
function support(K: Float64Array, at: number): number {
  let count = 0;
  for (const k of K) if (k >= at) ++count;
  return count;
}

function problem(seed: number, n: number, dv: number, gamma: number, alpha: number, k = gaussian(gamma)): Problem {
  const rng = new Rng(seed);
  const x = dual(uniform(rng, n * 3));
  const b = dual(normal(rng, n * dv));
  const K = gram(x.f64, n, k);
  const ref = cholSolve(cholesky(K, n, alpha), n, b.f64, dv);
  return { n, dv, gamma, alpha, x, b, K, ref };
}

const cache = new Map<string, Problem>();
function cached(key: string, make: () => Problem): Problem {
  let p = cache.get(key);
  if (p === undefined) {
    p = make();
    cache.set(key, p);
  }
  return p;
}

const SEED_GAMMA = 1 / 0.01 ** 2;
const SEED_ALPHA = 0.8;
const WIDE_GAMMA = 4;
const WIDE_ALPHA = 0.1;
/** The seed's narrow kernel: 500 points uniform in [0,1]^3. */
const seedProblem = (dv: number): Problem => cached(`seed${dv}`, () => problem(11 + dv, 500, dv, SEED_GAMMA, SEED_ALPHA));
/** The wide, ill-conditioned kernel: 400 points. */
const wideProblem = (dv: number): Problem => cached(`wide${dv}`, () => problem(23 + dv, 400, dv, WIDE_GAMMA, WIDE_ALPHA));

const ALIASES = (dv: number): string[] => ['x = Vi(3)', 'y = Vj(3)', `a = Vj(${dv})`, 'g = Pm(1)'];
const GAUSS = 'Exp(-g*SqDist(x,y))*a';
const solverFor = (dv: number): KernelSolve => new KernelSolve(GAUSS, ALIASES(dv), 'a', { axis: 1 });
const argsFor = (p: Problem, dtype: DType, b: Float32Array | Float64Array = pick(p.b, dtype)): Arg[] =>
  [pick(p.x, dtype), pick(p.x, dtype), b, p.gamma];

function elementType(a: unknown): string {
  if (util.types.isFloat32Array(a)) return 'float32';
  if (util.types.isFloat64Array(a)) return 'float64';
  return 'other';
}

/**
 * The checks every solve gets: dtype and shape of x, truthful `converged` and `residual`
 * (against the float64 residual recomputed here), and the error against the dense solve.
 */
function checkSolve(r: SolveResult, p: Problem, dtype: DType, tol: number, rtol: number): void {
  // float64 whatever the data: the answer is held to the float64 residual.
  expect(elementType(r.x.data)).toBe('float64');
  expect(r.x.shape).toEqual([p.n, p.dv]);
  expect(r.x.data.length).toBe(p.n * p.dv);
  expect(Number.isInteger(r.iterations)).toBe(true);
  expect(r.iterations).toBeGreaterThan(0);
  const truth = trueResidual(p.K, p.n, p.alpha, r.x.data, p.b.f64, p.dv);
  // float32 products carry ~1e-7 relative rounding; float64 ones only summation order.
  const slack = dtype === 'float32' ? 5e-7 : 1e-12;
  expect(Math.abs(r.residual - truth)).toBeLessThanOrEqual(0.05 * truth + slack);
  expect(r.converged).toBe(r.residual <= tol);
  expect(r.converged).toBe(true);
  expect(truth).toBeLessThanOrEqual(1.05 * tol + slack);
  expect(columnError(r.x.data, p.ref, p.n, p.dv)).toBeLessThan(rtol);
}

// ---------------------------------------------------------------------------------------
// Accuracy against the dense solve
// ---------------------------------------------------------------------------------------

describe('KernelSolve against a dense float64 solve', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const dv of [1, 3]) {
      it(`seed kernel (γ = 1e4, α = 0.8), ${dtype}, ${dv} right-hand side${dv > 1 ? 's' : ''}: 1e-4 relative`, async () => {
        const p = seedProblem(dv);
        const r = await solverFor(dv).run(argsFor(p, dtype), { alpha: SEED_ALPHA });
        checkSolve(r, p, dtype, 1e-6, 1e-4);
      });
    }
  }

  for (const dv of [1, 3]) {
    for (const preconditioner of ['none', 'auto'] as const) {
      it(`wide kernel (γ = 4, α = 0.1), float64, tol 1e-10, ${dv} right-hand side${dv > 1 ? 's' : ''}, preconditioner ${preconditioner}: 1e-5 relative`, async () => {
        const p = wideProblem(dv);
        const r = await solverFor(dv).run(argsFor(p, 'float64'), { alpha: WIDE_ALPHA, tol: 1e-10, preconditioner });
        checkSolve(r, p, 'float64', 1e-10, 1e-5);
        // Ill-conditioned: plain CG takes real work, yet stays far below the default cap.
        if (preconditioner === 'none') expect(r.iterations).toBeGreaterThan(10);
        expect(r.iterations).toBeLessThan(defaultMaxIter(p.n));
      });
    }
  }

  it('wide kernel, float32, tol 1e-4: converged and truthful', async () => {
    const p = wideProblem(1);
    const r = await solverFor(1).run(argsFor(p, 'float32'), { alpha: WIDE_ALPHA, tol: 1e-4 });
    const truth = trueResidual(p.K, p.n, p.alpha, r.x.data, p.b.f64, 1);
    expect(elementType(r.x.data)).toBe('float64');
    expect(r.converged).toBe(true);
    expect(r.residual).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(r.residual - truth)).toBeLessThanOrEqual(0.05 * truth + 1e-5);
  });

  // 2003² pairs: a single product would not prune (2^24 pairs), a solve does (from 2^21,
  // its clusters serve every product; with float32 data the iteration's products drop
  // pairs below 2^-20, the true residuals far less). Checked against the float64 residual
  // of the dense matrix, and against the same solve computing every pair. The wide kernel
  // with a tight tol takes several refinement passes.
  const cases = [
    ['seed kernel', SEED_GAMMA, SEED_ALPHA, 1e-6],
    ['wide kernel (γ = 100, α = 0.1)', 100, 0.1, 1e-10],
  ] as const;
  for (const [name, gamma, alpha, tol] of cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name}, 2003 points, ${dtype}, 2 right-hand sides, tol ${tol}: pruned products, true residual ≤ tol`, async () => {
        const rng = new Rng(2003);
        const n = 2003;
        const dv = 2;
        const x = dual(uniform(rng, n * 3));
        const b = dual(normal(rng, n * dv));
        const K = gram(x.f64, n, gaussian(gamma));
        const args = [pick(x, dtype), pick(x, dtype), pick(b, dtype), gamma];
        const r = await solverFor(dv).run(args, { alpha, tol, preconditioner: 'none' });
        const every = await solverFor(dv).run(args, { alpha, tol, preconditioner: 'none', prune: false });
        const truth = trueResidual(K, n, alpha, r.x.data, b.f64, dv);
        expect(r.converged).toBe(true);
        expect(truth).toBeLessThanOrEqual(1.05 * tol);
        expect(Math.abs(r.residual - truth)).toBeLessThanOrEqual(0.05 * tol);
        expect(columnError(r.x.data, every.x.data, n, dv)).toBeLessThan(100 * tol);
        // The pairs each computed: every one per product without pruning, fewer with it.
        expect(every.pairs).toEqual({ iteration: every.iterations * n * n, refinement: every.refinements * n * n });
        expect(r.pairs.iteration).toBeLessThanOrEqual(r.iterations * n * n);
        expect(r.pairs.refinement).toBeLessThanOrEqual(r.refinements * n * n);
        expect(r.pairs.refinement).toBeGreaterThan(0);
        if (gamma === SEED_GAMMA) expect(r.pairs.iteration).toBeLessThan(0.5 * r.iterations * n * n);
        if (gamma === SEED_GAMMA && dtype === 'float32') {
          // The iteration's products drop only pairs with K_ij below 2^-20, so each keeps
          // at least every pair above it (1% margin for the float32 distances).
          expect(r.pairs.iteration).toBeGreaterThanOrEqual(r.iterations * support(K, 1.01 * 2 ** -20));
        }
      });
    }
  }

  // The strips' loops are compiled per dimension: the seed kernel in 1, 2 and 3
  // dimensions, 2003 points (pruned, float32: the iteration's products go through the
  // cut-off's plan, which evaluates each pair once for both of its rows). x and y the
  // same array, or two copies of it (the plan compares the points, not the arrays).
  for (const dim of [1, 2, 3]) {
    for (const same of [true, false]) {
      it(`seed kernel in ${dim} dimension${dim > 1 ? 's' : ''}, 2003 points, float32, y ${same ? 'the same array as' : 'a copy of'} x: pruned products, true residual ≤ 1e-6`, async () => {
        const rng = new Rng(2100 + dim);
        const n = 2003;
        const x = dual(uniform(rng, n * dim));
        const b = dual(normal(rng, n));
        const K = gram(x.f64, n, gaussian(SEED_GAMMA), dim);
        const solver = new KernelSolve(GAUSS, [`x = Vi(${dim})`, `y = Vj(${dim})`, 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
        const y = same ? x.f32 : Float32Array.from(x.f32);
        const r = await solver.run([x.f32, y, b.f32, SEED_GAMMA], { alpha: SEED_ALPHA, preconditioner: 'none' });
        const truth = trueResidual(K, n, SEED_ALPHA, r.x.data, b.f64, 1);
        expect(r.converged).toBe(true);
        expect(truth).toBeLessThanOrEqual(1.05e-6);
        // The iteration's products drop only pairs with K_ij below 2^-20, so each keeps at
        // least every pair above it (1% margin for the float32 distances).
        expect(r.pairs.iteration).toBeGreaterThanOrEqual(r.iterations * support(K, 1.01 * 2 ** -20));
        expect(r.pairs.iteration).toBeLessThan(0.5 * r.iterations * n * n);
      });
    }
  }

  // A wide kernel with a small ridge (cond(αI + K) about 1e5) and a smooth b: the dropped
  // terms of the float32 products add up rather than cancel, so the first pass may stop
  // short of tol and leave the rest to refinement passes. Checked against the float64
  // dense residual.
  it('wide kernel, alpha 1e-4, smooth b, 3003 points, float32: converges to the float64 residual 1e-6', async () => {
    const rng = new Rng(3003);
    const n = 3003;
    const gamma = 100;
    const x = dual(uniform(rng, n * 3));
    const b = dual(Float64Array.from({ length: n }, (_, i) => Math.sin(4 * x.f64[3 * i]) + Math.cos(3 * x.f64[3 * i + 1]) + x.f64[3 * i + 2]));
    const K = gram(x.f64, n, gaussian(gamma));
    const r = await solverFor(1).run([x.f32, x.f32, b.f32, gamma], { alpha: 1e-4, tol: 1e-6, maxIter: 5000, preconditioner: 'none' });
    expect(r.converged).toBe(true);
    expect(r.pairs.iteration).toBeLessThan(0.5 * r.iterations * n * n);  // pruned
    const truth = trueResidual(K, n, 1e-4, r.x.data, b.f64, 1);
    expect(truth).toBeLessThanOrEqual(1.05e-6);
    expect(Math.abs(r.residual - truth)).toBeLessThanOrEqual(0.05e-6);
  });

  // One array passed as both x and y is copied (and widened to float64) once for the
  // job; the answer must solve the system (dense float64 residual) and match the one two
  // equal arrays give. Not bit for bit: the half plan's per-thread sums follow the
  // threads' dynamic share of the rows, so two runs of one call differ in the last bits
  // too (about 3e-8 here).
  it('seed kernel, 2003 points, float32: x passed twice gives the answer of x and a copy', async () => {
    const rng = new Rng(2203);
    const n = 2003;
    const x = dual(uniform(rng, n * 3));
    const b = dual(normal(rng, n));
    const K = gram(x.f64, n, gaussian(SEED_GAMMA));
    const solver = solverFor(1);
    const opts = { alpha: SEED_ALPHA, preconditioner: 'none' as const };
    const twice = await solver.run([x.f32, x.f32, b.f32, SEED_GAMMA], opts);
    const copy = await solver.run([x.f32, Float32Array.from(x.f32), b.f32, SEED_GAMMA], opts);
    expect(twice.converged).toBe(true);
    expect(trueResidual(K, n, SEED_ALPHA, twice.x.data, b.f64, 1)).toBeLessThanOrEqual(1.05e-6);
    expect(copy.converged).toBe(true);
    expect(columnError(twice.x.data, Float64Array.from(copy.x.data), n, 1)).toBeLessThanOrEqual(1e-5);
  });

  // The iteration's products themselves: three steps of CG (maxIter 3, no preconditioner)
  // move x as textbook CG does with the dense float64 matrix K(x, y), up to the float32
  // products' rounding and the cut-off's dropped terms (each below 2^-20 for the
  // Gaussian, 2^-24 for the other kernels). Clouds dense enough that each row has tens of
  // pairs above the cut-off. The Gaussian in 1, 2 and 3 dimensions, one or two right-hand
  // sides (each pair evaluated once for both rows, or per row), and with y a perturbed
  // copy of x (per row: K(x, y) is not symmetric, but three CG steps are defined); the
  // other kernels in 3 dimensions, at scales with the Gaussian's reach at 2^-24, within
  // what their slower tails drop.
  function denseCg(K: Float64Array, n: number, alpha: number, b: Float64Array, dv: number, steps: number): Float64Array {
    const x = new Float64Array(n * dv);
    for (let c = 0; c < dv; c++) {
      const r = Float64Array.from({ length: n }, (_, i) => b[i * dv + c]);
      const p = Float64Array.from(r);
      let rr = r.reduce((s, v) => s + v * v, 0);
      for (let k = 0; k < steps; k++) {
        const q = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          let s = alpha * p[i];
          for (let j = 0; j < n; j++) s += K[i * n + j] * p[j];
          q[i] = s;
        }
        const step = rr / p.reduce((s, v, i) => s + v * q[i], 0);
        for (let i = 0; i < n; i++) {
          x[i * dv + c] += step * p[i];
          r[i] -= step * q[i];
        }
        const next = r.reduce((s, v) => s + v * v, 0);
        for (let i = 0; i < n; i++) p[i] = r[i] + (next / rr) * p[i];
        rr = next;
      }
    }
    return x;
  }
  function crossGram(kernel: KernelName, g: number, x: Float64Array, y: Float64Array, n: number, dim: number): Float64Array {
    const K = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let d2 = 0;
        for (let c = 0; c < dim; c++) d2 += (x[i * dim + c] - y[j * dim + c]) ** 2;
        K[i * n + j] = phi(kernel, g * d2);
      }
    return K;
  }
  const STEP_CASES: { kernel: KernelName; g: number; dim: number; side: number; dv: number; moved: boolean }[] = [
    ...[[1, 1], [2, 0.4], [3, 0.2]].flatMap(([dim, side]) =>
      [1, 2].map((dv) => ({ kernel: 'gaussian' as KernelName, g: SEED_GAMMA, dim, side, dv, moved: false }))),
    { kernel: 'gaussian', g: SEED_GAMMA, dim: 3, side: 0.2, dv: 1, moved: true },
    { kernel: 'gaussian', g: SEED_GAMMA, dim: 3, side: 0.2, dv: 2, moved: true },
    { kernel: 'laplace', g: 1.87e5, dim: 3, side: 0.2, dv: 1, moved: false },
    { kernel: 'matern32', g: 2.59e5, dim: 3, side: 0.2, dv: 1, moved: false },
    { kernel: 'matern52', g: 3.2e5, dim: 3, side: 0.2, dv: 1, moved: false },
    { kernel: 'cauchy', g: 1.13e10, dim: 3, side: 0.2, dv: 1, moved: false },
    { kernel: 'imq', g: 1.9e17, dim: 3, side: 0.2, dv: 1, moved: false },
  ];
  for (const { kernel, g, dim, side, dv, moved } of STEP_CASES) {
    it(`three CG steps with the cut-off's products: ${kernel}, ${dim} dimension${dim > 1 ? 's' : ''}, 2003 points, ${dv} right-hand side${dv > 1 ? 's' : ''}${moved ? ', y a perturbed copy of x' : ''}: textbook CG's x within 1e-6`, async () => {
      const rng = new Rng(2200 + 10 * dim + dv + (moved ? 5 : 0));
      const n = 2003;
      const x = dual(uniform(rng, n * dim, 0, side));
      const y = moved ? dual(Float64Array.from(x.f64, (v) => v + 1e-3 * side * (rng.uniform(0, 1) - 0.5))) : x;
      const b = dual(normal(rng, n * dv));
      const K = crossGram(kernel, g, x.f64, y.f64, n, dim);
      // The iteration's cut-off: 2^-20 for the Gaussian, 2^-24 for the others.
      const cut = kernel === 'gaussian' ? 2 ** -20 : 2 ** -24;
      expect(support(K, cut) / n).toBeGreaterThan(30);
      const formula = FORMULA[kernel].replace(/\*b$/, '*a');
      const solver = new KernelSolve(formula, [`x = Vi(${dim})`, `y = Vj(${dim})`, `a = Vj(${dv})`, 'g = Pm(1)'], 'a', { axis: 1 });
      const r = await solver.run([x.f32, y.f32, b.f32, g], { alpha: SEED_ALPHA, tol: 1e-12, maxIter: 3, preconditioner: 'none' });
      expect(r.iterations).toBe(3);
      expect(r.pairs.iteration).toBeLessThan(0.5 * 3 * n * n);  // pruned
      expect(columnError(r.x.data, denseCg(K, n, SEED_ALPHA, b.f64, dv, 3), n, dv)).toBeLessThan(1e-6);
    });
  }

  it('runSync gives the same answer as run', async () => {
    const p = seedProblem(3);
    const solver = solverFor(3);
    const a = await solver.run(argsFor(p, 'float64'), { alpha: SEED_ALPHA, tol: 1e-8 });
    const s = solver.runSync(argsFor(p, 'float64'), { alpha: SEED_ALPHA, tol: 1e-8 });
    checkSolve(s, p, 'float64', 1e-8, 1e-6);
    expect(s.iterations).toBe(a.iterations);
    expect(columnError(s.x.data, Float64Array.from(a.x.data), p.n, p.dv)).toBeLessThan(1e-12);
  });

  it('axis 0: the unknown is an i-variable, the sum runs over i', async () => {
    const p = seedProblem(3);
    const solver = new KernelSolve('Exp(-g*SqDist(y,x))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vi(3)', 'g = Pm(1)'], 'a', { axis: 0 });
    const r = await solver.run(argsFor(p, 'float64'), { alpha: SEED_ALPHA, tol: 1e-8 });
    checkSolve(r, p, 'float64', 1e-8, 1e-6);
    // 500² pairs: too few to prune, so every product computes all of them.
    expect(r.pairs).toEqual({ iteration: r.iterations * p.n * p.n, refinement: r.refinements * p.n * p.n });
  });

  it('another positive definite kernel (Cauchy, 1/(1 + γ r²)), float64', async () => {
    const gamma = 100;
    const p = cached('cauchy', () => problem(5, 300, 2, gamma, 0.5, (d2) => 1 / (1 + gamma * d2)));
    const solver = new KernelSolve('Inv(IntCst(1)+g*SqDist(x,y))*a', ALIASES(2), 'a', { axis: 1 });
    const r = await solver.run(argsFor(p, 'float64'), { alpha: 0.5, tol: 1e-9 });
    checkSolve(r, p, 'float64', 1e-9, 1e-6);
  });
});

describe('LazyTensor.solve', () => {
  const kernel = (p: Problem, dtype: DType) => {
    const x = pick(p.x, dtype);
    return Vi(x, 3).sqdist(Vj(x, 3)).mul(-p.gamma).exp();
  };

  it('seed kernel, float32, b a Tensor of 3 columns: 1e-4 relative', async () => {
    const p = seedProblem(3);
    const r = await kernel(p, 'float32').solve({ data: p.b.f32, shape: [p.n, 3] }, { alpha: SEED_ALPHA });
    checkSolve(r, p, 'float32', 1e-6, 1e-4);
  });

  it('wide kernel, float64, flat b, tol 1e-10: 1e-5 relative', async () => {
    const p = wideProblem(1);
    const r = await kernel(p, 'float64').solve(p.b.f64, { alpha: WIDE_ALPHA, tol: 1e-10 });
    checkSolve(r, p, 'float64', 1e-10, 1e-5);
  });

  it('solveSync', () => {
    const p = seedProblem(1);
    const r = kernel(p, 'float64').solveSync(p.b.f64, { alpha: SEED_ALPHA, tol: 1e-8 });
    checkSolve(r, p, 'float64', 1e-8, 1e-6);
  });

  it('needs a square, scalar kernel', async () => {
    const rng = new Rng(3);
    const x = uniform(rng, 30);
    const y = uniform(rng, 36);
    const K = Vi(x, 3).sqdist(Vj(y, 3)).neg().exp();
    const square = K.solve(new Float64Array(12), { alpha: 1 });
    await expect(square).rejects.toThrow(ShapeError);
    await expect(square).rejects.toThrow(/10.*12|12.*10/);
    expect(() => K.solveSync(new Float64Array(12), { alpha: 1 })).toThrow(ShapeError);
    const vector = Vi(x, 3).sub(Vj(x, 3)).exp();
    await expect(vector.solve(new Float64Array(10), { alpha: 1 })).rejects.toThrow(ShapeError);
    await expect(Vi(x, 3).sqdist(Vj(x, 3)).neg().exp().solve(new Float64Array(10), { alpha: -1 })).rejects.toThrow(OptionError);
    // Mixing float types is an error, as everywhere else.
    await expect(Vi(x, 3).sqdist(Vj(x, 3)).solve(new Float32Array(10) as never, { alpha: 1 })).rejects.toThrow(DTypeError);
  });
});

// ---------------------------------------------------------------------------------------
// Controls: warm start, maxIter, progress, abort
// ---------------------------------------------------------------------------------------

describe('solver controls', () => {
  it('a warm start reduces the iterations; starting at the answer needs none', async () => {
    const p = wideProblem(3);
    const solver = solverFor(3);
    const args = argsFor(p, 'float64');
    const cold = await solver.run(args, { alpha: WIDE_ALPHA, tol: 1e-10 });
    const rough = await solver.run(args, { alpha: WIDE_ALPHA, tol: 1e-4 });
    expect(rough.converged).toBe(true);
    const warm = await solver.run(args, { alpha: WIDE_ALPHA, tol: 1e-10, x0: rough.x.data });
    checkSolve(warm, p, 'float64', 1e-10, 1e-5);
    expect(warm.iterations).toBeLessThan(cold.iterations);
    // From the answer itself (given as a Tensor): nothing to do.
    const done = await solver.run(args, { alpha: WIDE_ALPHA, tol: 1e-10, x0: cold.x });
    expect(done.iterations).toBe(0);
    expect(done.converged).toBe(true);
    expect(columnError(done.x.data, Float64Array.from(cold.x.data), p.n, p.dv)).toBe(0);
    // A float32 warm start for float32 data (runSync).
    const f32 = solver.runSync(argsFor(p, 'float32'), { alpha: WIDE_ALPHA, tol: 1e-4, x0: Float32Array.from(rough.x.data) });
    expect(f32.converged).toBe(true);
    expect(f32.iterations).toBeLessThan(rough.iterations);
  });

  it('maxIter stops the solve: converged false, iterations == maxIter, residual truthful', async () => {
    const p = wideProblem(3);
    const r = await solverFor(3).run(argsFor(p, 'float64'), { alpha: WIDE_ALPHA, tol: 1e-10, maxIter: 5 });
    expect(r.iterations).toBe(5);
    expect(r.converged).toBe(false);
    expect(r.residual).toBeGreaterThan(1e-10);
    const truth = trueResidual(p.K, p.n, p.alpha, r.x.data, p.b.f64, p.dv);
    expect(Math.abs(r.residual - truth)).toBeLessThanOrEqual(1e-6 * truth);
    // maxIter 0: x stays at the start (zeros), the residual is ‖b‖/‖b‖ = 1.
    const none = solverFor(3).runSync(argsFor(p, 'float64'), { alpha: WIDE_ALPHA, maxIter: 0 });
    expect(none.iterations).toBe(0);
    expect(none.converged).toBe(false);
    expect(none.residual).toBeCloseTo(1, 12);
    expect(none.x.data.every((v) => v === 0)).toBe(true);
  });

  it('the default maxIter is bounded: max(100, min(10·n, 10000))', () => {
    expect(defaultMaxIter(1)).toBe(100);
    expect(defaultMaxIter(500)).toBe(5000);
    expect(defaultMaxIter(1e6)).toBe(10000);
  });

  it('b = 0 gives x = 0 at once', async () => {
    const p = seedProblem(1);
    const r = await solverFor(1).run(argsFor(p, 'float32', new Float32Array(p.n)), { alpha: SEED_ALPHA });
    expect(r.iterations).toBe(0);
    expect(r.converged).toBe(true);
    expect(r.residual).toBe(0);
    expect(r.x.data.every((v) => v === 0)).toBe(true);
  });

  it('onProgress is called after every iteration, in order, with falling residuals', async () => {
    const p = wideProblem(3);
    const seen: { iteration: number; residual: number }[] = [];
    const r = await solverFor(3).run(argsFor(p, 'float64'), {
      alpha: WIDE_ALPHA, tol: 1e-10, preconditioner: 'none', onProgress: (q) => { if (q.phase === 'iterate') seen.push(q); },
    });
    expect(r.converged).toBe(true);
    expect(seen.length).toBe(r.iterations);
    seen.forEach((q, k) => {
      expect(q.iteration).toBe(k + 1);
      expect(Number.isFinite(q.residual)).toBe(true);
      expect(q.residual).toBeGreaterThanOrEqual(0);
    });
    // CG residuals are not monotone, but they fall: the best of each half improves, and
    // the last estimate is at the tolerance.
    const half = Math.floor(seen.length / 2);
    const best = (qs: typeof seen): number => Math.min(...qs.map((q) => q.residual));
    expect(best(seen.slice(half))).toBeLessThan(best(seen.slice(0, half)) * 1e-2);
    expect(seen[seen.length - 1].residual).toBeLessThanOrEqual(1e-10);
    expect(seen[0].residual).toBeGreaterThan(1e-3);
  });

  it('a throwing onProgress stops the solve and rejects with its error', async () => {
    const p = wideProblem(1);
    let calls = 0;
    const oops = new Error('progress callback failed');
    await expect(solverFor(1).run(argsFor(p, 'float64'), {
      alpha: WIDE_ALPHA, tol: 1e-10, onProgress: () => { calls++; throw oops; },
    })).rejects.toBe(oops);
    expect(calls).toBe(1);
  });

  describe('abort', () => {
    // A long solve: wide kernel, 2000 points, α = 0.01 and an unreachable tolerance, so it
    // would run all 300 iterations (≈ 0.8 s in float64 here) if not stopped.
    const long = () => cached('long', () => {
      const rng = new Rng(99);
      const n = 2000;
      return { n, dv: 1, gamma: WIDE_GAMMA, alpha: 0.01, x: dual(uniform(rng, n * 3)), b: dual(normal(rng, n)), K: new Float64Array(0), ref: new Float64Array(0) };
    });
    const opts = (extra: Partial<SolveOptions>): SolveOptions => ({ alpha: 0.01, tol: 1e-13, maxIter: 300, ...extra });

    it('an already aborted signal rejects at once', async () => {
      const ac = new AbortController();
      ac.abort();
      const run = solverFor(1).run(argsFor(long(), 'float64'), opts({ signal: ac.signal }));
      await expect(run).rejects.toThrow(AbortError);
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    });

    it('aborting right after the call stops the solve', async () => {
      const ac = new AbortController();
      let last = 0;
      const run = solverFor(1).run(argsFor(long(), 'float64'), opts({ signal: ac.signal, onProgress: (q) => { if (q.phase === 'iterate') last = q.iteration; } }));
      ac.abort();
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      await expect(run).rejects.toBeInstanceOf(LazyKernelError);
      expect(last).toBeLessThan(10);
    });

    it('aborting mid-solve (from onProgress at iteration 3) stops it between iterations', async () => {
      const ac = new AbortController();
      const seen: number[] = [];
      const t0 = Date.now();
      const run = solverFor(1).run(argsFor(long(), 'float64'), opts({
        signal: ac.signal,
        onProgress: (q) => {
          if (q.phase !== 'iterate') return;
          seen.push(q.iteration);
          if (q.iteration === 3) ac.abort();
        },
      }));
      await expect(run).rejects.toThrow(AbortError);
      expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
      // The flag is read before every iteration: only iterations already under way when
      // the progress message reached JS may still report.
      // (Left alone, this solve runs all 300 iterations.)
      expect(seen.length).toBeLessThan(100);
      expect(Date.now() - t0).toBeLessThan(30000);
    });
  });

  it('several solves at once queue up and all answer correctly', async () => {
    const s = seedProblem(1);
    const w = wideProblem(1);
    const [a, b, c] = await Promise.all([
      solverFor(1).run(argsFor(s, 'float32'), { alpha: SEED_ALPHA }),
      solverFor(1).run(argsFor(w, 'float64'), { alpha: WIDE_ALPHA, tol: 1e-10 }),
      solverFor(1).run(argsFor(s, 'float64'), { alpha: SEED_ALPHA }),
    ]);
    checkSolve(a, s, 'float32', 1e-6, 1e-4);
    checkSolve(b, w, 'float64', 1e-10, 1e-5);
    checkSolve(c, s, 'float64', 1e-6, 1e-4);
  });

  it('NaN in b (or in the points) rejects with an error that says so', async () => {
    const p = seedProblem(1);
    const b = Float64Array.from(p.b.f64);
    b[17] = NaN;
    const run = solverFor(1).run(argsFor(p, 'float64', b), { alpha: SEED_ALPHA });
    await expect(run).rejects.toThrow(/not finite/);
    await expect(run).rejects.toThrow(/NaN/);
    expect(() => solverFor(1).runSync(argsFor(p, 'float64', b), { alpha: SEED_ALPHA })).toThrow(/not finite/);
    const x = Float32Array.from(p.x.f32);
    x[4] = NaN;
    await expect(solverFor(1).run([x, x, p.b.f32, p.gamma], { alpha: SEED_ALPHA })).rejects.toThrow(/not finite|not positive/);
    const x0 = new Float64Array(p.n).fill(Infinity);
    await expect(solverFor(1).run(argsFor(p, 'float64'), { alpha: SEED_ALPHA, x0 })).rejects.toThrow(/not finite/);
  });
});

// ---------------------------------------------------------------------------------------
// Checks: options, the unknown, shapes
// ---------------------------------------------------------------------------------------

describe('checks', () => {
  const rng = new Rng(7);
  const n = 10;
  const x = uniform(rng, n * 3);
  const b1 = normal(rng, n);
  const args = [x, x, b1, 2];
  const solver = new KernelSolve(GAUSS, ALIASES(1), 'a', { axis: 1 });

  const bad: [string, unknown, new (...a: never[]) => Error][] = [
    ['alpha -1', { alpha: -1 }, OptionError],
    ['alpha NaN', { alpha: NaN }, OptionError],
    ['alpha Infinity', { alpha: Infinity }, OptionError],
    ['alpha missing', {}, OptionError],
    ['alpha a string', { alpha: '1' }, OptionError],
    ['tol -1', { alpha: 1, tol: -1 }, OptionError],
    ['tol NaN', { alpha: 1, tol: NaN }, OptionError],
    ['maxIter 1.5', { alpha: 1, maxIter: 1.5 }, OptionError],
    ['maxIter -1', { alpha: 1, maxIter: -1 }, OptionError],
    ['x0 of the wrong length', { alpha: 1, x0: new Float64Array(n + 1) }, ShapeError],
    ['x0 a Tensor of the wrong shape', { alpha: 1, x0: { data: new Float64Array(n), shape: [n / 2, 2] } }, ShapeError],
    ['x0 a plain array', { alpha: 1, x0: [1, 2, 3] }, OptionError],
    ['onProgress not a function', { alpha: 1, onProgress: 3 }, OptionError],
    ['backend cuda', { alpha: 1, backend: 'cuda' }, OptionError],
    ['backend gpu', { alpha: 1, backend: 'gpu' }, OptionError],
    ['no options', undefined, OptionError],
  ];
  for (const [what, opts, type] of bad) {
    it(`bad option: ${what}`, async () => {
      await expect(solver.run(args, opts as SolveOptions)).rejects.toThrow(type);
      expect(() => solver.runSync(args, opts as SolveOptions)).toThrow(type);
    });
  }

  it('runSync takes no onProgress', () => {
    expect(() => solver.runSync(args, { alpha: 1, onProgress: () => undefined })).toThrow(OptionError);
  });

  it('the unknown must be a variable of the aliases', () => {
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'b', { axis: 1 })).toThrow(OptionError);
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'b', { axis: 1 })).toThrow(/x, y, a, g/);
  });

  it('the unknown must be the summed variable: a j-variable for axis 1, an i-variable for axis 0', () => {
    expect(() => new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vi(1)', 'g = Pm(1)'], 'a', { axis: 1 })).toThrow(ShapeError);
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'x', { axis: 1 })).toThrow(ShapeError);
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'a', { axis: 0 })).toThrow(ShapeError);
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'g', { axis: 1 })).toThrow(/parameter/);
  });

  it("the unknown's dimension must be the formula's", () => {
    expect(() => new KernelSolve('Sum(Exp(-g*SqDist(x,y))*a)', ALIASES(3), 'a', { axis: 1 })).toThrow(ShapeError);
    expect(() => new KernelSolve('Exp(-g*SqDist(x,y))*c', [...ALIASES(3), 'c = Vj(1)'], 'a', { axis: 1 })).toThrow(/dimension 3.*dimension 1/);
  });

  it('formula syntax, dimensions and axis are checked at construction', () => {
    expect(() => new KernelSolve('Exp(-g*SqDist(x,y)*a', ALIASES(1), 'a', { axis: 1 })).toThrow(FormulaSyntaxError);
    expect(() => new KernelSolve('Exp(-g*SqDist(x,a))*a', ALIASES(1), 'a', { axis: 1 })).toThrow(ShapeError);
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'a', { axis: 2 as 1 })).toThrow(OptionError);
    expect(() => new KernelSolve(GAUSS, ALIASES(1), 'a', undefined as unknown as { axis: 1 })).toThrow(OptionError);
  });

  it('the system must be square, and the error names the row counts', async () => {
    const y = uniform(rng, 12 * 3);
    const b = normal(rng, 12);
    const run = solver.run([x, y, b, 2], { alpha: 1 });
    await expect(run).rejects.toThrow(ShapeError);
    await expect(run).rejects.toThrow(/10.*12/);
    expect(() => solver.runSync([x, y, b, 2], { alpha: 1 })).toThrow(ShapeError);
  });

  it('b must have the rows of the j-variables and the dtype of the call', async () => {
    await expect(solver.run([x, x, normal(rng, n + 1), 2], { alpha: 1 })).rejects.toThrow(ShapeError);
    await expect(solver.run([x, x, Float32Array.from(b1), 2], { alpha: 1 })).rejects.toThrow(DTypeError);
    await expect(solver.run([x, x, b1], { alpha: 1 })).rejects.toThrow(OptionError);
  });

  it('a valid small solve works (and alpha 0 is allowed for a positive definite K)', async () => {
    const r = await solver.run(args, { alpha: 0, tol: 1e-8 });
    expect(r.converged).toBe(true);
    const K = gram(x, n, gaussian(2));
    expect(trueResidual(K, n, 0, r.x.data, b1, 1)).toBeLessThan(2e-8);
  });
});

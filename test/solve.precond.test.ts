/**
 * Preconditioned and mixed-precision KernelSolve (issue 12): every preconditioner against
 * a dense float64 Cholesky solve written here, in both dtypes, with one and two
 * right-hand sides, at sizes 1, 7 and 1003; warm starts, aborts in the setup and in the
 * iteration, NaN, a singular kernel with alpha = 0, ranks above n, and the reported
 * residual against one recomputed here in float64 from the dense matrix.
 */
import {
  AbortError, KernelSolve, LazyKernelError, OptionError,
} from '../lib';
import type { SolveOptions, SolveResult } from '../lib';
import { caught, dual, normal, pick, Rng, uniform } from './helpers/reference';
import { cholesky, cholSolve, columnError, gram, Problem, trueResidual } from './helpers/dense';
import type { Arg } from '../lib/tensor';

type DType = 'float32' | 'float64';
const DTYPES: DType[] = ['float32', 'float64'];
const PRECONDITIONERS = ['none', 'nystrom', 'jacobi', 'auto'] as const;

/** Points uniform in [0,1]^dim, b normal, K Gaussian exp(-gamma d²), dense reference solve. */
function problem(seed: number, n: number, dv: number, gamma: number, alpha: number, dim = 3): Problem & { dim: number } {
  const rng = new Rng(seed);
  const x = dual(uniform(rng, n * dim));
  const b = dual(normal(rng, n * dv));
  const K = gram(x.f64, n, (d2) => Math.exp(-gamma * d2), dim);
  const ref = cholSolve(cholesky(K, n, alpha), n, b.f64, dv);
  return { n, dv, gamma, alpha, x, b, K, ref, dim };
}

const cache = new Map<string, ReturnType<typeof problem>>();
function cached(key: string, make: () => ReturnType<typeof problem>): ReturnType<typeof problem> {
  let p = cache.get(key);
  if (p === undefined) cache.set(key, (p = make()));
  return p;
}

// A wide kernel with a small ridge: ill-conditioned (kappa ~ 1e3 at n = 1003), the kind of
// problem a preconditioner is for.
const GAMMA = 20;
const ALPHA = 0.05;
const wide = (n: number, dv: number): ReturnType<typeof problem> => cached(`wide${n}:${dv}`, () => problem(100 + n + dv, n, dv, GAMMA, ALPHA));

function solverFor(dv: number, dim = 3): KernelSolve {
  return new KernelSolve('Exp(-g*SqDist(x,y))*a', [`x = Vi(${dim})`, `y = Vj(${dim})`, `a = Vj(${dv})`, 'g = Pm(1)'], 'a', { axis: 1 });
}
const argsFor = (p: ReturnType<typeof problem>, dtype: DType): Arg[] => [pick(p.x, dtype), pick(p.x, dtype), pick(p.b, dtype), p.gamma];

/**
 * The answer is right: converged, its residual recomputed here in float64 (the data's
 * float32 values are exact float64 numbers, so one dense reference serves both dtypes) at
 * most tol (and equal to the reported one), and the solution within cond·tol of the dense one.
 */
function checkSolved(r: SolveResult, p: ReturnType<typeof problem>, tol: number, label: string): void {
  expect([label, r.converged, r.reason]).toEqual([label, true, 'converged']);
  const truth = trueResidual(p.K, p.n, p.alpha, r.x.data, p.b.f64, p.dv);
  expect([label, truth <= tol * 1.05]).toEqual([label, true]);
  expect([label, Math.abs(r.residual - truth) <= 0.05 * tol + 1e-3 * truth]).toEqual([label, true]);
  expect(r.residuals.length).toBe(p.dv);
  expect(Math.max(...r.residuals)).toBeCloseTo(r.residual, 12);
  // ‖x − x*‖/‖x*‖ ≤ κ·‖r‖/‖b‖, κ ≤ (α + n)/α for a kernel of ones on its diagonal.
  expect([label, columnError(r.x.data, p.ref, p.n, p.dv) <= ((ALPHA + p.n) / ALPHA) * tol]).toEqual([label, true]);
}

describe('every preconditioner against a dense float64 solve', () => {
  const cases = PRECONDITIONERS.flatMap((pre) => DTYPES.flatMap((dtype) => [1, 7, 1003].flatMap((n) => [1, 2].map((dv) => [pre, dtype, n, dv] as const))));
  test.each(cases)('%s, %s, n = %i, %i right-hand side(s)', async (pre, dtype, n, dv) => {
    const p = wide(n, dv);
    const tol = 1e-6;
    const r = await solverFor(dv).run(argsFor(p, dtype), { alpha: ALPHA, tol, preconditioner: pre });
    checkSolved(r, p, tol, `${pre} ${dtype} n=${n}`);
    expect(r.x.data.length).toBe(n * dv);
    if (pre === 'none') expect(r.preconditioner).toEqual({ kind: 'none', rank: 0, setupSeconds: 0, reused: false });
    if (pre === 'nystrom' || pre === 'jacobi') {
      expect(r.preconditioner.kind).toBe(pre);
      expect(r.preconditioner.rank).toBeGreaterThan(0);
      expect(r.preconditioner.rank).toBeLessThanOrEqual(n);
      expect(r.preconditioner.setupSeconds).toBeGreaterThanOrEqual(0);
    }
    // Float32 data: each true residual is a float64 product (at least the final one).
    if (dtype === 'float32' && r.iterations > 0) expect(r.refinements).toBeGreaterThanOrEqual(1);
  });

  test('on the ill-conditioned problem, Nyström and Jacobi need fewer iterations than plain CG', () => {
    const p = wide(1003, 1);
    const run = (pre: 'none' | 'nystrom' | 'jacobi'): SolveResult => solverFor(1).runSync(argsFor(p, 'float64'), { alpha: ALPHA, preconditioner: pre });
    const none = run('none');
    const nystrom = run('nystrom');
    const jacobi = run('jacobi');
    expect(nystrom.iterations * 3).toBeLessThan(none.iterations);
    expect(jacobi.iterations).toBeLessThan(none.iterations);
  });

  test('Sync and async give the same answer, and the same seed the same landmarks', async () => {
    const p = wide(1003, 2);
    const opts: SolveOptions = { alpha: ALPHA, preconditioner: 'nystrom', rank: 60, seed: 7 };
    const a = await solverFor(2).run(argsFor(p, 'float64'), opts);
    const s = solverFor(2).runSync(argsFor(p, 'float64'), opts);
    expect(Array.from(s.x.data)).toEqual(Array.from(a.x.data));
    expect(s.iterations).toBe(a.iterations);
    const other = solverFor(2).runSync(argsFor(p, 'float64'), { ...opts, seed: 8 });
    checkSolved(other, p, 1e-6, 'seed 8');
  });

  test('uniform landmarks and a given rank', () => {
    const p = wide(1003, 1);
    const r = solverFor(1).runSync(argsFor(p, 'float32'), { alpha: ALPHA, preconditioner: 'nystrom', rank: 100, landmarks: 'uniform' });
    checkSolved(r, p, 1e-6, 'uniform');
    expect(r.preconditioner.rank).toBe(100);
  });

  // A factor of full rank makes P = alpha I + K itself: CG ends in a step or two. 7 points
  // with rank 1000 (clamped to n); 150 points with rank 150, three blocks of 64 pivots, so
  // FᵀF is assembled across blocks.
  // With float32 data the factor is stored in float32 and its updates run in float32 until
  // the residual gets small, then in float64: a full rank takes both paths. (It does not
  // tell them apart: at this alpha a float32 update all the way down passes too.)
  const fullRank: [number, number, number, number, DType][] = [[7, 1, 1000, 7], [150, 2, 150, 129]].flatMap(
    ([n, dv, rank, least]) => DTYPES.map((dtype): [number, number, number, number, DType] => [n, dv, rank, least, dtype]));
  test.each(fullRank)(
    'a full-rank factor: n = %i, dv = %i, rank %i asked (at least %i kept), %s', (n, dv, rank, least, dtype) => {
      const p = wide(n, dv);
      const r = solverFor(dv).runSync(argsFor(p, dtype), { alpha: ALPHA, preconditioner: 'nystrom', rank });
      checkSolved(r, p, 1e-6, `full rank, n = ${n}`);
      expect(r.preconditioner.rank).toBeLessThanOrEqual(n);
      expect(r.preconditioner.rank).toBeGreaterThanOrEqual(Math.min(least, n));
      expect(r.iterations).toBeLessThanOrEqual(3);
    });

  test('a warm start with a preconditioner needs fewer iterations, and none from the answer', () => {
    const p = wide(1003, 1);
    const opts: SolveOptions = { alpha: ALPHA, preconditioner: 'jacobi', tol: 1e-9 };
    const cold = solverFor(1).runSync(argsFor(p, 'float64'), opts);
    const rough = solverFor(1).runSync(argsFor(p, 'float64'), { ...opts, tol: 1e-3 });
    const warm = solverFor(1).runSync(argsFor(p, 'float64'), { ...opts, x0: rough.x.data });
    checkSolved(warm, p, 1e-9, 'warm');
    expect(warm.iterations).toBeLessThan(cold.iterations);
    const done = solverFor(1).runSync(argsFor(p, 'float64'), { ...opts, x0: cold.x });
    expect(done.iterations).toBe(0);
    expect(done.reason).toBe('converged');
  });
});

describe("what 'auto' picks", () => {
  // From its probe of 32 kernel columns: a well-conditioned system (the reference's narrow
  // kernel with alpha = 0.8) gets plain CG; a wide kernel whose pivots each explain many
  // points gets Nyström; a narrow kernel with a small ridge gets block-Jacobi.
  test.each([
    ['narrow kernel, alpha 0.8', 'none', 1e4, 0.8, 3],
    ["KeOps' 2-D example (gamma 50, alpha 0.01)", 'nystrom', 50, 0.01, 2],
    ['narrow kernel, alpha 1e-3', 'jacobi', 1e4, 1e-3, 3],
  ] as const)('%s: %s', (_name, kind, gamma, alpha, dim) => {
    const p = cached(`auto${gamma}:${alpha}`, () => problem(77, 1003, 1, gamma, alpha, dim));
    const r = solverFor(1, dim).runSync(argsFor(p, 'float32'), { alpha, preconditioner: 'auto' });
    expect(r.preconditioner.kind).toBe(kind);
    checkSolved(r, p, 1e-6, `auto → ${kind}`);
  });
});

test("a Nyström factor of rank 0 (trace K <= alpha n: alpha dominates) runs, and is reported, as plain CG", () => {
  const alpha = 1.5;
  const p = cached('rank0', () => problem(78, 1003, 1, GAMMA, alpha));
  for (const pre of ['nystrom', 'auto'] as const) {
    const r = solverFor(1).runSync(argsFor(p, 'float64'), { alpha, preconditioner: pre });
    expect([pre, r.preconditioner.kind, r.preconditioner.rank]).toEqual([pre, 'none', 0]);
    checkSolved(r, p, 1e-6, `${pre}, rank 0`);
  }
});

describe('mixed precision', () => {
  // KeOps' float32 inverse-kernel example: 500 points in [0,1]², two right-hand sides,
  // Gaussian with sigma = 0.1 (gamma = 50), alpha = 0.01: kappa ~ 3e3.
  const keops = (): ReturnType<typeof problem> => cached('keops', () => problem(5, 500, 2, 1 / (2 * 0.1 ** 2), 0.01, 2));

  test('KeOps\' float32 example reaches 1e-6 against the float64 residual, within twice the float64 solve\'s iterations', () => {
    const p = keops();
    const solver = solverFor(2, 2);
    for (const pre of ['auto', 'none'] as const) {
      const f32 = solver.runSync(argsFor(p, 'float32'), { alpha: p.alpha, tol: 1e-6, preconditioner: pre });
      const f64 = solver.runSync(argsFor(p, 'float64'), { alpha: p.alpha, tol: 1e-6, preconditioner: pre });
      expect([pre, f32.converged, f64.converged]).toEqual([pre, true, true]);
      const truth = trueResidual(p.K, p.n, p.alpha, f32.x.data, p.b.f64, p.dv);
      expect([pre, truth <= 1.05e-6]).toEqual([pre, true]);
      expect([pre, f32.iterations <= 2 * f64.iterations]).toEqual([pre, true]);
    }
  });

  test('a tolerance beyond what the products resolve stops as stagnated, not at maxIter', () => {
    const p = keops();
    const r = solverFor(2, 2).runSync(argsFor(p, 'float64'), { alpha: p.alpha, tol: 1e-17, preconditioner: 'nystrom', maxIter: 100000 });
    expect(r.converged).toBe(false);
    expect(r.reason).toBe('stagnated');
    expect(r.iterations).toBeLessThan(100000);
    expect(r.residual).toBeLessThan(1e-10);
  });

  test('maxIter stops with reason maxIter and a truthful residual', () => {
    const p = wide(1003, 1);
    const r = solverFor(1).runSync(argsFor(p, 'float32'), { alpha: ALPHA, preconditioner: 'none', maxIter: 4 });
    expect(r.reason).toBe('maxIter');
    expect(r.iterations).toBe(4);
    const truth = trueResidual(p.K, p.n, p.alpha, r.x.data, p.b.f64, p.dv);
    expect(Math.abs(r.residual - truth)).toBeLessThanOrEqual(1e-6 * truth);
  });
});

describe('what a solve may be given', () => {
  const p = (): ReturnType<typeof problem> => wide(1003, 1);

  test('NaN in b is a breakdown error (ERR_LK_SOLVE) with every preconditioner', async () => {
    const b = Float64Array.from(p().b.f64);
    b[17] = Number.NaN;
    for (const pre of PRECONDITIONERS) {
      const err = await caught(() => solverFor(1).run([p().x.f64, p().x.f64, b, GAMMA], { alpha: ALPHA, preconditioner: pre }));
      expect([pre, err instanceof LazyKernelError, (err as LazyKernelError).code]).toEqual([pre, true, 'ERR_LK_SOLVE']);
    }
  });

  test('a semi-definite kernel with alpha = 0: a preconditioner is an OptionError; plain CG stops with a reason', async () => {
    // Two identical points: K is singular. b has a component outside K's range.
    const x = Float64Array.of(0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.7, 0.1, 0.5);
    const b = Float64Array.of(1, -1, 0.5);
    for (const pre of ['nystrom', 'jacobi'] as const) {
      expect(await caught(() => solverFor(1).run([x, x, b, 3], { alpha: 0, preconditioner: pre }))).toBeInstanceOf(OptionError);
    }
    let outcome: SolveResult | LazyKernelError;
    try {
      outcome = solverFor(1).runSync([x, x, b, 3], { alpha: 0, maxIter: 1000 });
    } catch (e) {
      outcome = e as LazyKernelError;
    }
    // Documented (README): either a breakdown error, or a stop that is not 'converged'.
    if (outcome instanceof LazyKernelError) expect(outcome.code).toBe('ERR_LK_SOLVE');
    else {
      expect(outcome.converged).toBe(false);
      expect(['stagnated', 'maxIter']).toContain(outcome.reason);
      expect(outcome.iterations).toBeLessThan(1000);
    }
  });

  test('bad preconditioner options are OptionErrors', async () => {
    const args = [p().x.f64, p().x.f64, p().b.f64, GAMMA];
    const bad: SolveOptions[] = [
      { alpha: ALPHA, preconditioner: 'lu' as never },
      { alpha: ALPHA, preconditioner: 'nystrom', rank: 0 },
      { alpha: ALPHA, preconditioner: 'nystrom', rank: 1.5 },
      { alpha: ALPHA, preconditioner: 'jacobi', rank: 10 },
      { alpha: ALPHA, preconditioner: 'nystrom', landmarks: 'greedy' as never },
      { alpha: ALPHA, preconditioner: 'nystrom', seed: -1 },
      { alpha: ALPHA, preconditioner: 'nystrom', backend: 'cuda' },
    ];
    for (const opts of bad) {
      expect(await caught(() => solverFor(1).run(args, opts))).toBeInstanceOf(OptionError);
      expect(await caught(() => solverFor(1).runSync(args, opts))).toBeInstanceOf(OptionError);
    }
  });
});

describe('progress and abort', () => {
  // Large enough that the setup and the iteration each take a while.
  const big = (): ReturnType<typeof problem> => cached('big', () => {
    const rng = new Rng(77);
    const n = 20000;
    const x = dual(uniform(rng, n * 3));
    const b = dual(normal(rng, n));
    return { n, dv: 1, gamma: 30, alpha: 0.01, x, b, K: new Float64Array(0), ref: new Float64Array(0), dim: 3 };
  });

  test('onProgress hears the setup steps (rank growing), then the iterations', async () => {
    const p = wide(1003, 1);
    const seen: string[] = [];
    let lastRank = 0;
    const r = await solverFor(1).run(argsFor(p, 'float64'), {
      alpha: ALPHA, preconditioner: 'nystrom',
      onProgress: (q) => {
        if (q.phase === 'setup') {
          expect(q.step).toBeGreaterThan(lastRank);
          lastRank = q.step;
        }
        if (seen[seen.length - 1] !== q.phase) seen.push(q.phase);
      },
    });
    expect(seen).toEqual(['setup', 'iterate']);
    expect(lastRank).toBe(r.preconditioner.rank);
  });

  test('abort during the Nyström setup rejects with an AbortError', async () => {
    const ac = new AbortController();
    const err = await caught(() => solverFor(1).run(argsFor(big(), 'float32'), {
      alpha: big().alpha, preconditioner: 'nystrom', signal: ac.signal,
      onProgress: (q) => { if (q.phase === 'setup') ac.abort(); },
    }));
    expect(err).toBeInstanceOf(AbortError);
  });

  test('abort during the iteration (after a Jacobi setup) rejects with an AbortError', async () => {
    const ac = new AbortController();
    let iterations = 0;
    const err = await caught(() => solverFor(1).run(argsFor(big(), 'float32'), {
      alpha: big().alpha, preconditioner: 'jacobi', signal: ac.signal,
      onProgress: (q) => {
        if (q.phase === 'iterate' && ++iterations === 2) ac.abort();
      },
    }));
    expect(err).toBeInstanceOf(AbortError);
    expect(iterations).toBeLessThan(20);
  });
});

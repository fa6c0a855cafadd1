/**
 * Gradients of reductions (Genred.vjp) against central finite differences of the loss
 * L = Σ (output ⊙ E), E the output gradient, for every differentiable reduction, both
 * axes, i-, j- and parameter inputs, in float64 on seeded data; and a 1003-point
 * Gaussian sum against its closed-form gradient, in both dtypes.
 */
import { DTypeError, Genred, KernelSolve, OptionError, Pm, Vi, Vj } from '../lib';
import { addon } from '../lib/addon';
import type { ReductionName } from '../lib';
import { Rng } from './helpers/reference';

const ALIASES = ['x = Vi(2)', 'y = Vj(2)', 'b = Vj(1)', 'g = Pm(1)'];
const DIMS: Record<string, number> = { x: 2, y: 2, b: 1, g: 1 };

interface Case { reduction: ReductionName; formula: string; formula2?: string; k?: number }
const CASES: Case[] = [
  { reduction: 'Sum', formula: 'Exp(-g*SqDist(x,y))*b' },
  { reduction: 'Sum', formula: 'Exp(-g*SqDist(x,y))*(x-y)*b' },
  { reduction: 'LogSumExp', formula: '-g*SqDist(x,y)+b' },
  { reduction: 'SumSoftMaxWeight', formula: '-g*SqDist(x,y)', formula2: 'b*y' },
  { reduction: 'Min', formula: 'SqDist(x,y)*g+b' },
  { reduction: 'Max', formula: 'x*y*g+b' },
  { reduction: 'Min_ArgMin', formula: 'SqDist(x,y)*g+b' },
  { reduction: 'Max_ArgMax', formula: '(x|y)*g-b' },
  { reduction: 'KMin', formula: 'SqDist(x,y)*g+b', k: 3 },
  { reduction: 'KMin_ArgKMin', formula: 'x*g+y-b', k: 2 },
];

function inputs(seed: number, m: number, n: number): Record<string, Float64Array> {
  const rng = new Rng(seed);
  const u = (len: number): Float64Array => Float64Array.from({ length: len }, () => rng.next());
  return { x: u(2 * m), y: u(2 * n), b: u(n), g: Float64Array.of(1.5 + rng.next()) };
}
const argsOf = (d: Record<string, Float64Array>): (Float64Array | number[])[] => [d.x, d.y, d.b, Array.from(d.g)];

function values(r: unknown): Float64Array {
  const t = (r as { values?: { data: Float64Array } }).values ?? (r as { data: Float64Array });
  return t.data;
}

describe.each([1, 0] as const)('axis %i', (axis) => {
  // Output rows × reduced rows: odd sizes, and a single output row.
  const sizes = [[7, 5], [1, 4]] as const;
  test.each(CASES.flatMap((c) => sizes.map(([o, r]) => [c.reduction, c.formula, o, r, c] as const)))('%s of %s, %i x %i: every input against finite differences', (_r, _f, o, r, c) => {
    const [m, n] = axis === 1 ? [o, r] : [r, o];
    const d = inputs(c.formula.length + 13 * axis, m, n);
    const op = new Genred(c.formula, ALIASES, { reduction: c.reduction, axis, k: c.k, formula2: c.formula2 });
    const out = values(op.runSync(argsOf(d)));
    const rng = new Rng(3);
    const E = Float64Array.from(out, () => rng.next() - 0.5);
    const loss = (dd: Record<string, Float64Array>): number => values(op.runSync(argsOf(dd))).reduce((s, v, k) => s + v * E[k], 0);
    const grads = op.vjpSync(argsOf(d), { data: E, shape: [axis === 1 ? m : n, op.cols] }, ['x', 'y', 'b', 'g']);
    for (const name of Object.keys(DIMS)) {
      const got = grads[name];
      expect(got.shape).toEqual([name === 'g' ? 1 : d[name].length / DIMS[name], DIMS[name]]);
      const want = d[name].map((_v, k) => {
        const h = 1e-6;
        const at = (delta: number): number => {
          const moved = { ...d, [name]: Float64Array.from(d[name]) };
          moved[name][k] += delta;
          return loss(moved);
        };
        return (at(h) - at(-h)) / (2 * h);
      });
      const worst = Math.max(...Array.from(want, (w, k) => Math.abs(w - got.data[k]) / (1 + Math.abs(w))));
      expect([name, worst < 1e-6]).toEqual([name, true]);
    }
  });
});

describe('the Gaussian sum at 1003 points against its closed form', () => {
  // S_i = Σ_j exp(-g|x_i − y_j|²) b_j; with output gradient E:
  // ∂/∂x_i = Σ_j E_i K_ij b_j (−2g)(x_i − y_j), ∂/∂y_j = Σ_i E_i K_ij b_j (2g)(x_i − y_j),
  // ∂/∂b_j = Σ_i E_i K_ij, ∂/∂g = −Σ_ij E_i K_ij b_j |x_i − y_j|².
  const M = 1003, N = 1003, g = 3;
  const d = inputs(41, M, N);
  const rng = new Rng(43);
  const E = Float64Array.from({ length: M }, () => rng.next() - 0.5);
  const want = { x: new Float64Array(2 * M), y: new Float64Array(2 * N), b: new Float64Array(N), g: new Float64Array(1) };
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const r0 = d.x[2 * i] - d.y[2 * j], r1 = d.x[2 * i + 1] - d.y[2 * j + 1];
      const k = Math.exp(-g * (r0 * r0 + r1 * r1));
      const w = E[i] * k * d.b[j];
      want.x[2 * i] -= 2 * g * w * r0; want.x[2 * i + 1] -= 2 * g * w * r1;
      want.y[2 * j] += 2 * g * w * r0; want.y[2 * j + 1] += 2 * g * w * r1;
      want.b[j] += E[i] * k;
      want.g[0] -= w * (r0 * r0 + r1 * r1);
    }
  }
  const op = new Genred('Exp(-g*SqDist(x,y))*b', ALIASES, { reduction: 'Sum', axis: 1 });
  test.each(['float64', 'float32'] as const)('%s, async', async (dtype) => {
    const cast = (a: Float64Array): Float64Array | Float32Array => (dtype === 'float32' ? Float32Array.from(a) : a);
    const grads = await op.vjp([cast(d.x), cast(d.y), cast(d.b), g], cast(E), ['x', 'y', 'b', 'g']);
    // float32: each term rounds to ~6e-8 relative; sums of 1003 mixed-sign terms, 1e-4 of the row's magnitude.
    const tol = dtype === 'float32' ? 1e-4 : 1e-10;
    for (const name of ['x', 'y', 'b', 'g'] as const) {
      const got = grads[name].data;
      const scale = Math.max(...Array.from(want[name], Math.abs));
      const worst = Math.max(...Array.from(want[name], (w, k) => Math.abs(w - got[k])));
      expect([name, dtype, got.constructor.name, worst <= tol * scale]).toEqual([name, dtype, dtype === 'float32' ? 'Float32Array' : 'Float64Array', true]);
    }
  });
});

describe('what vjp rejects', () => {
  const x = new Float64Array(6), y = new Float64Array(4), b = new Float64Array(2);
  const sum = new Genred('Exp(-g*SqDist(x,y))*b', ALIASES, { reduction: 'Sum', axis: 1 });
  test('an unknown input name', () => {
    expect(() => sum.vjpSync([x, y, b, 1], new Float64Array(3), ['z'])).toThrow(OptionError);
  });
  test('an output gradient of the wrong shape or float type', () => {
    expect(() => sum.vjpSync([x, y, b, 1], new Float64Array(4), ['x'])).toThrow(/rows|values/);
    expect(() => sum.vjpSync([x, y, b, 1], new Float32Array(3) as never, ['x'])).toThrow(DTypeError);
  });
  test('an index reduction', () => {
    const arg = new Genred('SqDist(x,y)', ALIASES, { reduction: 'ArgMin', axis: 1 });
    expect(() => arg.vjpSync([x, y, b, 1], new Float64Array(3), ['x'])).toThrow(/no gradient/);
  });
  test('explicit ranges', () => {
    expect(() => sum.vjpSync([x, y, b, 1], new Float64Array(3), ['x'], { ranges: [] } as never)).toThrow(OptionError);
  });
});

describe('the gradient of a KernelSolve', () => {
  // x = (αI + K)⁻¹ b with K = exp(-g|p_i − p_j|²); L = Σ c ⊙ x. Finite differences of L
  // in b, α, g and the points (as the i-variable p and as the j-variable q, same data).
  const n = 23, alpha = 0.3, g = 4;
  const rng = new Rng(61);
  const pts = Float64Array.from({ length: 2 * n }, () => rng.next());
  const b = Float64Array.from({ length: n }, () => rng.next() - 0.5);
  const c = Float64Array.from({ length: n }, () => rng.next() - 0.5);
  const solver = new KernelSolve('Exp(-g*SqDist(p,q))*a', ['p = Vi(2)', 'q = Vj(2)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
  const opts = { alpha, tol: 1e-14, maxIter: 2000, preconditioner: 'none' as const };
  const loss = (p: Float64Array, q: Float64Array, bb: Float64Array, gg: number, al: number): number =>
    solver.runSync([p, q, bb, gg], { ...opts, alpha: al }).x.data.reduce((s, v, k) => s + v * c[k], 0);

  test.each(['sync', 'async'] as const)('b, alpha, g and the points against finite differences (%s)', async (mode) => {
    const r = solver.runSync([pts, pts, b, g], opts);
    const wrt = ['a', 'alpha', 'g', 'p', 'q'];
    const grads = mode === 'sync' ? solver.vjpSync([pts, pts, b, g], r, c, wrt, opts) : await solver.vjp([pts, pts, b, g], r, c, wrt, opts);
    const h = 1e-6;
    const fd = (f: (d: number) => number): number => (f(h) - f(-h)) / (2 * h);
    const bump = (a: Float64Array, k: number, d: number): Float64Array => { const out = Float64Array.from(a); out[k] += d; return out; };
    const want: Record<string, number[]> = {
      a: Array.from(b, (_v, k) => fd((d) => loss(pts, pts, bump(b, k, d), g, alpha))),
      alpha: [fd((d) => loss(pts, pts, b, g, alpha + d))],
      g: [fd((d) => loss(pts, pts, b, g + d, alpha))],
      p: Array.from(pts, (_v, k) => fd((d) => loss(bump(pts, k, d), pts, b, g, alpha))),
      q: Array.from(pts, (_v, k) => fd((d) => loss(pts, bump(pts, k, d), b, g, alpha))),
    };
    for (const name of wrt) {
      const got = grads[name].data;
      const worst = Math.max(...want[name].map((w, k) => Math.abs(w - got[k]) / (1 + Math.abs(w))));
      expect([name, worst < 1e-5]).toEqual([name, true]);
    }
  });

  test.each(['nystrom', 'jacobi'] as const)('the adjoint solve reuses a kept %s preconditioner, with the same gradients', async (preconditioner) => {
    const m = 401;
    const r2 = new Rng(62);
    const P = Float64Array.from({ length: 2 * m }, () => r2.next());
    const B = Float64Array.from({ length: m }, () => r2.next() - 0.5);
    const C = Float64Array.from({ length: m }, () => r2.next() - 0.5);
    const o = { alpha: 0.05, tol: 1e-12, preconditioner };
    const args = [P, P, B, 30];
    // Setup steps reported by the adjoint solve: none when it reuses the forward one's.
    const setupSteps = async (keep: boolean): Promise<{ steps: number; grads: Record<string, { data: ArrayLike<number> }> }> => {
      const r = await solver.run(args, { ...o, keepPreconditioner: keep });
      expect(r.preconditioner.kind).toBe(preconditioner);
      expect(r.preconditioner.reused).toBe(false);
      let steps = 0;
      const grads = await solver.vjp(args, r, C, ['a', 'g', 'p'], { ...o, onProgress: (q) => { if (q.phase === 'setup') steps++; } });
      return { steps, grads };
    };
    const fresh = await setupSteps(false);
    const reused = await setupSteps(true);
    expect(fresh.steps).toBeGreaterThan(0);
    expect(reused.steps).toBe(0);
    for (const name of ['a', 'g', 'p']) {
      const want = fresh.grads[name].data, got = reused.grads[name].data;
      const worst = Math.max(...Array.from(want, (w, k) => Math.abs(w - got[k]) / (1 + Math.abs(w))));
      expect([name, worst < 1e-9]).toEqual([name, true]);
    }
    // Another alpha is another system: the kept preconditioner is not used (set up again).
    const r = solver.runSync(args, { ...o, keepPreconditioner: true });
    let steps = 0;
    await solver.vjp(args, r, C, ['a'], { ...o, alpha: 0.1, onProgress: (q) => { if (q.phase === 'setup') steps++; } });
    expect(steps).toBeGreaterThan(0);
  });

  test('keepPreconditioner must be a boolean; a forged kept preconditioner is refused by the addon', () => {
    expect(() => solver.runSync([pts, pts, b, g], { ...opts, keepPreconditioner: 1 as never })).toThrow(OptionError);
    const call = solver.compiled.bind([pts, pts, b, g]);
    const native = { alpha, tol: 1e-8, maxIter: 100, preconditioner: 'jacobi' as const };
    for (const forged of [{}, { __brand: 'KeptPreconditioner' }, 3, Object.create(null)]) {
      expect(() => addon.solveSync(call.program, call.args, solver.slot, Float64Array.from(b), { ...native, reusePreconditioner: forged as never })).toThrow(/reusePreconditioner/);
    }
    // The real one, from the addon, is taken.
    const kept = addon.solveSync(call.program, call.args, solver.slot, Float64Array.from(b), { ...native, keepPreconditioner: true });
    expect(kept.keptPreconditioner).toBeDefined();
    const again = addon.solveSync(call.program, call.args, solver.slot, Float64Array.from(c), { ...native, reusePreconditioner: kept.keptPreconditioner });
    expect(again.preconditioner.reused).toBe(true);
    expect(again.preconditioner.kind).toBe('jacobi');
  });
});

describe('LazyTensor.vjp', () => {
  // The same gradients as Genred.vjp of the same formula string (itself checked against
  // finite differences above), for variables passed as LazyTensors.
  const [m, n] = [9, 1003];
  const d = inputs(71, m, n);
  const rng = new Rng(73);
  test.each([
    ['Sum', 1, 'Exp(-g*SqDist(x,y))*b', undefined],
    ['Sum', 0, 'Exp(-g*SqDist(x,y))*b', undefined],
    ['KMin', 0, 'SqDist(x,y)*g+b', 2],
    ['LogSumExp', 1, '-g*SqDist(x,y)+b', undefined],
  ] as const)('%s, axis %i, of %s', async (reduction, axis, formula, k) => {
    const x = Vi(d.x, 2), y = Vj(d.y, 2), b = Vj(d.b, 1), g = Pm(d.g);
    const lazy = formula.startsWith('Exp')
      ? x.sqdist(y).mul(g).neg().exp().mul(b)
      : formula.startsWith('SqDist') ? x.sqdist(y).mul(g).add(b) : x.sqdist(y).mul(g).neg().add(b);
    const op = new Genred(formula, ALIASES, { reduction, axis, k });
    const rows = axis === 1 ? m : n;
    const E = Float64Array.from({ length: rows * op.cols }, () => rng.next() - 0.5);
    const want = op.vjpSync(argsOf(d), { data: E, shape: [rows, op.cols] }, ['x', 'y', 'b', 'g']);
    const got = await lazy.vjp({ reduction, axis, k }, { data: E, shape: [rows, op.cols] }, [x, y, b, g]);
    ['x', 'y', 'b', 'g'].forEach((name, slot) => {
      expect(got[slot].shape).toEqual(want[name].shape);
      const worst = Math.max(...Array.from(want[name].data, (w, q) => Math.abs(w - got[slot].data[q]) / (1 + Math.abs(w))));
      expect([name, worst < 1e-12]).toEqual([name, true]);
    });
  });

  test('SumSoftMaxWeight, with its weights formula', () => {
    const x = Vi(d.x, 2), y = Vj(d.y, 2), b = Vj(d.b, 1), g = Pm(d.g);
    const op = new Genred('-g*SqDist(x,y)', ALIASES, { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b*y' });
    const E = Float64Array.from({ length: m * 2 }, () => rng.next() - 0.5);
    const want = op.vjpSync(argsOf(d), E, ['y', 'g']);
    const [gy, gg] = x.sqdist(y).mul(g).neg().vjpSync({ reduction: 'SumSoftMaxWeight', axis: 1, weights: b.mul(y) }, E, [y, g]);
    expect(Math.max(...Array.from(want.y.data, (w, q) => Math.abs(w - gy.data[q])))).toBeLessThan(1e-12);
    expect(Math.abs(want.g.data[0] - gg.data[0])).toBeLessThan(1e-12 * (1 + Math.abs(want.g.data[0])));
  });

  test('a variable the formula does not read, or a formula, is an OptionError', () => {
    const x = Vi(d.x, 2), y = Vj(d.y, 2);
    const K = x.sqdist(y);
    expect(() => K.vjpSync({ reduction: 'Sum', axis: 1 }, new Float64Array(m), [Vi(d.x, 2)])).toThrow(OptionError);
    expect(() => K.vjpSync({ reduction: 'Sum', axis: 1 }, new Float64Array(m), [x.mul(2)])).toThrow(OptionError);
  });
});

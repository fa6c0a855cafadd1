/**
 * Datasets held once for many calls (lib/dataset.ts, native/held.h): the copy holds the
 * values in both dtypes, at sizes 1, 7, 1003 and beyond one copying chunk; calls given a
 * dataset (as Genred arguments, Vi/Vj LazyTensors, KernelSolve points, on both axes,
 * pruned with the dataset's kept clusters or not) agree with a float64 brute force;
 * dispose() and bad inputs give typed errors, and a call in flight outlives a dispose.
 *
 * Tolerance: float64 data, |got − exact| ≤ 1e-12 · Σ_j |K_ij b_j| per row (pruning's
 * default tolerance is 2^-53 of that sum; the rest is rounding).
 */
import { dataset, Dataset, DTypeError, Genred, KernelSolve, OptionError, ShapeError, Vi, Vj } from '../lib';
import { addon } from '../lib/addon';
import { asTensor, caught, Rng, uniform } from './helpers/reference';
import { cholesky, cholSolve, columnError, gram } from './helpers/dense';
import type { SolveResult } from '../lib';

const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ALIASES, { reduction: 'Sum', axis: 1 });

/** out_i = Σ_j exp(-g|x_i − y_j|²) b_j and Σ_j |…|, in float64. */
function brute(x: Float64Array, y: Float64Array, b: Float64Array, g: number): { exact: Float64Array; abs: Float64Array } {
  const M = x.length / 3, N = y.length / 3;
  const exact = new Float64Array(M), abs = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const d = (x[3 * i] - y[3 * j]) ** 2 + (x[3 * i + 1] - y[3 * j + 1]) ** 2 + (x[3 * i + 2] - y[3 * j + 2]) ** 2;
      const t = Math.exp(-g * d) * b[j];
      exact[i] += t;
      abs[i] += Math.abs(t);
    }
  }
  return { exact, abs };
}

function expectClose(got: ArrayLike<number>, ref: { exact: Float64Array; abs: Float64Array }, label: string): void {
  expect(got.length).toBe(ref.exact.length);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref.exact[i]);
    if (!(err <= 1e-12 * ref.abs[i] + 1e-300)) throw new Error(`${label}: row ${i}: got ${got[i]}, exact ${ref.exact[i]}`);
  }
}

describe('dataset()', () => {
  test.each([1, 7, 1003])('holds %i points of 3 values, float32 and float64, from an array or a Tensor', async (n) => {
    const rng = new Rng(n);
    const v = uniform(rng, 3 * n);
    for (const data of [v, Float32Array.from(v)]) {
      const ds = await dataset(data, 3);
      expect(ds).toBeInstanceOf(Dataset);
      expect(ds.shape).toEqual([n, 3]);
      expect(Object.prototype.toString.call(ds.data)).toBe(Object.prototype.toString.call(data));
      expect(Array.from(ds.data)).toEqual(Array.from(data));
      const fromTensor = await dataset({ data, shape: [n, 3] });
      expect(fromTensor.shape).toEqual([n, 3]);
      expect(Array.from(fromTensor.data)).toEqual(Array.from(data));
    }
  });

  test('copies a dataset of several chunks (2^18 values each) whole', async () => {
    const n = (1 << 20) / 3 + 1001;
    const v = Float32Array.from({ length: 3 * Math.floor(n) }, (_, k) => (k % 9973) / 9973);
    const ds = await dataset(v, 3);
    expect(ds.data.length).toBe(v.length);
    let same = true;
    for (let k = 0; k < v.length; k++) if (ds.data[k] !== v[k]) same = false;
    expect(same).toBe(true);
  });

  test('bad inputs are typed errors', async () => {
    expect(await caught(() => dataset([1, 2, 3] as never, 3))).toBeInstanceOf(DTypeError);
    expect(await caught(() => dataset(new Float64Array(6)))).toBeInstanceOf(OptionError);
    expect(await caught(() => dataset(new Float64Array(6), 0))).toBeInstanceOf(OptionError);
    expect(await caught(() => dataset(new Float64Array(7), 3))).toBeInstanceOf(ShapeError);
    expect(await caught(() => dataset(new Int32Array(6) as never, 3))).toBeInstanceOf(DTypeError);
  });
});

describe('calls given datasets', () => {
  const rng = new Rng(77);
  const M = 1003, N = 1000 + 3;
  const x = uniform(rng, 3 * M), y = uniform(rng, 3 * N), b = uniform(rng, N, -1, 1);

  test.each([30, 3000])('Genred with held y and b, pruned (clusters kept and reused) and not, both axes; g = %p', async (g) => {
    const ys = await dataset(y, 3), bs = await dataset(b, 1), xs = await dataset(x, 3);
    const ref = brute(x, y, b, g);
    expect([addon.heldClusterCount(ys.data), addon.heldClusterCount(y)]).toEqual([0, -1]);
    for (const prune of [true, false, undefined]) {
      for (let rep = 0; rep < 2; rep++) {
        expectClose(asTensor(await gauss.run([x, ys, bs, g], { prune })).data, ref, `held y, prune ${prune}`);
        expectClose(asTensor(gauss.runSync([xs, ys, bs, g], { prune })).data, ref, `all held, Sync, prune ${prune}`);
      }
    }
    // The pruned calls found the datasets and built their clusters once, kept with them
    // (b is no point set: none); the default left these 1e6-pair calls unpruned.
    expect([addon.heldClusterCount(ys.data), addon.heldClusterCount(xs.data), addon.heldClusterCount(bs.data)]).toEqual([1, 1, 0]);
    // Axis 0: the held points are the reduced i side, the plain ones the output rows.
    const swapped = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vj(3)', 'y = Vi(3)', 'b = Vi(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 0 });
    expectClose(asTensor(await swapped.run([x, ys, bs, g], { prune: true })).data, ref, 'axis 0');
    // LazyTensors on datasets: Vi(ds) and Vj(ds) need no dimension.
    const K = Vi(xs).sqdist(Vj(ys)).mul(-g).exp();
    expectClose(asTensor(await K.matvec(bs.data)).data, ref, 'LazyTensor');
    // The held rows as the pruned row side (a held x), and as the columns of the other axis.
    const rowsRef = brute(y, x, uniform(new Rng(5), M, -1, 1), g);
    const c = uniform(new Rng(5), M, -1, 1);
    expectClose(asTensor(await gauss.run([ys, xs, c, g], { prune: true })).data, rowsRef, 'held x rows');
  });

  test('a held b against several held point sets: gathered once per tree, never mixed up', async () => {
    const bs = await dataset(b, 1);
    const y2 = uniform(new Rng(31), 3 * N);
    const softmax = new Genred('-g*SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b' });
    for (let round = 0; round < 2; round++) {
      // A new dataset each round: the last round's tree is gone, its address free for reuse.
      const ys = await dataset(y, 3), ys2 = await dataset(y2, 3);
      for (let rep = 0; rep < 2; rep++) {
        expectClose(asTensor(await gauss.run([x, ys, bs, 300], { prune: true })).data, brute(x, y, b, 300), `y, round ${round}`);
        expectClose(asTensor(await gauss.run([x, ys2, bs, 300], { prune: true })).data, brute(x, y2, b, 300), `y2, round ${round}`);
        // The same b as a softmax's values (a ones column beside it) against the same tree.
        const got = asTensor(await softmax.run([x, ys, bs, 300], { prune: true })).data;
        const num = brute(x, y, b, 300), den = brute(x, y, new Float64Array(N).fill(1), 300);
        for (let i = 0; i < M; i++) {
          const want = num.exact[i] / den.exact[i];
          if (!(Math.abs(got[i] - want) <= 1e-12 * (1 + Math.abs(want)))) throw new Error(`softmax row ${i}: ${got[i]} vs ${want}`);
        }
      }
      ys.dispose();
      ys2.dispose();
    }
  });

  test('KernelSolve on held points agrees with the same solve on plain arrays', async () => {
    const n = 1003;
    const pts = uniform(new Rng(8), 3 * n);
    const rhs = uniform(new Rng(9), n, -1, 1);
    const held = await dataset(pts, 3);
    const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
    const opts = { alpha: 0.5, tol: 1e-12, prune: true };
    const plain = await solver.run([pts, pts, rhs, 300], opts);
    const onHeld = await solver.run([held, held, rhs, 300], opts);
    expect(onHeld.converged).toBe(true);
    let worst = 0;
    for (let k = 0; k < n; k++) worst = Math.max(worst, Math.abs(plain.x.data[k] - onHeld.x.data[k]) / (1 + Math.abs(plain.x.data[k])));
    expect(worst).toBeLessThan(1e-9);
  });

  test('dispose(): later calls are OptionErrors; a call already made finishes right', async () => {
    const ys = await dataset(y, 3), bs = await dataset(b, 1);
    const pending = gauss.run([x, ys, bs, 30], { prune: true });
    const built = Vi(x, 3).sqdist(Vj(ys)).mul(-30).exp();  // holds ys' values
    ys.dispose();
    bs.dispose();
    bs.dispose(); // twice is harmless
    expect(ys.disposed).toBe(true);
    expectClose(asTensor(await pending).data, brute(x, y, b, 30), 'in flight');
    expect(() => ys.data).toThrow(OptionError);
    expect(await caught(() => gauss.run([x, ys, b, 30]))).toBeInstanceOf(OptionError);
    expect(() => Vj(ys)).toThrow(OptionError);
    // A LazyTensor built before dispose() holds the values, not the right to use them.
    expect(await caught(() => built.matvec(b))).toBeInstanceOf(OptionError);
    expect(() => built.matvecSync(b)).toThrow(/disposed/);
    expect(await caught(() => built.solve(b, { alpha: 1 }))).toBeInstanceOf(OptionError);
  });

  test('a float32 dataset in a float64 call is a DTypeError', async () => {
    const ys = await dataset(Float32Array.from(y), 3);
    expect(await caught(() => gauss.run([x, ys, b, 30]))).toBeInstanceOf(DTypeError);
  });
});

describe('preconditioners kept on datasets', () => {
  const n = 1000 + 3, g = 50;
  const pts = uniform(new Rng(21), 3 * n);
  const rhs = uniform(new Rng(22), n, -1, 1);
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
  const K = gram(pts, n, (d2) => Math.exp(-g * d2));
  const exact = (alpha: number): Float64Array => cholSolve(cholesky(K, n, alpha), n, rhs, 1);

  /** The solve converged to tol 1e-10 and agrees with the dense float64 solve: ‖x − x*‖∞ ≤ 1e-7·(1 + ‖x*‖∞). */
  function expectSolved(r: SolveResult, alpha: number, label: string): void {
    expect(r.converged).toBe(true);
    const ref = exact(alpha);
    const err = columnError(r.x.data, ref, n, 1);
    if (!(err <= 1e-7)) throw new Error(`${label}: relative error ${err}`);
  }

  test.each(['nystrom', 'jacobi'] as const)('%s: kept by one solve, reused by the next with the same key only', async (preconditioner) => {
    const held = await dataset(pts, 3);
    const base = { alpha: 0.1, tol: 1e-10, preconditioner };
    const first = await solver.run([held, held, rhs, g], { ...base, keepPreconditioner: true });
    expect(first.preconditioner.reused).toBe(false);
    expectSolved(first, 0.1, 'first');
    // Same formula, parameters, alpha and options on the same dataset: reused, by another
    // KernelSolve of the same formula too, and by Sync calls.
    const again = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
    const second = await again.run([held, held, rhs, g], base);
    expect(second.preconditioner).toMatchObject({ kind: first.preconditioner.kind, reused: true });
    expectSolved(second, 0.1, 'second');
    expect(solver.runSync([held, held, rhs, g], base).preconditioner.reused).toBe(true);
    // Anything the preconditioner depends on changed: set up again.
    expect((await solver.run([held, held, rhs, g], { ...base, alpha: 0.2 })).preconditioner.reused).toBe(false);
    expect((await solver.run([held, held, rhs, 2 * g], base)).preconditioner.reused).toBe(false);
    expect((await solver.run([held, held, rhs, g], { ...base, pruneTolerance: 1e-3 })).preconditioner.reused).toBe(false);
    expect((await solver.run([pts, pts, rhs, g], base)).preconditioner.reused).toBe(false);
    const other = await dataset(pts, 3);  // the same values, another dataset
    expect((await solver.run([other, other, rhs, g], base)).preconditioner.reused).toBe(false);
    // The float32 data of the same points is another kernel.
    const held32 = await dataset(Float32Array.from(pts), 3);
    expect((await solver.run([held32, held32, Float32Array.from(rhs), g], base)).preconditioner.reused).toBe(false);
    held.dispose();
    expect(await caught(() => solver.run([held, held, rhs, g], base))).toBeInstanceOf(OptionError);
  });

  test('a solve that does not ask to keep leaves nothing; LazyTensor.solve shares the cache', async () => {
    const held = await dataset(pts, 3);
    const base = { alpha: 0.1, tol: 1e-10, preconditioner: 'nystrom' as const };
    await solver.run([held, held, rhs, g], base);
    expect((await solver.run([held, held, rhs, g], base)).preconditioner.reused).toBe(false);
    const lazy = Vi(held).sqdist(Vj(held)).mul(-g).exp();
    const r1 = await lazy.solve(rhs, { ...base, keepPreconditioner: true });
    expectSolved(r1, 0.1, 'LazyTensor');
    const r2 = await lazy.solve(rhs, base);
    expect(r2.preconditioner.reused).toBe(true);
    expectSolved(r2, 0.1, 'LazyTensor, reused');
  });
});

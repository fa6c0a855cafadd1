/**
 * No silent surprises in options: every options object refuses a key it does not know
 * (naming it), a reduction and an axis are required (KeOps' defaults are not assumed),
 * and gridCluster labels voxels as KeOps' grid_cluster does, counted from the origin.
 * The gridCluster references are written here: KeOps' packed labels (D ≤ 3) and a
 * lexicographic ranking of floor(x / size), on seeded random data.
 */
import { Genred, gridCluster, KernelSolve, OptionError, Pm, Vi, Vj } from '../lib/index';
import { bindReduction } from '../lib/lazy';
import { Rng } from './helpers/reference';

function expectOptionError(f: () => unknown, ...fragments: string[]): void {
  let thrown: unknown;
  try { f(); } catch (e) { thrown = e; }
  expect(thrown).toBeInstanceOf(OptionError);
  for (const s of fragments) expect((thrown as Error).message).toContain(s);
}
async function expectOptionRejection(p: () => Promise<unknown>, ...fragments: string[]): Promise<void> {
  let thrown: unknown;
  try { await p(); } catch (e) { thrown = e; }
  expect(thrown).toBeInstanceOf(OptionError);
  for (const s of fragments) expect((thrown as Error).message).toContain(s);
}

function mulberry32(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

describe('unknown option keys are OptionErrors that name the key', () => {
  const rand = mulberry32(31);
  const n = 7;
  const x = Float64Array.from({ length: 3 * n }, rand);
  const b = Float64Array.from({ length: n }, rand);
  const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });

  test('run options: Genred.run, runSync and vjp', async () => {
    await expectOptionRejection(() => gauss.run([x, x, b, 2], { prune: true, pruneTolerence: 1e-3 } as never), "'pruneTolerence'", 'pruneTolerance');
    expectOptionError(() => gauss.runSync([x, x, b, 2], { weight: b } as never), "'weight'");
    await expectOptionRejection(() => gauss.vjp([x, x, b, 2], new Float64Array(n), ['x'], { tol: 1 } as never), "'tol'");
    // The known keys still pass.
    expect(gauss.runSync([x, x, b, 2], { prune: false, priority: 0, backend: 'cpu' }).data).toHaveLength(n);
  });

  test("a LazyTensor reduction's run options: logsumexpSync(1, { weight }) takes a LazyTensor weight, never drops it", async () => {
    const K = Vi(x, 3).sqdist(Vj(x, 3)).mul(Pm(-2));
    expectOptionError(() => K.logsumexpSync(1, { weight: b } as never), 'weight must be a LazyTensor');
    expectOptionError(() => K.sumSync(1, { weight: Vj(b, 1) } as never), "'weight'", 'run option');
    await expectOptionRejection(() => K.sum(1, { axis: 1 } as never), "'axis'");
    // What every LazyTensor reduction binds through.
    expectOptionError(() => bindReduction(K, { reduction: 'Sum', axis: 1, dim: 2 } as never), "'dim'", 'reduction option');
  });

  test('Genred and KernelSolve constructor options', () => {
    expectOptionError(() => new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Min', axis: 1, dtype: 'float32' } as never), "'dtype'");
    expectOptionError(() => new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin', axis: 1, K: 3 } as never), "'K'");
    expectOptionError(() => new KernelSolve('Exp(-SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)'], 'a', { axis: 1, alpha: 0.8 } as never), "'alpha'", 'KernelSolve option');
    // formula2 is Genred's own key.
    expect(() => new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)', 'c = Vj(1)'], { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'c' })).not.toThrow();
  });

  test('solve options: KernelSolve.run, runSync and LazyTensor.solve', async () => {
    const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
    await expectOptionRejection(() => solver.run([x, x, b, 2], { alpha: 0.8, eps: 1e-6 } as never), "'eps'", 'solve option');
    expectOptionError(() => solver.runSync([x, x, b, 2], { alpha: 0.8, max_iter: 10 } as never), "'max_iter'", 'maxIter');
    const K = Vi(x, 3).sqdist(Vj(x, 3)).mul(Pm(-2)).exp();
    await expectOptionRejection(() => K.solve(b, { alpha: 0.8, call_dim: 1 } as never), "'call_dim'");
    // The known keys still pass, and the answer is right: (αI + K)a = b to 1e-8 relative.
    const r = solver.runSync([x, x, b, 2], { alpha: 0.8, tol: 1e-10, maxIter: 100, preconditioner: 'none', prune: false });
    let worst = 0;
    for (let i = 0; i < n; i++) {
      let s = 0.8 * r.x.data[i];
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let k = 0; k < 3; k++) d += (x[3 * i + k] - x[3 * j + k]) ** 2;
        s += Math.exp(-2 * d) * r.x.data[j];
      }
      worst = Math.max(worst, Math.abs(s - b[i]) / Math.abs(b[i]));
    }
    expect(worst).toBeLessThan(1e-8);
  });
});

describe("KeOps' defaults are not assumed: a reduction and an axis are required", () => {
  test.each([
    [{ axis: 1 }, 'reduction is required'],
    [{ reduction: 'Sum' }, 'axis is required'],
    [{}, 'reduction is required'],
  ])('%j', (opts, message) => {
    expectOptionError(() => new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], opts as never), message, 'KeOps');
  });
});

describe("gridCluster: KeOps' voxels, counted from the origin", () => {
  /** KeOps' labels for D ≤ 3: pack floor(x / size) as Σ v_c · 2^(10·(D-1-c)), rank the distinct packs. */
  function keopsLabels(x: Float64Array, d: number, sides: number[]): number[] {
    const packs = Array.from({ length: x.length / d }, (_, i) => {
      let p = 0;
      for (let c = 0; c < d; c++) p += Math.floor(x[i * d + c] / sides[c]) * 2 ** (10 * (d - 1 - c));
      return p;
    });
    const rank = new Map([...new Set(packs)].sort((a, b) => a - b).map((p, k) => [p, k]));
    return packs.map((p) => rank.get(p) as number);
  }
  /** Any D: rank the distinct voxel tuples lexicographically. */
  function tupleLabels(x: Float64Array, d: number, sides: number[]): number[] {
    const tuples = Array.from({ length: x.length / d }, (_, i) => Array.from({ length: d }, (_, c) => Math.floor(x[i * d + c] / sides[c])));
    const distinct = [...new Map(tuples.map((t) => [t.join(','), t])).values()].sort((a, b) => {
      for (let c = 0; c < d; c++) if (a[c] !== b[c]) return a[c] - b[c];
      return 0;
    });
    const rank = new Map(distinct.map((t, k) => [t.join(','), k]));
    return tuples.map((t) => rank.get(t.join(',')) as number);
  }

  test("KeOps' documented example: [0, .1, .9, .05, .5] in bins of .2 -> [0, 0, 2, 0, 1]", () => {
    expect(Array.from(gridCluster(Float64Array.of(0, 0.1, 0.9, 0.05, 0.5), 1, 0.2))).toEqual([0, 0, 2, 0, 1]);
  });

  test('voxels start at the origin, not at the data: 0.15 and 0.25 fall in different bins of 0.2', () => {
    expect(Array.from(gridCluster(Float64Array.of(0.15, 0.25), 1, 0.2))).toEqual([0, 1]);
    expect(Array.from(gridCluster(Float64Array.of(-0.05, 0.05), 1, 0.2))).toEqual([0, 1]);
  });

  const cases: Array<[number, number, number | number[]]> = [];
  for (const rows of [1, 7, 1003]) for (const d of [1, 2, 3]) cases.push([rows, d, 0.13], [rows, d, Array.from({ length: d }, (_, c) => 0.05 + 0.1 * c)]);
  test.each(cases)('%d points, D = %d, size %j: KeOps\' packed labels, both dtypes', (rows, d, size) => {
    const rand = mulberry32(1000 * rows + d);
    // Signed coordinates within ±3: every voxel index fits KeOps' 10-bit packing.
    const x = Float64Array.from({ length: rows * d }, () => 6 * rand() - 3);
    const sides = typeof size === 'number' ? new Array<number>(d).fill(size) : size;
    const want = keopsLabels(x, d, sides);
    expect(Array.from(gridCluster(x, d, size))).toEqual(want);
    // float32 data: the reference on the float32 values, which are exact doubles.
    const x32 = Float32Array.from(x);
    expect(Array.from(gridCluster(x32, d, size))).toEqual(keopsLabels(Float64Array.from(x32), d, sides));
  });

  test.each([1, 7, 1003])('%d points in D = 5 (beyond KeOps\' D <= 3): lexicographic voxel order', (rows) => {
    const rand = mulberry32(77 + rows);
    const x = Float64Array.from({ length: rows * 5 }, () => 40 * rand() - 20);
    const sides = [1, 2, 0.5, 3, 7];
    expect(Array.from(gridCluster(x, 5, sides))).toEqual(tupleLabels(x, 5, sides));
  });

  test('bad sizes are OptionErrors', () => {
    const x = Float64Array.of(0, 1, 2, 3);
    expectOptionError(() => gridCluster(x, 2, [1]), '2 numbers');
    expectOptionError(() => gridCluster(x, 2, [1, 0]), '> 0');
    expectOptionError(() => gridCluster(x, 2, [1, NaN]), '> 0');
    expectOptionError(() => gridCluster(x, 2, null as never), '2 numbers');
    expectOptionError(() => gridCluster(x, 2, -1), '> 0');
    expectOptionError(() => gridCluster(Float64Array.of(1e300, 0), 2, 1e-10), '2^53');
  });
});

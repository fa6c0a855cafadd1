/**
 * Pruned nearest-neighbour searches (native/cpu/nearest.h): F = scale·SqDist(x, y)
 * reduced by Min, ArgMin, Min_ArgMin, KMin, ArgKMin or KMin_ArgKMin is recognised as
 * 'sqdist' and, where pruned, walks the cluster trees instead of every pair.
 *
 * What is checked, on uniform, clustered and duplicated points, both axes, both dtypes,
 * D = 2, 3 and 5, sizes 1, 7, 1003 and larger, k up to 64:
 * - exactness: `prune: true` gives the very same values and indices as `prune: false`
 *   (both compute fl(Σ_c (x_c − y_c)²) in the same order, and keep the k smallest by
 *   (value, index): ties go to the lower index on both paths);
 * - against a float64 brute force written here: each returned value is its pair's
 *   squared distance within (D + 3)·u relative, and the l-th returned pair is no farther
 *   than the true l-th nearest, within 2·(D + 3)·u relative (u = 2^-24 or 2^-53), so no
 *   nearer point was skipped;
 * - the cases the pruned path hands back to the generic loop: NaN or infinite
 *   coordinates, a negative scale (the farthest points), k above 64, explicit ranges.
 */
import { dataset, Genred, Vi, Vj } from '../lib';
import type { Ranges } from '../lib/ranges';
import { addon } from '../lib/addon';
import { Kernel } from '../lib/formula/program';
import type { ReductionName } from '../lib/formula/program';
import { DType, DTYPES, dual, Rng, sqdistRows, uniform } from './helpers/reference';

const { abs: mAbs } = Math;
const U: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };

type NearestReduction = 'Min' | 'ArgMin' | 'Min_ArgMin' | 'KMin' | 'ArgKMin' | 'KMin_ArgKMin';
const REDUCTIONS: readonly NearestReduction[] = ['Min', 'ArgMin', 'Min_ArgMin', 'KMin', 'ArgKMin', 'KMin_ArgKMin'];
const keeps = (r: NearestReduction): boolean => r.startsWith('K') || r.startsWith('ArgK');

interface Found { values?: ArrayLike<number>; indices?: ArrayLike<number> }

/** The outputs of a run, whatever the reduction returns. */
function found(r: unknown): Found {
  const o = r as { data?: ArrayLike<number>; values?: { data: ArrayLike<number> }; indices?: { data: ArrayLike<number> } };
  if (o.values !== undefined && o.indices !== undefined) return { values: o.values.data, indices: o.indices.data };
  const data = o.data as ArrayLike<number>;
  // By the type's name: jest's sandbox has its own Int32Array.
  return Object.prototype.toString.call(data) === '[object Int32Array]' ? { indices: data } : { values: data };
}

function search(formula: string, D: number, reduction: NearestReduction, axis: 0 | 1, k: number) {
  return new Genred(formula, [`x = Vi(${D})`, `y = Vj(${D})`, 'g = Pm(1)'], { reduction, axis, k: keeps(reduction) ? k : undefined });
}

/** Points in clumps (half of them within 1e-3 of 20 centres), the rest uniform. */
function clumped(rng: Rng, n: number, D: number): Float64Array {
  const centres = uniform(rng, 20 * D);
  const out = uniform(rng, n * D);
  for (let p = 0; p < n; p += 2) {
    const c = rng.int(20);
    for (let d = 0; d < D; d++) out[p * D + d] = centres[c * D + d] + 1e-3 * rng.uniform(-1, 1);
  }
  return out;
}

/**
 * Checks one search's outputs against the float64 brute force: `rows` output rows, each
 * with `k` entries, over `other` points of the reduced side.
 */
function expectNearest(got: Found, q: Float64Array, p: Float64Array, D: number, k: number, g: number, u: number, label: string): void {
  const rows = q.length / D, other = p.length / D;
  const dist = new Float64Array(other);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < other; t++) dist[t] = g * sqdistRows(q, r, p, t, D);
    const sorted = Float64Array.from(dist).sort();
    const seen = new Set<number>();
    for (let l = 0; l < k; l++) {
      const at = r * k + l;
      const truth = sorted[l];
      if (got.indices) {
        const j = got.indices[at];
        if (!(j >= 0 && j < other) || seen.has(j)) throw new Error(`${label}: row ${r} entry ${l}: index ${j} is out of range or repeated`);
        seen.add(j);
        if (!(dist[j] <= truth + 2 * (D + 3) * u * mAbs(truth) + 1e-300)) {
          throw new Error(`${label}: row ${r} entry ${l}: index ${j} at ${dist[j]}, the true ${l}-th nearest is at ${truth}`);
        }
        if (got.values && !(mAbs(got.values[at] - dist[j]) <= (D + 3) * u * mAbs(dist[j]) + 1e-300)) {
          throw new Error(`${label}: row ${r} entry ${l}: value ${got.values[at]}, its pair's distance ${dist[j]}`);
        }
      } else if (got.values && !(mAbs(got.values[at] - truth) <= 2 * (D + 3) * u * mAbs(truth) + 1e-300)) {
        throw new Error(`${label}: row ${r} entry ${l}: value ${got.values[at]}, the true ${l}-th is ${truth}`);
      }
    }
  }
}

function expectSame(a: Found, b: Found, label: string): void {
  for (const key of ['values', 'indices'] as const) {
    const x = a[key], y = b[key];
    expect(x === undefined).toBe(y === undefined);
    if (x === undefined || y === undefined) continue;
    for (let t = 0; t < x.length; t++) {
      if (!Object.is(x[t], y[t])) throw new Error(`${label}: ${key}[${t}] pruned ${x[t]}, unpruned ${y[t]}`);
    }
  }
}

describe('recognition', () => {
  const lowered = (formula: string, reduction: ReductionName, k?: number) =>
    new Genred(formula, ['x = Vi(3)', 'y = Vj(3)', 'z = Vi(3)', 'g = Pm(1)'], { reduction, axis: 1, k }).compiled.lowered;

  test.each(REDUCTIONS)('SqDist(x,y) under %s is a sqdist search, with no b', (reduction) => {
    const p = lowered('SqDist(x,y)', reduction, keeps(reduction) ? 3 : undefined);
    expect(p.kernel[0]).toBe(Kernel.sqdist);
    expect(p.kernel[3]).toBe(-1);
  });

  test.each(['g*SqDist(x,y)', 'SqDist(y,x)*g', '-SqDist(x,y)', '-g*SqDist(x,y)'])('%s is one too (its scale a register)', (formula) => {
    expect(lowered(formula, 'ArgKMin', 4).kernel[0]).toBe(Kernel.sqdist);
  });

  // A quotient or several factors would round otherwise than the formula's own values.
  test.each([['SqDist(x,z)', 'ArgMin'], ['SqDist(x,y)+g', 'ArgMin'], ['SqDist(y,x)/g', 'ArgMin'], ['g*SqDist(x,y)*g', 'Min'], ['Sqrt(SqDist(x,y))', 'Min'], ['SqDist(x,y)', 'Max'],
    ['SqDist(x,y)', 'Sum'], ['SqDist(x,y)', 'LogSumExp']] as [string, ReductionName][])('%s under %s is not', (formula, reduction) => {
    expect(lowered(formula, reduction).kernel.length).toBe(0);
  });
});

describe('pruned searches agree with every pair and with a float64 brute force', () => {
  const CASES: [string, number, number, number, number][] = [
    // label, M, N, D, k
    ['1 x 1003', 1, 1003, 3, 5],
    ['7 x 1003', 7, 1003, 3, 7],
    ['1003 x 1003', 1003, 1003, 3, 8],
    ['60 x 3000, D = 2', 60, 3000, 2, 64],
    ['300 x 2000, D = 5', 300, 2000, 5, 3],
  ];
  for (const dtype of DTYPES) {
    for (const axis of [1, 0] as const) {
      test.each(CASES)(`${dtype}, axis ${axis}: %s`, (label, M, N, D, k) => {
        const rng = new Rng(M * 31 + N + D);
        // On axis 0 the searched points are the i side: swap the sizes so that the
        // queries stay the few.
        const [mi, nj] = axis === 1 ? [M, N] : [N, M];
        const x = dual(label.includes('1003 x') ? clumped(rng, mi, D) : uniform(rng, mi * D));
        const y = dual(clumped(rng, nj, D));
        const [q, p] = axis === 1 ? [x.f64, y.f64] : [y.f64, x.f64];
        const xs = dtype === 'float32' ? x.f32 : x.f64, ys = dtype === 'float32' ? y.f32 : y.f64;
        for (const reduction of REDUCTIONS) {
          const kk = keeps(reduction) ? k : 1;
          for (const [formula, g] of [['SqDist(x,y)', 1], ['g*SqDist(x,y)', 2.5]] as const) {
            const s = search(formula, D, reduction, axis, k);
            const pruned = found(s.runSync([xs, ys, g], { prune: true }));
            const every = found(s.runSync([xs, ys, g], { prune: false }));
            const what = `${label} ${reduction} ${formula}`;
            expectSame(pruned, every, what);
            expectNearest(pruned, q, p, D, kk, g, U[dtype], what);
          }
        }
      });
    }
  }
});

describe('ties, fall-backs and held points', () => {
  test('duplicated points: ties go to the lower index, as without pruning', () => {
    const rng = new Rng(11);
    const base = uniform(rng, 400 * 3);
    const y = new Float64Array(1200 * 3);
    for (let j = 0; j < 1200; j++) y.set(base.subarray((j % 400) * 3, (j % 400) * 3 + 3), j * 3);
    const x = base.subarray(0, 50 * 3);
    const s = search('SqDist(x,y)', 3, 'KMin_ArgKMin', 1, 6);
    const pruned = found(s.runSync([x, y, 1], { prune: true }));
    expectSame(pruned, found(s.runSync([x, y, 1], { prune: false })), 'duplicates');
    // Row i is point i of the 400: at distance 0 three times, indices i, i + 400, i + 800.
    for (let i = 0; i < 50; i++) expect(Array.from((pruned.indices as Int32Array).subarray(i * 6, i * 6 + 3))).toEqual([i, i + 400, i + 800]);
  });

  test.each([['NaN', NaN], ['Infinity', Infinity]])('a %s coordinate: the unpruned answer', (_what, bad) => {
    const rng = new Rng(12);
    const x = uniform(rng, 30 * 3), y = uniform(rng, 900 * 3);
    for (const [a, at] of [[x, 4], [y, 700]] as const) {
      const xa = Float64Array.from(x), ya = Float64Array.from(y);
      (a === x ? xa : ya)[at] = bad;
      const s = search('SqDist(x,y)', 3, 'KMin_ArgKMin', 1, 4);
      expectSame(found(s.runSync([xa, ya, 1], { prune: true })), found(s.runSync([xa, ya, 1], { prune: false })), `${bad}`);
    }
  });

  test('no query rows, prune: true: empty outputs', () => {
    const y = uniform(new Rng(17), 300 * 3);
    const out = found(search('SqDist(x,y)', 3, 'Min_ArgMin', 1, 1).runSync([new Float64Array(0), y, 1], { prune: true }));
    expect([out.values?.length, out.indices?.length]).toEqual([0, 0]);
  });

  test('a negative scale keeps the farthest points (not pruned), still right', () => {
    const rng = new Rng(13);
    const x = uniform(rng, 20 * 3), y = uniform(rng, 700 * 3);
    const got = found(search('g*SqDist(x,y)', 3, 'KMin_ArgKMin', 1, 5).runSync([x, y, -1], { prune: true }));
    expectNearest(got, x, y, 3, 5, -1, U.float64, 'farthest');
  });

  test('k above the pruned lists (65) and explicit ranges: the generic loop, still right', () => {
    const rng = new Rng(14);
    const x = uniform(rng, 9 * 3), y = uniform(rng, 800 * 3);
    const got = found(search('SqDist(x,y)', 3, 'KMin_ArgKMin', 1, 65).runSync([x, y, 1], { prune: true }));
    expectNearest(got, x, y, 3, 65, 1, U.float64, 'k = 65');
    // One cluster each side, reducing over everything: KeOps' six arrays.
    const ranges = [[0, 9], [1], [0, 800], [0, 800], [1], [0, 9]].map((a) => Int32Array.from(a)) as unknown as Ranges;
    const ranged = found(search('SqDist(x,y)', 3, 'ArgKMin', 1, 4).runSync([x, y, 1], { prune: true, ranges }));
    expectNearest(ranged, x, y, 3, 4, 1, U.float64, 'ranges');
  });

  test('more than 2^20 points (the tree build moves its top levels\' points): still exact', () => {
    const rng = new Rng(16);
    const n = (1 << 20) + 3;
    const y = dual(clumped(rng, n, 3)), q = dual(uniform(rng, 12 * 3));
    const s = search('SqDist(x,y)', 3, 'KMin_ArgKMin', 1, 4);
    const pruned = found(s.runSync([q.f32, y.f32, 1], { prune: true }));
    expectSame(pruned, found(s.runSync([q.f32, y.f32, 1], { prune: false })), '2^20 + 3');
    expectNearest(pruned, q.f64, y.f64, 3, 4, 1, U.float32, '2^20 + 3');
  });

  test('a held dataset: searched through its own clusters, kept for the next call', async () => {
    const rng = new Rng(15);
    const y = dual(uniform(rng, 5000 * 3));
    const q = dual(uniform(rng, 100 * 3));
    const ds = await dataset(y.f32, 3);
    expect(addon.heldClusterCount(ds.data)).toBe(0);
    const idx = await Vi(q.f32, 3).sqdist(Vj(ds)).argkmin(10, 1, { prune: true });
    expect(addon.heldClusterCount(ds.data)).toBe(1);
    expectNearest({ indices: idx.data }, q.f64, y.f64, 3, 10, 1, U.float32, 'held');
    const again = Vi(q.f32, 3).sqdist(Vj(y.f32, 3)).argkminSync(10, 1, { prune: false });
    expect(Array.from(again.data)).toEqual(Array.from(idx.data));
    ds.dispose();
  });
});

/**
 * Explicit KeOps-style block-sparse ranges (lib/ranges.ts, lib/cluster.ts; the engine's
 * checkRanges in native/program.cc and planBlocks in native/cpu/reduce.cc):
 *
 * - the cluster helpers against small examples worked out by hand, and their typed errors;
 * - every reduction of a generic formula and the fused Gaussian with ranges, on both axes
 *   and both dtypes, against a float64 brute force that reduces each output row over its
 *   kept blocks only (test/helpers/reference.ts: keptFromClusters, refKept…), written from
 *   the definition of ranges and not from fromMatrix. Rows that keep nothing (a cluster
 *   with an empty row of `keep`, or rows in no cluster) get the reduction of nothing:
 *   Sum 0, Min +Infinity and Max -Infinity with index -1, LogSumExp -Infinity,
 *   SumSoftMaxWeight NaN (0/0), KMin +Infinity with index -1 past the kept count;
 * - full ranges against the call without ranges, an all-zero keep, rows outside every
 *   cluster, ties across ranges given in decreasing order;
 * - KernelSolve and LazyTensor.solve with ranges against a dense float64 solve;
 * - LazyTensor reductions and matvec with ranges;
 * - malformed ranges: OptionError from lib (shape), an Error whose message starts with
 *   'invalid ranges' from the engine (bounds), on both entry points, never a crash.
 *
 * For axis 0 the engine reads the transposed triple [ranges_j, slices_j, redranges_i]. The
 * main suite runs axis 0 with the aliases' roles swapped (x = Vj, y = Vi) and the ranges
 * built for that (fromMatrix(rangesY, rangesX, keepᵀ), whose transposed triple describes
 * the x clusters and their y ranges), so both axes compute the same numbers; the LazyTensor
 * tests also run axis 0 unswapped, reading the same ranges object as axis 1.
 *
 * Stated tolerances (float64 brute force on float32-representable data, so one reference
 * serves both dtypes):
 * - sums (generic and fused): element by element, |a − e| ≤ rtol · Σ_kept |F| with
 *   rtol 1e-10 (float64) or 2e-5 (float32); a row that keeps nothing must be exactly 0;
 * - Min/Max/KMin values: element-wise relative 8 units of roundoff; indices: the
 *   reference's (lowest kept index on ties), a near tie within 16 units of roundoff
 *   accepted, and every index must be one of the row's kept indices;
 * - LogSumExp: 1e-10·‖e‖∞ + 1e-12 (float64), 2e-5·‖e‖∞ + 1e-5 (float32);
 * - SumSoftMaxWeight: 1e-10·‖e‖∞ + 1e-13 (float64), 2e-5·‖e‖∞ + 2e-6 (float32);
 * - two engine paths compared with each other: twice those;
 * - solves: stated at each test.
 */
import * as util from 'util';
import {
  clusterCentroids, clusterRanges, fromMatrix, Genred, gridCluster, KernelSolve, OptionError, Pm, ShapeError,
  sortClusters, Vi, Vj,
} from '../lib';
import type { Ranges, RunOptions } from '../lib';
import type { ReductionName } from '../lib/formula/program';
import {
  ArgResult, asPair, asTensor, caught, dot, DType, DTYPES, dual, Dual, expectClose, expectCloseElementwise, expectIndices,
  expectTensor, f32exact, keptAll, KeptLists, keptFromClusters, keptFromTriple, normal, pick, refAbsSum, refKept, refKeptArg,
  lazily, refKeptSoftMax, refKMin, refLogSumExp, refMax, refMin, refSum, Rng, row, sqdist, Table, tableValueAt, tabulate, TensorLike,
  uniform,
} from './helpers/reference';
import { cholesky, cholSolve } from './helpers/dense';
import type { Arg } from '../lib/tensor';

// Module bindings: global lookups are slow inside jest's sandbox (see reference.ts).
const math = Math;
const { isNaN: numIsNaN } = Number;

const VALUE_RTOL: Record<DType, number> = { float32: 8 * 2 ** -24, float64: 8 * 2 ** -53 };
/** A sum's error bound relative to Σ |terms| of its output element. */
const SUM_TOL: Record<DType, number> = { float32: 2e-5, float64: 1e-10 };
const LSE_TOL: Record<DType, [number, number]> = { float32: [2e-5, 1e-5], float64: [1e-10, 1e-12] };
const SSMW_TOL: Record<DType, [number, number]> = { float32: [2e-5, 2e-6], float64: [1e-10, 1e-13] };

const I32 = (a: readonly number[]): Int32Array => Int32Array.from(a);
const EMPTY = (): Int32Array => new Int32Array(0);

/** A triple for the engine's axis-1 read, the other three empty (valid shapes). */
const axis1Only = (ri: readonly number[], si: readonly number[], rj: readonly number[]): Ranges =>
  [I32(ri), I32(si), I32(rj), EMPTY(), EMPTY(), EMPTY()];
/** A triple for the engine's axis-0 read (ranges_j, slices_j, redranges_i), the first three empty. */
const axis0Only = (rj: readonly number[], sj: readonly number[], ri: readonly number[]): Ranges =>
  [EMPTY(), EMPTY(), EMPTY(), I32(rj), I32(sj), I32(ri)];

/** Labels with the given count of points per label, shuffled (seeded). */
function shuffledLabels(rng: Rng, sizes: readonly number[]): Int32Array {
  const lab: number[] = [];
  sizes.forEach((s, l) => { for (let k = 0; k < s; k++) lab.push(l); });
  for (let k = lab.length - 1; k > 0; k--) {
    const r = rng.int(k + 1);
    [lab[k], lab[r]] = [lab[r], lab[k]];
  }
  return Int32Array.from(lab);
}

/** The (start, end) ranges of consecutive blocks of the given sizes. */
function cumulativeRanges(sizes: readonly number[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const s of sizes) {
    out.push(at, at + s);
    at += s;
  }
  return out;
}

/** Aliases with the roles of i and j swapped (for axis 0 computing what axis 1 computes). */
const swapAliases = (aliases: readonly string[]): string[] =>
  aliases.map((a) => a.replace(/V([ij])\(/, (_m, c: string) => (c === 'i' ? 'Vj(' : 'Vi(')));

/** The transpose of a row-major rows × cols 0/1 matrix. */
function transpose(a: ArrayLike<number>, rows: number, cols: number): Uint8Array {
  const t = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/** |a − e| ≤ rtol · Σ|terms| element by element (0 terms: exactly e). */
function expectSumPerElement(actual: ArrayLike<number>, expected: ArrayLike<number>, absSum: ArrayLike<number>, rtol: number, label: string): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  for (let k = 0; k < expected.length; k++) {
    const err = math.abs(actual[k] - expected[k]);
    if (!(err <= rtol * absSum[k])) {
      throw new Error(`${label}: at index ${k} got ${actual[k]}, expected ${expected[k]} (|a − e| = ${err.toExponential(3)}, allowed ${rtol} × Σ|F| = ${(rtol * absSum[k]).toExponential(3)})`);
    }
  }
}

/** Every returned index is one of its row's kept indices; -1 exactly where the reference has -1. */
function expectIndicesKept(indices: ArrayLike<number>, expected: ArrayLike<number>, kept: KeptLists, cols: number, label: string): void {
  const sets = new Map<Int32Array, Set<number>>();
  for (let p = 0; p < indices.length; p++) {
    const r = math.floor(p / cols);
    const q = indices[p];
    if ((q === -1) !== (expected[p] === -1)) throw new Error(`${label}: at position ${p} (row ${r}) index ${q}, expected ${expected[p]}`);
    if (q === -1) continue;
    let s = sets.get(kept[r]);
    if (s === undefined) {
      s = new Set(kept[r]);
      sets.set(kept[r], s);
    }
    if (!s.has(q)) throw new Error(`${label}: at position ${p} (row ${r}) index ${q} is not in the row's kept blocks`);
  }
}

/** Within one row (and component) of a k-min result, the indices other than -1 are distinct. */
function expectDistinctPerRow(indices: TensorLike, k: number, dim: number): void {
  const [rows] = indices.shape;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < dim; c++) {
      const seen = new Set<number>();
      for (let l = 0; l < k; l++) {
        const q = indices.data[r * k * dim + l * dim + c];
        if (q === -1) continue;
        if (seen.has(q)) throw new Error(`row ${r}, component ${c}: index ${q} twice`);
        seen.add(q);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// The cluster helpers
// ---------------------------------------------------------------------------------------

describe('cluster helpers', () => {
  // Five 2-D points; with cubes of side 1 counted from the origin they fall in the cells
  // (-5,10), (-4,10), (-5,11), (-5,10), (-4,11): lexicographic order gives 0, 2, 1, 0, 3.
  const pts = [-5, 10, -3.5, 10.2, -4.8, 11.1, -4.9, 10.1, -3.8, 11.9];

  test('gridCluster labels the voxels 0..K-1 in lexicographic order, counted from the origin', () => {
    expect(Array.from(gridCluster(Float64Array.from(pts), 2, 1))).toEqual([0, 2, 1, 0, 3]);
    expect(util.types.isInt32Array(gridCluster(Float64Array.from(pts), 2, 1))).toBe(true);
  });

  test('gridCluster gives float32 data the same labels, and one label per point for tiny voxels', () => {
    expect(Array.from(gridCluster(Float32Array.from(pts), 2, 1))).toEqual([0, 2, 1, 0, 3]);
    // Cubes of side 0.05: every point alone; order by first coordinate, then second.
    // Cells: (0,0), (30,4), (4,22), (2,2), (24,38) → order 0, 3, 2, 4, 1.
    expect(Array.from(gridCluster(Float64Array.from(pts), 2, 0.05))).toEqual([0, 4, 2, 1, 3]);
    // One cube for all: a single label.
    expect(Array.from(gridCluster(Float64Array.from(pts), 2, 100))).toEqual([0, 0, 0, 0, 0]);
  });

  test('gridCluster of 1-D points orders the cells along the line', () => {
    expect(Array.from(gridCluster(Float64Array.from([3.2, 0.1, 2.5, 0.9, 5.0]), 1, 1))).toEqual([2, 0, 1, 0, 3]);
  });

  test('gridCluster rejects a bad size or a non-finite coordinate with OptionError, a ragged array with ShapeError', () => {
    const x = Float64Array.from(pts);
    for (const size of [0, -1, NaN, Infinity]) expect(() => gridCluster(x, 2, size)).toThrow(OptionError);
    expect(() => gridCluster(x, 2, '1' as unknown as number)).toThrow(OptionError);
    expect(() => gridCluster(Float64Array.from([0, 0, NaN, 1]), 2, 1)).toThrow(OptionError);
    expect(() => gridCluster(Float64Array.from([0, 0, 1, Infinity]), 2, 1)).toThrow(OptionError);
    expect(() => gridCluster(Float64Array.from([0, 0, 1]), 2, 1)).toThrow(ShapeError);
    expect(() => gridCluster(x, 0, 1)).toThrow(OptionError);
    expect(() => gridCluster(x, 1.5, 1)).toThrow(OptionError);
  });

  test('sortClusters sorts rows by label, stably, and keeps the dtype', () => {
    const x = Float32Array.from([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]); // 5 rows of dim 2: row k = (k, k + 0.5)
    const s = sortClusters(x, 2, I32([2, 0, 1, 0, 2]));
    expect(Array.from(s.order)).toEqual([1, 3, 2, 0, 4]);
    expect(Array.from(s.labels)).toEqual([0, 0, 1, 2, 2]);
    expect(Array.from(s.data)).toEqual([1, 1.5, 3, 3.5, 2, 2.5, 0, 0.5, 4, 4.5]);
    expect(util.types.isFloat32Array(s.data)).toBe(true);
    expect(util.types.isInt32Array(s.order)).toBe(true);
    expect(Array.from(x)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]); // input untouched
  });

  test('sortClusters: out[order[k]] = sorted[k] puts the rows back in the caller\'s order', () => {
    const rng = new Rng(7);
    const x = uniform(rng, 3 * 50);
    const labels = Int32Array.from({ length: 50 }, () => rng.int(6));
    const s = sortClusters(x, 3, labels);
    const back = new Float64Array(x.length);
    for (let k = 0; k < 50; k++) for (let c = 0; c < 3; c++) back[s.order[k] * 3 + c] = s.data[k * 3 + c];
    expect(Array.from(back)).toEqual(Array.from(x));
    for (let k = 1; k < 50; k++) {
      expect(s.labels[k]).toBeGreaterThanOrEqual(s.labels[k - 1]);
      if (s.labels[k] === s.labels[k - 1]) expect(s.order[k]).toBeGreaterThan(s.order[k - 1]);
    }
  });

  test('sortClusters rejects wrong labels: OptionError for a non-Int32Array or a negative label, ShapeError for a count mismatch', () => {
    const x = Float64Array.from([0, 1, 2, 3]);
    expect(() => sortClusters(x, 2, [0, 1] as unknown as Int32Array)).toThrow(OptionError);
    expect(() => sortClusters(x, 2, Uint32Array.from([0, 1]) as unknown as Int32Array)).toThrow(OptionError);
    expect(() => sortClusters(x, 2, I32([0, -1]))).toThrow(OptionError);
    expect(() => sortClusters(x, 2, I32([0, 1, 2]))).toThrow(ShapeError);
  });

  test('clusterRanges gives each label its rows and empty labels empty ranges', () => {
    expect(Array.from(clusterRanges(I32([0, 0, 1, 3])))).toEqual([0, 2, 2, 3, 3, 3, 3, 4]);
    expect(Array.from(clusterRanges(I32([2, 2, 4])))).toEqual([0, 0, 0, 0, 0, 2, 2, 2, 2, 3]);
    expect(Array.from(clusterRanges(I32([0, 0, 1, 3]), 6))).toEqual([0, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4]);
    expect(Array.from(clusterRanges(EMPTY()))).toEqual([]);
    expect(Array.from(clusterRanges(EMPTY(), 2))).toEqual([0, 0, 0, 0]);
    expect(util.types.isInt32Array(clusterRanges(I32([0])))).toBe(true);
  });

  test('clusterRanges rejects unsorted labels and a too-small nlab with OptionError', () => {
    expect(() => clusterRanges(I32([0, 1, 0]))).toThrow(OptionError);
    expect(() => clusterRanges(I32([1, 0]))).toThrow(/sorted/);
    expect(() => clusterRanges(I32([0, 3]), 3)).toThrow(OptionError);
    expect(() => clusterRanges(I32([0, 1]), 1.5)).toThrow(OptionError);
    expect(() => clusterRanges([0, 1] as unknown as Int32Array)).toThrow(OptionError);
    expect(() => clusterRanges(I32([0, -2]))).toThrow(OptionError);
  });

  test('clusterCentroids gives the mean point of each label and NaN for empty labels', () => {
    // Rows (dim 2): (0,0), (2,4), (1,1), (3,5), (10,-2); labels 0, 0, 2, 0, 2; nlab 4.
    const x = Float32Array.from([0, 0, 2, 4, 1, 1, 3, 5, 10, -2]);
    const c = clusterCentroids(x, 2, I32([0, 0, 2, 0, 2]), 4);
    expect(util.types.isFloat64Array(c)).toBe(true);
    expect(c.length).toBe(8);
    expect(c[0]).toBeCloseTo(5 / 3, 14);
    expect(c[1]).toBeCloseTo(3, 14);
    expect(numIsNaN(c[2]) && numIsNaN(c[3])).toBe(true);
    expect([c[4], c[5]]).toEqual([5.5, -0.5]);
    expect(numIsNaN(c[6]) && numIsNaN(c[7])).toBe(true);
    expect(clusterCentroids(x, 2, I32([0, 0, 2, 0, 2])).length).toBe(6);
  });

  test('clusterCentroids rejects a label count mismatch (ShapeError) and a too-small nlab (OptionError)', () => {
    const x = Float64Array.from([0, 0, 1, 1]);
    expect(() => clusterCentroids(x, 2, I32([0]))).toThrow(ShapeError);
    expect(() => clusterCentroids(x, 2, I32([0, 2]), 2)).toThrow(OptionError);
    expect(() => clusterCentroids(x, 2, [0, 1] as unknown as Int32Array)).toThrow(OptionError);
  });

  // Clusters of i: rows [0,2) [2,5) [5,6); of j: [0,3) [3,4). keep (3 × 2): 1 0 / 1 1 / 0 0.
  const rI = I32([0, 2, 2, 5, 5, 6]);
  const rJ = I32([0, 3, 3, 4]);
  const keep = [1, 0, 1, 1, 0, 0];

  test('fromMatrix gives the six arrays of a small keep matrix', () => {
    const r = fromMatrix(rI, rJ, keep);
    expect(r.length).toBe(6);
    r.forEach((a) => expect(util.types.isInt32Array(a)).toBe(true));
    expect(Array.from(r[0])).toEqual([0, 2, 2, 5, 5, 6]);
    expect(Array.from(r[1])).toEqual([1, 3, 3]);
    expect(Array.from(r[2])).toEqual([0, 3, 0, 3, 3, 4]);
    expect(Array.from(r[3])).toEqual([0, 3, 3, 4]);
    expect(Array.from(r[4])).toEqual([2, 3]);
    expect(Array.from(r[5])).toEqual([0, 2, 2, 5, 2, 5]);
  });

  test('fromMatrix accepts booleans and any nonzero number as kept', () => {
    const r = fromMatrix(rI, rJ, [true, false, 2, -1, 0, false]);
    expect(Array.from(r[1])).toEqual([1, 3, 3]);
    expect(Array.from(r[2])).toEqual([0, 3, 0, 3, 3, 4]);
  });

  test("fromMatrix's transposed triple is the first triple of fromMatrix on keep transposed", () => {
    const rng = new Rng(11);
    const rA = I32(cumulativeRanges([3, 0, 5, 1, 2]));
    const rB = I32(cumulativeRanges([4, 2, 0, 7]));
    const k = Uint8Array.from({ length: 20 }, () => (rng.next() < 0.5 ? 1 : 0));
    const r = fromMatrix(rA, rB, k);
    const t = fromMatrix(rB, rA, transpose(k, 5, 4));
    for (let s = 0; s < 3; s++) expect(Array.from(r[3 + s])).toEqual(Array.from(t[s]));
    for (let s = 0; s < 3; s++) expect(Array.from(t[3 + s])).toEqual(Array.from(r[s]));
  });

  test('fromMatrix rejects a keep of the wrong size (ShapeError) and malformed cluster ranges (OptionError)', () => {
    expect(() => fromMatrix(rI, rJ, [1, 0, 1])).toThrow(ShapeError);
    expect(() => fromMatrix(rI, rJ, undefined as unknown as number[])).toThrow(ShapeError);
    expect(() => fromMatrix(I32([0, 2, 2]), rJ, [1, 1])).toThrow(OptionError);
    expect(() => fromMatrix(rI, [0, 3, 3, 4] as unknown as Int32Array, keep)).toThrow(OptionError);
  });
});

// ---------------------------------------------------------------------------------------
// The main data: M = 1003 x-points, N = 517 y-points, uneven clusters with empty ones
// ---------------------------------------------------------------------------------------

const M = 1003;
const N = 517;
/** Points per cluster of x and of y: uneven, some empty, some of 1 to 3 points. */
const SIZES_X = [0, 1, 250, 37, 0, 400, 3, 120, 0, 192];
const SIZES_Y = [2, 0, 180, 1, 97, 0, 200, 37];
const NX = SIZES_X.length;
const NY = SIZES_Y.length;
const G_LSE = 1.5;
const G_GAUSS = 1;

interface MainData {
  x: Dual;
  y: Dual;
  /** y's weights, N × 2 (generic Sum and SumSoftMaxWeight). */
  b: Dual;
  /** The Gaussian's weights, N × 1. */
  c: Dual;
  rX: Int32Array;
  rY: Int32Array;
  /** NX × NY, row-major: which (x cluster, y cluster) pairs are computed. */
  keep: Uint8Array;
  /** Per x-row, its kept y indices (from the definition, not from fromMatrix). */
  kept: Int32Array[];
}

function makeMainData(): MainData {
  const rng = new Rng(20240611);
  const labX = shuffledLabels(rng, SIZES_X);
  const labY = shuffledLabels(rng, SIZES_Y);
  const xRaw = f32exact(uniform(rng, M * 3, -1, 1));
  const yRaw = f32exact(uniform(rng, N * 3, -1, 1));
  const bRaw = f32exact(uniform(rng, N * 2, -1, 1));
  const cRaw = f32exact(uniform(rng, N, -1, 1));
  const sx = sortClusters(xRaw, 3, labX);
  const sy = sortClusters(yRaw, 3, labY);
  const rX = clusterRanges(sx.labels, NX);
  const rY = clusterRanges(sy.labels, NY);
  const keep = Uint8Array.from({ length: NX * NY }, () => (rng.next() < 0.45 ? 1 : 0));
  for (let l = 0; l < NY; l++) {
    keep[2 * NY + l] = 0; // the 250 rows of cluster 2 keep nothing
    keep[6 * NY + l] = l === 3 ? 1 : 0; // the 3 rows of cluster 6 keep 1 point: KMin (k = 3) pads
    keep[1 * NY + l] = l === 0 || l === 3 ? 1 : 0; // the row of cluster 1 keeps exactly 3 points
  }
  keep[5 * NY + 1] = 1; // an empty y cluster kept
  keep[5 * NY + 2] = 1;
  keep[0 * NY + 2] = 1; // an empty x cluster keeping something
  keep[7 * NY + 6] = 0;
  keep[9 * NY + 4] = 1;
  return {
    x: dual(sx.data),
    y: dual(sy.data),
    b: dual(sortClusters(bRaw, 2, labY).data),
    c: dual(sortClusters(cRaw, 1, labY).data),
    rX, rY, keep,
    kept: keptFromClusters(M, rX, rY, (a, l) => keep[a * NY + l] === 1),
  };
}

let mainData: MainData | undefined;
const data = (): MainData => (mainData ??= makeMainData());

// ---------------------------------------------------------------------------------------
// Reductions and formulas
// ---------------------------------------------------------------------------------------

type Family = 'sum' | 'min' | 'lse' | 'ssmw' | 'gauss';

interface Case {
  label: string;
  reduction: ReductionName;
  k?: number;
  family: Family;
}

const CASES: readonly Case[] = [
  { label: 'Sum', reduction: 'Sum', family: 'sum' },
  { label: 'Min', reduction: 'Min', family: 'min' },
  { label: 'ArgMin', reduction: 'ArgMin', family: 'min' },
  { label: 'Min_ArgMin', reduction: 'Min_ArgMin', family: 'min' },
  { label: 'Max_ArgMax', reduction: 'Max_ArgMax', family: 'min' },
  { label: 'KMin (k = 3)', reduction: 'KMin', k: 3, family: 'min' },
  { label: 'ArgKMin (k = 3)', reduction: 'ArgKMin', k: 3, family: 'min' },
  { label: 'KMin_ArgKMin (k = 3)', reduction: 'KMin_ArgKMin', k: 3, family: 'min' },
  { label: 'LogSumExp', reduction: 'LogSumExp', family: 'lse' },
  { label: 'SumSoftMaxWeight', reduction: 'SumSoftMaxWeight', family: 'ssmw' },
  { label: 'the fused Gaussian Sum', reduction: 'Sum', family: 'gauss' },
];

interface FamilyDef {
  formula: string;
  formula2?: string;
  /** The axis-1 aliases (x an i-variable); axis 0 swaps i and j. */
  aliases: string[];
  /** Columns of F (of the weights for SumSoftMaxWeight). */
  dim: number;
  args: (d: MainData, t: DType) => Arg[];
  /** F over (x-row i, y-row j). */
  pair: (d: MainData) => { dim: number; f: (i: number, j: number) => number[] };
}

const FAMILIES: Record<Family, FamilyDef> = {
  sum: {
    formula: 'Cos((x|y))*b',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)'],
    dim: 2,
    args: (d, t) => [pick(d.x, t), pick(d.y, t), pick(d.b, t)],
    pair: (d) => ({
      dim: 2,
      f: (i, j) => {
        const c = math.cos(dot(row(d.x.f64, i, 3), row(d.y.f64, j, 3)));
        return [c * d.b.f64[2 * j], c * d.b.f64[2 * j + 1]];
      },
    }),
  },
  min: {
    formula: 'Square(x-y)',
    aliases: ['x = Vi(3)', 'y = Vj(3)'],
    dim: 3,
    args: (d, t) => [pick(d.x, t), pick(d.y, t)],
    pair: (d) => ({ dim: 3, f: (i, j) => [0, 1, 2].map((c) => (d.x.f64[3 * i + c] - d.y.f64[3 * j + c]) ** 2) }),
  },
  lse: {
    formula: 'g*(x|y)',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)'],
    dim: 1,
    args: (d, t) => [pick(d.x, t), pick(d.y, t), G_LSE],
    pair: (d) => ({ dim: 1, f: (i, j) => [G_LSE * dot(row(d.x.f64, i, 3), row(d.y.f64, j, 3))] }),
  },
  ssmw: {
    formula: 'g*(x|y)',
    formula2: 'b',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'],
    dim: 2,
    args: (d, t) => [pick(d.x, t), pick(d.y, t), pick(d.b, t), G_LSE],
    pair: (d) => FAMILIES.lse.pair(d),
  },
  gauss: {
    formula: 'Exp(-g*SqDist(x,y))*b',
    aliases: ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'],
    dim: 1,
    args: (d, t) => [pick(d.x, t), pick(d.y, t), pick(d.c, t), G_GAUSS],
    pair: (d) => ({ dim: 1, f: (i, j) => [math.exp(-G_GAUSS * sqdist(row(d.x.f64, i, 3), row(d.y.f64, j, 3))) * d.c.f64[j]] }),
  },
};

const tables = new Map<string, Table>();
/** F of a family over the main data (the weights table for 'weights'), tabulated once. */
function table(name: Family | 'weights'): Table {
  const key = name === 'ssmw' ? 'lse' : name;
  let t = tables.get(key);
  if (t === undefined) {
    const d = data();
    const { dim, f } = key === 'weights' ? { dim: 2, f: (_i: number, j: number) => row(d.b.f64, j, 2) } : FAMILIES[key].pair(d);
    t = tabulate(M, N, dim, f);
    tables.set(key, t);
  }
  return t;
}

const refs = new Map<string, unknown>();
function memo<T>(key: string, make: () => T): T {
  if (!refs.has(key)) refs.set(key, make());
  return refs.get(key) as T;
}

afterAll(() => {
  tables.clear();
  refs.clear();
  mainData = undefined;
});

const INDEX_ONLY = new Set<ReductionName>(['ArgMin', 'ArgMax', 'ArgKMin']);
const PAIRED = new Set<ReductionName>(['Min_ArgMin', 'Max_ArgMax', 'KMin_ArgKMin']);

/** The values and/or indices of a result, with element types and shapes checked. */
function parts(reduction: ReductionName, result: unknown, dtype: DType, shape: [number, number]): { values?: TensorLike; indices?: TensorLike } {
  if (PAIRED.has(reduction)) {
    const p = asPair(result);
    expectTensor(p.values, dtype, shape);
    expectTensor(p.indices, 'int32', shape);
    return p;
  }
  const t = asTensor(result);
  if (INDEX_ONLY.has(reduction)) {
    expectTensor(t, 'int32', shape);
    return { indices: t };
  }
  expectTensor(t, dtype, shape);
  return { values: t };
}

/**
 * Checks a result of `c` against the brute force over the kept lists, on the main data's
 * table reduced over `axis` (1: one row per x, 0: one row per y). `keptKey` names the
 * kept lists for the reference cache.
 */
function check(c: Case, dtype: DType, result: unknown, kept: KeptLists, keptKey: string, axis: 0 | 1 = 1): void {
  const fam = FAMILIES[c.family];
  const F = table(c.family);
  const k = c.k ?? 1;
  const cols = k * fam.dim;
  const got = parts(c.reduction, result, dtype, [F.rows(axis), cols]);
  const key = `${keptKey}|${axis}|${c.family}`;
  switch (c.family) {
    case 'sum':
    case 'gauss': {
      const expected = memo(`${key}|sum`, () => refKept(F, axis, kept, refSum));
      const absSum = memo(`${key}|abs`, () => refKept(F, axis, kept, refAbsSum));
      expectSumPerElement((got.values as TensorLike).data, expected, absSum, SUM_TOL[dtype], c.label);
      return;
    }
    case 'lse': {
      const expected = memo(`${key}|lse`, () => refKept(F, axis, kept, refLogSumExp));
      expectClose((got.values as TensorLike).data, expected, LSE_TOL[dtype][0], LSE_TOL[dtype][1], c.label);
      return;
    }
    case 'ssmw': {
      const expected = memo(`${key}|ssmw`, () => refKeptSoftMax(F, table('weights'), axis, kept));
      expectClose((got.values as TensorLike).data, expected, SSMW_TOL[dtype][0], SSMW_TOL[dtype][1], c.label);
      return;
    }
    case 'min': {
      const isMax = c.reduction === 'Max_ArgMax';
      const kind = c.k !== undefined ? `kmin${k}` : isMax ? 'max' : 'min';
      const ref = memo<ArgResult>(`${key}|${kind}`, () =>
        refKeptArg(F, axis, kept, c.k !== undefined ? (s, a) => refKMin(s, a, k) : isMax ? refMax : refMin));
      const valueAt = tableValueAt(F, axis, cols);
      if (got.values) expectCloseElementwise(got.values.data, ref.values, VALUE_RTOL[dtype], 0, `${c.label} values`);
      if (got.indices) {
        expectIndicesKept(got.indices.data, ref.indices, kept, cols, `${c.label} indices`);
        expectIndices(got.indices.data, ref.indices, { valueAt, rtol: 2 * VALUE_RTOL[dtype] }, `${c.label} indices`);
        if (c.k !== undefined) expectDistinctPerRow(got.indices, k, fam.dim);
      }
      if (got.values && got.indices) {
        const at = Array.from(got.indices.data, (q, p) => (q >= 0 ? valueAt(p, q) : isMax ? -Infinity : Infinity));
        expectCloseElementwise(got.values.data, at, VALUE_RTOL[dtype], 0, `${c.label} values at the returned indices`);
      }
      return;
    }
  }
}

/** The Genred of a case: axis 1 with the aliases as written, axis 0 with i and j swapped. */
function genredFor(c: Case, axis: 0 | 1): Genred {
  const fam = FAMILIES[c.family];
  const aliases = axis === 1 ? fam.aliases : swapAliases(fam.aliases);
  return new Genred(fam.formula, aliases, { reduction: c.reduction, axis, k: c.k, formula2: fam.formula2 });
}

/** Runs a case sync or async. */
async function runCase(g: Genred, args: Arg[], opts: RunOptions, sync: boolean): Promise<unknown> {
  return sync ? g.runSync(args, opts) : g.run(args, opts);
}

/** The ranges of a keep matrix for a call over `axis` (swapped roles for axis 0). */
function rangesFor(keep: ArrayLike<number>, axis: 0 | 1): Ranges {
  const d = data();
  return axis === 1 ? fromMatrix(d.rX, d.rY, keep) : fromMatrix(d.rY, d.rX, transpose(keep, NX, NY));
}

const AXES: readonly (0 | 1)[] = [1, 0];
const GRID = CASES.flatMap((c) => AXES.flatMap((axis) => DTYPES.map((dtype) => ({ c, axis, dtype }))));
const gridTitle = (what: string) => GRID.map((g) => [`${g.c.label} over axis ${g.axis} in ${g.dtype} ${what}`, g] as const);
/** Float64 runs Sync on axis 1, float32 on axis 0: every entry point sees every reduction. */
const isSync = (axis: 0 | 1, dtype: DType): boolean => (dtype === 'float64') === (axis === 1);

describe('reductions with block-sparse ranges (M = 1003, N = 517, uneven clusters with empty ones)', () => {
  test('the test data: uneven clusters with empty ones, and a keep neither full nor empty that leaves rows with nothing', () => {
    const d = data();
    expect(Array.from(d.rX)).toEqual(cumulativeRanges(SIZES_X));
    expect(Array.from(d.rY)).toEqual(cumulativeRanges(SIZES_Y));
    const kept = d.keep.reduce((s, v) => s + v, 0);
    expect(kept).toBeGreaterThan(NX);
    expect(kept).toBeLessThan(NX * NY - NX);
    const sizes = d.kept.map((k) => k.length);
    expect(sizes.filter((s) => s === 0).length).toBeGreaterThanOrEqual(250);
    expect(sizes.some((s) => s === 1)).toBe(true);
    expect(sizes.some((s) => s === 3)).toBe(true);
    expect(sizes.some((s) => s > 100 && s < N)).toBe(true);
  });

  test.each(gridTitle('with ranges equals the brute force over the kept blocks'))('%s', async (_t, { c, axis, dtype }) => {
    const d = data();
    const g = genredFor(c, axis);
    if (c.family === 'gauss') expect(g.compiled.lowered.kernel.length).toBeGreaterThan(0); // the fused path
    const result = await runCase(g, FAMILIES[c.family].args(d, dtype), { ranges: rangesFor(d.keep, axis) }, isSync(axis, dtype));
    check(c, dtype, result, d.kept, 'main');
  });
});

// ---------------------------------------------------------------------------------------
// Full and empty keeps, rows in no cluster
// ---------------------------------------------------------------------------------------

describe('full and empty ranges', () => {
  const ones = new Uint8Array(NX * NY).fill(1);
  const zeros = new Uint8Array(NX * NY);

  test.each(gridTitle('with full ranges equals the call without ranges (prune: false, and the default)'))('%s', async (_t, { c, axis, dtype }) => {
    const d = data();
    const g = genredFor(c, axis);
    const args = FAMILIES[c.family].args(d, dtype);
    const sync = isSync(axis, dtype);
    const withRanges = await runCase(g, args, { ranges: rangesFor(ones, axis) }, sync);
    const all = keptAll(M, N);
    check(c, dtype, withRanges, all, 'all');
    for (const opts of [{ prune: false }, {}] as RunOptions[]) {
      const plain = await runCase(g, args, opts, sync);
      const fam = FAMILIES[c.family];
      const shape: [number, number] = [M, (c.k ?? 1) * fam.dim];
      const a = parts(c.reduction, withRanges, dtype, shape);
      const b = parts(c.reduction, plain, dtype, shape);
      const what = `ranges vs ${JSON.stringify(opts)}`;
      switch (c.family) {
        case 'sum':
        case 'gauss': {
          const absSum = memo(`all|1|${c.family}|abs`, () => refKept(table(c.family), 1, all, refAbsSum));
          expectSumPerElement((a.values as TensorLike).data, (b.values as TensorLike).data, absSum, 2 * SUM_TOL[dtype], what);
          break;
        }
        case 'lse':
          expectClose((a.values as TensorLike).data, (b.values as TensorLike).data, 2 * LSE_TOL[dtype][0], 2 * LSE_TOL[dtype][1], what);
          break;
        case 'ssmw':
          expectClose((a.values as TensorLike).data, (b.values as TensorLike).data, 2 * SSMW_TOL[dtype][0], 2 * SSMW_TOL[dtype][1], what);
          break;
        case 'min': {
          if (a.values && b.values) expectCloseElementwise(a.values.data, b.values.data, 2 * VALUE_RTOL[dtype], 0, what);
          if (a.indices && b.indices) {
            expectIndices(a.indices.data, b.indices.data, { valueAt: tableValueAt(table('min'), 1, shape[1]), rtol: 2 * VALUE_RTOL[dtype] }, what);
          }
          break;
        }
      }
    }
  });

  test.each(gridTitle('with an all-zero keep gives the empty reduction everywhere'))('%s', async (_t, { c, axis, dtype }) => {
    const d = data();
    const ranges = rangesFor(zeros, axis);
    expect(ranges[2].length + ranges[5].length).toBe(0);
    const result = await runCase(genredFor(c, axis), FAMILIES[c.family].args(d, dtype), { ranges }, isSync(axis, dtype));
    const fam = FAMILIES[c.family];
    const got = parts(c.reduction, result, dtype, [M, (c.k ?? 1) * fam.dim]);
    const empty = c.family === 'sum' || c.family === 'gauss' ? 0 : c.family === 'lse' ? -Infinity
      : c.family === 'ssmw' ? NaN : c.reduction === 'Max_ArgMax' ? -Infinity : Infinity;
    if (got.values) {
      const bad = Array.from(got.values.data).findIndex((v) => !Object.is(v, empty) && !(numIsNaN(empty) && numIsNaN(v)) && !(empty === 0 && v === 0));
      if (bad >= 0) throw new Error(`${c.label}: value ${got.values.data[bad]} at ${bad}, expected ${empty}`);
    }
    if (got.indices) {
      const bad = Array.from(got.indices.data).findIndex((q) => q !== -1);
      if (bad >= 0) throw new Error(`${c.label}: index ${got.indices.data[bad]} at ${bad}, expected -1`);
    }
  });
});

describe('rows in no cluster, and ties across ranges', () => {
  // Rows 10..200 and 230..500 are clustered; 0..9, 200..229 and 500..1002 are in no cluster.
  const RI = [10, 200, 230, 500];
  const SI = [1, 3];
  const RJ = [0, N, 300, N, 0, 100];
  const uncovered = (axis: 0 | 1): Ranges => (axis === 1 ? axis1Only(RI, SI, RJ) : axis0Only(RI, SI, RJ));

  test.each(gridTitle('gives the rows outside every cluster of ranges_i the empty reduction'))('%s', async (_t, { c, axis, dtype }) => {
    const d = data();
    const kept = memo('uncoveredKept', () => keptFromTriple(M, RI, SI, RJ));
    const result = await runCase(genredFor(c, axis), FAMILIES[c.family].args(d, dtype), { ranges: uncovered(axis) }, isSync(axis, dtype));
    check(c, dtype, result, kept, 'uncovered');
  });

  // Ties: y_j is one of 4 points (j mod 4) with dyadic coordinates, x dyadic too, so
  // SqDist is exact in float32 and each row ties across every j of a class. Each cluster
  // of rows lists its ranges in decreasing order (and leaves j = 0..2 out for the first).
  const MT = 37;
  const tieData = lazily(() => {
    const rng = new Rng(99);
    const P = Array.from({ length: 4 * 3 }, () => rng.int(16) / 4);
    const x = dual(Float64Array.from({ length: MT * 3 }, () => rng.int(16) / 4));
    const y = dual(Float64Array.from({ length: N * 3 }, (_v, k) => P[(math.floor(k / 3) % 4) * 3 + (k % 3)]));
    const T = tabulate(MT, N, 1, (i, j) => [sqdist(row(x.f64, i, 3), row(y.f64, j, 3))]);
    return { x, y, T };
  });
  const TRI = [0, 10, 10, 25, 25, MT];
  const TSI = [4, 6, 9];
  const TRJ = [400, N, 250, 400, 100, 250, 3, 100, 300, N, 1, 300, 500, N, 200, 260, 7, 9];
  const TIE_CASES: readonly Case[] = CASES.filter((c) => c.family === 'min' && c.reduction !== 'Min' && c.reduction !== 'KMin');

  test('the tie data tie: the minimum of each row is reached at several kept indices in different ranges', () => {
    const { T } = tieData();
    const kept = keptFromTriple(MT, TRI, TSI, TRJ);
    for (const r of [0, 12, 30]) {
      let best = Infinity;
      for (const q of kept[r]) best = math.min(best, T.at(r, q));
      expect(kept[r].filter((q) => T.at(r, q) === best).length).toBeGreaterThan(3);
    }
  });

  test.each(TIE_CASES.flatMap((c) => AXES.flatMap((axis) => DTYPES.map((dtype) => [`${c.label} over axis ${axis} in ${dtype} resolves ties across ranges given in decreasing order to the lowest kept index`, c, axis, dtype] as const))))(
    '%s', async (_t, c, axis, dtype) => {
      const { x, y, T } = tieData();
      const aliases = axis === 1 ? ['x = Vi(3)', 'y = Vj(3)'] : ['x = Vj(3)', 'y = Vi(3)'];
      const g = new Genred('SqDist(x,y)', aliases, { reduction: c.reduction, axis, k: c.k });
      const ranges = axis === 1 ? axis1Only(TRI, TSI, TRJ) : axis0Only(TRI, TSI, TRJ);
      const result = await runCase(g, [pick(x, dtype), pick(y, dtype)], { ranges }, isSync(axis, dtype));
      const kept = keptFromTriple(MT, TRI, TSI, TRJ);
      const k = c.k ?? 1;
      const ref = c.k !== undefined ? refKeptArg(T, 1, kept, (s, a) => refKMin(s, a, k)) : refKeptArg(T, 1, kept, c.reduction === 'Max_ArgMax' ? refMax : refMin);
      const got = parts(c.reduction, result, dtype, [MT, k]);
      // Exact: the values are exact in both dtypes, so the lowest index must win every tie.
      expect(Array.from((got.indices as TensorLike).data)).toEqual(Array.from(ref.indices));
      if (got.values) expect(Array.from(got.values.data)).toEqual(Array.from(ref.values));
    },
  );
});

// ---------------------------------------------------------------------------------------
// KernelSolve and LazyTensor.solve with ranges
// ---------------------------------------------------------------------------------------

/** max_k |a_k − e_k| / max_k |e_k|. */
function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let k = 0; k < e.length; k++) {
    err = math.max(err, math.abs(a[k] - e[k]));
    scale = math.max(scale, math.abs(e[k]));
  }
  return err / scale;
}

describe('KernelSolve with ranges (axis 1, N = 300)', () => {
  const NS = 300;
  const GS = 4;
  const ALPHA = 0.5;
  const DV = 2;
  const setup = lazily(() => {
    const rng = new Rng(4242);
    const raw = f32exact(uniform(rng, NS * 3));
    const labels = gridCluster(raw, 3, 0.5);
    const s = sortClusters(raw, 3, labels);
    const r = clusterRanges(s.labels);
    const nc = r.length / 2;
    const x = dual(s.data);
    const b = dual(normal(rng, NS * DV));
    const identity = Uint8Array.from({ length: nc * nc }, (_v, k) => (math.floor(k / nc) === k % nc ? 1 : 0));
    const blockOf = new Int32Array(NS);
    for (let l = 0; l < nc; l++) for (let i = r[2 * l]; i < r[2 * l + 1]; i++) blockOf[i] = l;
    // αI + K with K kept only inside the diagonal blocks, in float64.
    const A = new Float64Array(NS * NS);
    for (let i = 0; i < NS; i++) {
      for (let j = 0; j < NS; j++) {
        const kij = blockOf[i] === blockOf[j] ? math.exp(-GS * sqdist(row(x.f64, i, 3), row(x.f64, j, 3))) : 0;
        A[i * NS + j] = kij + (i === j ? ALPHA : 0);
      }
    }
    return {
      x, b, nc, sizes: Array.from({ length: nc }, (_v, l) => r[2 * l + 1] - r[2 * l]),
      blockDiag: fromMatrix(r, r, identity),
      full: fromMatrix(r, r, new Uint8Array(nc * nc).fill(1)),
      exact: cholSolve(cholesky(A, NS, 0), NS, b.f64, DV),
    };
  });
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(2)', 'g = Pm(1)'], 'a', { axis: 1 });
  /** Stopping tolerance and the stated bound on the relative error of the solution. */
  const SOLVE: Record<DType, { tol: number; bound: number }> = { float64: { tol: 1e-12, bound: 1e-8 }, float32: { tol: 1e-5, bound: 2e-3 } };

  test('the solve data: several clusters of uneven sizes', () => {
    const { nc, sizes } = setup();
    expect(nc).toBeGreaterThanOrEqual(6);
    expect(math.max(...sizes)).toBeGreaterThan(math.min(...sizes));
  });

  test.each(DTYPES)('with full ranges the solution (%s) is the one without ranges', async (dtype) => {
    const { x, b, full } = setup();
    const args = [pick(x, dtype), pick(x, dtype), pick(b, dtype), GS];
    const { tol, bound } = SOLVE[dtype];
    const withRanges = await solver.run(args, { alpha: ALPHA, tol, ranges: full });
    const without = solver.runSync(args, { alpha: ALPHA, tol, prune: false });
    expect(withRanges.converged).toBe(true);
    expect(without.converged).toBe(true);
    expect(relErr(withRanges.x.data, without.x.data)).toBeLessThan(bound);
  });

  test.each(DTYPES)('with a block-diagonal keep the solution (%s) solves the block-diagonal system', async (dtype) => {
    const { x, b, blockDiag, exact } = setup();
    const args = [pick(x, dtype), pick(x, dtype), pick(b, dtype), GS];
    const { tol, bound } = SOLVE[dtype];
    const r = dtype === 'float64' ? await solver.run(args, { alpha: ALPHA, tol, ranges: blockDiag }) : solver.runSync(args, { alpha: ALPHA, tol, ranges: blockDiag });
    expect(r.converged).toBe(true);
    expect(r.residual).toBeLessThanOrEqual(tol);
    expect(relErr(r.x.data, exact)).toBeLessThan(bound);
    // …and not the full system's: the test can tell them apart.
    const full = solver.runSync(args, { alpha: ALPHA, tol });
    expect(relErr(full.x.data, exact)).toBeGreaterThan(1e-2);
  });

  test('LazyTensor.solve with a block-diagonal keep (float64) solves the block-diagonal system', async () => {
    const { x, b, blockDiag, exact } = setup();
    const K = Vi(x.f64, 3).sqdist(Vj(x.f64, 3)).mul(-GS).exp();
    const r = await K.solve({ data: b.f64, shape: [NS, DV] }, { alpha: ALPHA, tol: 1e-12, ranges: blockDiag });
    expect(r.converged).toBe(true);
    expect(relErr(r.x.data, exact)).toBeLessThan(1e-8);
    const s = K.solveSync({ data: b.f64, shape: [NS, DV] }, { alpha: ALPHA, tol: 1e-12, ranges: blockDiag });
    expect(relErr(s.x.data, exact)).toBeLessThan(1e-8);
  });
});

// ---------------------------------------------------------------------------------------
// LazyTensor reductions and matvec with ranges
// ---------------------------------------------------------------------------------------

describe('LazyTensor reductions and matvec with ranges', () => {
  const caseOf = (label: string): Case => CASES.find((c) => c.label === label) as Case;
  /** Per y-row, its kept x indices: what the same ranges give a reduction over i (axis 0). */
  const keptT = (): Int32Array[] => memo('keptT', () => {
    const d = data();
    return keptFromClusters(N, d.rY, d.rX, (l, a) => d.keep[a * NY + l] === 1);
  });
  const ranges = (): Ranges => memo('lazyRanges', () => fromMatrix(data().rX, data().rY, data().keep));

  test('argmin over axis 1 (float32, async) equals the brute force over the kept blocks', async () => {
    const d = data();
    const F = Vi(d.x.f32, 3).sub(Vj(d.y.f32, 3)).square();
    check(caseOf('ArgMin'), 'float32', await F.argmin(1, { ranges: ranges() }), d.kept, 'main');
  });

  test('minArgminSync over axis 1 (float64) equals the brute force over the kept blocks', () => {
    const d = data();
    const F = Vi(d.x.f64, 3).sub(Vj(d.y.f64, 3)).square();
    check(caseOf('Min_ArgMin'), 'float64', F.minArgminSync(1, { ranges: ranges() }), d.kept, 'main');
  });

  test.each(DTYPES)('sum over axis 0 (%s) with the same ranges reduces each y over the x blocks of its kept pairs', async (dtype) => {
    const d = data();
    const F = Vi(pick(d.x, dtype), 3).dot(Vj(pick(d.y, dtype), 3)).cos().mul(Vj(pick(d.b, dtype), 2));
    const result = dtype === 'float64' ? F.sumSync(0, { ranges: ranges() }) : await F.sum(0, { ranges: ranges() });
    check(caseOf('Sum'), dtype, result, keptT(), 'keptT', 0);
  });

  test.each(DTYPES)('kmin and argkmin (k = 3) over axis 0 (%s) with the same ranges equal the brute force', async (dtype) => {
    const d = data();
    const F = Vi(pick(d.x, dtype), 3).sub(Vj(pick(d.y, dtype), 3)).square();
    check(caseOf('KMin (k = 3)'), dtype, F.kminSync(3, 0, { ranges: ranges() }), keptT(), 'keptT', 0);
    check(caseOf('ArgKMin (k = 3)'), dtype, await F.argkmin(3, 0, { ranges: ranges() }), keptT(), 'keptT', 0);
  });

  test.each(DTYPES)('logsumexp and sumSoftmaxWeight over axis 1 (%s) equal the brute force over the kept blocks', async (dtype) => {
    const d = data();
    const F = Pm(G_LSE).mul(Vi(pick(d.x, dtype), 3).dot(Vj(pick(d.y, dtype), 3)));
    check(caseOf('LogSumExp'), dtype, await F.logsumexp(1, { ranges: ranges() }), d.kept, 'main');
    check(caseOf('SumSoftMaxWeight'), dtype, F.sumSoftmaxWeightSync(Vj(pick(d.b, dtype), 2), 1, { ranges: ranges() }), d.kept, 'main');
  });

  test.each(DTYPES)('matvec (%s) with ranges equals the brute force Σ over the kept blocks of K_ij b_j', async (dtype) => {
    const d = data();
    const K = Vi(pick(d.x, dtype), 3).sqdist(Vj(pick(d.y, dtype), 3)).mul(-G_GAUSS).exp();
    check(caseOf('the fused Gaussian Sum'), dtype, await K.matvec(pick(d.c, dtype), { ranges: ranges() }), d.kept, 'main');
    check(caseOf('the fused Gaussian Sum'), dtype, K.matvecSync(pick(d.c, dtype), { ranges: ranges() }), d.kept, 'main');
  });
});

// ---------------------------------------------------------------------------------------
// Malformed ranges
// ---------------------------------------------------------------------------------------

describe('bad ranges', () => {
  const MB = 20;
  const NB = 15;
  const rng = new Rng(5);
  const xb = uniform(rng, MB * 3);
  const yb = uniform(rng, NB * 3);
  const sum1 = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 });
  const sum0 = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 0 });
  const argmin1 = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'ArgMin', axis: 1 });
  const good = axis1Only([0, MB], [1], [0, NB]);
  const args = [xb, yb];

  /** Both entry points of `g` refuse `ranges` with an error of lib (the class given). */
  async function expectOptionError(g: Genred, ranges: unknown): Promise<void> {
    const opts = { ranges } as unknown as RunOptions;
    const a = await caught(() => g.run(args, opts));
    const s = await caught(() => g.runSync(args, opts));
    expect(a).toBeInstanceOf(OptionError);
    expect(s).toBeInstanceOf(OptionError);
  }

  /** Both entry points refuse with an Error from the engine whose message starts with 'invalid ranges'; the engine still works afterwards. */
  async function expectInvalid(g: Genred, ranges: Ranges): Promise<void> {
    for (const sync of [false, true]) {
      const e = await caught(() => (sync ? g.runSync(args, { ranges }) : g.run(args, { ranges })));
      expect(util.types.isNativeError(e)).toBe(true);
      expect((e as Error).message).toMatch(/^invalid ranges/);
    }
    const r = asTensor(g.runSync(args, { ranges: g.axis === 1 ? good : axis0Only([0, NB], [1], [0, MB]) }));
    expect(r.shape).toEqual([g.axis === 1 ? MB : NB, 1]);
  }

  const SHAPE_CASES: [string, unknown][] = [
    ['five arrays', [EMPTY(), EMPTY(), EMPTY(), EMPTY(), EMPTY()]],
    ['seven arrays', [EMPTY(), EMPTY(), EMPTY(), EMPTY(), EMPTY(), EMPTY(), EMPTY()]],
    ['null', null],
    ['an object with six entries', { 0: EMPTY(), 1: EMPTY(), 2: EMPTY(), 3: EMPTY(), 4: EMPTY(), 5: EMPTY(), length: 6 }],
    ['one Int32Array', I32([0, MB])],
    ['a string', 'ranges'],
    ['a plain array entry', [[0, MB], I32([1]), I32([0, NB]), EMPTY(), EMPTY(), EMPTY()]],
    ['a Float64Array entry', [I32([0, MB]), Float64Array.from([1]), I32([0, NB]), EMPTY(), EMPTY(), EMPTY()]],
    ['a Uint32Array entry', [I32([0, MB]), I32([1]), Uint32Array.from([0, NB]), EMPTY(), EMPTY(), EMPTY()]],
    ['an undefined entry', [I32([0, MB]), I32([1]), I32([0, NB]), EMPTY(), undefined, EMPTY()]],
    ['ranges_i of odd length', [I32([0, MB, 3]), I32([1]), I32([0, NB]), EMPTY(), EMPTY(), EMPTY()]],
    ['redranges_j of odd length', [I32([0, MB]), I32([1]), I32([0, NB, 2]), EMPTY(), EMPTY(), EMPTY()]],
    ['ranges_j of odd length (unused by axis 1)', [I32([0, MB]), I32([1]), I32([0, NB]), I32([0]), EMPTY(), EMPTY()]],
    ['redranges_i of odd length (unused by axis 1)', [I32([0, MB]), I32([1]), I32([0, NB]), EMPTY(), EMPTY(), I32([1, 2, 3])]],
  ];

  test.each(SHAPE_CASES)('ranges as %s: OptionError from run and runSync', async (_what, ranges) => {
    await expectOptionError(sum1, ranges);
    await expectOptionError(argmin1, ranges);
  });

  test('malformed ranges: OptionError from LazyTensor reductions, matvec and KernelSolve too', async () => {
    const bad = [I32([0, MB, 3]), I32([1]), I32([0, NB]), EMPTY(), EMPTY(), EMPTY()] as unknown as Ranges;
    const F = Vi(xb, 3).sqdist(Vj(yb, 3));
    expect(await caught(() => F.sum(1, { ranges: bad }))).toBeInstanceOf(OptionError);
    expect(await caught(() => F.argminSync(1, { ranges: bad }))).toBeInstanceOf(OptionError);
    expect(await caught(() => F.neg().exp().matvec(new Float64Array(NB), { ranges: bad }))).toBeInstanceOf(OptionError);
    const solver = new KernelSolve('Exp(-SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)'], 'a', { axis: 1 });
    expect(await caught(() => solver.run([xb, xb, new Float64Array(MB)], { alpha: 1, ranges: bad }))).toBeInstanceOf(OptionError);
    expect(await caught(() => solver.runSync([xb, xb, new Float64Array(MB)], { alpha: 1, ranges: bad }))).toBeInstanceOf(OptionError);
  });

  const ENGINE_CASES: [string, Ranges][] = [
    ['clusters overlapping', axis1Only([0, 10, 5, MB], [1, 2], [0, NB, 0, NB])],
    ['clusters out of order', axis1Only([10, MB, 0, 10], [1, 2], [0, NB, 0, NB])],
    ['a cluster past the last row', axis1Only([0, MB + 1], [1], [0, NB])],
    ['a cluster ending at INT32_MAX', axis1Only([0, 2147483647], [1], [0, NB])],
    ['a cluster with a negative start', axis1Only([-1, 5], [1], [0, NB])],
    ['a cluster ending before it starts', axis1Only([5, 3], [1], [0, NB])],
    ['slices decreasing', axis1Only([0, 10, 10, MB], [2, 1], [0, 5, 5, NB])],
    ['a slice past the number of redranges', axis1Only([0, MB], [2], [0, NB])],
    ['a negative slice', axis1Only([0, 10, 10, MB], [-1, 1], [0, NB])],
    ['a redrange past the reduced rows', axis1Only([0, MB], [1], [0, NB + 1])],
    ['a redrange with a negative start', axis1Only([0, MB], [1], [-1, 5])],
    ['a redrange ending before it starts', axis1Only([0, MB], [1], [6, 5])],
    ['a redrange outside [0, n] that no slice reaches', axis1Only([0, MB], [1], [0, NB, 0, NB + 50])],
    ['slices shorter than the clusters', axis1Only([0, 10, 10, MB], [2], [0, 5, 5, NB])],
    ['slices longer than the clusters', axis1Only([0, MB], [1, 1], [0, NB])],
    ['slices for clusters that are not there', axis1Only([], [0], [])],
  ];

  test.each(ENGINE_CASES)('%s: an engine Error starting with "invalid ranges" from run and runSync (Sum, axis 1)', async (_what, ranges) => {
    await expectInvalid(sum1, ranges);
  });

  test.each(ENGINE_CASES)('%s: an engine Error starting with "invalid ranges" from run and runSync (ArgMin, axis 1)', async (_what, ranges) => {
    await expectInvalid(argmin1, ranges);
  });

  test('axis 0 checks the transposed triple against its own sizes: redranges_i up to M is valid, past M invalid', async () => {
    const valid = axis0Only([0, NB], [1], [0, MB]);
    const withRanges = asTensor(sum0.runSync(args, { ranges: valid }));
    const plain = asTensor(sum0.runSync(args, { prune: false }));
    expectClose(withRanges.data, plain.data, 1e-12);
    await expectInvalid(sum0, axis0Only([0, NB], [1], [0, MB + 1]));
    await expectInvalid(sum0, axis0Only([0, NB + 1], [1], [0, MB]));
    // The axis-1 triple (here invalid for axis 0's sizes) is not what axis 0 reads.
    const r = asTensor(sum0.runSync(args, { ranges: [I32([0, MB]), I32([1]), I32([0, NB]), I32([0, NB]), I32([1]), I32([0, MB])] }));
    expectClose(r.data, plain.data, 1e-12);
  });

  test('KernelSolve refuses out-of-bounds ranges with the engine\'s "invalid ranges" Error from run and runSync', async () => {
    const solver = new KernelSolve('Exp(-SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)'], 'a', { axis: 1 });
    const ranges = axis1Only([0, MB], [1], [0, MB + 1]);
    const b = new Float64Array(MB).fill(1);
    for (const sync of [false, true]) {
      const e = await caught(() => (sync ? solver.runSync([xb, xb, b], { alpha: 1, ranges }) : solver.run([xb, xb, b], { alpha: 1, ranges })));
      expect(util.types.isNativeError(e)).toBe(true);
      expect((e as Error).message).toMatch(/^invalid ranges/);
    }
    const ok = solver.runSync([xb, xb, b], { alpha: 1, ranges: axis1Only([0, MB], [1], [0, MB]) });
    expect(ok.converged).toBe(true);
  });
});


/**
 * Helpers that build explicit block-sparse ranges (ranges.ts), after KeOps' cluster
 * module: label points by a voxel grid, sort them by label, find each label's rows and
 * centroid, and turn a matrix of kept cluster pairs into the six range arrays. They only
 * rearrange and count the caller's data; the reductions themselves stay native.
 *
 * @example
 * const lx = gridCluster(x, 3, 0.05), ly = gridCluster(y, 3, 0.05);
 * const sx = sortClusters(x, 3, lx), sy = sortClusters(y, 3, ly);
 * const rx = clusterRanges(sx.labels), ry = clusterRanges(sy.labels);
 * const cx = clusterCentroids(sx.data, 3, sx.labels), cy = clusterCentroids(sy.data, 3, sy.labels);
 * const keep = ...; // keep[k * Ny + l] = 1 where centroids k and l are close
 * const ranges = fromMatrix(rx, ry, keep);
 * const out = await op.run([sx.data, sy.data, bSorted, g], { ranges }); // rows in sorted order
 */
import { types } from 'node:util';
import { OptionError, ShapeError } from './errors';
import { allocate } from './memory';
import type { Ranges } from './ranges';
import { checkDimension, FloatArray, readMatrix } from './tensor';

function points(x: unknown, dim: unknown, name: string): { data: FloatArray; rows: number; dim: number } {
  const d = checkDimension(dim, name);
  const m = readMatrix(x, name, { dim: d });
  return { data: m.data, rows: m.rows, dim: d };
}

function checkLabels(labels: unknown, rows: number, name: string): Int32Array {
  if (!types.isInt32Array(labels)) throw new OptionError(`${name}: labels must be an Int32Array`);
  const lab = labels;
  if (lab.length !== rows) throw new ShapeError(`${name}: ${lab.length} labels for ${rows} points`);
  for (let k = 0; k < lab.length; k++) {
    if (lab[k] < 0) throw new OptionError(`${name}: label ${k} is ${lab[k]}; labels are non-negative`);
  }
  return lab;
}

function labelCount(lab: Int32Array, nlab: number | undefined, name: string): number {
  let most = -1;
  for (let k = 0; k < lab.length; k++) most = Math.max(most, lab[k]);
  if (nlab === undefined) return most + 1;
  if (!Number.isInteger(nlab) || nlab <= most || nlab > 0x7fffffff) {
    throw new OptionError(`${name}: nlab = ${nlab} must be an integer above the largest label ${most} and below 2^31`);
  }
  return nlab;
}

/**
 * Labels each point by the voxel it falls in, as KeOps' `grid_cluster` does: voxel
 * floor(x / size) in each coordinate, counted from the origin (so a ported block-sparse
 * script gets the same clusters), with `size` one side for every coordinate or one per
 * coordinate. Labels are 0..K-1 in lexicographic order of the voxels, which is KeOps'
 * order wherever its packed labels do not collide (its D ≤ 3 packing gives each later
 * coordinate 10 bits); lazykernel takes any D.
 *
 * @example
 * const labels = gridCluster(x, 3, 0.1); // Int32Array, one label per point
 * const boxes = gridCluster(x, 2, [0.1, 0.5]); // 0.1 wide, 0.5 tall
 */
export function gridCluster(x: FloatArray, dim: number, size: number | ArrayLike<number>): Int32Array {
  const { data, rows, dim: d } = points(x, dim, 'gridCluster');
  const sides = typeof size === 'number' ? new Array<number>(d).fill(size) : Array.from(size ?? []);
  if (typeof size !== 'number' && (size === null || typeof size !== 'object' || sides.length !== d)) {
    throw new OptionError(`gridCluster: size must be a number or ${d} numbers, one per coordinate, not ${String(size)}`);
  }
  for (const side of sides) {
    if (!(typeof side === 'number' && side > 0 && Number.isFinite(side))) throw new OptionError(`gridCluster: size must be finite and > 0, not ${String(side)}`);
  }
  // Voxel numbers must stay exact integers: a tiny size (or a huge coordinate) would put
  // distinct voxels at the same rounded, or infinite, number.
  const cells = new Array<string>(rows);
  const key = new Array<number>(d);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < d; c++) {
      const v = data[i * d + c];
      if (!Number.isFinite(v)) throw new OptionError(`gridCluster: point ${i} has a non-finite coordinate`);
      const cell = Math.floor(v / sides[c]);
      if (!(Math.abs(cell) < Number.MAX_SAFE_INTEGER)) {
        throw new OptionError(`gridCluster: size ${sides[c]} puts coordinate ${c} of point ${i} (${v}) beyond 2^53 voxels from the origin`);
      }
      key[c] = cell;
    }
    cells[i] = key.join(',');
  }
  const order = [...new Set(cells)].map((k) => k.split(',').map(Number)).sort((a, b) => {
    for (let c = 0; c < d; c++) if (a[c] !== b[c]) return a[c] - b[c];
    return 0;
  });
  const index = new Map(order.map((k, n) => [k.join(','), n]));
  return Int32Array.from(cells, (k) => index.get(k) as number);
}

/**
 * Sorts points by label (stable): the sorted data, the sorted labels, and `order`, where
 * sorted row k is the caller's row order[k] (to put results back: out[order[k]] = sorted[k]).
 *
 * @example
 * const { data, labels, order } = sortClusters(x, 3, gridCluster(x, 3, 0.1));
 */
export function sortClusters<T extends FloatArray>(x: T, dim: number, labels: Int32Array): { data: T; labels: Int32Array; order: Int32Array } {
  const { data, rows, dim: d } = points(x, dim, 'sortClusters');
  const lab = checkLabels(labels, rows, 'sortClusters');
  const order = Int32Array.from({ length: rows }, (_, k) => k).sort((a, b) => lab[a] - lab[b] || a - b);
  const out = new (data.constructor as { new (n: number): FloatArray })(rows * d) as T;
  for (let k = 0; k < rows; k++) for (let c = 0; c < d; c++) out[k * d + c] = data[order[k] * d + c];
  return { data: out, labels: Int32Array.from(order, (i) => lab[i]), order };
}

/**
 * The (start, end) rows of each label in sorted labels, as ranges_i / ranges_j:
 * 2·nlab values; a label with no point gets an empty range.
 *
 * @example
 * clusterRanges(Int32Array.from([0, 0, 1, 3])); // [0,2, 2,3, 3,3, 3,4]
 */
export function clusterRanges(labels: Int32Array, nlab?: number): Int32Array {
  const lab = checkLabels(labels, types.isInt32Array(labels) ? labels.length : 0, 'clusterRanges');
  for (let k = 1; k < lab.length; k++) {
    if (lab[k] < lab[k - 1]) throw new OptionError('clusterRanges: labels must be sorted (see sortClusters)');
  }
  const n = labelCount(lab, nlab, 'clusterRanges');
  const out = allocate(Int32Array, 2 * n, 'clusterRanges');
  let k = 0;
  for (let l = 0; l < n; l++) {
    out[2 * l] = k;
    while (k < lab.length && lab[k] === l) k++;
    out[2 * l + 1] = k;
  }
  return out;
}

/**
 * The mean point of each label (nlab × dim, float64); NaN for a label with no point.
 *
 * @example
 * const c = clusterCentroids(x, 3, labels); // Float64Array of 3 · nlab values
 */
export function clusterCentroids(x: FloatArray, dim: number, labels: Int32Array, nlab?: number): Float64Array {
  const { data, rows, dim: d } = points(x, dim, 'clusterCentroids');
  const lab = checkLabels(labels, rows, 'clusterCentroids');
  const n = labelCount(lab, nlab, 'clusterCentroids');
  const sums = allocate(Float64Array, n * d, 'clusterCentroids');
  const counts = allocate(Float64Array, n, 'clusterCentroids');
  for (let i = 0; i < rows; i++) {
    counts[lab[i]] += 1;
    for (let c = 0; c < d; c++) sums[lab[i] * d + c] += data[i * d + c];
  }
  for (let l = 0; l < n; l++) for (let c = 0; c < d; c++) sums[l * d + c] /= counts[l];
  return sums;
}

/**
 * The six range arrays from the clusters of i and j (clusterRanges) and a row-major
 * nI × nJ matrix `keep` whose nonzero entries mark the cluster pairs to compute.
 *
 * @example
 * const ranges = fromMatrix(rangesX, rangesY, keep); // pass as { ranges }
 */
export function fromMatrix(rangesI: Int32Array, rangesJ: Int32Array, keep: ArrayLike<number | boolean>): Ranges {
  for (const [r, name] of [[rangesI, 'rangesI'], [rangesJ, 'rangesJ']] as const) {
    if (!types.isInt32Array(r) || r.length % 2 !== 0) {
      throw new OptionError(`fromMatrix: ${name} must be an Int32Array of (start, end) pairs`);
    }
  }
  const nI = rangesI.length / 2;
  const nJ = rangesJ.length / 2;
  if (keep?.length !== nI * nJ) throw new ShapeError(`fromMatrix: keep has ${keep?.length} entries for ${nI} x ${nJ} cluster pairs`);
  const side = (n: number, m: number, kept: (a: number, b: number) => boolean, other: Int32Array): [Int32Array, Int32Array] => {
    const slices = new Int32Array(n);
    const red: number[] = [];
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < m; b++) if (kept(a, b)) red.push(other[2 * b], other[2 * b + 1]);
      slices[a] = red.length / 2;
    }
    return [slices, Int32Array.from(red)];
  };
  const [slicesI, redrangesJ] = side(nI, nJ, (a, b) => Boolean(keep[a * nJ + b]), rangesJ);
  const [slicesJ, redrangesI] = side(nJ, nI, (a, b) => Boolean(keep[b * nJ + a]), rangesI);
  return [rangesI, slicesI, redrangesJ, rangesJ, slicesJ, redrangesI];
}

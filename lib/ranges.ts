/**
 * Explicit block-sparse ranges, KeOps-style: which clusters of j each cluster of i
 * reduces over (and the transposed description for reductions over i). Build them with
 * the helpers of cluster.ts; pass them as the `ranges` run option. The engine re-checks
 * every bound.
 */
import { types } from 'node:util';
import { OptionError } from './errors';

/**
 * KeOps' six arrays, each an Int32Array: `[ranges_i, slices_i, redranges_j, ranges_j,
 * slices_j, redranges_i]`. ranges_i holds (start, end) row pairs of the clusters of i,
 * sorted and disjoint; cluster k of i reduces over the pairs of redranges_j numbered
 * slices_i[k-1] .. slices_i[k] - 1 (slices_i[-1] = 0). The last three say the same for
 * the clusters of j (used by reductions over i, axis 0). Rows in no cluster get the
 * reduction of nothing (0 for a sum). Within a cluster, ranges are visited in increasing
 * order, so ties still go to the lowest index.
 */
export type Ranges = readonly [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];

const NAMES = ['ranges_i', 'slices_i', 'redranges_j', 'ranges_j', 'slices_j', 'redranges_i'];

/** Checks the shape of a `ranges` option (bounds are checked by the engine against the sizes). */
export function checkRanges(ranges: unknown): asserts ranges is Ranges {
  if (!Array.isArray(ranges) || ranges.length !== 6) {
    throw new OptionError(`ranges must be the six Int32Arrays [${NAMES.join(', ')}]`);
  }
  ranges.forEach((a, k) => {
    if (!types.isInt32Array(a)) throw new OptionError(`ranges: ${NAMES[k]} must be an Int32Array`);
    if (k % 3 !== 1 && a.length % 2 !== 0) throw new OptionError(`ranges: ${NAMES[k]} must hold (start, end) pairs`);
  });
}

/**
 * The triple the engine reads, which always reduces over its j: the first three for a
 * reduction over j (axis 1), the transposed three for one over i (axis 0, where i and j
 * trade places).
 */
export function engineRanges(ranges: Ranges, axis: 0 | 1): [Int32Array, Int32Array, Int32Array] {
  return axis === 1 ? [ranges[0], ranges[1], ranges[2]] : [ranges[3], ranges[4], ranges[5]];
}

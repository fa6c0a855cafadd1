/**
 * The k nearest neighbours of one query by brute force in plain JS, in float64: the
 * reference the lazykernel answers are checked against.
 */

/** Squared distances from `query` (2 numbers) to every row of `points` (n × 2). */
export function sqdistsTo(points, query) {
  const n = points.length / 2;
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = (points[2 * j] - query[0]) ** 2 + (points[2 * j + 1] - query[1]) ** 2;
  return d;
}

/** The indices of the k smallest of `d`, ascending, the lower index first on a tie (as ArgKMin). */
export function kSmallest(d, k) {
  return Array.from(d, (_, j) => j)
    .sort((a, b) => d[a] - d[b] || a - b)
    .slice(0, k);
}

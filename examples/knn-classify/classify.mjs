/**
 * k-nearest-neighbour classification of three interleaved spirals: one ArgKMin over the
 * training set gives every test point its k neighbours, a majority vote its class. A few
 * test rows are checked against a brute force in plain JS; exit 1 if they disagree.
 *
 *   node examples/knn-classify/classify.mjs [--small]
 */
import { Vi, Vj } from 'lazykernel';
import { kSmallest, sqdistsTo } from './brute-force.mjs';
import { split, spirals } from './data.mjs';
import { vote } from './vote.mjs';

const small = process.argv.includes('--small');
const N = small ? 20_000 : 200_000;
const CLASSES = 3;
const K = 15;
const CHECKED_ROWS = 20;
// Float32 squared distances are within ~3e-7 (relative) of float64 ones: the neighbours
// found may swap with a brute-force neighbour only when their distances are that close.
const DISTANCE_TOLERANCE = 1e-6;

const data = spirals({ n: N, classes: CLASSES, noise: 0.06, seed: 3 });
const { train, test } = split(data, 0.9, 4);
const m = test.labels.length;
console.log(`${CLASSES} spirals: ${train.labels.length} training points, ${m} test points, k = ${K}`);

const started = performance.now();
const neighbours = await Vi(test.points, 2).sqdist(Vj(train.points, 2)).argkmin(K, 1); // Int32Array, m × K
const seconds = (performance.now() - started) / 1000;
const labelsOf = (row) => Array.from(neighbours.data.subarray(row * K, (row + 1) * K), (j) => train.labels[j]);

let correct = 0;
for (let i = 0; i < m; i++) if (vote(labelsOf(i), CLASSES) === test.labels[i]) correct++;
console.log(`ArgKMin over ${m} x ${train.labels.length} pairs: ${seconds.toFixed(2)} s`);
console.log(`test accuracy: ${((100 * correct) / m).toFixed(2)}% (${correct} / ${m})`);

// The brute force's neighbours and the engine's must be at the same distances (measured
// in float64), and must vote the same.
let worst = 0;
let votesAgree = true;
for (let s = 0; s < CHECKED_ROWS; s++) {
  const row = Math.floor(((s + 0.5) * m) / CHECKED_ROWS);
  const d = sqdistsTo(train.points, [test.points[2 * row], test.points[2 * row + 1]]);
  const reference = kSmallest(d, K);
  const found = Array.from(neighbours.data.subarray(row * K, (row + 1) * K));
  for (let l = 0; l < K; l++) worst = Math.max(worst, Math.abs(d[found[l]] - d[reference[l]]) / Math.max(d[reference[l]], 1e-30));
  if (vote(labelsOf(row), CLASSES) !== vote(reference.map((j) => train.labels[j]), CLASSES)) votesAgree = false;
}
const agree = worst <= DISTANCE_TOLERANCE && votesAgree;
console.log(
  `brute-force check: ${CHECKED_ROWS} test rows, neighbour distances within ${DISTANCE_TOLERANCE} ` +
    `(worst ${worst.toExponential(1)}), votes ${votesAgree ? 'agree' : 'DISAGREE'}: ${agree ? 'OK' : 'FAILED'}`,
);
process.exitCode = agree ? 0 : 1;

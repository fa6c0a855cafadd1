/**
 * A Gaussian kernel density estimate in 2-D: the bandwidth h chosen by the log-likelihood
 * of held-out points, the log-density evaluated on a grid and drawn as a heat map (SVG
 * and PNG). A few grid values are checked against a brute force in plain JS; exit 1 if
 * one is off by more than the tolerance.
 *
 *   node examples/density/density.mjs [--small] [--out DIR]   (default DIR: examples/density/output)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logDensityBruteForce } from './brute-force.mjs';
import { grid, ringAndBlob } from './data.mjs';
import { logDensity } from './kde.mjs';
import { writeHeatMap } from './plot.mjs';

const small = process.argv.includes('--small');
const outAt = process.argv.indexOf('--out');
const outDir = outAt >= 0 ? process.argv[outAt + 1] : path.join(path.dirname(fileURLToPath(import.meta.url)), 'output');
const N = small ? 5_000 : 50_000;
const HELD_OUT = small ? 1_000 : 5_000;
const GRID = small ? 48 : 120;
const BANDWIDTHS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32];
const CHECKED_CELLS = 8;
// The engine rounds each exponent −‖x − y‖²/(2h²) to float32 (relative error a few
// 1e-8), so a log-density of size |v| may move by about 1e-7·|v|; 1e-5·(1 + |v|) leaves
// a margin of 100 and still catches any wrong term, shift or normaliser.
const tolerance = (v) => 1e-5 * (1 + Math.abs(v));

const all = ringAndBlob(N + HELD_OUT, 5);
const samples = all.subarray(0, 2 * N);
const heldOut = all.subarray(2 * N);
console.log(`Gaussian KDE of a ring and a blob: ${N} samples, ${HELD_OUT} held out, ${GRID} x ${GRID} grid`);

// The mean log-density of points the estimate has not seen: too small an h spikes on the
// samples, too large blurs the ring; the best h is in between.
let best;
for (const h of BANDWIDTHS) {
  const values = await logDensity(heldOut, samples, h);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  console.log(`  h = ${h.toFixed(2)}: held-out log-likelihood ${mean.toFixed(4)} per point`);
  if (best === undefined || mean > best.mean) best = { h, mean };
}
console.log(`best bandwidth: h = ${best.h}`);

const { points: centres, cell } = grid(GRID, -2, 2);
const started = performance.now();
const onGrid = await logDensity(centres, samples, best.h);
console.log(`log-density on ${GRID * GRID} grid points: ${((performance.now() - started) / 1000).toFixed(2)} s`);

let worst = 0;
let failed = 0;
for (let s = 0; s < CHECKED_CELLS; s++) {
  // Along the diagonal: the corners (far from every sample), the ring, the blob.
  const i = Math.round((s * (GRID * GRID - 1)) / (CHECKED_CELLS - 1));
  const reference = logDensityBruteForce([centres[2 * i], centres[2 * i + 1]], samples, best.h);
  const diff = Math.abs(onGrid[i] - reference);
  worst = Math.max(worst, diff);
  if (!(diff <= tolerance(reference))) failed++;
}
console.log(
  `brute-force check: ${CHECKED_CELLS} grid values within 1e-5·(1 + |log p|) of float64 log-sum-exp ` +
    `(worst |diff| ${worst.toExponential(1)}): ${failed === 0 ? 'OK' : `FAILED (${failed} off)`}`,
);

const files = await writeHeatMap(outDir, 'density', {
  centres, cell, logDensity: onGrid,
  title: `Gaussian KDE, h = ${best.h}`,
  subtitle: [`${N} samples of a ring and a blob; h chosen by held-out log-likelihood`],
});
console.log(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
process.exitCode = failed === 0 ? 0 : 1;

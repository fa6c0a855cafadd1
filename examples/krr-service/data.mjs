/**
 * The service's training data, reproducible from a seed: the server fits on it, and the
 * tests regenerate it to check /knn against a brute force on the same points.
 */

import { mulberry32, normal } from '../random.mjs';

/** The function the service learns, without noise. */
export function truth(x0, x1, x2) {
  return Math.sin(4 * x0) + Math.cos(3 * x1) + x2;
}

/**
 * n points uniform in [0,1]³ (row-major Float32Array: float32 is what the solve iterates
 * in) and their noisy targets y = truth(x) + noise·N(0,1).
 */
export function makeData({ n, seed, noise }) {
  const uniform = mulberry32(seed);
  const x = new Float32Array(3 * n);
  for (let k = 0; k < x.length; k++) x[k] = uniform();
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = truth(x[3 * i], x[3 * i + 1], x[3 * i + 2]) + noise * normal(uniform);
  return { x, y };
}

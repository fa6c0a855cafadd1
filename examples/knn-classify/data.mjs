/**
 * Three interleaved spirals in the plane, one per class, reproducible from a seed: a
 * data set whose classes no straight line separates, where nearest neighbours shine.
 */

import { mulberry32, normal } from '../random.mjs';

/**
 * n points (row-major Float32Array, n × 2) with labels 0..classes-1 (Int32Array). Class c
 * winds 1.5 turns out from the centre, rotated by c/classes of a turn; `noise` is the
 * standard deviation of the Gaussian blur around the arm.
 */
export function spirals({ n, classes, noise, seed }) {
  const uniform = mulberry32(seed);
  const points = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(uniform() * classes);
    const t = Math.sqrt(uniform()); // uniform along the arm's area, not its length
    const angle = 3 * Math.PI * t + (2 * Math.PI * c) / classes;
    points[2 * i] = t * Math.cos(angle) + noise * normal(uniform);
    points[2 * i + 1] = t * Math.sin(angle) + noise * normal(uniform);
    labels[i] = c;
  }
  return { points, labels };
}

/** The first `trainFraction` of a seeded shuffle for training, the rest for testing. */
export function split({ points, labels }, trainFraction, seed) {
  const uniform = mulberry32(seed);
  const order = Array.from(labels, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const take = (rows) => ({
    points: Float32Array.from(rows.flatMap((i) => [points[2 * i], points[2 * i + 1]])),
    labels: Int32Array.from(rows, (i) => labels[i]),
  });
  const cut = Math.round(trainFraction * order.length);
  return { train: take(order.slice(0, cut)), test: take(order.slice(cut)) };
}

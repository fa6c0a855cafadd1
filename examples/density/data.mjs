/**
 * Samples of a 2-D density with some shape to it, reproducible from a seed: a ring of
 * radius 1.2 (60% of the mass) around a round blob at the centre (40%).
 */

import { mulberry32, normal } from '../random.mjs';

/** n points, row-major n × 2 Float32Array. */
export function ringAndBlob(n, seed) {
  const uniform = mulberry32(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    if (uniform() < 0.6) {
      const angle = 2 * Math.PI * uniform();
      const r = 1.2 + 0.1 * normal(uniform);
      out[2 * i] = r * Math.cos(angle);
      out[2 * i + 1] = r * Math.sin(angle);
    } else {
      out[2 * i] = 0.3 * normal(uniform);
      out[2 * i + 1] = 0.3 * normal(uniform);
    }
  }
  return out;
}

/** The centres of a size × size grid over [lo, hi]², row-major n × 2, and the cell width. */
export function grid(size, lo, hi) {
  const cell = (hi - lo) / size;
  const out = new Float32Array(2 * size * size);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      out[2 * (r * size + c)] = lo + (c + 0.5) * cell;
      out[2 * (r * size + c) + 1] = lo + (r + 0.5) * cell;
    }
  }
  return { points: out, cell };
}

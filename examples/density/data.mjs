/**
 * Samples of a 2-D density with some shape to it, reproducible from a seed: a ring of
 * radius 1.2 (60% of the mass) around a round blob at the centre (40%).
 */

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller); 1 - u keeps the log finite. */
function normal(uniform) {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

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

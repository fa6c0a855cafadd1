/**
 * The service's training data, reproducible from a seed: the server fits on it, and the
 * tests regenerate it to check /knn against a brute force on the same points.
 */

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). Small and the same on every platform. */
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
export function normal(uniform) {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

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

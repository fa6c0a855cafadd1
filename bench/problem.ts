/**
 * The KernelSolve benchmark's problem (issue 6, after KeOps' benchmark_kernelsolve):
 * N points x uniform in [0,1]^3 and a right-hand side b ~ N(0, 1), float32, from a fixed
 * seed, and (αI + K) a = b with K_ij = exp(-γ‖x_i − x_j‖²).
 */

/** Point dimension D. */
export const DIM = 3;
/** Kernel bandwidth 0.01: γ = 1/0.01². */
export const GAMMA = 1 / 0.01 ** 2;
/** Ridge α of αI + K. */
export const ALPHA = 0.8;
/** Relative residual at which every iterative routine stops (KernelSolve's default). */
export const TOL = 1e-6;
/** The formula and aliases of the reference benchmark, for KernelSolve and KeOps. */
export const FORMULA = 'Exp(-g*SqDist(x,y))*a';
export const ALIASES = [`x = Vi(${DIM})`, `y = Vj(${DIM})`, 'a = Vj(1)', 'g = Pm(1)'];
/** The same per-pair maths; the added Zero(1) inside Exp keeps the fused-kernel recogniser out. */
export const GENERIC_FORMULA = 'Exp(-g*SqDist(x,y)+Zero(1))*a';

/** K_ij = exp(-γ‖x_i − x_j‖²) in float64 from the float32 points (N×3, row-major). */
export function kernelEntry(x: Float32Array, i: number, j: number, gamma: number): number {
  const dx = x[3 * i] - x[3 * j];
  const dy = x[3 * i + 1] - x[3 * j + 1];
  const dz = x[3 * i + 2] - x[3 * j + 2];
  return Math.exp(-gamma * (dx * dx + dy * dy + dz * dz));
}

/** The reference's problem sizes, 10 to 1e6. */
export const SIZES: readonly number[] = [
  ...[1, 2, 3, 4, 5].flatMap((k) => [1, 2, 5].map((m) => m * 10 ** k)),
  1e6,
];

export interface Problem {
  n: number;
  /** N×3, row-major. */
  x: Float32Array;
  /** N×1. */
  b: Float32Array;
  gamma: number;
  alpha: number;
  tol: number;
}

// The same seed for every N, so that a run is reproducible and every routine (Python's
// included) solves exactly the same system at a given N.
const SEED = 0x5eed1234;

/** mulberry32: small, fast and reproducible across platforms; uniform in [0, 1). */
export function uniformSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The problem of size n; the same data at every call. */
export function makeProblem(n: number): Problem {
  const uniform = uniformSource(SEED);
  const x = new Float32Array(n * DIM);
  for (let k = 0; k < x.length; k++) x[k] = uniform();
  const b = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    // Box–Muller; 1 − u keeps the logarithm finite.
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    b[k] = radius * Math.cos(2 * Math.PI * uniform());
  }
  return { n, x, b, gamma: GAMMA, alpha: ALPHA, tol: TOL };
}

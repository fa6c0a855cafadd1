/**
 * A plain conjugate gradient in TypeScript: the Node analogue of the reference's
 * "SciPy + KeOps" column (scipy.sparse.linalg.cg over a LazyTensor). Every iteration
 * crosses into the addon once for K·p; comparing it with KernelSolve shows what running
 * the whole loop natively saves.
 */

export interface CGResult {
  x: Float64Array;
  iterations: number;
  converged: boolean;
}

/**
 * Solves A x = b for a symmetric positive definite A given as `apply(p) = A p`, from
 * x = 0, until ‖r‖ ≤ tol·‖b‖ (KernelSolve's stopping rule) or `maxIter` iterations.
 * Vectors stay in float64, as KernelSolve keeps them.
 */
export async function conjugateGradient(
  apply: (p: Float64Array) => Promise<Float64Array>,
  b: ArrayLike<number>,
  tol: number,
  maxIter: number,
): Promise<CGResult> {
  const n = b.length;
  const x = new Float64Array(n);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  let rr = dot(r, r);
  const stop = tol * tol * rr;
  let iterations = 0;
  while (rr > stop && iterations < maxIter) {
    const Ap = await apply(p);
    const step = rr / dot(p, Ap);
    for (let i = 0; i < n; i++) {
      x[i] += step * p[i];
      r[i] -= step * Ap[i];
    }
    const rrNext = dot(r, r);
    const beta = rrNext / rr;
    for (let i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
    rr = rrNext;
    iterations++;
  }
  return { x, iterations, converged: rr <= stop };
}

function dot(u: Float64Array, v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * v[i];
  return s;
}

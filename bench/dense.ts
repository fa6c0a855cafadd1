/**
 * Dense float64 solves of (αI + K) a = b: the `dense-ml-matrix` baseline (what a Node
 * user would write today) and the reference every routine's answer is checked against.
 * Both build the N×N matrix, so both are bounded by a memory budget.
 */
import * as os from 'os';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { kernelEntry as kernel, Problem } from './problem';
import { MemoryOverflow } from './timing';

/**
 * What the dense routines may allocate: a quarter of the RAM, at most 4 GiB, so that a
 * benchmark never swaps or gets killed on a small machine (the reference catches
 * MemoryError; Node would rather die, so we stop before allocating).
 */
export const MEMORY_BUDGET = Math.min(4 * 2 ** 30, os.totalmem() / 4);

export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Throws MemoryOverflow when `matrices` dense N×N float64 matrices exceed the budget. */
export function checkDenseMemory(n: number, matrices: number): void {
  const bytes = matrices * n * n * 8;
  if (bytes > MEMORY_BUDGET) {
    throw new MemoryOverflow(`${matrices} dense ${n}×${n} float64 matrices need ${formatBytes(bytes)}, over the budget of ${formatBytes(MEMORY_BUDGET)}`);
  }
}

/**
 * The `dense-ml-matrix` routine: αI + K filled entry by entry into an ml-matrix Matrix
 * and solved with its Cholesky decomposition, as the reference's NumPy column does with
 * np.linalg.solve. It holds two N×N matrices: A and its factor L.
 */
export function solveWithMlMatrix(p: Problem): Float64Array {
  const { n, x, gamma, alpha } = p;
  checkDenseMemory(n, 2);
  const A = new Matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const k = kernel(x, i, j, gamma);
      A.set(i, j, k);
      A.set(j, i, k);
    }
    A.set(i, i, alpha + 1);
  }
  const a = new CholeskyDecomposition(A).solve(Matrix.columnVector(p.b));
  return Float64Array.from(a.getColumn(0));
}

/** αI + K, row-major. */
function denseSystem(p: Problem): Float64Array {
  const { n, x, gamma, alpha } = p;
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) A[i * n + j] = A[j * n + i] = kernel(x, i, j, gamma);
    A[i * n + i] = alpha + 1;
  }
  return A;
}

/**
 * The reference answer: a Cholesky solve on flat arrays, written apart from ml-matrix so
 * that the `dense-ml-matrix` column is checked too, and verified by its own residual.
 * Row-major L keeps the inner product over two contiguous rows (≈2 s at N = 2000).
 */
export function referenceSolve(p: Problem): Float64Array {
  const { n } = p;
  checkDenseMemory(n, 2);
  const A = denseSystem(p);
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    for (let k = 0; k <= j; k++) {
      const rowK = k * n;
      let s = A[rowJ + k];
      for (let i = 0; i < k; i++) s -= L[rowK + i] * L[rowJ + i];
      L[rowJ + k] = k === j ? Math.sqrt(s) : s / L[rowK + k];
    }
  }
  const a = Float64Array.from(p.b);
  for (let i = 0; i < n; i++) {
    let s = a[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * a[k];
    a[i] = s / L[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = a[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * a[k];
    a[i] = s / L[i * n + i];
  }
  // αI + K is well conditioned here (α = 0.8), so a correct solve leaves a residual at
  // rounding level; anything larger is a bug in this file, not in a routine.
  let rr = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    let s = -p.b[i];
    for (let j = 0; j < n; j++) s += A[i * n + j] * a[j];
    rr += s * s;
    bb += p.b[i] * p.b[i];
  }
  const residual = Math.sqrt(rr / bb);
  if (!(residual < 1e-10)) throw new Error(`the dense reference solve at N = ${n} has a relative residual of ${residual}`);
  return a;
}

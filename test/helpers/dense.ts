/** Dense float64 references for the solve tests: Gram matrices, Cholesky, residuals. */
import type { Dual } from './reference';

/** K_ij = k(|x_i − x_j|²) for n points of dimension `dim` (default 3), dense, float64. */
export function gram(x: Float64Array, n: number, k: (d2: number) => number, dim = 3): Float64Array {
  const K = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let d2 = 0;
      for (let c = 0; c < dim; c++) {
        const d = x[i * dim + c] - x[j * dim + c];
        d2 += d * d;
      }
      K[i * n + j] = K[j * n + i] = k(d2);
    }
  }
  return K;
}

/** The lower Cholesky factor of αI + K (throws if it is not positive definite). */
export function cholesky(K: Float64Array, n: number, alpha: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = K[j * n + j] + alpha;
    for (let k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 0)) throw new Error(`reference: αI + K is not positive definite (pivot ${j}: ${s})`);
    const d = Math.sqrt(s);
    L[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = K[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / d;
    }
  }
  return L;
}

/** Solves L Lᵀ x = b for each of the dv columns of the row-major n × dv b. */
export function cholSolve(L: Float64Array, n: number, b: ArrayLike<number>, dv: number): Float64Array {
  const x = new Float64Array(n * dv);
  const y = new Float64Array(n);
  for (let c = 0; c < dv; c++) {
    for (let i = 0; i < n; i++) {
      let s = b[i * dv + c];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
      y[i] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k * dv + c];
      x[i * dv + c] = s / L[i * n + i];
    }
  }
  return x;
}

/** The worst column's ‖b − (αx + Kx)‖ / ‖b‖, in float64 with the dense K. */
export function trueResidual(K: Float64Array, n: number, alpha: number, x: ArrayLike<number>, b: ArrayLike<number>, dv: number): number {
  let worst = 0;
  for (let c = 0; c < dv; c++) {
    let rr = 0;
    let bb = 0;
    for (let i = 0; i < n; i++) {
      let kx = 0;
      for (let j = 0; j < n; j++) kx += K[i * n + j] * x[j * dv + c];
      const r = b[i * dv + c] - alpha * x[i * dv + c] - kx;
      rr += r * r;
      bb += b[i * dv + c] * b[i * dv + c];
    }
    worst = Math.max(worst, bb > 0 ? Math.sqrt(rr / bb) : Math.sqrt(rr));
  }
  return worst;
}

/** The worst column's ‖x − ref‖∞ / ‖ref‖∞. */
export function columnError(x: ArrayLike<number>, ref: Float64Array, n: number, dv: number): number {
  let worst = 0;
  for (let c = 0; c < dv; c++) {
    let err = 0;
    let size = 0;
    for (let i = 0; i < n; i++) {
      err = Math.max(err, Math.abs(x[i * dv + c] - ref[i * dv + c]));
      size = Math.max(size, Math.abs(ref[i * dv + c]));
    }
    worst = Math.max(worst, err / size);
  }
  return worst;
}

/** A test problem: points, right-hand sides, the dense K, its factor and the solutions. */
export interface Problem {
  n: number;
  dv: number;
  gamma: number;
  alpha: number;
  x: Dual;
  b: Dual;
  K: Float64Array;
  ref: Float64Array;
}


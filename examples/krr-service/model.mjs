/**
 * The model behind the service: kernel ridge regression with a Gaussian kernel, fitted
 * once by KernelSolve, then queried by kernel sums (/predict) and k-nearest-neighbour
 * searches (/knn) against the training points.
 */
import { Genred, KernelSolve, Vi, Vj } from 'lazykernel';
import { makeData } from './data.mjs';

/** The default problem: a fit that takes seconds on 2 cores (README has the measurements). */
export const FULL = { n: 20000, seed: 1, noise: 0.1, gamma: 10, alpha: 0.1 };
/** A few thousand points, for CI and tests: the fit takes well under a second. */
export const SMALL = { ...FULL, n: 2000 };

// One formula for the solve and for predictions: K_ij a_j with K = exp(-g‖x_i − y_j‖²).
const FORMULA = 'Exp(-g*SqDist(x,y))*a';
const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'];

/** Fits the coefficients a of (αI + K) a = y and returns the fitted model. */
export async function fitModel(params) {
  const { x, y } = makeData(params);
  const started = performance.now();
  const solver = new KernelSolve(FORMULA, ALIASES, 'a', { axis: 1 });
  // 'auto' picks Nyström here but stops its rank at 128 (unexplained trace below α·n),
  // which leaves 54 iterations: 11 s at n = 20 000 on 2 cores. Rank 256 converges in 13,
  // 3.7 s in all.
  const fit = await solver.run([x, x, y, params.gamma], {
    alpha: params.alpha, preconditioner: 'nystrom', rank: 256,
  });
  if (!fit.converged) throw new Error(`the fit did not converge: ${fit.reason}, residual ${fit.residual}`);
  const summary = {
    n: params.n,
    seconds: (performance.now() - started) / 1000,
    iterations: fit.iterations,
    residual: fit.residual,
    preconditioner: fit.preconditioner,
  };
  return new Model(params, x, fit.x.data, summary);
}

export class Model {
  constructor(params, x, coefficients, summary) {
    this.params = params;
    this.n = params.n;
    this.summary = summary;
    // Queries arrive as JSON numbers (float64) and the coefficients come out of the solve
    // in float64; the float32 training points are exact float64 numbers, so holding them
    // as float64 loses nothing, and a call takes one dtype.
    this.points = Float64Array.from(x);
    this.coefficients = coefficients;
    this.kernel = new Genred(FORMULA, ALIASES, { reduction: 'Sum', axis: 1 });
  }

  /** Predictions at `queries` (m × 3, Float64Array): Σ_j K(q, x_j) a_j. */
  async predict(queries, { signal } = {}) {
    const out = await this.kernel.run([queries, this.points, this.coefficients, this.params.gamma], { signal });
    return out.data;
  }

  /** The k nearest training points of each query: indices and squared distances, m × k each. */
  async knn(queries, k, { signal } = {}) {
    const { values, indices } = await Vi(queries, 3).sqdist(Vj(this.points, 3)).kminArgkmin(k, 1, { signal });
    return { sqdists: values.data, indices: indices.data };
  }
}

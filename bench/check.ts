/**
 * The check of every routine's answer against the dense float64 solve, at the sizes where
 * a dense solve is cheap enough (N ≤ 2000). A wrong answer stops the routine and fails
 * the run: a fast wrong solver must never show up on the plot.
 */
import { runDense } from './dense-thread';
import { kernelEntry, Problem } from './problem';
import { WrongAnswer } from './timing';

/** Largest N whose answers are checked. */
export const CHECK_MAX_N = 2000;

/**
 * Worst relative error accepted from a float32 routine: CG stops at a relative residual of
 * 1e-6 and αI + K (α = 0.8) is well conditioned, so a right answer lands near 1e-6.
 */
export const FLOAT32_TOLERANCE = 1e-3;
/** The same for the float64 dense routines, which should agree to rounding. */
export const FLOAT64_TOLERANCE = 1e-8;

/** ‖a − ref‖ / ‖ref‖. */
export function relativeError(a: ArrayLike<number>, ref: Float64Array): number {
  let dd = 0;
  let rr = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = a[i] - ref[i];
    dd += d * d;
    rr += ref[i] * ref[i];
  }
  return Math.sqrt(dd / rr);
}

/** Rows whose residual is recomputed by brute force above CHECK_MAX_N. */
export const SAMPLED_ROWS = 32;
/** The largest sampled relative residual accepted: 100 times the solver's tolerance. */
export const SAMPLED_RESIDUAL_TOLERANCE = 1e-4;

/**
 * √(Σ r_i² / Σ b_i²) over SAMPLED_ROWS evenly spaced rows i, with r = b − (αI + K)a
 * computed in float64 by brute force (O(rows · N)): an estimate of the relative residual
 * ‖r‖/‖b‖ at sizes where no dense solve fits.
 */
export function sampledResidual(p: Problem, answer: ArrayLike<number>): number {
  const { n, x, b, gamma, alpha } = p;
  let rr = 0;
  let bb = 0;
  for (let s = 0; s < SAMPLED_ROWS; s++) {
    const i = Math.floor(((s + 0.5) * n) / SAMPLED_ROWS);
    let ka = 0;
    for (let j = 0; j < n; j++) ka += kernelEntry(x, i, j, gamma) * answer[j];
    const r = b[i] - alpha * answer[i] - ka;
    rr += r * r;
    bb += b[i] * b[i];
  }
  return Math.sqrt(rr / bb);
}

/** The reference answers, each computed once per N and shared by every routine. */
export class AnswerCheck {
  private readonly references = new Map<number, Promise<Float64Array>>();
  /** The last sampled residual per N (above CHECK_MAX_N), for the progress log. */
  readonly residuals = new Map<number, number>();

  /**
   * The relative error of `answer`, or undefined above CHECK_MAX_N, where the sampled
   * residual is checked instead (and kept in `residuals`); throws WrongAnswer when either
   * is past its tolerance (or the answer is not even N finite numbers).
   */
  async check(p: Problem, answer: ArrayLike<number>, tolerance: number): Promise<number | undefined> {
    if (answer.length !== p.n) throw new WrongAnswer(`the answer has ${answer.length} values, not N = ${p.n}`);
    if (p.n > CHECK_MAX_N) {
      const residual = sampledResidual(p, answer);
      if (!(residual <= SAMPLED_RESIDUAL_TOLERANCE)) {
        throw new WrongAnswer(`sampled relative residual ${residual.toExponential(2)} at N = ${p.n}, over ${SAMPLED_RESIDUAL_TOLERANCE}`);
      }
      this.residuals.set(p.n, residual);
      return undefined;
    }
    let reference = this.references.get(p.n);
    if (reference === undefined) {
      reference = runDense('reference', p);
      this.references.set(p.n, reference);
    }
    const error = relativeError(answer, await reference);
    // Written so that NaN fails too.
    if (!(error <= tolerance)) {
      throw new WrongAnswer(`relative error ${error.toExponential(2)} against the dense solve at N = ${p.n}, over ${tolerance}`);
    }
    return error;
  }
}

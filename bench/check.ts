/**
 * The check of every routine's answer against the dense float64 solve, at the sizes where
 * a dense solve is cheap enough (N ≤ 2000). A wrong answer stops the routine and fails
 * the run: a fast wrong solver must never show up on the plot.
 */
import { runDense } from './dense-thread';
import type { Problem } from './problem';
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

/** The reference answers, each computed once per N and shared by every routine. */
export class AnswerCheck {
  private readonly references = new Map<number, Promise<Float64Array>>();

  /**
   * The relative error of `answer`, or undefined above CHECK_MAX_N; throws WrongAnswer
   * when it is past `tolerance` (or not even N finite numbers).
   */
  async check(p: Problem, answer: ArrayLike<number>, tolerance: number): Promise<number | undefined> {
    if (answer.length !== p.n) throw new WrongAnswer(`the answer has ${answer.length} values, not N = ${p.n}`);
    if (p.n > CHECK_MAX_N) return undefined;
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

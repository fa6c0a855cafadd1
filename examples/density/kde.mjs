/**
 * The log-density of a Gaussian kernel density estimate in 2-D, with one LogSumExp
 * reduction per call:
 *   log p(x) = log Σ_j exp(−‖x − y_j‖² / (2h²)) − log N − log(2πh²).
 * The log-sum-exp shifts by each row's maximum, so far from the data (where every
 * exp underflows) the log-density stays finite.
 */
import { Genred } from 'lazykernel';

// g = 1/(2h²) is a parameter: one lowered program serves every bandwidth.
const logSumExp = new Genred('-g*SqDist(x,y)', ['x = Vi(2)', 'y = Vj(2)', 'g = Pm(1)'], { reduction: 'LogSumExp', axis: 1 });

/** The KDE's log-density at each row of `at` (m × 2), from `samples` (N × 2), bandwidth h. */
export async function logDensity(at, samples, h) {
  const n = samples.length / 2;
  const { data } = await logSumExp.run([at, samples, 1 / (2 * h * h)]);
  const shift = Math.log(n) + Math.log(2 * Math.PI * h * h);
  return Float64Array.from(data, (v) => v - shift);
}

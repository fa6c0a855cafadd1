/**
 * The KDE's log-density at one point in plain JS and float64, shifted by the largest
 * exponent as kde.mjs's LogSumExp is: the reference the lazykernel values are checked
 * against.
 */
export function logDensityBruteForce(x, samples, h) {
  const n = samples.length / 2;
  const f = new Float64Array(n);
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    f[j] = -((x[0] - samples[2 * j]) ** 2 + (x[1] - samples[2 * j + 1]) ** 2) / (2 * h * h);
    if (f[j] > max) max = f[j];
  }
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(f[j] - max);
  return max + Math.log(sum) - Math.log(n) - Math.log(2 * Math.PI * h * h);
}

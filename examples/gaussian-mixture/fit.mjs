/**
 * Fits a mixture of K isotropic Gaussians in 2-D to N points by gradient ascent on the
 * mean log-likelihood, whose per-point term is a LogSumExp over the components:
 *
 *   ℓ_i = log Σ_k exp(w_k − |x_i − μ_k|² / (2 σ_k²) − 2 log σ_k) − log 2π
 *
 * with log-weights w normalised (w_k − log Σ exp w). Genred.vjp gives the gradient of
 * mean_i ℓ_i with respect to μ, log σ and w: one reduction over the points per input.
 *
 *   node examples/gaussian-mixture/fit.mjs [--small]
 */
import { Genred } from 'lazykernel';
import { mulberry32, normal } from '../random.mjs';

const small = process.argv.includes('--small');
const [n, steps] = small ? [3000, 150] : [200_000, 150];

const uniform = mulberry32(11);
const gauss = () => normal(uniform);

// The truth: three clusters with their own spreads and shares.
const TRUTH = [
  { mean: [-2, 0], sigma: 0.5, share: 0.5 },
  { mean: [2, 1], sigma: 0.8, share: 0.3 },
  { mean: [0, 3], sigma: 0.3, share: 0.2 },
];
const x = new Float64Array(2 * n);
for (let i = 0; i < n; i++) {
  let u = uniform();
  const c = TRUTH.find((t) => (u -= t.share) < 0) ?? TRUTH[TRUTH.length - 1];
  x[2 * i] = c.mean[0] + c.sigma * gauss();
  x[2 * i + 1] = c.mean[1] + c.sigma * gauss();
}

// ℓ_i without −log 2π; s = log σ per component, w the normalised log-weights.
const F = 'w - SqDist(x,m)*Exp(-2*s)/2 - 2*s';
const lse = new Genred(F, ['x = Vi(2)', 'm = Vj(2)', 's = Vj(1)', 'w = Vj(1)'], { reduction: 'LogSumExp', axis: 1 });

// Start: means spread on a line, unit spreads, equal weights.
const K = TRUTH.length;
const m = Float64Array.from({ length: 2 * K }, (_, k) => (k % 2 === 0 ? -3 + 3 * (k / 2) : 1));
const s = new Float64Array(K);
const w = new Float64Array(K);
const normalised = () => {
  const top = Math.max(...w);
  const log = top + Math.log(w.reduce((acc, v) => acc + Math.exp(v - top), 0));
  return w.map((v) => v - log);
};
const ones = new Float64Array(n).fill(1 / n);
const rate = 0.5;
let first;
let last;
for (let step = 0; step <= steps; step++) {
  const wn = normalised();
  const args = [x, m, s, wn];
  const ell = (await lse.run(args)).data;
  const mean = ell.reduce((a, v) => a + v, 0) / n - Math.log(2 * Math.PI);
  first ??= mean;
  last = mean;
  if (step % (steps / 10) === 0) console.log(`step ${String(step).padStart(3)}: mean log-likelihood ${mean.toFixed(5)}`);
  const grad = await lse.vjp(args, ones, ['m', 's', 'w']);
  // Ascent; the normalisation's Jacobian maps ∂/∂w_norm to ∂/∂w (it removes the mean shift).
  const share = wn.map(Math.exp);
  const gw = grad.w.data.reduce((a, v) => a + v, 0);
  for (let k = 0; k < K; k++) {
    w[k] += rate * (grad.w.data[k] - share[k] * gw);
    s[k] += 0.25 * rate * grad.s.data[k];
    m[2 * k] += rate * grad.m.data[2 * k] * Math.exp(2 * s[k]);
    m[2 * k + 1] += rate * grad.m.data[2 * k + 1] * Math.exp(2 * s[k]);
  }
}
const fitted = Array.from({ length: K }, (_, k) => ({
  mean: [m[2 * k], m[2 * k + 1]].map((v) => Number(v.toFixed(3))), sigma: Number(Math.exp(s[k]).toFixed(3)), share: Number(Math.exp(normalised()[k]).toFixed(3)),
})).sort((a, b) => a.mean[0] - b.mean[0] || a.mean[1] - b.mean[1]);
console.log(`mean log-likelihood: ${first.toFixed(5)} -> ${last.toFixed(5)}`);
for (const c of fitted) console.log(`component: mean (${c.mean.join(', ')}), sigma ${c.sigma}, share ${c.share}`);

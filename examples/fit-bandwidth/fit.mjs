/**
 * Fits the bandwidth g and the ridge α of kernel ridge regression by gradient descent on
 * a validation loss, differentiating through the solve:
 *
 *   a = (αI + K_g)⁻¹ y        (KernelSolve, on the training points)
 *   p = K_g(val, train) a      (a Gaussian sum, on the validation points)
 *   L = mean((p − y_val)²)
 *
 * ∂L/∂p is plain arithmetic; Genred.vjp takes it back to a and g through the sum, and
 * KernelSolve.vjp takes ∂L/∂a back to α and g through the solve (one adjoint solve).
 * The descent runs on log g and log α, so both stay positive.
 *
 *   node examples/fit-bandwidth/fit.mjs [--small]
 */
import { Genred, KernelSolve } from 'lazykernel';
import { mulberry32, normal } from '../random.mjs';

const small = process.argv.includes('--small');
const [nTrain, nVal, steps] = small ? [400, 200, 12] : [4000, 1000, 25];

const uniform = mulberry32(3);
const gauss = () => normal(uniform);
const truth = (x0, x1, x2) => Math.sin(4 * x0) + Math.cos(3 * x1) + x2;
function points(n) {
  const x = Float64Array.from({ length: 3 * n }, uniform);
  const y = Float64Array.from({ length: n }, (_, i) => truth(x[3 * i], x[3 * i + 1], x[3 * i + 2]) + 0.1 * gauss());
  return { x, y };
}
const train = points(nTrain);
const val = points(nVal);

const FORMULA = 'Exp(-g*SqDist(x,y))*a';
const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'];
const solver = new KernelSolve(FORMULA, ALIASES, 'a', { axis: 1 });
const predict = new Genred(FORMULA, ALIASES, { reduction: 'Sum', axis: 1 });

/** The validation loss and its gradient with respect to g and α. */
async function lossAndGradient(g, alpha) {
  const opts = { alpha, tol: 1e-10 };
  const fit = await solver.run([train.x, train.x, train.y, g], opts);
  const args = [val.x, train.x, fit.x.data, g];
  const p = (await predict.run(args)).data;
  const dp = new Float64Array(nVal);
  let loss = 0;
  for (let i = 0; i < nVal; i++) {
    const r = p[i] - val.y[i];
    loss += r * r / nVal;
    dp[i] = 2 * r / nVal;
  }
  const throughSum = await predict.vjp(args, dp, ['a', 'g']);
  const throughSolve = await solver.vjp([train.x, train.x, train.y, g], fit, throughSum.a.data, ['alpha', 'g'], opts);
  return { loss, dg: throughSum.g.data[0] + throughSolve.g.data[0], dalpha: throughSolve.alpha.data[0], iterations: fit.iterations };
}

// Start from a too-wide kernel and a too-large ridge.
let [logG, logAlpha] = [Math.log(2), Math.log(1)];
let first;
let last;
for (let step = 0; step <= steps; step++) {
  const [g, alpha] = [Math.exp(logG), Math.exp(logAlpha)];
  const { loss, dg, dalpha, iterations } = await lossAndGradient(g, alpha);
  first ??= loss;
  last = loss;
  console.log(`step ${String(step).padStart(2)}: validation loss ${loss.toExponential(4)}  g ${g.toFixed(3)}  alpha ${alpha.toExponential(3)}  (${iterations} CG iterations)`);
  // d/d log θ = θ · d/dθ; a normalised step, shrinking, keeps the descent stable while
  // the scales move by orders of magnitude.
  const [sg, sa] = [g * dg, alpha * dalpha];
  const norm = Math.hypot(sg, sa) || 1;
  const rate = 0.5 * 0.9 ** step;
  logG -= rate * sg / norm;
  logAlpha -= rate * sa / norm;
}
console.log(`validation loss: ${first.toExponential(4)} -> ${last.toExponential(4)} (noise variance 1.0e-2)`);

/**
 * The gradient of the Gaussian kernel sum against the sum itself (issue 13's speed check):
 * S_i = Σ_j exp(-g|x_i − y_j|²) b_j and ∂/∂x_i of Σ_i e_i S_i, x = y uniform in [0,1]^3,
 * float32, for a wide kernel (g = 1, nothing to prune) and the reference's narrow one
 * (g = 1e4, pruned). The gradient runs as the fused loop (native/cpu/radial_grad.h);
 * "by hand" is the same gradient written out as a formula, which runs the generic code
 * (what Grad cost before the fused loop). Median of `--reps` runs each, side by side.
 * Then the gradient of a kernel ridge regression's loss through KernelSolve (issue 12's
 * regression problem: N = `--solve-n` points, γ = 100, α = 0.1, float32, tol 1e-3) with
 * respect to γ, its adjoint solve setting a preconditioner up again or reusing the
 * forward solve's (`keepPreconditioner`).
 *   npx ts-node --transpile-only bench/grad.ts [--n 100000] [--reps 5] [--solve-n 20000]
 */
import * as os from 'os';
import { Genred, info, KernelSolve } from '../lib';
import { uniformSource } from './problem';
import { median, option } from './option';

/** Median seconds of `reps` calls. */
async function timed(reps: number, f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < reps; k++) {
    const t = performance.now();
    await f();
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

async function main(): Promise<void> {
  const n = Number(option('n', '100000'));
  const reps = Number(option('reps', '5'));
  const rand = uniformSource(7);
  const x = Float32Array.from({ length: 3 * n }, rand);
  const b = Float32Array.from({ length: n }, rand);
  const e = Float32Array.from({ length: n }, () => rand() - 0.5);
  const aliases = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
  const sum = new Genred('Exp(-g*SqDist(x,y))*b', aliases, { reduction: 'Sum', axis: 1 });
  const grad = new Genred('Grad(Exp(-g*SqDist(x,y))*b, x, e)', [...aliases, 'e = Vi(1)'], { reduction: 'Sum', axis: 1 });
  const byHand = new Genred('e*Exp(-g*SqDist(x,y))*b*(-g)*(IntCst(2)*(x-y))', [...aliases, 'e = Vi(1)'], { reduction: 'Sum', axis: 1 });
  console.log(`lazykernel ${info().version}: ${info().cpu.simd}, ${info().cpu.threads} threads; ${os.cpus()[0]?.model ?? ''}`);
  console.log(`N = ${n}, D = 3, float32, median of ${reps}; gradient program ${grad.compiled.lowered.code.length / 6} instructions, sum ${sum.compiled.lowered.code.length / 6}`);
  console.log('g        sum s     grad s    by hand s vjp s     grad/sum  by hand/sum');
  for (const g of [1, 1e4]) {
    await sum.run([x, x, b, g]);
    const ts = await timed(reps, () => sum.run([x, x, b, g]));
    const tg = await timed(reps, () => grad.run([x, x, b, g, e]));
    const th = await timed(reps, () => byHand.run([x, x, b, g, e]));
    const tv = await timed(reps, () => sum.vjp([x, x, b, g], e, ['x']));
    const cells = [ts, tg, th, tv].map((t) => t.toFixed(3).padStart(7)).join('   ');
    console.log(`${String(g).padEnd(8)} ${cells}   ${(tg / ts).toFixed(2).padStart(6)}    ${(th / ts).toFixed(2).padStart(6)}`);
  }
  await solveGradient(Number(option('solve-n', '20000')), reps);
}

/** Seconds of KernelSolve.run and of its vjp, with and without the forward preconditioner kept. */
async function solveGradient(n: number, reps: number): Promise<void> {
  const rand = uniformSource(11);
  const x = Float32Array.from({ length: 3 * n }, rand);
  const y = Float32Array.from({ length: n }, (_, i) => Math.sin(4 * x[3 * i]) + Math.cos(3 * x[3 * i + 1]) + x[3 * i + 2] + 0.1 * (rand() - 0.5));
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
  const opts = { alpha: 0.1, tol: 1e-3 };
  const args = [x, x, y, 100];
  const xbar = Float64Array.from({ length: n }, () => rand() - 0.5);
  console.log(`\nKernelSolve.vjp, N = ${n}, γ = 100, α = 0.1, float32, tol 1e-3, median of ${reps}`);
  console.log('keep    run s    vjp s    preconditioner');
  for (const keep of [false, true]) {
    const runs: number[] = [];
    const vjps: number[] = [];
    let kind = '';
    for (let k = 0; k < reps; k++) {
      let t = performance.now();
      const r = await solver.run(args, { ...opts, keepPreconditioner: keep });
      runs.push((performance.now() - t) / 1000);
      t = performance.now();
      await solver.vjp(args, r, xbar, ['g'], opts);
      vjps.push((performance.now() - t) / 1000);
      kind = `${r.preconditioner.kind} rank ${r.preconditioner.rank}, setup ${r.preconditioner.setupSeconds.toFixed(2)} s`;
    }
    console.log(`${String(keep).padEnd(7)} ${median(runs).toFixed(2).padStart(6)}   ${median(vjps).toFixed(2).padStart(6)}    ${kind}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

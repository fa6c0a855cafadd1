/**
 * The gradient of the Gaussian kernel sum against the sum itself (issue 13's speed check):
 * S_i = Σ_j exp(-g|x_i − y_j|²) b_j and ∂/∂x_i of Σ_i e_i S_i, x = y uniform in [0,1]^3,
 * float32, for a wide kernel (g = 1, nothing to prune) and the reference's narrow one
 * (g = 1e4, pruned). Median of `--reps` runs each, side by side.
 *   npx ts-node --transpile-only bench/grad.ts [--n 100000] [--reps 5]
 */
import * as os from 'os';
import { Genred, info } from '../lib';
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
  console.log(`lazykernel ${info().version}: ${info().cpu.simd}, ${info().cpu.threads} threads; ${os.cpus()[0]?.model ?? ''}`);
  console.log(`N = ${n}, D = 3, float32, median of ${reps}; gradient program ${grad.compiled.lowered.code.length / 6} instructions, sum ${sum.compiled.lowered.code.length / 6}`);
  console.log('g        sum s     grad s    vjp s     grad/sum');
  for (const g of [1, 1e4]) {
    await sum.run([x, x, b, g]);
    const ts = await timed(reps, () => sum.run([x, x, b, g]));
    const tg = await timed(reps, () => grad.run([x, x, b, g, e]));
    const tv = await timed(reps, () => sum.vjp([x, x, b, g], e, ['x']));
    console.log(`${String(g).padEnd(8)} ${ts.toFixed(3).padStart(7)}   ${tg.toFixed(3).padStart(7)}   ${tv.toFixed(3).padStart(7)}   ${(tg / ts).toFixed(2).padStart(6)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * How soon an aborted job settles: each case starts a long job, calls abort() after
 * `--after` ms, and prints the milliseconds from abort() to the promise's rejection
 * (issue 19's check: within 100 ms for any running job).
 *
 *   npx ts-node --transpile-only bench/abort.ts [--after 200] [--reps 3]
 */
import { Genred, KernelSolve, LazyKernelError } from '../lib/index';
import { option } from './option';

const after = Number(option('after', '200'));
const reps = Number(option('reps', '3'));

function uniform(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

interface Case { name: string; start: (signal: AbortSignal) => Promise<unknown> }

const few = uniform(3, 1);
const many = uniform(3 * 3_000_000, 2);
const ones = new Float32Array(3_000_000).fill(1);
const heavy = new Genred(`${'Sin('.repeat(40)}SqDist(x,y)${')'.repeat(40)}*b`, ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)'], { reduction: 'Sum', axis: 1 });
const kmin = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'ArgKMin', axis: 1, k: 3_000_000 });
const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
const mid = uniform(3 * 200_000, 3);
const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });

const cases: Case[] = [
  { name: '1 row x 3e6, 40 nested Sin (generic)', start: (signal) => heavy.run([few, many, ones], { signal }) },
  { name: '1 row ArgKMin k = 3e6', start: (signal) => kmin.run([few, many], { signal }) },
  { name: '3e6 x 3e6 Gaussian, pruned (clustering first)', start: (signal) => gauss.run([many, many, ones, 1e4], { signal, prune: true }) },
  { name: '2e5 x 2e5 Gaussian, every pair', start: (signal) => gauss.run([mid, mid, ones.subarray(0, 200_000), 1], { signal, prune: false }) },
  { name: 'KernelSolve 2e5, gamma = 1 (every pair)', start: (signal) => solver.run([mid, mid, ones.subarray(0, 200_000), 1], { alpha: 0.8, signal, prune: false }) },
];

async function main(): Promise<void> {
  console.log(`abort() ${after} ms after the start; milliseconds from abort() to the rejection (${reps} runs)`);
  for (const c of cases) {
    const lat: string[] = [];
    for (let r = 0; r < reps; r++) {
      const ac = new AbortController();
      const p = c.start(ac.signal);
      await new Promise((res) => setTimeout(res, after));
      const t0 = performance.now();
      ac.abort();
      try {
        await p;
        lat.push('finished first');
      } catch (e) {
        const ok = e instanceof LazyKernelError && e.name === 'AbortError';
        lat.push(ok ? (performance.now() - t0).toFixed(1) : `error: ${(e as Error).message}`);
      }
    }
    console.log(`${c.name.padEnd(48)} ${lat.join('  ')}`);
  }
}
void main();

/**
 * Block-sparse pruning against every pair (issue 8's matvec target): x uniform in [0,1]^3,
 * float32, γ = 1/0.01², side by side in one run, for the Gaussian matvec
 * Σ_j exp(-γ|x_i - x_j|²)·b_j and the Gaussian softmax-weighted sum
 * Σ_j softmax_j(-γ|x_i - x_j|²)·v_j, and for the 8 nearest neighbours of every point
 * (ArgKMin of SqDist, pruned exactly). Prints the median seconds of each, the speed-up
 * and the relative L2 difference between the two results (for indices: how many differ).
 *
 *   npx ts-node --transpile-only bench/prune.ts [--sizes 50000,200000] [--reps 3]
 */
import { Genred, info } from '../lib/index';
import { median, option } from './option';

const GAMMA = 1e4;
const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
const CASES = [
  { name: 'gaussian matvec', op: new Genred('Exp(-g*SqDist(x,y))*b', ALIASES, { reduction: 'Sum', axis: 1 }) },
  {
    name: 'gaussian softmax',
    op: new Genred('-g*SqDist(x,y)', ALIASES, { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b' }),
  },
  { name: '8 nearest', op: new Genred('SqDist(x,y)', ALIASES, { reduction: 'ArgKMin', axis: 1, k: 8 }) },
];

const sizes = option('sizes', '50000').split(',').map(Number);
const reps = Number(option('reps', '3'));

/** A seeded LCG: the same points on every run. */
function randomArray(n: number, seed: number, lo: number, hi: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}

type Out = Float32Array | Int32Array;

/** Median seconds of `reps` calls, and the last result. */
function timed(run: () => Out): { seconds: number; out: Out } {
  let out = run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    out = run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { seconds: median(times), out };
}

/** The relative L2 difference of values; for indices, how many differ. */
function difference(a: Out, b: Out): string {
  if (a instanceof Int32Array) return `${a.filter((v, k) => v !== b[k]).length} differ`;
  let num = 0;
  let den = 0;
  for (let k = 0; k < a.length; k++) {
    num += (a[k] - b[k]) ** 2;
    den += b[k] ** 2;
  }
  return Math.sqrt(num / den).toExponential(2);
}

console.log(`threads ${info().cpu.threads}, γ = ${GAMMA}, float32, median of ${reps}`);
console.log('case               N        pruned s   every pair s   speed-up   rel. L2 diff');
for (const n of sizes) {
  const x = randomArray(n * 3, 1, 0, 1);
  const b = randomArray(n, 2, -1, 1);
  for (const { name, op } of CASES) {
    const call = (prune: boolean) => () => op.runSync([x, x, b, GAMMA], { prune }).data as Out;
    const pruned = timed(call(true));
    const full = timed(call(false));
    console.log(
      `${name.padEnd(18)} ${String(n).padEnd(8)} ${pruned.seconds.toFixed(3).padStart(8)}   ` +
        `${full.seconds.toFixed(3).padStart(12)}   ${(full.seconds / pruned.seconds).toFixed(1).padStart(7)}×   ` +
        difference(pruned.out, full.out),
    );
  }
}

/**
 * Dense Gaussian matvec on the CUDA backend: seconds and pairs per second of one product
 * (D = 3, one right-hand side, γ = 1e4 as the KernelSolve reference, which the device
 * computes densely), float32 and float64, the fused Gaussian and the same maths through
 * the generic interpreter. Each product is checked on sampled rows against a float64
 * sum written here, so a number is only printed for a right answer.
 *
 *   npx ts-node --transpile-only bench/gpu.ts [--sizes 10000,100000,1000000] [--reps 3]
 *
 * Exits 1 where backend 'cuda' is unusable (info().cuda.reason says why) or an answer is
 * wrong.
 */
import * as os from 'os';
import { Genred, info } from '../lib/index';
import { median, option } from './option';
import { ALIASES, FORMULA, GENERIC_FORMULA, kernelEntry, makeProblem } from './problem';
const SAMPLED_ROWS = 64;
// Sampled rows sum about 30 terms of size ≤ 1 with |b| ~ 1; float32 products within
// a few units of roundoff per term, float64 far under.
const TOLERANCE = { float32: 1e-4, float64: 1e-10 } as const;

const sizes = option('sizes', '10000,100000,1000000').split(',').map(Number);
const reps = Number(option('reps', '3'));

function sampledError(x: Float32Array, b: Float32Array, g: number, out: ArrayLike<number>): number {
  const n = b.length;
  let worst = 0;
  for (let s = 0; s < SAMPLED_ROWS; s++) {
    const i = Math.floor((s * n) / SAMPLED_ROWS);
    let sum = 0;
    let scale = 0;
    for (let j = 0; j < n; j++) {
      const k = kernelEntry(x, i, j, g);
      sum += k * b[j];
      scale += k * Math.abs(b[j]);
    }
    worst = Math.max(worst, Math.abs(out[i] - sum) / Math.max(scale, 1e-300));
  }
  return worst;
}

function main(): number {
  const { cuda, version } = info();
  console.log(`lazykernel ${version}; host ${os.cpus()[0]?.model.trim()} (${os.cpus().length} cores); CUDA: ${JSON.stringify(cuda)}`);
  // LAZYKERNEL_CUDA=emulated runs the device kernels on the host: a check of this script.
  if (!cuda.available && process.env.LAZYKERNEL_CUDA !== 'emulated') return 1;
  let failures = 0;
  console.log('N\tformula\tdtype\tseconds (median)\tG pairs/s\tsampled rel. error');
  for (const n of sizes) {
    const p = makeProblem(n);
    const x64 = Float64Array.from(p.x);
    const b64 = Float64Array.from(p.b);
    for (const [name, formula] of [['fused', FORMULA], ['generic', GENERIC_FORMULA]] as const) {
      const g = new Genred(formula, ALIASES, { reduction: 'Sum', axis: 1 });
      for (const dtype of ['float32', 'float64'] as const) {
        const args = dtype === 'float32' ? [p.x, p.x, p.b, p.gamma] : [x64, x64, b64, p.gamma];
        const run = (): ArrayLike<number> => (g.runSync(args, { backend: 'cuda' }) as { data: ArrayLike<number> }).data;
        run();
        const times: number[] = [];
        let out: ArrayLike<number> = [];
        for (let r = 0; r < reps; r++) {
          const t0 = process.hrtime.bigint();
          out = run();
          times.push(Number(process.hrtime.bigint() - t0) / 1e9);
        }
        const t = median(times);
        const err = sampledError(p.x, p.b, p.gamma, out);
        const ok = err <= TOLERANCE[dtype];
        if (!ok) failures++;
        console.log(`${n}\t${name}\t${dtype}\t${t.toFixed(4)}\t${((n * n) / t / 1e9).toFixed(1)}\t${err.toExponential(2)}${ok ? '' : ' WRONG'}`);
      }
    }
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = main();

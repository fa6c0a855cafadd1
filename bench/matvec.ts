/**
 * Dense Gaussian matvec throughput (D = 3, float32, one right-hand side, γ = 1 so that
 * nothing could be pruned), side by side in one run with the yardsticks of
 * ../shared/yardsticks/: a hand-written OpenMP loop compiled with -march=native for this
 * CPU, and float32 numpy. lazykernel runs twice: the fused Gaussian fast path, and the
 * same maths spelled so that no fast path recognises it (the generic interpreter).
 *
 *   npx ts-node --transpile-only bench/matvec.ts [--sizes 1000,10000,20000,50000] [--reps 5] [--out DIR]
 *
 * Prints a table (median seconds of `reps` runs, pairs per second, ratios) and writes
 * OUT/benchmark_matvec.csv.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Genred, info } from '../lib/index';
import { median, option } from './option';
import { ALIASES, FORMULA as FUSED, GENERIC_FORMULA as GENERIC } from './problem';
import { buildReference, findNumpy, timeProcess, yardsticks } from './yardstick';

const sizes = option('sizes', '1000,10000,20000,50000').split(',').map(Number);
const reps = Number(option('reps', '5'));
const outDir = path.resolve(option('out', path.join(__dirname, 'output')));

/** Median seconds of `reps` timed calls after one warm-up call. */
function timeIt(run: () => void): number {
  run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(times);
}

interface Row { N: number; routine: string; seconds: number }

function main(): void {
  const engine = info();
  console.log(`lazykernel ${engine.version}: ${engine.cpu.simd}, ${engine.cpu.threads} threads; ${os.cpus()[0]?.model ?? 'unknown CPU'}`);
  const reference = buildReference();
  const numpy = findNumpy();
  if (!reference) console.log(`hand-written loop: skipped (needs g++ and ${path.join(yardsticks, 'gauss_ref.cc')})`);
  if (!numpy) console.log('numpy: skipped (no python3 with numpy; apt-get install python3-numpy)');
  const fused = new Genred(FUSED, ALIASES, { reduction: 'Sum', axis: 1 });
  const generic = new Genred(GENERIC, ALIASES, { reduction: 'Sum', axis: 1 });
  if (fused.compiled.lowered.kernel.length === 0 || generic.compiled.lowered.kernel.length !== 0) {
    throw new Error('the fast-path recogniser no longer sees these formulas as intended');
  }
  const rows: Row[] = [];
  for (const N of sizes) {
    const x = new Float32Array(3 * N);
    const b = new Float32Array(N);
    for (let k = 0; k < x.length; k++) x[k] = Math.random();
    for (let k = 0; k < N; k++) b[k] = Math.random() - 0.5;
    const args = [x, x, b, [1]];
    rows.push({ N, routine: 'lazykernel-fused', seconds: timeIt(() => fused.runSync(args)) });
    rows.push({ N, routine: 'lazykernel-generic', seconds: timeIt(() => generic.runSync(args)) });
    if (reference) rows.push({ N, routine: 'handwritten-native', seconds: timeProcess(reference, [String(N), '1', '2'], reps) });
    if (numpy) rows.push({ N, routine: 'numpy-float32', seconds: timeProcess(numpy, [path.join(yardsticks, 'gauss_numpy.py'), String(N), '1', '2'], reps) });
    for (const r of rows.filter((q) => q.N === N)) {
      console.log(`N=${N} ${r.routine.padEnd(20)} ${r.seconds.toFixed(4)} s  ${(N * N / r.seconds / 1e9).toFixed(3)} G pairs/s`);
    }
  }
  printTable(rows);
  fs.mkdirSync(outDir, { recursive: true });
  const routines = [...new Set(rows.map((r) => r.routine))];
  const csv = [['Npoints', ...routines].join(','),
    ...sizes.map((N) => [N, ...routines.map((name) => rows.find((r) => r.N === N && r.routine === name)?.seconds ?? 'nan')].join(','))];
  fs.writeFileSync(path.join(outDir, 'benchmark_matvec.csv'), `${csv.join('\n')}\n`);
  console.log(`wrote ${path.join(outDir, 'benchmark_matvec.csv')}`);
}

function printTable(rows: Row[]): void {
  const at = (N: number, routine: string): number | undefined => rows.find((r) => r.N === N && r.routine === routine)?.seconds;
  console.log('\n     N   fused s   generic s  native s   numpy s   fused/native  fused vs numpy  generic/fused');
  for (const N of sizes) {
    const f = at(N, 'lazykernel-fused') as number;
    const g = at(N, 'lazykernel-generic') as number;
    const n = at(N, 'handwritten-native');
    const p = at(N, 'numpy-float32');
    const fmt = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(4)).padStart(9);
    const ratio = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(2)}x`).padStart(13);
    // Speed ratios: >1 means lazykernel is faster.
    console.log(`${String(N).padStart(6)} ${fmt(f)}  ${fmt(g)}  ${fmt(n)} ${fmt(p)}  ${ratio(n && n / f)}  ${ratio(p && p / f)}  ${ratio(g / f)}`);
  }
}

main();

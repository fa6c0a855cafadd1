/**
 * The yardsticks of ../shared/yardsticks/, built and timed for the benchmarks: the
 * hand-written OpenMP Gaussian loop compiled with -march=native for this CPU, and numpy.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { median } from './option';

export const yardsticks = path.resolve(__dirname, '..', '..', 'shared', 'yardsticks');

/** Builds the hand-written loop for this CPU, or says why it cannot. */
export function buildReference(): string | null {
  const source = path.join(yardsticks, 'gauss_ref.cc');
  if (!fs.existsSync(source)) return null;
  const exe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lk-yard-')), 'gauss_ref');
  try {
    execFileSync('g++', ['-O3', '-march=native', '-ffast-math', '-fopenmp', source, '-o', exe], { stdio: 'pipe' });
    return exe;
  } catch {
    return null;
  }
}

/** A Python that imports numpy (Debian's python3-numpy first), or null. */
export function findNumpy(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

/** Seconds per matvec reported by a yardstick process ("time=0.123s"); median over `reps` processes. */
export function timeProcess(cmd: string, args: string[], reps: number): number {
  const env = { ...process.env };
  // Set on some machines for old OpenBLAS builds; they slow a current numpy down.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const out = execFileSync(cmd, args, { encoding: 'utf8', env });
    const m = /time=([0-9.e+-]+)s/.exec(out);
    if (!m) throw new Error(`unexpected yardstick output: ${out}`);
    times.push(Number(m[1]));
  }
  return median(times);
}

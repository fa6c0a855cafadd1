/**
 * The AVX-512 build's Gaussian plan loops use their own exponential
 * (native/cpu/exp2_avx512.h: vrndscale and vscalef in place of the scalar form's
 * integer tricks) and promise exp2Neg's values bit for bit (native/maths/exp.h), so that
 * every instruction-set build computes the same kernel values. test/native/
 * exp2_avx512_check.cc checks that over every float32 argument and 12 million float64
 * ones (the range and past it, the flush and overflow edges, random bit patterns, the
 * special values); NaN must stay NaN. It is compiled here with the addon's floating-point
 * flags and run; it needs g++ and a CPU with AVX-512 (skipped elsewhere, and said so).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');
const hasAvx512 =
  process.platform === 'linux' && process.arch === 'x64' && /\bavx512f\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));

(hasAvx512 ? describe : describe.skip)('the AVX-512 exponential equals exp2Neg bit for bit', () => {
  test('every float32 and 12 million float64 arguments', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-exp2-'));
    try {
      const binary = path.join(dir, 'check');
      execFileSync('g++', [
        '-std=c++17', '-O2', '-fopenmp', '-ffp-contract=off', '-fno-math-errno', '-fno-trapping-math',
        '-mavx512f', '-mavx512dq', '-mavx512vl', '-mavx512bw', '-mfma', '-DLK_ISA_NS=avx512',
        `-I${path.join(root, 'native')}`, path.join(root, 'native/maths/exp.cc'),
        path.join(root, 'test/native/exp2_avx512_check.cc'), '-o', binary,
      ]);
      let output: string;
      try {
        output = execFileSync(binary, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(Math.min(os.cpus().length, 4)) } });
      } catch (e) {
        output = String((e as { stdout?: string }).stdout ?? e);
      }
      expect(output.trim().split('\n').slice(-9)).toEqual(['4305217312 checked, 0 mismatches']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

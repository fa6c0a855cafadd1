/**
 * Realistic solves (issue 12): each preconditioner side by side on
 *   - regression: kernel ridge regression, x uniform in [0,1]³, y = sin(4x₀) + cos(3x₁) + x₂
 *     + 0.1·N(0,1), Gaussian γ = 100, α = 0.1 (N = 2e4, 1e5, 2e5);
 *   - reference: the KernelSolve benchmark's problem (bench/problem.ts: γ = 1e4, α = 0.8;
 *     N = 1e4 … 1e6);
 *   - keops: KeOps' float32 inverse-kernel example, 500 points in [0,1]², two right-hand
 *     sides, σ = 0.1 (γ = 50), α = 0.01, also solved in float64 for the iteration ratio.
 * All float32 data, tol 1e-6. Per run: iterations, float64 refinements, setup and total
 * seconds, the preconditioner's rank, why it stopped, and the relative residual
 * recomputed by float64 brute force on 32 sampled rows (all rows for keops). Then the
 * pruning's work: the pairs per row that each iteration product computed
 * (SolveResult.pairs) against the pairs per row inside the kernel's true support in
 * float32 (K_ij ≥ 2^-24, counted by brute force on 256 sampled rows); every product's
 * pairs per second of the whole solve (setup and vector work included, so a lower bound
 * on the products' own rate); and the total time as a multiple of one dense product by
 * the hand-written yardstick loop at N = 20,000 (../shared/yardsticks/gauss_ref.cc,
 * median of 3, timed in the same run; issue 16's target at 1e6 is 60).
 *
 *   npx ts-node --transpile-only bench/solve.ts [--problems regression,reference,keops]
 *     [--sizes 20000,100000] [--preconditioners none,jacobi,nystrom,auto] [--rank R] [--max-time 600] [--out DIR]
 *     [--yardstick 0] (skips the yardstick)
 *
 * A preconditioner whose solve took more than --max-time seconds is not run at larger N
 * ("Too slow!"). Writes OUT/solve.csv and OUT/solve-<problem>.svg/.png.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { info, KernelSolve } from '../lib/index';
import type { PreconditionerKind, SolveResult } from '../lib/index';
import { writePlots } from './plot';
import { makeProblem, uniformSource as source } from './problem';
import type { Series } from './timing';
import { option } from './option';
import { buildReference, timeProcess } from './yardstick';

interface Problem {
  name: string;
  n: number;
  dim: number;
  dv: number;
  gamma: number;
  alpha: number;
  x: Float32Array;
  b: Float32Array;
}

function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

const PROBLEMS: Record<string, { sizes: number[]; make: (n: number) => Problem }> = {
  regression: {
    sizes: [20000, 100000, 200000],
    make: (n) => {
      const u = source(12);
      const x = Float32Array.from({ length: 3 * n }, u);
      const b = Float32Array.from({ length: n }, (_, i) => Math.sin(4 * x[3 * i]) + Math.cos(3 * x[3 * i + 1]) + x[3 * i + 2] + 0.1 * normal(u));
      return { name: 'regression', n, dim: 3, dv: 1, gamma: 100, alpha: 0.1, x, b };
    },
  },
  reference: {
    sizes: [10000, 20000, 50000, 100000, 200000, 500000, 1000000],
    make: (n) => {
      const p = makeProblem(n);
      return { name: 'reference', n, dim: 3, dv: 1, gamma: p.gamma, alpha: p.alpha, x: p.x, b: p.b };
    },
  },
  keops: {
    sizes: [500],
    make: (n) => {
      const u = source(34);
      return { name: 'keops', n, dim: 2, dv: 2, gamma: 1 / (2 * 0.1 ** 2), alpha: 0.01, x: Float32Array.from({ length: 2 * n }, u), b: Float32Array.from({ length: 2 * n }, () => normal(u)) };
    },
  },
};

const SAMPLED_ROWS = 32;
/** --rank R: the Nyström rank (otherwise chosen from the data). */
const RANK = Number(option('rank', '0'));

/** √(Σ_rows Σ_c r² / Σ_rows Σ_c b²) over sampled rows (all when n ≤ 2000), r = b − (αI + K)a in float64. */
function residual(p: Problem, a: Float64Array): number {
  const rows = p.n <= 2000 ? Array.from({ length: p.n }, (_, i) => i) : Array.from({ length: SAMPLED_ROWS }, (_, s) => Math.floor(((s + 0.5) * p.n) / SAMPLED_ROWS));
  let rr = 0;
  let bb = 0;
  for (const i of rows) {
    const ka = new Float64Array(p.dv);
    for (let j = 0; j < p.n; j++) {
      let d2 = 0;
      for (let c = 0; c < p.dim; c++) {
        const d = p.x[p.dim * i + c] - p.x[p.dim * j + c];
        d2 += d * d;
      }
      const k = Math.exp(-p.gamma * d2);
      for (let c = 0; c < p.dv; c++) ka[c] += k * a[j * p.dv + c];
    }
    for (let c = 0; c < p.dv; c++) {
      const r = p.b[i * p.dv + c] - p.alpha * a[i * p.dv + c] - ka[c];
      rr += r * r;
      bb += p.b[i * p.dv + c] ** 2;
    }
  }
  return Math.sqrt(rr / bb);
}

interface Row {
  problem: string;
  n: number;
  preconditioner: string;
  ran: string;
  rank: number;
  iterations: number;
  refinements: number;
  setup: number;
  total: number;
  reason: string;
  residual: number;
  dtype: string;
  /** Iteration products' pairs per row per product, and the true support's pairs per row. */
  kept: number;
  support: number;
  /** Every product's pairs (iteration and refinement) per second of the whole solve. */
  pairsPerSecond: number;
}

const SUPPORT_ROWS = 256;
/** Mean pairs per row with K_ij ≥ 2^-24 (what float32 resolves against 1), over sampled rows. */
function supportPerRow(p: Problem): number {
  const reach2 = (24 * Math.LN2) / p.gamma;
  const rows = Math.min(p.n, SUPPORT_ROWS);
  let count = 0;
  for (let s = 0; s < rows; s++) {
    const i = Math.floor(((s + 0.5) * p.n) / rows);
    for (let j = 0; j < p.n; j++) {
      let d2 = 0;
      for (let c = 0; c < p.dim; c++) {
        const d = p.x[p.dim * i + c] - p.x[p.dim * j + c];
        d2 += d * d;
      }
      if (d2 <= reach2) count++;
    }
  }
  return count / rows;
}

/** One solve; support: supportPerRow(p), counted once per problem. */
async function solve(p: Problem, pre: PreconditionerKind, dtype: 'float32' | 'float64', support: number): Promise<Row> {
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', [`x = Vi(${p.dim})`, `y = Vj(${p.dim})`, `a = Vj(${p.dv})`, 'g = Pm(1)'], 'a', { axis: 1 });
  const x = dtype === 'float32' ? p.x : Float64Array.from(p.x);
  const b = dtype === 'float32' ? p.b : Float64Array.from(p.b);
  const t0 = performance.now();
  const r: SolveResult = await solver.run([x, x, b, p.gamma], { alpha: p.alpha, tol: 1e-6, preconditioner: pre, maxIter: 2000, ...(RANK > 0 && pre === 'nystrom' ? { rank: RANK } : {}) });
  const total = (performance.now() - t0) / 1000;
  return {
    problem: p.name, n: p.n, preconditioner: pre, ran: r.preconditioner.kind, rank: r.preconditioner.rank,
    iterations: r.iterations, refinements: r.refinements, setup: r.preconditioner.setupSeconds, total, reason: r.reason,
    residual: residual(p, r.x.data), dtype, kept: r.pairs.iteration / Math.max(1, r.iterations * p.n), support,
    pairsPerSecond: (r.pairs.iteration + r.pairs.refinement) / total,
  };
}

function line(r: Row, yard: number): string {
  const pre = r.preconditioner === r.ran ? r.ran : `${r.preconditioner}→${r.ran}`;
  return `${r.problem.padEnd(10)} ${String(r.n).padStart(8)} ${r.dtype.padEnd(7)} ${pre.padEnd(14)} ${String(r.rank).padStart(5)} ` +
    `${String(r.iterations).padStart(5)} ${String(r.refinements).padStart(4)} ${r.setup.toFixed(2).padStart(7)} ${r.total.toFixed(2).padStart(8)} ` +
    `${r.reason.padEnd(9)} ${r.residual.toExponential(1)} ${r.kept.toFixed(0).padStart(9)} ${r.support.toFixed(0).padStart(8)} ` +
    `${(r.pairsPerSecond / 1e9).toFixed(2).padStart(8)} ${(yard > 0 ? (r.total / yard).toFixed(1) : '-').padStart(7)}`;
}

async function main(): Promise<void> {
  const problems = option('problems', 'regression,reference,keops').split(',');
  const pres = option('preconditioners', 'none,jacobi,nystrom,auto').split(',') as PreconditionerKind[];
  const maxTime = Number(option('max-time', '600'));
  const outDir = path.resolve(option('out', path.join(__dirname, 'output')));
  fs.mkdirSync(outDir, { recursive: true });
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`${cpu}, ${info().cpu.threads} threads, ${info().cpu.simd}; float32 data, tol 1e-6; seconds per solve`);
  const yardExe = option('yardstick', '1') === '0' ? null : buildReference();
  const yard = yardExe ? timeProcess(yardExe, ['20000', '1', '5'], 3) : 0;
  console.log(yard > 0 ? `yardstick: one dense product at N = 20000, ${yard.toFixed(3)} s` : 'yardstick: skipped');
  console.log('problem           N dtype   preconditioner rank  iter  ref   setup    total reason    residual  kept/row  support  Gpair/s  yard x');
  const rows: Row[] = [];
  for (const name of problems) {
    const spec = PROBLEMS[name];
    if (!spec) throw new Error(`unknown problem ${name}; known: ${Object.keys(PROBLEMS).join(', ')}`);
    const sizes = option('sizes', '') ? option('sizes', '').split(',').map(Number) : spec.sizes;
    const series: Series[] = pres.map((pre) => ({ name: pre, seconds: [] }));
    for (const n of sizes) {
      const p = spec.make(n);
      const support = supportPerRow(p);
      for (const [k, pre] of pres.entries()) {
        const s = series[k];
        if (s.stop) {
          s.seconds.push(Number.NaN);
          continue;
        }
        const row = await solve(p, pre, 'float32', support);
        rows.push(row);
        console.log(line(row, yard));
        s.seconds.push(row.total);
        if (row.total > maxTime) s.stop = { reason: 'too-slow', n, message: `over ${maxTime} s` };
        if (name === 'keops') {
          const f64 = await solve(p, pre, 'float64', support);
          rows.push(f64);
          console.log(line(f64, yard));
        }
      }
    }
    if (sizes.length > 1) {
      const files = await writePlots(path.join(outDir, `solve-${name}`), sizes, series, {
        title: `KernelSolve, ${name} problem, each preconditioner`,
        subtitle: [`float32 data, tol 1e-6 (float64 residual); ${cpu}, ${info().cpu.threads} threads`],
      });
      console.log(`wrote ${files.join(', ')}`);
    }
  }
  const header = 'problem,n,dtype,preconditioner,ran,rank,iterations,refinements,setup_s,total_s,reason,sampled_residual,' +
    'kept_pairs_per_row,support_pairs_per_row,pairs_per_s,yardstick_s,total_over_yardstick';
  const csv = rows.map((r) => [r.problem, r.n, r.dtype, r.preconditioner, r.ran, r.rank, r.iterations, r.refinements,
    r.setup.toPrecision(4), r.total.toPrecision(4), r.reason, r.residual.toExponential(3), r.kept.toPrecision(4),
    r.support.toPrecision(4), r.pairsPerSecond.toPrecision(4), yard > 0 ? yard.toPrecision(4) : 'nan',
    yard > 0 ? (r.total / yard).toPrecision(4) : 'nan'].join(','));
  fs.writeFileSync(path.join(outDir, 'solve.csv'), `${[header, ...csv].join('\n')}\n`);
  console.log(`wrote ${path.join(outDir, 'solve.csv')}`);
}

void main();

/**
 * The KernelSolve benchmark (issue 6), the Node counterpart of KeOps'
 * benchmark_kernelsolve: solve (αI + K) a = b for a Gaussian kernel on N points, with
 * each routine over increasing N, and write OUT/benchmark_kernelsolve.{csv,svg,png}.
 *
 *   npm run bench -- [--max-n N] [--out DIR] [--routines a,b] [--full]
 *
 * Exits 1 when a routine gives a wrong answer or throws, 2 on a bad command line.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { info } from '../lib';
import { AnswerCheck, CHECK_MAX_N, SAMPLED_ROWS } from './check';
import { Options, parseCli, UsageError, USAGE } from './cli';
import { formatBytes, MEMORY_BUDGET } from './dense';
import { formatCount, formatSeconds } from './format';
import { writePlots } from './plot';
import { ALPHA, GAMMA, makeProblem, Problem, TOL } from './problem';
import { Progress } from './progress';
import { csvText, tableText } from './report';
import { RoutineSet, selectRoutines } from './routines';
import { CPU_SCHEDULE, failed, runSchedule, Series, STOP_LABEL } from './timing';

const BASENAME = 'benchmark_kernelsolve';
const PROBLEM = `(αI + K) a = b, K_ij = exp(−γ‖x_i − x_j‖²), x uniform in [0,1]³, b ~ N(0,1), float32, ` +
  `γ = 1/0.01² = ${GAMMA.toExponential().replace("+", "")}, α = ${ALPHA}, tol ${TOL.toExponential()}`;

function describeMachine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} cores), ${formatBytes(os.totalmem())} RAM, Node ${process.version} ${process.platform}-${process.arch}`;
}

function describeEngine(): string {
  const { version, cpu, cuda } = info();
  return `lazykernel ${version}, ${cpu.threads} threads, SIMD ${cpu.simd}, CUDA ${cuda.available ? `${cuda.devices} device(s)` : 'unavailable'}`;
}

interface Column {
  series: Series;
  /** Worst relative error against the dense solve over the checked N. */
  maxError: number | undefined;
}

/** Times every routine in turn, as the reference does, sharing the data and the reference answers. */
async function runAll(options: Options, set: RoutineSet, progress: Progress): Promise<Column[]> {
  const { sizes } = options;
  const problems = new Map<number, Problem>();
  const problemAt = (n: number): Problem => {
    let p = problems.get(n);
    if (p === undefined) problems.set(n, (p = makeProblem(n)));
    return p;
  };
  const check = new AnswerCheck();
  const width = Math.max(...set.routines.map((r) => r.name.length));
  const columns: Column[] = [];
  for (const routine of set.routines) {
    let maxError: number | undefined;
    let note = '';
    const schedule = routine.schedule === CPU_SCHEDULE ? { ...CPU_SCHEDULE, maxTime: options.maxTime } : routine.schedule;
    const series = await runSchedule(routine.name, sizes, schedule, async (n, loops) => {
      const p = problemAt(n);
      const m = await routine.measure(p, loops);
      const error = await check.check(p, m.answer, routine.tolerance);
      if (error !== undefined) maxError = Math.max(maxError ?? 0, error);
      const residual = check.residuals.get(n);
      note = [
        m.iterations === undefined ? '' : `${m.iterations} iteration${m.iterations === 1 ? '' : 's'}`,
        error === undefined ? '' : `rel. err ${error.toExponential(1)}`,
        error === undefined && residual !== undefined ? `sampled residual ${residual.toExponential(1)} (${SAMPLED_ROWS} rows)` : '',
      ]
        .filter((s) => s !== '').join(', ');
      return m.seconds;
    }, {
      start: (n, loops) => progress.start(routine.name, n, loops),
      done: (n, loops, seconds) => {
        progress.log(`${routine.name.padEnd(width)}  N = ${formatCount(n).padStart(4)}  ${String(loops).padStart(3)} × ${formatSeconds(seconds).padStart(8)}  ${note}`);
        progress.advance();
      },
      stopped: (reason, n, message) => {
        progress.log(`${routine.name.padEnd(width)}  ** ${STOP_LABEL[reason]} (${message})`);
        progress.advance(sizes.length - sizes.indexOf(n));
      },
    });
    columns.push({ series, maxError });
  }
  return columns;
}

async function main(): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    console.log(USAGE);
    return 0;
  }
  const { sizes, outDir } = options;
  const machine = describeMachine();
  const engine = describeEngine();
  console.log(`KernelSolve benchmark: ${PROBLEM}`);
  console.log(`${engine}\n${machine}`);
  console.log(`N from ${formatCount(sizes[0])} to ${formatCount(sizes[sizes.length - 1])}; answers checked against a dense float64 solve up to N = ${CHECK_MAX_N}; ` +
    `dense memory budget ${formatBytes(MEMORY_BUDGET)}`);
  console.log(`schedule: a warm-up run, then the mean of 100, 10 or 1 runs; MAXTIME ${options.maxTime} s, REDTIME ${CPU_SCHEDULE.redTime} s on the CPU`);

  // Python's output may come before the progress line exists, and then goes through it.
  let log = (line: string): void => console.log(line);
  let set: RoutineSet;
  try {
    set = await selectRoutines(options.routines, (line) => log(line));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  for (const note of set.notes) console.log(note);
  console.log('');

  const progress = new Progress(process.stdout, set.routines.length * sizes.length);
  log = (line) => progress.log(line);
  let columns: Column[];
  try {
    columns = await runAll(options, set, progress);
  } finally {
    progress.close();
    await set.close();
  }

  const series = columns.map((c) => c.series);
  fs.mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, BASENAME);
  fs.writeFileSync(`${base}.csv`, csvText(sizes, series));
  const plots = await writePlots(base, sizes, series, {
    title: 'KernelSolve: (αI + K) a = b, Gaussian kernel, D = 3',
    subtitle: [`N points uniform in [0,1]³, b ~ N(0,1), float32, γ = 1/0.01², α = ${ALPHA}, tol ${TOL.toExponential()}`, engine, machine],
  });
  console.log(`\n${tableText(sizes, series, columns.map((c) => c.maxError))}\n`);
  console.log(`wrote ${[`${base}.csv`, ...plots].join(', ')}`);

  const failures = series.filter(failed);
  for (const f of failures) console.error(`FAILED: ${f.name}: ${STOP_LABEL[f.stop!.reason]} at N = ${f.stop!.n}: ${f.stop!.message}`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);

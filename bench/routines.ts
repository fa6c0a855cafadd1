/**
 * The benchmark's columns: what each routine runs, with which schedule and how precise
 * its answer must be. Names are the CSV's column headers.
 */
import { KernelSolve, Pm, Vi, Vj } from '../lib';
import type { RunOptions } from '../lib';
// The same iteration cap as KernelSolve's default, so that both CGs may run as long.
import { defaultMaxIter } from '../lib/solve';
import { checkBackend } from '../lib/run';
import { conjugateGradient } from './cg';
import { FLOAT32_TOLERANCE, FLOAT64_TOLERANCE } from './check';
import { runDense } from './dense-thread';
import { ALIASES, DIM, FORMULA, Problem } from './problem';
import { startPython } from './python';
import { CPU_SCHEDULE, GPU_SCHEDULE, Measurement, Schedule, Solution, timeLoops, WrongAnswer } from './timing';

export interface Routine {
  name: string;
  schedule: Schedule;
  /** Worst relative error against the dense float64 solve that still counts as right. */
  tolerance: number;
  /** One warm-up run and the mean of `loops` runs at this problem. */
  measure(p: Problem, loops: number): Promise<Measurement>;
}

function inProcess(name: string, schedule: Schedule, tolerance: number, solve: (p: Problem) => Promise<Solution> | Solution): Routine {
  return { name, schedule, tolerance, measure: (p, loops) => timeLoops(loops, () => solve(p)) };
}

/**
 * KernelSolve with the reference's formula and aliases. The solver is built at each call,
 * as the reference's Kinv_keops does, so parsing and lowering are part of the time.
 */
async function kernelSolve(p: Problem, opts: RunOptions): Promise<Solution> {
  const solver = new KernelSolve(FORMULA, ALIASES, 'a', { axis: 1 });
  const result = await solver.run([p.x, p.x, p.b, p.gamma], { ...opts, alpha: p.alpha, tol: p.tol });
  if (!result.converged) {
    throw new WrongAnswer(`KernelSolve did not converge: ${result.iterations} iterations, relative residual ${result.residual}`);
  }
  return { answer: result.x.data, iterations: result.iterations };
}

/** Plain CG in TypeScript, one `matvec` per iteration, as SciPy's cg over a KeOps LazyTensor. */
async function cgOverMatvec(p: Problem): Promise<Solution> {
  const { n, alpha } = p;
  const K = Vi(p.x, DIM).sqdist(Vj(p.x, DIM)).mul(Pm(p.gamma)).neg().exp();
  // The vector goes to the engine in the points' dtype: one call takes one float type.
  const v32 = new Float32Array(n);
  const result = await conjugateGradient(async (v) => {
    v32.set(v);
    const Kv = (await K.matvec(v32, { backend: 'cpu' })).data;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = alpha * v[i] + Kv[i];
    return out;
  }, p.b, p.tol, defaultMaxIter(n));
  if (!result.converged) throw new WrongAnswer(`the TS CG did not converge in ${result.iterations} iterations`);
  return { answer: result.x, iterations: result.iterations };
}

/** Routines that exist on any machine, in the order of the columns. */
const BUILT_IN: readonly Routine[] = [
  // On a worker thread: one factorisation holds a thread for seconds (bench/dense-thread.ts).
  { name: 'dense-ml-matrix', schedule: CPU_SCHEDULE, tolerance: FLOAT64_TOLERANCE, measure: (p, loops) => runDense('measureMlMatrix', p, loops) },
  // backend 'cpu', not 'auto': on a machine with a GPU the CPU column must stay the CPU's.
  inProcess('lazykernel-kernelsolve', CPU_SCHEDULE, FLOAT32_TOLERANCE, (p) => kernelSolve(p, { backend: 'cpu' })),
  inProcess('lazykernel-cg-ts', CPU_SCHEDULE, FLOAT32_TOLERANCE, cgOverMatvec),
  inProcess('lazykernel-cuda', GPU_SCHEDULE, FLOAT32_TOLERANCE, (p) => kernelSolve(p, { backend: 'cuda' })),
  inProcess('lazykernel-kernelsolve-noprune', CPU_SCHEDULE, FLOAT32_TOLERANCE, (p) => kernelSolve(p, { backend: 'cpu', prune: false })),
];


/** The columns bench/kernelsolve_ref.py may offer. */
const PYTHON_ROUTINES = ['python-numpy', 'python-keops'];
const ROUTINE_NAMES = [...BUILT_IN.map((r) => r.name), ...PYTHON_ROUTINES];

export interface RoutineSet {
  routines: Routine[];
  /** Lines describing what runs where, for the header. */
  notes: string[];
  close(): Promise<void>;
}

/**
 * The routines of this run: `requested` (the --routines list) or every routine this
 * machine can run. A requested routine that cannot run here is an error that says why.
 */
export async function selectRoutines(requested: readonly string[] | undefined, log: (line: string) => void): Promise<RoutineSet> {
  const unavailable = new Map<string, string>();
  const notes: string[] = [];
  // The CUDA column runs only where the library would accept backend 'cuda': a device,
  // and a CUDA path in the engine (its error says which one is missing).
  try {
    checkBackend({ backend: 'cuda' });
  } catch (e) {
    unavailable.set('lazykernel-cuda', (e as Error).message);
  }

  const python = process.env.LAZYKERNEL_BENCH_PYTHON;
  const wantsPython = requested === undefined || requested.some((r) => PYTHON_ROUTINES.includes(r));
  const py = python && wantsPython ? await startPython(python, log) : undefined;
  if (py) {
    notes.push(`Python columns: ${python} (${py.versions})`);
    for (const [name, why] of Object.entries(py.skipped)) unavailable.set(name, why);
  } else {
    for (const name of PYTHON_ROUTINES) unavailable.set(name, 'set LAZYKERNEL_BENCH_PYTHON to a Python with numpy (and pykeops)');
  }
  const all = [...BUILT_IN, ...(py?.routines ?? [])];
  const available = all.map((r) => r.name).filter((name) => !unavailable.has(name));

  const names = requested ?? available;
  const problems = names.filter((name) => !available.includes(name))
    .map((name) => `${name}: ${unavailable.get(name) ?? `unknown; the routines are ${ROUTINE_NAMES.join(', ')}`}`);
  if (problems.length > 0) {
    await py?.close();
    throw new Error(`cannot run ${problems.join('; ')}`);
  }
  for (const [name, why] of unavailable) if (requested === undefined) notes.push(`${name} left out: ${why}`);
  const routines = names.map((name) => all.find((r) => r.name === name) as Routine);
  return { routines, notes, close: async () => py?.close() };
}

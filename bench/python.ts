/**
 * The optional Python columns: the reference's NumPy dense solve and KeOps' KernelSolve,
 * run by a long-lived child process (bench/kernelsolve_ref.py) on the very same data.
 * Python times its own runs, so neither process start-up nor the pipe is measured; the
 * warm-up/loops schedule still comes from bench/timing.ts.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { FLOAT32_TOLERANCE } from './check';
import { checkDenseMemory } from './dense';
import { ALIASES, FORMULA, Problem } from './problem';
import type { Routine } from './routines';
import { CPU_SCHEDULE, GPU_SCHEDULE, MemoryOverflow, Measurement } from './timing';

/** See the tolerance of python-numpy below. */
const NUMPY_TOLERANCE = 1e-2;

interface Reply {
  seconds?: number;
  error?: 'overflow' | 'error';
  message?: string;
}

interface Hello {
  routines: string[];
  skipped: Record<string, string>;
  versions: Record<string, string>;
}

/** A running Python with the reference's routines. */
export interface PythonRoutines {
  routines: Routine[];
  /** Routines the Python could not offer, with the reason (e.g. no pykeops). */
  skipped: Record<string, string>;
  /** e.g. "python 3.11.7, numpy 2.4.6". */
  versions: string;
  close(): Promise<void>;
}

/**
 * Starts `python` on bench/kernelsolve_ref.py. `log` receives whatever the child prints
 * (KeOps' compilation messages), so that it does not tear the progress line.
 */
export async function startPython(python: string, log: (line: string) => void): Promise<PythonRoutines> {
  const script = path.join(__dirname, 'kernelsolve_ref.py');
  // Replies come on fd 3, apart from stdout and stderr.
  const child = spawn(python, [script, JSON.stringify({ formula: FORMULA, aliases: ALIASES })], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream as NodeJS.ReadableStream }).on('line', (line) => log(`python: ${line}`));
  }
  const replies = lineReader(child);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lazykernel-bench-'));
  const close = async (): Promise<void> => {
    child.stdin?.end();
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('close', resolve)));
    fs.rmSync(dir, { recursive: true, force: true });
  };

  let hello: Hello;
  try {
    hello = JSON.parse(await replies()) as Hello;
  } catch (err) {
    await close();
    throw new Error(`LAZYKERNEL_BENCH_PYTHON=${python} could not start ${script}: ${(err as Error).message}`);
  }

  // Each N's data is written once, for every Python routine.
  const written = new Set<number>();
  const dataFiles = (p: Problem): { x: string; b: string } => {
    const files = { x: path.join(dir, `x${p.n}.f32`), b: path.join(dir, `b${p.n}.f32`) };
    if (!written.has(p.n)) {
      fs.writeFileSync(files.x, p.x);
      fs.writeFileSync(files.b, p.b);
      written.add(p.n);
    }
    return files;
  };

  const routine = (name: string): Routine => ({
    name,
    // KeOps takes the GPU when it has one, as in the reference.
    schedule: name === 'python-keops' && hasNvidiaDevice() ? GPU_SCHEDULE : CPU_SCHEDULE,
    // KeOps is held to the float32 bound. The reference's NumPy column builds K from
    // ‖x‖² + ‖y‖² − 2x·y in float32: the cancellation, times γ = 1e4, leaves ≈1e-3 of
    // relative error in its answer here (measured 5e-4 to 9.5e-4), a property of that
    // reference code rather than a wrong solve, so it gets a looser bound.
    tolerance: name === 'python-numpy' ? NUMPY_TOLERANCE : FLOAT32_TOLERANCE,
    async measure(p: Problem, loops: number): Promise<Measurement> {
      // K (float64) and LAPACK's LU copy of it.
      if (name === 'python-numpy') checkDenseMemory(p.n, 2);
      const answer = path.join(dir, 'answer.f64');
      child.stdin?.write(`${JSON.stringify({ routine: name, ...dataFiles(p), answer, gamma: p.gamma, alpha: p.alpha, tol: p.tol, loops })}\n`);
      const reply = JSON.parse(await replies()) as Reply;
      if (reply.error === 'overflow') throw new MemoryOverflow(`python: ${reply.message}`);
      if (reply.error !== undefined || reply.seconds === undefined) throw new Error(`python: ${reply.message ?? 'no answer'}`);
      const bytes = fs.readFileSync(answer);
      // Copied out: a Buffer's offset need not be 8-byte aligned.
      return { seconds: reply.seconds, answer: new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
    },
  });

  return {
    routines: hello.routines.map(routine),
    skipped: hello.skipped,
    versions: Object.entries(hello.versions).map(([k, v]) => `${k} ${v}`).join(', '),
    close,
  };
}

/** Reads fd 3 line by line; a child that exits rejects the pending read. */
function lineReader(child: ChildProcess): () => Promise<string> {
  const lines: string[] = [];
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  let ended: Error | undefined;
  readline.createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).on('line', (line) => {
    const next = waiting.shift();
    if (next) next.resolve(line);
    else lines.push(line);
  });
  const end = (err: Error): void => {
    ended ??= err;
    for (const w of waiting.splice(0)) w.reject(ended);
  };
  child.once('error', end);
  // 'close', not 'exit': the last replies may still be in the pipe when the process exits.
  child.once('close', (code, signal) => end(new Error(`the Python process exited (${signal ?? `code ${code}`})`)));
  return () => {
    const line = lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (ended) return Promise.reject(ended);
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
}

/** Whether KeOps would pick a GPU; only to choose its schedule. */
function hasNvidiaDevice(): boolean {
  return fs.existsSync('/dev/nvidia0');
}

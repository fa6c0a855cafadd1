import * as fs from 'fs';
import * as path from 'path';
import { AbortError, LazyKernelError, MemoryError, OptionError } from './errors';
import type { NativeResult, Program } from './formula/program';
import type { LaneInfo } from './queue';
import type { FloatArray } from './tensor';

/** The native addon's surface (native/addon.cc). Internal: the public API wraps it. */
export interface Addon {
  info(): {
    cpu: { threads: number; simd: string };
    cuda: { available: boolean; devices: number; plugin: string; reason?: string };
  };
  setNumThreads(n: number): void;
  /** The native queue's lanes (lib/queue.ts). */
  queueInfo(): { foreground: LaneInfo; background: LaneInfo };
  /** A typed array over memory the addon holds, found again by address in calls (lib/dataset.ts). */
  holdArray(dtype: 'float32' | 'float64', length: number): FloatArray;
  /** Frees the clusters kept with a held array. */
  dropHeldClusters(array: FloatArray): void;
  /** How many dimensions a held array keeps clusters for; -1 for an array not held (tests). */
  heldClusterCount(array: FloatArray): number;
  opCodes(): {
    ops: Record<string, number>;
    reductions: Record<string, number>;
    kernels: Record<string, number>;
  };
  /**
   * The flag that stops a job (native/binding/cancel.h): its memory is the addon's, so a
   * job never reads memory the caller let go of. `cancel()` sets it; jobs poll it.
   */
  CancelFlag: new () => CancelFlag;
  /** The classes native errors are made from (every error also carries a `code`). */
  setErrorClasses(classes: Record<string, new (message: string) => Error>): void;
  reduce(program: Program, args: FloatArray[], cancel?: CancelFlag, options?: NativeRunOptions): Promise<NativeResult>;
  reduceSync(program: Program, args: FloatArray[], options?: NativeRunOptions): NativeResult;
  /**
   * Conjugate gradients for (alpha I + K) x = b on the job queue (native/binding/solve.cc).
   * `program` is a Sum computing K·v with v the j-variable in argument slot `slot`; b and
   * x0 are n × dv row-major float64. A set `cancel` flag stops it (rejects with an
   * AbortError); a non-finite residual rejects with an error saying so (ERR_LK_SOLVE).
   */
  solve(
    program: Program, args: FloatArray[], slot: number, b: Float64Array, options: NativeSolveOptions,
    cancel?: CancelFlag, onProgress?: (p: NativeProgress) => void,
  ): Promise<NativeSolveResult>;
  /** The same as {@link Addon.solve}, on the calling thread, without progress or cancel. */
  solveSync(program: Program, args: FloatArray[], slot: number, b: Float64Array, options: NativeSolveOptions): NativeSolveResult;
}

/** A job's cancel flag, made by the addon. */
export interface CancelFlag {
  cancel(): void;
  readonly cancelled: boolean;
}

/** The options native solve reads; every field is checked again there. */
export interface NativeSolveOptions extends NativeRunOptions {
  alpha: number;
  tol: number;
  maxIter: number;
  x0?: Float64Array;
  preconditioner?: 'none' | 'nystrom' | 'jacobi' | 'auto';
  rank?: number;
  landmarks?: 'rpcholesky' | 'uniform';
  seed?: number;
  keepPreconditioner?: boolean;
  reusePreconditioner?: KeptPreconditioner;
}

/** A preconditioner a solve kept (native/binding/solve.cc): opaque, passed back as is. */
export interface KeptPreconditioner {
  readonly __brand: 'KeptPreconditioner';
}

/** A progress report of native solve: a setup step, or an iteration. */
export type NativeProgress =
  | { phase: 'setup'; step: number; value: number }
  | { phase: 'iterate'; iteration: number; residual: number };

/** The run options the engine reads (pruning); checked again there. */
export interface NativeRunOptions {
  prune?: boolean;
  pruneTolerance?: number;
  /** [ranges_i, slices_i, redranges_j] of the engine's reduction over j. */
  ranges?: [Int32Array, Int32Array, Int32Array];
  /**
   * Where it runs: the CPU engine, the CUDA plugin, or the CUDA path's kernels emulated on
   * the host (native/device/emulate.h; tests only).
   */
  device?: 'cpu' | 'cuda' | 'emulated';
  /** A forced launch shape for the device paths: threads per block, chunks of j. */
  block?: number;
  splits?: number;
  /** Where an async job queues (native/binding/convert.h, readSchedule). */
  priority?: number;
  background?: boolean;
}

/** What native solve returns: x in float64 whatever the data's dtype. */
export interface NativeSolveResult {
  x: Float64Array;
  iterations: number;
  refinements: number;
  residual: number;
  residuals: Float64Array;
  converged: boolean;
  reason: 'converged' | 'maxIter' | 'stagnated';
  preconditioner: { kind: 'none' | 'nystrom' | 'jacobi'; rank: number; setupSeconds: number; reused: boolean };
  pairs: { iteration: number; refinement: number };
  keptPreconditioner?: KeptPreconditioner;
}

/** The package root: one level above lib/ (sources under ts-jest) or dist/ (built). */
export const packageRoot = path.resolve(__dirname, '..');

/** Which build of the addon was loaded, and from where. */
export interface LoadedBinary {
  /** The .node file. */
  file: string;
  /**
   * 'prebuilt': shipped in the package (prebuilds/); 'local build': compiled on this
   * machine (build/); 'LAZYKERNEL_ADDON': named by that environment variable.
   */
  kind: 'prebuilt' | 'local build' | 'LAZYKERNEL_ADDON';
}

type NodeGypBuild = ((dir: string) => unknown) & { resolve(dir: string): string };

/**
 * OpenMP's idle threads spin before they sleep: libgomp for 300,000 turns by default.
 * On a busy machine that spinning takes cores from other processes and from this job's
 * own threads that wait to run: with two other busy processes on 2 cores, async reference
 * solves at N = 500 / 5000 / 50000 took 100-120x / 12-20x / 8-13x their time alone; with
 * 10,000 turns 4-18x / 4-5x / 4.5-5x (with the foreground lane at the process's priority
 * too, 1.0-2.4x), and no slower alone (bench/busy.ts). libgomp reads this once, when the
 * addon loads it; a value the user set wins, and so does any OMP_WAIT_POLICY. (LLVM's
 * libomp, in clang builds, has its own KMP_BLOCKTIME: not set.)
 * In a worker thread process.env is the worker's own copy, which native code never
 * sees: loaded first there, lazykernel leaves libgomp's default (docs/services.md).
 */
function defaultWaitPolicy(): void {
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.GOMP_SPINCOUNT = '10000';
  }
}

function load(): { addon: Addon; binary: LoadedBinary } {
  defaultWaitPolicy();
  const platform = `${process.platform}-${process.arch}`;
  // LAZYKERNEL_ADDON names another build of the addon (scripts/sanitize.sh loads the
  // sanitizer build so); whoever sets the environment could LD_PRELOAD anything anyway.
  const override = process.env.LAZYKERNEL_ADDON;
  let file: string | undefined;
  try {
    if (override) {
      file = path.resolve(override);
    } else {
      // node-gyp-build looks in build/Release, build/Debug, then prebuilds/<platform>-<arch>/.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      file = (require('node-gyp-build') as NodeGypBuild).resolve(packageRoot);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(file) as Addon;
    const kind = override ? 'LAZYKERNEL_ADDON' : file.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuilt' : 'local build';
    return { addon: loaded, binary: { file, kind } };
  } catch (err) {
    const message = (err as Error).message;
    const tried = override
      ? `LAZYKERNEL_ADDON=${override}`
      : `${path.join(packageRoot, 'build', 'Release')} and ${path.join(packageRoot, 'prebuilds', platform)}`;
    const found = file === undefined ? `No binary was found (looked in ${tried}).`
      : !fs.existsSync(file) ? `${file} does not exist.` : `Found ${file}, but it failed to load.`;
    const glibc = /GLIBC_[0-9.]+' not found/.test(message)
      ? 'This binary needs a newer glibc than this system has: build from source (below).\n'
      : '';
    throw new Error(
      `lazykernel: could not load its native addon for ${platform} (Node ${process.version}, N-API ${process.versions.napi}).\n` +
        `${found}\nCause: ${message}\n${glibc}` +
        'To build it from source you need a C++17 compiler with OpenMP (g++, or clang with libomp) and Python 3:\n' +
        `  cd ${packageRoot} && npx node-gyp rebuild    (or, in a clone: npm run build:native)\n` +
        'Then `npx lazykernel info` says which binary loads.',
    );
  }
}

const loaded = load();

/**
 * The loaded addon; loading happens once, when lazykernel is first required. From then on
 * its errors are instances of lib/errors.ts' classes.
 */
export const addon: Addon = loaded.addon;
/** The addon's file and how it got there (`npx lazykernel info` prints it). */
export const binary: LoadedBinary = loaded.binary;
addon.setErrorClasses({ LazyKernelError, OptionError, MemoryError, AbortError });

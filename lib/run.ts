import { addon, NativeRunOptions } from './addon';
import { AbortError, fromNative, OptionError } from './errors';
import type { NativeResult, Program } from './formula/program';
import { engineRanges, Ranges } from './ranges';
import type { FloatArray } from './tensor';

/** Options every heavy call takes (API.md). */
export interface RunOptions {
  /**
   * Where the call runs. 'cuda' runs it on device 0 through the CUDA plugin (every pair:
   * no pruning, no explicit ranges yet) and is an OptionError where no device is usable;
   * 'auto' (default) and 'cpu' run on the CPU ('auto' will pick a GPU once the CUDA path
   * has been run on one: README says what has been checked).
   *
   * @example
   * if (info().cuda.available) await gauss.run(args, { backend: 'cuda' });
   */
  backend?: 'auto' | 'cpu' | 'cuda';
  /** Cancels a queued or running job; the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * Block-sparse pruning. It applies to the recognised radial kernels (Gaussian,
   * Laplace, Cauchy, inverse multiquadric, Matérn 3/2 and 5/2, times a j-vector b) in a
   * Sum, matvec and KernelSolve, when the kernel decays (scale > 0). Points are
   * clustered; cluster pairs whose kernel bound is negligible are skipped. For every
   * output row i and column c of b, the terms dropped add up to at most
   * `pruneTolerance · Σ_j |K_ij b_jc|`. A SumSoftMaxWeight with F = -g·SqDist(x,y) or
   * -Sqrt(g·SqDist(x,y)) and values a j-variable V is pruned too, its result moving by
   * at most `pruneTolerance · (Σ_j p_ij |V_jc| + |out_ic|)`, p the softmax weights. Left out (the default), the engine prunes calls
   * of at least 2^24 pairs, where clustering pays for itself (or any call when a
   * pruneTolerance is given); `true` prunes whatever the size; `false` computes every pair.
   *
   * @example
   * await gauss.run(args, { prune: false }); // every pair, as KeOps without ranges
   */
  prune?: boolean;
  /**
   * The tol of {@link RunOptions.prune}'s bound, ≥ 0. Default: the unit roundoff of the
   * data (2^-24 for float32, 2^-53 for float64), below the rounding-error bound of the
   * sum itself, so the default changes nothing float arithmetic would keep. Larger
   * values trade accuracy for speed.
   *
   * @example
   * await gauss.run(args, { pruneTolerance: 1e-4 }); // |change| ≤ 1e-4 · Σ_j |K_ij b_j| per row
   */
  pruneTolerance?: number;
  /**
   * Explicit block-sparse ranges (KeOps' six arrays, see {@link Ranges}; built with
   * gridCluster, sortClusters, clusterRanges, clusterCentroids and fromMatrix). Only the
   * listed blocks are computed; automatic pruning is off for the call.
   *
   * @example
   * const ranges = fromMatrix(rangesX, rangesY, keep);
   * await op.run([xs, ys, bs, g], { ranges });
   */
  ranges?: Ranges;
}

/**
 * The device a call runs on, after checking `backend`: 'cpu' and 'auto' run on the CPU
 * ('auto' stays there until the CUDA path has been run on a GPU; README says what has
 * been), 'cuda' on the CUDA plugin, and is an error where no device is usable.
 */
export function checkBackend(opts: RunOptions): NonNullable<NativeRunOptions['device']> {
  const backend = opts.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
    throw new OptionError(`backend must be 'auto', 'cpu' or 'cuda', not ${String(backend)}`);
  }
  if (backend !== 'cuda') return 'cpu';
  // LAZYKERNEL_CUDA=emulated runs the CUDA path's kernel code on the host, blocks and
  // threads played in turn (native/device/emulate.h): how it is tested without a GPU.
  if (process.env.LAZYKERNEL_CUDA === 'emulated') return 'emulated';
  const cuda = addon.info().cuda;
  if (!cuda.available) throw new OptionError(`backend "cuda" is unavailable: ${cuda.reason}`);
  if (opts.ranges !== undefined) throw new OptionError('backend "cuda" does not take explicit ranges yet; use "cpu"');
  return 'cuda';
}

/** A forced launch shape for the device paths, from LAZYKERNEL_CUDA_BLOCK / _SPLITS (tests, tuning). */
function launchShape(): Pick<NativeRunOptions, 'block' | 'splits'> {
  const read = (name: string): number | undefined => {
    const v = process.env[name];
    return v === undefined || v === '' ? undefined : Number(v);
  };
  return { block: read('LAZYKERNEL_CUDA_BLOCK'), splits: read('LAZYKERNEL_CUDA_SPLITS') };
}

/**
 * The options the engine itself reads: pruning (native/cpu/cluster.h documents what it
 * drops) and the ranges triple for the engine's reduction over j, given the call's axis.
 */
export function engineOptions(opts: RunOptions, axis: 0 | 1): NativeRunOptions {
  // A tolerance asks for pruning; neither leaves the choice to the engine.
  const prune = opts.prune ?? (opts.pruneTolerance !== undefined ? true : undefined);
  const native: NativeRunOptions = { prune, pruneTolerance: opts.pruneTolerance, device: checkBackend(opts), ...launchShape() };
  if (opts.ranges !== undefined) native.ranges = engineRanges(opts.ranges, axis);
  return native;
}

/**
 * Starts a native job with a cancel flag wired to `signal`, and settles as the library
 * does: an AbortError when the job saw the flag set, the library's error class for any
 * other failure. `start` may set the flag itself (lib/solve.ts does, when a progress
 * callback throws).
 *
 * @example
 * const result = await cancellable(opts.signal, (cancel) => addon.reduce(program, args, cancel));
 */
export function cancellable<T>(signal: AbortSignal | undefined, start: (cancel: Int32Array) => Promise<T>): Promise<T> {
  if (signal?.aborted) return Promise.reject(new AbortError());
  // The native job polls this flag between blocks of rows (and a solve between
  // iterations); a SharedArrayBuffer keeps the store visible to the worker thread.
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  let pending: Promise<T>;
  try {
    pending = start(cancel);
  } catch (err) {
    return Promise.reject(fromNative(err));
  }
  // Attached after the call, so a call rejected at once leaves no listener behind; no
  // abort can be dispatched in between (both happen in this synchronous turn).
  const onAbort = (): void => { Atomics.store(cancel, 0, 1); };
  signal?.addEventListener('abort', onAbort, { once: true });
  return pending.then(
    (result) => {
      signal?.removeEventListener('abort', onAbort);
      return result;
    },
    (err: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      throw Atomics.load(cancel, 0) ? new AbortError() : fromNative(err);
    },
  );
}

/**
 * Runs a lowered program on the native job queue, off the event loop.
 * `args` are the arrays of the program's argument slots, all of its dtype.
 */
export function execute(program: Program, args: FloatArray[], opts: RunOptions = {}, axis: 0 | 1 = 1): Promise<NativeResult> {
  checkBackend(opts);
  return cancellable(opts.signal, (cancel) => addon.reduce(program, args, cancel, engineOptions(opts, axis)));
}

/** The same as {@link execute}, on the calling thread; for scripts. */
export function executeSync(program: Program, args: FloatArray[], opts: RunOptions = {}, axis: 0 | 1 = 1): NativeResult {
  checkBackend(opts);
  try {
    return addon.reduceSync(program, args, engineOptions(opts, axis));
  } catch (err) {
    throw fromNative(err);
  }
}

import { addon, CancelFlag, NativeRunOptions } from './addon';
import { AbortError, fromNative, OptionError } from './errors';
import type { Dataset } from './dataset';
import type { NativeResult, Program } from './formula/program';
import { checkQueueRoom } from './queue';
import { engineRanges, Ranges } from './ranges';
import type { FloatArray } from './tensor';

/** Options every heavy call takes. */
export interface RunOptions {
  /**
   * Where the call runs. 'cuda' runs it on device 0 through the CUDA plugin (every pair:
   * no pruning, no explicit ranges yet) and is an OptionError where no device is usable;
   * 'auto' (default) and 'cpu' run on the CPU: choosing the dense device over the pruned
   * CPU path needs a cost model, not built (README says what has run on a GPU).
   *
   * @example
   * if (info().cuda.available) await gauss.run(args, { backend: 'cuda' });
   */
  backend?: 'auto' | 'cpu' | 'cuda';
  /**
   * Cancels a queued or running job; the promise rejects with an AbortError (code
   * ABORT_ERR) within a tile of work. Anything but an AbortSignal is an OptionError. One
   * signal may be shared by any number of calls.
   *
   * @example
   * const ac = new AbortController();
   * setTimeout(() => ac.abort(), 1000);
   * await gauss.run(args, { signal: ac.signal }); // rejects with AbortError after 1 s
   */
  signal?: AbortSignal;
  /**
   * Milliseconds after which the job is cancelled, queued or running, as if by
   * `signal`: the promise rejects with an AbortError whose `cause` is a DOMException
   * named 'TimeoutError'. A number > 0 and at most 2^31 - 1; async calls only (a Sync
   * call cannot be stopped: an OptionError). Works beside `signal`: whichever comes first.
   *
   * @example
   * await gauss.run(args, { timeout: 500 }); // AbortError, cause TimeoutError, after 0.5 s
   */
  timeout?: number;
  /**
   * The job's place in its lane of the queue: higher runs first, in call order within
   * one priority; an integer from -1e9 to 1e9, default 0. A running job is never
   * interrupted. Async calls only (a Sync call does not queue: it runs at once).
   *
   * @example
   * await knn.run(args, { priority: 10 }); // ahead of the batch jobs queued at 0
   */
  priority?: number;
  /**
   * Runs the job in the background lane: one job at a time, beside the foreground's
   * jobs, with half the threads (setNumThreads), so that a long job (a refit, a batch)
   * never holds the short calls queued behind it. On Linux its threads run under
   * SCHED_IDLE: they get the cores only while the foreground leaves them idle (a busy
   * foreground slows it down, not the reverse). Async calls only. Default false.
   *
   * @example
   * const refit = solver.run(args, { alpha: 0.1, background: true }); // requests keep flowing
   */
  background?: boolean;
  /**
   * Block-sparse pruning. It applies to the recognised radial kernels (Gaussian,
   * Laplace, Cauchy, inverse multiquadric, Matérn 3/2 and 5/2, times a j-vector b) in a
   * Sum, matvec and KernelSolve, when the kernel decays (scale > 0). Points are
   * clustered; cluster pairs whose kernel bound is negligible are skipped. For every
   * output row i and column c of b, the terms dropped add up to at most
   * `pruneTolerance · Σ_j |K_ij b_jc|`. A SumSoftMaxWeight with F = -g·SqDist(x,y) or
   * -Sqrt(g·SqDist(x,y)) and values a j-variable V is pruned too, its result moving by
   * at most `pruneTolerance · (Σ_j p_ij |V_jc| + |out_ic|)`, p the softmax weights.
   * Nearest-neighbour searches (`SqDist(x,y)` or `g*SqDist(x,y)`, g > 0, under Min, ArgMin, KMin, ArgKMin
   * and their pairs, k ≤ 64) are pruned exactly: the same values and indices as `false`.
   * Left out (the default), the engine prunes calls
   * where clustering pays for itself: at least 2^24 pairs, about a thousand pairs per
   * point it must cluster (a held {@link Dataset}'s points count as clustered), and for a
   * kernel a reach covering less than half the points' bounding box (a solve prunes
   * from 2^21 pairs: one clustering serves all its products); or any call when a
   * pruneTolerance is given. `true` prunes whatever the size; `false` computes every pair.
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
  const native: NativeRunOptions = {
    prune, pruneTolerance: opts.pruneTolerance, device: checkBackend(opts), priority: opts.priority, background: opts.background, ...launchShape(),
  };
  if (opts.ranges !== undefined) native.ranges = engineRanges(opts.ranges, axis);
  return native;
}

/**
 * Checks that `signal` is an AbortSignal (or undefined): something with a boolean
 * `aborted` and add/removeEventListener, from any realm. Throws OptionError otherwise.
 */
export function checkSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal === undefined) return;
  const s = signal as Partial<AbortSignal> | null;
  if (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' ||
      typeof s.addEventListener !== 'function' || typeof s.removeEventListener !== 'function') {
    throw new OptionError('signal must be an AbortSignal (from an AbortController)');
  }
}

/**
 * The flags of the jobs each signal stops, behind one 'abort' listener per signal: a
 * service that shares one signal among many calls gets no MaxListenersExceededWarning,
 * and the listener goes when the last of them settles.
 */
const watched = new WeakMap<AbortSignal, { flags: Set<CancelFlag>; listener: () => void }>();

function watch(signal: AbortSignal, flag: CancelFlag): () => void {
  let entry = watched.get(signal);
  if (entry === undefined) {
    const flags = new Set<CancelFlag>();
    const listener = (): void => flags.forEach((f) => f.cancel());
    try {
      signal.addEventListener('abort', listener, { once: true });
    } catch (err) {
      throw new OptionError(`signal.addEventListener failed: ${(err as Error)?.message ?? String(err)}`);
    }
    entry = { flags, listener };
    watched.set(signal, entry);
  }
  const { flags, listener } = entry;
  flags.add(flag);
  return () => {
    flags.delete(flag);
    if (flags.size > 0 || watched.get(signal) !== entry) return;
    watched.delete(signal);
    try {
      signal.removeEventListener('abort', listener);
    } catch {
      // A signal whose removeEventListener throws keeps a listener that does nothing.
    }
  };
}

/**
 * Starts a native job with a cancel flag wired to `signal`, and settles as the library
 * does: an AbortError when the flag was set, the library's error class for any other
 * failure. `start` may set the flag itself (lib/solve.ts does, when a progress callback
 * throws). Whatever `signal` or `start` do, the returned promise is the only one that
 * can reject: no job is left without a handler.
 *
 * @example
 * const result = await cancellable(opts, (cancel) => addon.reduce(program, args, cancel));
 */
export function cancellable<T>(
  { signal, timeout }: Pick<RunOptions, 'signal' | 'timeout'>, start: (cancel: CancelFlag) => Promise<T>,
): Promise<T> {
  let unwatch = (): void => {};
  const flag = new addon.CancelFlag();
  // Why the flag was set, for the AbortError's cause: the first of the signal and the timer.
  let reason: { value: unknown } | undefined;
  try {
    checkSignal(signal);
    checkTimeout(timeout);
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    const unwatchSignal = signal === undefined ? () => {} : watch(signal, flag);
    let timer: NodeJS.Timeout | undefined;
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        reason ??= { value: new DOMException('The operation was aborted due to timeout', 'TimeoutError') };
        flag.cancel();
      }, timeout);
      timer.unref(); // the job itself keeps the process alive while it runs
    }
    unwatch = () => {
      if (timer !== undefined) clearTimeout(timer);
      unwatchSignal();
    };
  } catch (err) {
    return Promise.reject(err);
  }
  const aborted = (): AbortError => {
    if (signal?.aborted && reason === undefined) reason = { value: signal.reason };
    return new AbortError(undefined, reason === undefined ? undefined : { cause: reason.value });
  };
  let pending: Promise<T>;
  try {
    checkQueueRoom();
    pending = start(flag);
  } catch (err) {
    unwatch();
    return Promise.reject(fromNative(err));
  }
  return pending.then(
    (result) => {
      unwatch();
      return result;
    },
    (err: unknown) => {
      unwatch();
      throw flag.cancelled ? aborted() : fromNative(err);
    },
  );
}

/** Every key of RunOptions: a call refuses any other (see {@link refuseUnknownKeys}). */
export const RUN_OPTION_KEYS: readonly string[] = ['backend', 'signal', 'timeout', 'priority', 'background', 'prune', 'pruneTolerance', 'ranges'];

/**
 * Throws OptionError naming the first key of `opts` outside `allowed`. An option that is
 * misspelt, or that KeOps takes and lazykernel does not (`weight` on a LogSumExp, say),
 * would otherwise be ignored and the call would answer another question.
 *
 * @example
 * refuseUnknownKeys({ axis: 1, weigth: w }, ['axis', 'weight'], 'reduction'); // OptionError naming 'weigth'
 */
export function refuseUnknownKeys(opts: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) throw new OptionError(`unknown ${what} option '${key}'; ${what} options are ${allowed.join(', ')}`);
  }
}

/** Checks RunOptions.timeout: undefined, or a number of milliseconds in (0, 2^31 - 1]. */
export function checkTimeout(timeout: unknown): asserts timeout is number | undefined {
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && timeout <= 0x7fffffff)) {
    throw new OptionError(`timeout must be a number of milliseconds > 0 and at most 2^31 - 1, not ${String(timeout)}`);
  }
}

/** A Sync call cannot be stopped: a timeout there is a mistake, said at once. */
export function refuseTimeout(opts: Pick<RunOptions, 'timeout'>): void {
  if (opts.timeout !== undefined) throw new OptionError('timeout needs the async call: a Sync call holds the calling thread and cannot be stopped');
}

/**
 * Runs a lowered program on the native job queue, off the event loop.
 * `args` are the arrays of the program's argument slots, all of its dtype.
 */
export function execute(program: Program, args: FloatArray[], opts: RunOptions = {}, axis: 0 | 1 = 1): Promise<NativeResult> {
  checkBackend(opts);
  return cancellable(opts, (cancel) => addon.reduce(program, args, cancel, engineOptions(opts, axis)));
}

/** The same as {@link execute}, on the calling thread; for scripts. */
export function executeSync(program: Program, args: FloatArray[], opts: RunOptions = {}, axis: 0 | 1 = 1): NativeResult {
  checkBackend(opts);
  refuseTimeout(opts);
  try {
    return addon.reduceSync(program, args, engineOptions(opts, axis));
  } catch (err) {
    throw fromNative(err);
  }
}

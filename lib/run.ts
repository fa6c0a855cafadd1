import { addon, NativeRunOptions } from './addon';
import { AbortError, OptionError } from './errors';
import type { NativeResult, Program } from './formula/program';
import type { FloatArray } from './tensor';

/** Options every heavy call takes (API.md). */
export interface RunOptions {
  /** 'auto' (default) uses a GPU when one is usable, else the CPU. */
  backend?: 'auto' | 'cpu' | 'cuda';
  /** Cancels a queued or running job; the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Block-sparse pruning of far-apart clusters; default true. */
  prune?: boolean;
  /** Relative bound on what pruning may drop, to trade accuracy for speed. */
  pruneTolerance?: number;
}

export function checkBackend(opts: RunOptions): void {
  const backend = opts.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
    throw new OptionError(`backend must be 'auto', 'cpu' or 'cuda', not ${String(backend)}`);
  }
  if (backend === 'cuda') {
    const cuda = addon.info().cuda;
    throw new OptionError(
      cuda.available
        ? 'backend "cuda": the CUDA reduction path is not built yet (issue 7); use "cpu" or "auto"'
        : `backend "cuda" is unavailable: ${cuda.reason}`,
    );
  }
}

/** The options the engine itself reads: pruning (cpu/cluster.h documents what it drops). */
export function engineOptions(opts: RunOptions): NativeRunOptions {
  return { prune: opts.prune ?? true, pruneTolerance: opts.pruneTolerance };
}

/**
 * Runs a lowered program on the native job queue, off the event loop.
 * `args` are the arrays of the program's argument slots, all of its dtype.
 */
export function execute(program: Program, args: FloatArray[], opts: RunOptions = {}): Promise<NativeResult> {
  checkBackend(opts);
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(new AbortError());
  // The native job polls this flag between blocks of rows; a SharedArrayBuffer keeps
  // the store visible to the worker thread.
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  let pending: Promise<NativeResult>;
  try {
    pending = addon.reduce(program, args, cancel, engineOptions(opts));
  } catch (err) {
    return Promise.reject(err);
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
    (err: Error) => {
      signal?.removeEventListener('abort', onAbort);
      throw Atomics.load(cancel, 0) ? new AbortError() : err;
    },
  );
}

/** The same as {@link execute}, on the calling thread; for scripts. */
export function executeSync(program: Program, args: FloatArray[], opts: RunOptions = {}): NativeResult {
  checkBackend(opts);
  return addon.reduceSync(program, args, engineOptions(opts));
}

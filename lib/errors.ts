/**
 * The errors lazykernel throws. Every one extends {@link LazyKernelError}, so a caller
 * can catch the library's errors apart from its own, and carries a `code` string in
 * Node's style (`ERR_LK_…`; `ABORT_ERR` for an abort, as Node's own AbortError). Errors
 * from the native addon are instances of these classes too (lib/addon.ts registers them
 * with the addon), with a finer code: ERR_LK_PROGRAM, ERR_LK_SOLVE, ERR_LK_RANGES, …
 *
 * @example
 * try { new Genred('Exp(-SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 }); }
 * catch (e) { if (e instanceof FormulaSyntaxError) console.log(e.position, e.code); }
 */
export class LazyKernelError extends Error {
  /** What went wrong, for programs: `ERR_LK` here, a finer code in subclasses and native errors. */
  code: string = 'ERR_LK';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A formula string that does not parse; `position` is the character offset of the fault. */
export class FormulaSyntaxError extends LazyKernelError {
  override code = 'ERR_LK_SYNTAX';
  constructor(message: string, readonly position: number, readonly formula: string) {
    super(`${message} at position ${position}:\n  ${formula}\n  ${' '.repeat(position)}^`);
  }
}

/** Dimensions or row counts that do not fit together; the message names the variables. */
export class ShapeError extends LazyKernelError {
  override code = 'ERR_LK_SHAPE';
}

/** Arrays of different float types in one call, or a type that is not a float array. */
export class DTypeError extends LazyKernelError {
  override code = 'ERR_LK_DTYPE';
}

/** An option, reduction name, axis or argument that is out of its allowed range. */
export class OptionError extends LazyKernelError {
  override code = 'ERR_LK_OPTION';
}

/**
 * A call that needs more memory than the machine (or its cgroup) has free, refused before
 * any work: an output of M × cols values, a k-min's k values per row, copies of the inputs.
 * `needed` and `available` are in bytes (absent when the allocator itself failed).
 *
 * @example
 * try { await op.run(args); } catch (e) { if (e instanceof MemoryError) console.log(e.needed, e.available); }
 */
export class MemoryError extends LazyKernelError {
  override code = 'ERR_LK_MEMORY';
  needed?: number;
  available?: number;
}

/**
 * A job stopped by its AbortSignal or its `timeout`. As Node's own AbortError: `name`
 * 'AbortError', `code` 'ABORT_ERR', and `cause` the signal's reason (for a timeout, a
 * DOMException named 'TimeoutError', as `AbortSignal.timeout()` gives).
 */
export class AbortError extends LazyKernelError {
  override code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message);
    this.name = 'AbortError';
    if (options !== undefined && 'cause' in options) this.cause = options.cause;
  }
}

/**
 * An async call refused because the queue already holds the most jobs allowed to wait
 * (setQueueLimit); code ERR_LK_QUEUE_FULL. Nothing was queued or copied: retry later, or
 * answer 503.
 */
export class QueueFullError extends LazyKernelError {
  override code = 'ERR_LK_QUEUE_FULL';
}

/** The class each native code stands for, where the addon's error did not come as one of ours. */
const BY_CODE: Record<string, new (message: string) => LazyKernelError> = {
  ABORT_ERR: AbortError,
  ERR_LK_MEMORY: MemoryError,
  ERR_LK_RANGES: OptionError,
  ERR_LK_ARGUMENT: OptionError,
};

/**
 * An error from the native addon as one of the library's. The addon makes its errors from
 * the registered classes, so this only converts errors made before registration or in
 * another realm, by their `code`; anything else becomes a LazyKernelError with the same
 * message and code.
 *
 * @example
 * try { addon.reduceSync(program, args, options); } catch (e) { throw fromNative(e); }
 */
export function fromNative(err: unknown): Error {
  if (err instanceof LazyKernelError) return err;
  // The addon's errors may come from another realm (jest's sandbox): no instanceof Error.
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : e?.name === 'AbortError' ? 'ABORT_ERR' : 'ERR_LK_INTERNAL';
  const Class = BY_CODE[code] ?? LazyKernelError;
  const out = code === 'ABORT_ERR' ? new AbortError() : new Class(message);
  out.code = code;
  return out;
}

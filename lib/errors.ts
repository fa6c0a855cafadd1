/**
 * The errors lazykernel throws. Every one extends {@link LazyKernelError}, so a caller
 * can catch the library's errors apart from its own:
 *
 * @example
 * try { new Genred('Exp(-SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 }); }
 * catch (e) { if (e instanceof FormulaSyntaxError) console.log(e.position); }
 */
export class LazyKernelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A formula string that does not parse; `position` is the character offset of the fault. */
export class FormulaSyntaxError extends LazyKernelError {
  constructor(message: string, readonly position: number, readonly formula: string) {
    super(`${message} at position ${position}:\n  ${formula}\n  ${' '.repeat(position)}^`);
  }
}

/** Dimensions or row counts that do not fit together; the message names the variables. */
export class ShapeError extends LazyKernelError {}

/** Arrays of different float types in one call, or a type that is not a float array. */
export class DTypeError extends LazyKernelError {}

/** An option, reduction name, axis or argument that is out of its allowed range. */
export class OptionError extends LazyKernelError {}

/** A job stopped by its AbortSignal. Its `name` is 'AbortError', as the DOM's is. */
export class AbortError extends LazyKernelError {
  constructor(message = 'The operation was aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

/**
 * An error from the native addon as one of the library's: bad explicit ranges are an
 * OptionError, anything else (a solve that broke down, memory) a LazyKernelError with
 * the engine's message. The library's own errors and aborts pass through.
 *
 * @example
 * try { addon.reduceSync(program, args, options); } catch (e) { throw fromNative(e); }
 */
export function fromNative(err: unknown): Error {
  if (err instanceof LazyKernelError) return err;
  // The addon's errors may come from another realm (jest's sandbox): no instanceof Error.
  const e = err as { name?: unknown; message?: unknown } | null;
  if (e?.name === 'AbortError') return err as Error;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return message.startsWith('invalid ranges') ? new OptionError(message) : new LazyKernelError(message);
}

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

/**
 * Small builders the composite operations share (composite.ts, complex.ts, tensordot.ts,
 * bspline.ts): every node they make goes through ir.ts' checked factories.
 */
import { constant, Node, operation, OpName } from './ir';

export const op = (name: OpName, args: readonly Node[], ints: readonly number[] = []): Node => operation(name, args, ints);
export const c = (v: number): Node => constant(v);

/** [0, 1, …, n-1], or f of each. */
export function range(n: number): number[];
export function range<T>(n: number, f: (k: number) => T): T[];
export function range(n: number, f: (k: number) => unknown = (k) => k): unknown[] {
  return Array.from({ length: n }, (_, k) => f(k));
}

export const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/** Components `indices` of f; f itself when they are all of it, in order. */
export function gather(f: Node, indices: readonly number[]): Node {
  if (indices.length === f.dim && indices.every((k, i) => k === i)) return f;
  return op('Gather', [f], indices);
}

/** f, g, … side by side. */
export function concat(parts: readonly Node[]): Node {
  return parts.reduce((a, b) => op('Concat', [a, b]));
}

/**
 * Allocations the TypeScript layer makes from caller-given sizes (the cluster helpers'
 * label counts), checked before they are made: a typed error instead of a RangeError
 * from the typed-array constructor or a process killed for memory. The native engine
 * checks its own calls (native/memory.h).
 */
import * as os from 'node:os';
import { MemoryError, ShapeError } from './errors';

/** The most elements a typed array can hold in this Node. */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32 - 1;

/** Bytes this process can still allocate: the lesser of free memory and its cgroup's headroom. */
export function availableMemory(): number {
  const p = process as NodeJS.Process & { availableMemory?: () => number };
  const fromProcess = typeof p.availableMemory === 'function' ? p.availableMemory() : Infinity;
  return Math.min(os.freemem(), fromProcess);
}

/**
 * A new typed array of `count` elements, checked first with {@link checkAllocation}; an
 * allocation the engine still refuses (a ulimit, fragmentation) is a MemoryError too.
 *
 * @example
 * const out = allocate(Int32Array, 2 * nlab, 'clusterRanges');
 */
export function allocate<T>(Kind: { new (count: number): T; BYTES_PER_ELEMENT: number }, count: number, what: string): T {
  checkAllocation(count, Kind.BYTES_PER_ELEMENT, what);
  try {
    return new Kind(count);
  } catch (err) {
    throw new MemoryError(`${what} could not allocate ${count * Kind.BYTES_PER_ELEMENT} bytes: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** Checks that `count` elements of `bytes` each fit one typed array and the free memory. */
export function checkAllocation(count: number, bytes: number, what: string): void {
  if (!(count <= MAX_TYPED_ARRAY_LENGTH)) {
    throw new ShapeError(`${what}: ${count} values do not fit one typed array (at most 2^32 - 1)`);
  }
  const needed = count * bytes;
  const available = availableMemory();
  if (needed > available) {
    const e = new MemoryError(`${what} needs ${needed} bytes of memory and ${available} are available`);
    e.needed = needed;
    e.available = available;
    throw e;
  }
}

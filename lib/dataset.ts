/**
 * Datasets held once for many calls: a service's points, copied into memory the addon
 * holds (native/held.h) and then passed to every call without a copy, with the clusters
 * pruning builds on them kept beside them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { addon, KeptPreconditioner } from './addon';
import { OptionError } from './errors';
import { dtypeOf, FloatArray, FloatTypeOf, readMatrix, Tensor } from './tensor';

/** Values copied per turn of the event loop while a dataset is filled (2 MB of float64, a few ms). */
const CHUNK = 1 << 18;

/** At most this many preconditioners are kept per dataset (the oldest goes first): each may be large. */
const KEPT_PER_DATASET = 4;

/** What a dataset's held array carries beside its values: an id for cache keys, and preconditioners. */
interface HeldState {
  id: number;
  kept: Map<string, KeptPreconditioner>;
}

/** The live datasets' held arrays (until dispose()). */
const heldStates = new WeakMap<FloatArray, HeldState>();
let nextId = 1;

/**
 * @internal A live dataset's id, by its held array (undefined for any other array): a
 * solve keys the preconditioners it keeps on datasets with them (lib/solve.ts).
 */
export function heldId(a: FloatArray): number | undefined {
  return heldStates.get(a)?.id;
}

/** Held arrays whose dataset was disposed: a LazyTensor built before still holds one. */
const disposed = new WeakSet<FloatArray>();

/**
 * @internal Refuses a call whose arrays include a disposed dataset's (an OptionError),
 * whether passed as the Dataset or held by a LazyTensor built before dispose().
 */
export function refuseDisposed(arrays: readonly unknown[]): void {
  if (arrays.some((a) => disposed.has(a as FloatArray))) throw new OptionError('this call reads a dataset that was disposed');
}

/** @internal The preconditioner kept on a held array under `key`, if any. */
export function keptPreconditioner(held: FloatArray, key: string): KeptPreconditioner | undefined {
  return heldStates.get(held)?.kept.get(key);
}

/** @internal Keeps a preconditioner on a held array, dropping the oldest beyond KEPT_PER_DATASET. */
export function keepPreconditioner(held: FloatArray, key: string, kept: KeptPreconditioner): void {
  const map = heldStates.get(held)?.kept;
  if (map === undefined) return;
  map.delete(key);
  map.set(key, kept);
  for (const old of map.keys()) {
    if (map.size <= KEPT_PER_DATASET) break;
    map.delete(old);
  }
}

/**
 * Points held by the addon for many calls. A Dataset is a Tensor ([rows, dim]), so it goes
 * wherever one does: `Vi(ds)`, `Vj(ds)`, and the arguments of `Genred.run` and
 * `KernelSolve.run`. Calls read it in place, where a plain array would be copied at
 * every async call (a copy that blocks the event loop for milliseconds per million
 * values), and pruning keeps its clusters: built on the first pruned call that uses it,
 * on the engine's threads, then reused, so that small queries against a large dataset
 * prune without clustering it again. Made by {@link dataset}.
 *
 * It also keeps the preconditioners of solves on it that ask to keep theirs
 * (`keepPreconditioner`, up to four): a later solve of the same formula, parameters,
 * alpha and preconditioner options on the same datasets reuses one instead of setting it
 * up again (`result.preconditioner.reused`).
 *
 * `data` is the held copy. It is read-only by contract: writing to it is not detected
 * and leaves its clusters and preconditioners stale (make a new dataset for new values).
 */
export class Dataset<T extends FloatArray = FloatArray> implements Tensor<T> {
  readonly shape: [number, number];
  #data: T | null;

  /** @internal Use {@link dataset}. */
  constructor(held: T, rows: number, dim: number) {
    this.#data = held;
    this.shape = [rows, dim];
  }

  /** The held values, row-major; an OptionError once disposed. */
  get data(): T {
    if (this.#data === null) throw new OptionError('this dataset was disposed');
    return this.#data;
  }

  /** Whether {@link Dataset.dispose} was called. */
  get disposed(): boolean {
    return this.#data === null;
  }

  /**
   * Frees the clusters now, drops the kept preconditioners, and lets the values go with
   * the last call that uses them (their memory returns when the garbage collector next
   * runs, unless a result still holds a preconditioner; dropping every reference to the
   * dataset does the same). Calls made afterwards with it are OptionErrors.
   */
  dispose(): void {
    if (this.#data !== null) {
      addon.dropHeldClusters(this.#data);
      heldStates.delete(this.#data);
      disposed.add(this.#data);
    }
    this.#data = null;
  }
}

/**
 * Copies `data` (rows of `dim` values, or a Tensor) into a {@link Dataset}. The copy is
 * made a megavalue at a time, yielding to the event loop in between, so that holding 10
 * million points never stalls it; leave `data` unchanged until the promise resolves.
 *
 * @example
 * const pts = await dataset(x, 3);               // once, at startup
 * const K = Vi(query, 3).sqdist(Vj(pts)).mul(-g).exp();
 * const y = await K.matvec(weights);              // no copy of pts, its clusters reused
 */
export async function dataset<T extends FloatArray>(data: T | Tensor<T>, dim?: number): Promise<Dataset<FloatTypeOf<T>>> {
  if (dim !== undefined && !(Number.isInteger(dim) && dim >= 1)) throw new OptionError(`dim must be a positive integer, not ${String(dim)}`);
  const m = readMatrix(data, 'dataset', dim === undefined ? {} : { dim });
  const source = m.data;
  const length = source.length;
  const held = addon.holdArray(dtypeOf(source), length) as FloatTypeOf<T>;
  for (let k = 0; k < length; k += CHUNK) {
    if (source.length !== length) throw new OptionError('dataset: the source array changed length (its buffer was transferred) while it was copied');
    held.set(source.subarray(k, Math.min(length, k + CHUNK)), k);
    if (k + CHUNK < length) await nextTurn();
  }
  heldStates.set(held, { id: nextId++, kept: new Map() });
  return new Dataset(held, m.rows, m.cols);
}

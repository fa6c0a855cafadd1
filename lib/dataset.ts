/**
 * Datasets held once for many calls: a service's points, copied into memory the addon
 * holds (native/held.h) and then passed to every call without a copy, with the clusters
 * pruning builds on them kept beside them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { addon } from './addon';
import { OptionError } from './errors';
import { dtypeOf, FloatArray, FloatTypeOf, readMatrix, Tensor } from './tensor';

/** Values copied per turn of the event loop while a dataset is filled (2 MB of float64, a few ms). */
const CHUNK = 1 << 18;

/**
 * Points held by the addon for many calls. A Dataset is a Tensor ([rows, dim]), so it goes
 * wherever one does: `Vi(ds)`, `Vj(ds)`, and the arguments of `Genred.run` and
 * `KernelSolve.run`. Calls read it in place, where a plain array would be copied at
 * every async call (a copy that blocks the event loop for milliseconds per million
 * values), and pruning keeps its clusters: built on the first pruned call that uses it,
 * on the engine's threads, then reused, so that small queries against a large dataset
 * prune without clustering it again. Made by {@link dataset}.
 *
 * `data` is the held copy. It is read-only by contract: writing to it is not detected
 * and leaves its clusters stale (make a new dataset for new values).
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
   * Frees the clusters now and lets the values go with the last call that uses them
   * (the memory returns when the garbage collector next runs; dropping every reference
   * to the dataset does the same). Calls made afterwards with it are OptionErrors.
   */
  dispose(): void {
    if (this.#data !== null) addon.dropHeldClusters(this.#data);
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
  return new Dataset(held, m.rows, m.cols);
}

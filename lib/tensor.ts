/**
 * Input and output arrays: typed arrays and Tensors in, Tensors out. Everything a caller
 * passes is checked here, before any program is built, so that native code only ever
 * sees float arrays of the right lengths and one dtype.
 *
 * Arrays are recognised with `util.types` (never `instanceof`: arrays from another realm,
 * or made by jest's sandbox or by the addon, fail `instanceof`).
 */
import { types } from 'node:util';
import { DTypeError, OptionError, ShapeError } from './errors';
import type { VarCategory } from './formula/ir';

/** A row-major float array. */
export type FloatArray = Float32Array | Float64Array;
/** A 2-D array: `data` holds `shape[0]` rows of `shape[1]` values, row-major. */
export interface Tensor<T extends FloatArray | Int32Array = FloatArray | Int32Array> {
  data: T;
  shape: [number, number];
}
/**
 * One argument of a call: a variable's rows (a float array or a Tensor), or a parameter's
 * values (numbers, or a float array). `T` is the call's float type.
 */
export type Arg<T extends FloatArray = FloatArray> = T | Tensor<T> | number | readonly number[];

/**
 * The float type of data `T` whatever its buffer (TypeScript ≥ 5.7 types
 * `new Float64Array(n)` as `Float64Array<ArrayBuffer>`): Float32Array or Float64Array, so
 * that results, which are always plain Float32Array or Float64Array, fit back in.
 */
export type FloatTypeOf<T extends FloatArray> = T extends Float32Array ? Float32Array : T extends Float64Array ? Float64Array : never;
type FloatOf<A> = A extends FloatArray ? FloatTypeOf<A> : A extends Tensor<infer T> ? (T extends FloatArray ? FloatTypeOf<T> : never) : never;
/**
 * The float type of a call's arguments: the float arrays among them (numbers adapt), or
 * FloatArray when there are none.
 *
 * @example
 * type T = CallFloat<[Float32Array, Tensor<Float32Array>, number]>; // Float32Array
 */
export type CallFloat<A extends readonly unknown[]> = [FloatOf<A[number]>] extends [never] ? FloatArray : FloatOf<A[number]>;
/** The float type of one call. */
export type DType = 'float32' | 'float64';

/** True for a Float32Array or Float64Array, from any realm. */
export function isFloatArray(value: unknown): value is FloatArray {
  return types.isFloat32Array(value) || types.isFloat64Array(value);
}

/** The dtype of a float array. */
export function dtypeOf(data: FloatArray): DType {
  return types.isFloat32Array(data) ? 'float32' : 'float64';
}

/** True for an object shaped like a {@link Tensor} (any data; checked further by readers). */
export function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && 'data' in value && 'shape' in value;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an Array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor?.name ?? 'typed array'}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

// Bytes have no float type of their own: the caller says which one they hold.
function bytesHint(value: unknown): string {
  if (!types.isUint8Array(value)) return '';
  return '; to read its bytes as floats, view them: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4)' +
    ' (or Float64Array and / 8; the byteOffset must be a multiple of 4 or 8: copy with Uint8Array.prototype.slice() if not)';
}

/** Checks that `dim` is a positive integer (a dimension given by the caller). */
export function checkDimension(dim: unknown, name: string): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > 0x7fffffff) {
    throw new OptionError(`${name}: the dimension must be a positive integer, not ${String(dim)}`);
  }
  return dim;
}

/** A checked 2-D float array. */
export interface Matrix { data: FloatArray; rows: number; cols: number }

/**
 * Reads a data argument: a float array with a known number of columns (`dim`) or rows,
 * or a Tensor. Throws DTypeError for anything but float data, ShapeError for lengths.
 *
 * @example
 * readMatrix(new Float64Array(6), 'x', { dim: 3 }); // { rows: 2, cols: 3, … }
 * readMatrix({ data: new Float32Array(6), shape: [3, 2] }, 'y', { dim: 2 });
 */
export function readMatrix(value: unknown, name: string, known: { dim?: number; rows?: number }): Matrix {
  if (isTensor(value)) return readTensor(value, name, known);
  if (!isFloatArray(value)) {
    throw new DTypeError(
      `${name}: expected a Float32Array, a Float64Array or a Tensor {data, shape}, got ${kindOf(value)}` +
        (Array.isArray(value) ? '; wrap plain numbers as new Float64Array(values)' : '') + bytesHint(value),
    );
  }
  const length = value.length;
  if (known.dim !== undefined) {
    if (length % known.dim !== 0) {
      throw new ShapeError(`${name}: ${length} values are not a whole number of rows of dimension ${known.dim}`);
    }
    const rows = length / known.dim;
    if (known.rows !== undefined && rows !== known.rows) {
      throw new ShapeError(`${name}: has ${rows} rows of dimension ${known.dim}, expected ${known.rows} rows`);
    }
    return { data: value, rows, cols: known.dim };
  }
  if (known.rows === undefined) throw new OptionError(`${name}: a flat array needs its dimension`);
  if (known.rows === 0 || length % known.rows !== 0 || length === 0) {
    throw new ShapeError(`${name}: ${length} values cannot be split into ${known.rows} rows`);
  }
  return { data: value, rows: known.rows, cols: length / known.rows };
}

function readTensor(t: Tensor, name: string, known: { dim?: number; rows?: number }): Matrix {
  const { data, shape } = t;
  if (!isFloatArray(data)) throw new DTypeError(`${name}: a Tensor's data must be a Float32Array or Float64Array, got ${kindOf(data)}`);
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ShapeError(`${name}: a Tensor's shape must be [rows, cols] of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const [rows, cols] = shape;
  if (rows * cols !== data.length) {
    throw new ShapeError(`${name}: shape [${rows}, ${cols}] needs ${rows * cols} values, the data has ${data.length}`);
  }
  if (known.dim !== undefined && cols !== known.dim) {
    throw new ShapeError(`${name}: has ${cols} columns, the formula declares dimension ${known.dim}`);
  }
  if (known.rows !== undefined && rows !== known.rows) {
    throw new ShapeError(`${name}: has ${rows} rows, expected ${known.rows}`);
  }
  if (cols < 1) throw new ShapeError(`${name}: a Tensor needs at least one column`);
  return { data, rows, cols };
}

/** A parameter value as given: numbers are kept until the call's dtype is known. */
export type ParamValue = number | readonly number[] | FloatArray | Tensor;

/**
 * Reads a parameter: a number, an array of numbers, a float array or a Tensor, of
 * `dim` values (any dim when `dim` is undefined). Returns plain numbers or the float array.
 *
 * @example
 * readParam(0.5, 'g', 1);          // [0.5]
 * readParam([1, 2, 3], 'w', 3);    // [1, 2, 3]
 */
export function readParam(value: unknown, name: string, dim?: number): number[] | FloatArray {
  let values: number[] | FloatArray;
  if (typeof value === 'number') values = [value];
  else if (Array.isArray(value)) {
    const bad = value.findIndex((v) => typeof v !== 'number');
    if (bad >= 0) throw new DTypeError(`${name}: parameter value ${bad} is ${kindOf(value[bad])}, not a number`);
    values = [...(value as number[])];
  } else if (isFloatArray(value)) values = value;
  else if (isTensor(value)) values = readTensor(value, name, {}).data;
  else throw new DTypeError(`${name}: a parameter is a number, an array of numbers, a Float32Array/Float64Array or a Tensor, not ${kindOf(value)}${bytesHint(value)}`);
  if (values.length === 0) throw new ShapeError(`${name}: a parameter needs at least one value`);
  if (dim !== undefined && values.length !== dim) {
    throw new ShapeError(`${name}: the parameter has ${values.length} value${values.length === 1 ? '' : 's'}, the formula declares dimension ${dim}`);
  }
  return values;
}

/** One argument slot as the formula declares it. */
export interface ArgSpec { name: string; cat: VarCategory; dim: number }

/** Checked arguments of one call. */
export interface BoundArgs {
  /** One float array per slot, all of `dtype`. */
  args: FloatArray[];
  dtype: DType;
  /** Rows of the i-variables (1 when there is none). */
  rowsI: number;
  /** Rows of the j-variables (1 when there is none). */
  rowsJ: number;
}

function commonRows(specs: readonly ArgSpec[], mats: (Matrix | null)[], cat: 'i' | 'j'): number {
  const rows = new Map<number, string[]>();
  specs.forEach((s, k) => {
    const m = mats[k];
    if (s.cat !== cat || m === null) return;
    rows.set(m.rows, [...(rows.get(m.rows) ?? []), s.name]);
  });
  if (rows.size > 1) {
    const list = [...rows].map(([r, names]) => `${names.join(', ')}: ${r} rows`).join('; ');
    throw new ShapeError(`every ${cat}-variable must have the same number of rows (${list})`);
  }
  // A formula without variables of one side reduces over (or returns) a single row.
  return rows.size === 0 ? 1 : [...rows.keys()][0];
}

/**
 * Checks the arguments of one call against the formula's slots: float arrays of one
 * dtype, lengths that are whole rows, equal row counts per side, parameters of the
 * declared dimension (numbers converted to the call's dtype).
 *
 * @example
 * const { args, dtype, rowsI, rowsJ } = bindArguments(
 *   [{ name: 'x', cat: 'i', dim: 3 }, { name: 'g', cat: 'param', dim: 1 }], [xData, 0.5]);
 */
export function bindArguments(specs: readonly ArgSpec[], values: unknown): BoundArgs {
  if (!Array.isArray(values)) throw new OptionError(`the arguments must be an array (${specs.map((s) => s.name).join(', ')}), got ${kindOf(values)}`);
  if (values.length !== specs.length) {
    throw new OptionError(`expected ${specs.length} argument${specs.length === 1 ? '' : 's'} (${specs.map((s) => s.name).join(', ')}), got ${values.length}`);
  }
  const mats: (Matrix | null)[] = [];
  const params: (number[] | FloatArray | null)[] = [];
  specs.forEach((s, k) => {
    const isParam = s.cat === 'param';
    mats.push(isParam ? null : readMatrix(values[k], s.name, { dim: s.dim }));
    params.push(isParam ? readParam(values[k], s.name, s.dim) : null);
  });
  const typed = specs.flatMap((s, k) => {
    const data = mats[k]?.data ?? params[k];
    return isFloatArray(data) ? [{ name: s.name, dtype: dtypeOf(data) }] : [];
  });
  const dtype: DType = typed[0]?.dtype ?? 'float64';
  const other = typed.find((t) => t.dtype !== dtype);
  if (other !== undefined) {
    const by = (d: DType): string => typed.filter((t) => t.dtype === d).map((t) => t.name).join(', ');
    throw new DTypeError(`one call takes one float type: ${by('float32')} ${typed.filter((t) => t.dtype === 'float32').length === 1 ? 'is' : 'are'} float32 but ${by('float64')} float64`);
  }
  const args = specs.map((_s, k) => mats[k]?.data ?? toDType(params[k] as number[] | FloatArray, dtype));
  return { args, dtype, rowsI: commonRows(specs, mats, 'i'), rowsJ: commonRows(specs, mats, 'j') };
}

/** Plain numbers as a float array of `dtype`; a float array is returned as it is. */
export function toDType(values: readonly number[] | FloatArray, dtype: DType): FloatArray {
  return isFloatArray(values) ? values : floats(dtype, values);
}

/**
 * A new float array of `dtype`: `source` zeros, or a copy of `source`'s values.
 *
 * @example
 * floats('float32', 3);                 // Float32Array [0, 0, 0]
 * floats('float64', Int32Array.of(1));  // Float64Array [1]
 */
export function floats(dtype: DType, source: number | ArrayLike<number>): FloatArray {
  const Kind = dtype === 'float32' ? Float32Array : Float64Array;
  return typeof source === 'number' ? new Kind(source) : Kind.from(source);
}

/** A result Tensor of `rows` × `cols`, checking that the native side returned that many values. */
export function makeTensor<T extends FloatArray | Int32Array>(data: T, rows: number, cols: number): Tensor<T> {
  if (data.length !== rows * cols) {
    throw new ShapeError(`the engine returned ${data.length} values for a ${rows} x ${cols} result`);
  }
  return { data, shape: [rows, cols] };
}

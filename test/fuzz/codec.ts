/**
 * Inputs are plain JSON (so that they can be written before they run and replayed
 * later); this file turns live values into that JSON and back. A JSON object with a
 * "$" key is a special value:
 *
 *   { $: 'num', v: 'NaN' | 'Infinity' | '-Infinity' | '-0' }
 *   { $: 'undef' }   { $: 'bigint', v: '5' }   { $: 'sym' }   { $: 'holes', n }
 *   { $: 'ta', type: 'Float32Array' | …, v: [numbers or 'NaN'/'Infinity'/'-Infinity'/'-0'],
 *     sab?: true (over a SharedArrayBuffer), offset?: k (a view k elements into its buffer),
 *     detached?: true (its buffer transferred away) }
 *   { $: 'fill', type, n, value }            a long typed array of one value
 *   { $: 'signal', mode: 'aborted' | 'live' | 'abort-after' | 'abort-later' | 'shared' }
 *   { $: 'fn', mode: 'noop' | 'throws' | 'throws-string' | 'abort' | 'cancel' }
 *   { $: 'getter', v: object, key, mode: 'throws' | 'detach', value }   v with a getter on key
 *   { $: 'cancel', v: 0 | 1, sab?: true, len?: n, after?: true }        an Int32Array cancel flag
 *   { $: 'flag', cancelled?: true, after?: true }    the addon's own CancelFlag, where it has one
 *                                                    (else an Int32Array over a SharedArrayBuffer)
 *   { $: 'obj', v: {...} }                   a literal object that has a '$' key itself
 */

/** Live state of one decoded call: signals to fire, values our own callbacks throw. */
export class DecodeContext {
  /** Run right after an async call has been started (abort-after, cancel after). */
  readonly afterCall: (() => void)[] = [];
  /** Run one macrotask later (abort-later). */
  readonly later: (() => void)[] = [];
  /** Every value that a callback or getter of ours throws: the library may rethrow these. */
  readonly userThrown = new Set<unknown>();
  /** Typed arrays made by this decode whose buffers a 'detach' getter may transfer away. */
  readonly arrays: ArrayBufferView[] = [];
  readonly controllers: AbortController[] = [];
  /** Raw cancel flags made by this decode (fn mode 'cancel' sets them). */
  readonly cancels: (Int32Array | { cancel(): void })[] = [];
  /** Held datasets this decode's call reads (api.ts puts them in place of plain values). */
  readonly datasets: { readonly disposed: boolean }[] = [];

  /** `makeFlag`: the addon's CancelFlag constructor, for { $: 'flag' } (raw addon inputs). */
  constructor(readonly shared: { signal: AbortSignal }, readonly makeFlag?: () => { cancel(): void }) {}

  /** Runs the afterCall actions, and schedules the later ones. */
  started(): void {
    for (const f of this.afterCall.splice(0)) f();
    const later = this.later.splice(0);
    if (later.length > 0) setImmediate(() => later.forEach((f) => f()));
  }
}

/** A value thrown by a callback of ours (an Error subclass the oracle recognises). */
export class UserCallbackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserCallbackError';
  }
}

type TypedName =
  | 'Float32Array' | 'Float64Array' | 'Int32Array' | 'Uint32Array' | 'Int8Array' | 'Uint8Array'
  | 'Int16Array' | 'Uint16Array' | 'Uint8ClampedArray' | 'BigInt64Array' | 'DataView';

type TypedCtor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView;
const CTORS: Record<Exclude<TypedName, 'DataView'>, TypedCtor & { BYTES_PER_ELEMENT: number }> = {
  Float32Array, Float64Array, Int32Array, Uint32Array, Int8Array, Uint8Array, Int16Array, Uint16Array,
  Uint8ClampedArray, BigInt64Array,
} as never;

function numberFrom(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  return Number(v);
}

/** A number as JSON: finite numbers as they are, the others as strings. */
export function numberToJson(x: number): number | string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return x;
}

function setFlag(c: Int32Array | { cancel(): void }): void {
  if (c instanceof Int32Array) {
    if (c.length > 0) Atomics.store(c, 0, 1);
  } else c.cancel();
}

function detach(view: ArrayBufferView): void {
  const buf = view.buffer;
  if (buf instanceof ArrayBuffer && buf.byteLength > 0) structuredClone(buf, { transfer: [buf] });
}

function makeTyped(type: TypedName, values: readonly unknown[], sab: boolean, offset: number): ArrayBufferView {
  if (type === 'DataView') {
    const buf = sab ? new SharedArrayBuffer(values.length) : new ArrayBuffer(values.length);
    return new DataView(buf);
  }
  const ctor = CTORS[type];
  const n = values.length + offset;
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  const buf = sab ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const view = new ctor(buf, offset * ctor.BYTES_PER_ELEMENT, values.length) as unknown as { [k: number]: unknown };
  values.forEach((v, k) => {
    view[k] = type === 'BigInt64Array' ? BigInt(Math.trunc(Number(numberFrom(v)) || 0)) : numberFrom(v);
  });
  return view as unknown as ArrayBufferView;
}

/** Turns the JSON of an input back into live values; `ctx` collects signals and callbacks. */
export function decode(json: unknown, ctx: DecodeContext): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((x) => decode(x, ctx));
  const o = json as Record<string, unknown>;
  if (!('$' in o)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = decode(v, ctx);
    return out;
  }
  switch (o.$) {
    case 'num': return numberFrom(o.v);
    case 'undef': return undefined;
    case 'bigint': return BigInt(String(o.v));
    case 'sym': return Symbol('fuzz');
    case 'holes': return new Array(Number(o.n));
    case 'obj': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o.v as Record<string, unknown>)) out[k] = decode(v, ctx);
      return out;
    }
    case 'ta': {
      const view = makeTyped(o.type as TypedName, (o.v as unknown[]) ?? [], o.sab === true, Number(o.offset ?? 0));
      if (o.detached === true) detach(view);
      else if (o.sab !== true) ctx.arrays.push(view);
      return view;
    }
    case 'fill': {
      const ctor = CTORS[o.type as Exclude<TypedName, 'DataView'>];
      const n = Number(o.n);
      const view = new ctor(new ArrayBuffer(n * ctor.BYTES_PER_ELEMENT)) as unknown as { fill(v: unknown): void };
      view.fill(o.type === 'BigInt64Array' ? 0n : numberFrom(o.value));
      ctx.arrays.push(view as unknown as ArrayBufferView);
      return view;
    }
    case 'signal': {
      if (o.mode === 'shared') return ctx.shared.signal;
      const c = new AbortController();
      ctx.controllers.push(c);
      if (o.mode === 'aborted') c.abort();
      else if (o.mode === 'abort-after') ctx.afterCall.push(() => c.abort());
      else if (o.mode === 'abort-later') ctx.later.push(() => c.abort());
      return c.signal;
    }
    case 'fn': {
      const mode = o.mode;
      const thrown = mode === 'throws-string' ? 'fuzz: a string thrown by a callback' : new UserCallbackError('fuzz: thrown by a callback');
      if (mode === 'throws' || mode === 'throws-string') ctx.userThrown.add(thrown);
      return (): void => {
        if (mode === 'throws' || mode === 'throws-string') throw thrown;
        if (mode === 'abort') ctx.controllers.forEach((c) => c.abort());
        if (mode === 'cancel') ctx.cancels.forEach(setFlag);
      };
    }
    case 'getter': {
      const target = decode(o.v, ctx);
      const value = decode(o.value, ctx);
      const thrown = new UserCallbackError(`fuzz: getter ${String(o.key)} throws`);
      if (o.mode === 'throws') ctx.userThrown.add(thrown);
      if (target === null || typeof target !== 'object') return target;
      Object.defineProperty(target, String(o.key), {
        enumerable: true,
        configurable: true,
        get: () => {
          if (o.mode === 'throws') throw thrown;
          ctx.arrays.forEach(detach);
          return value;
        },
      });
      return target;
    }
    case 'flag': {
      if (ctx.makeFlag === undefined) return decode({ $: 'cancel', v: o.cancelled === true ? 1 : 0, sab: true, after: o.after }, ctx);
      const flag = ctx.makeFlag();
      if (o.cancelled === true) flag.cancel();
      if (o.after === true) ctx.afterCall.push(() => flag.cancel());
      ctx.cancels.push(flag);
      return flag;
    }
    case 'cancel': {
      const len = Number(o.len ?? 1);
      const a = o.sab === true ? new Int32Array(new SharedArrayBuffer(4 * len)) : new Int32Array(len);
      if (len > 0) a[0] = Number(o.v ?? 0);
      if (o.after === true && len > 0) ctx.afterCall.push(() => setFlag(a));
      ctx.cancels.push(a);
      return a;
    }
    default: {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) out[k] = decode(v, ctx);
      return out;
    }
  }
}

/** The JSON of a live value: typed arrays, special numbers, undefined; objects by their own fields. */
export function encode(value: unknown): unknown {
  if (value === undefined) return { $: 'undef' };
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0) ? value : { $: 'num', v: numberToJson(value) };
  if (typeof value === 'bigint') return { $: 'bigint', v: value.toString() };
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) {
    const type = value.constructor.name as TypedName;
    const arr = value as unknown as ArrayLike<number | bigint>;
    const v = type === 'DataView' ? new Array((value as DataView).byteLength).fill(0) : Array.from(arr, (x) => (typeof x === 'bigint' ? Number(x) : numberToJson(x)));
    return { $: 'ta', type, v, ...(value.buffer instanceof SharedArrayBuffer ? { sab: true } : {}) };
  }
  if (Array.isArray(value)) return value.map(encode);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = encode(v);
  return '$' in out ? { $: 'obj', v: out } : out;
}

/** A short description of a value, for replay output. */
export function summarize(value: unknown, depth = 0): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value !== 'object' || value === null) return String(value);
  if (ArrayBuffer.isView(value)) {
    const arr = value as unknown as ArrayLike<number>;
    const head = Array.from({ length: Math.min(arr.length ?? 0, 6) }, (_, k) => (Object.is(arr[k], -0) ? '-0' : String(arr[k])));
    return `${value.constructor.name}(${arr.length ?? (value as DataView).byteLength})[${head.join(', ')}${(arr.length ?? 0) > 6 ? ', …' : ''}]`;
  }
  if (depth > 2) return Array.isArray(value) ? '[…]' : '{…}';
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return `${proto?.constructor?.name ?? 'object'} {…}`;
  if (Array.isArray(value)) return `[${value.slice(0, 8).map((v) => summarize(v, depth + 1)).join(', ')}${value.length > 8 ? ', …' : ''}]`;
  return `{ ${Object.entries(value).slice(0, 10).map(([k, v]) => `${k}: ${summarize(v, depth + 1)}`).join(', ')} }`;
}

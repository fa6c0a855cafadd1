/**
 * Arguments and options for the public API, as input JSON (see codec.ts): data arrays of
 * the right and wrong lengths and types, special values (NaN, ±Infinity, -0, denormals),
 * Tensors with good and bad shapes, plain arrays, SharedArrayBuffer-backed and detached
 * arrays, garbage; run options (prune, pruneTolerance, ranges, signal, backend) and solve
 * options (alpha, tol, maxIter, x0, onProgress), mostly valid, sometimes not.
 */
import { numberToJson } from './codec';
import type { Decl } from './formulas';
import type { Rng } from './rng';

export type Json = unknown;
export type DTypeName = 'float32' | 'float64';

/** Row counts of one call: m i-rows, n j-rows (the caller's i and j). */
export interface Sizes { m: number; n: number }

export function genSizes(rng: Rng): Sizes {
  const size = (): number => rng.weighted([[0, 1], [1, 4], [2, 3], [3, 3], [5, 3], [8, 3], [rng.int(1, 64), 8], [64, 1], [rng.int(65, 200), 1]] as const);
  const m = size();
  return { m, n: rng.chance(0.3) ? m : size() };
}

export const SPECIAL_VALUES = [NaN, Infinity, -Infinity, -0, 0, 1e38, -1e38, 3.4028234663852886e38, 1e-45, 5e-324, 1e308, -1e308, 1e-30, 65504];

/** One data value: mostly small, sometimes special. */
export function genValue(rng: Rng, special = 0.02): number {
  if (rng.chance(special)) return rng.pick(SPECIAL_VALUES);
  const scale = rng.pick([1, 1, 1, 0.1, 10, 1e3]);
  return Math.fround((rng.float() * 2 - 1) * scale);
}

/** A typed array as input JSON. */
export function taJson(type: string, values: readonly number[], extra: Record<string, unknown> = {}): Json {
  return { $: 'ta', type, v: values.map(numberToJson), ...extra };
}

export function floatArray(rng: Rng, count: number, dtype: DTypeName, special?: number): Json {
  const spec = special ?? (rng.chance(0.15) ? 0.2 : 0);
  const values = Array.from({ length: count }, () => genValue(rng, spec));
  const extra: Record<string, unknown> = {};
  if (rng.chance(0.05)) extra.sab = true;
  else if (rng.chance(0.04)) extra.offset = rng.int(1, 3);
  return taJson(dtype === 'float32' ? 'Float32Array' : 'Float64Array', values, extra);
}

function other(dtype: DTypeName): DTypeName {
  return dtype === 'float32' ? 'float64' : 'float32';
}

/** The data of one variable: rows × dim values, sometimes as a Tensor. Claimed huge dims get tiny data. */
function dataFor(rng: Rng, d: Decl, rows: number, dtype: DTypeName): Json {
  if (d.dim > 4096) return floatArray(rng, rng.int(0, 16), dtype);
  if (d.dim > 64) return floatArray(rng, rng.chance(0.5) ? d.dim * rng.int(0, 2) : rng.int(1, 16), dtype);
  const data = floatArray(rng, rows * d.dim, dtype);
  return rng.chance(0.12) ? { data, shape: [rows, d.dim] } : data;
}

function paramFor(rng: Rng, d: Decl, dtype: DTypeName): Json {
  const values = Array.from({ length: Math.min(d.dim, 64) }, () => (rng.chance(0.6) ? rng.pick([0.5, 1, 2, 10, 100, 1e4, 0.01]) : genValue(rng)));
  const form = rng.weighted([['number', d.dim === 1 ? 4 : 0], ['array', 2], ['typed', 2], ['tensor', 1]] as const);
  if (form === 'number') return numberToJson(values[0]) === values[0] ? values[0] : { $: 'num', v: numberToJson(values[0]) };
  if (form === 'array') return values.map((v) => (numberToJson(v) === v ? v : { $: 'num', v: numberToJson(v) }));
  const typed = taJson(dtype === 'float32' ? 'Float32Array' : 'Float64Array', values);
  return form === 'typed' ? typed : { data: typed, shape: [1, values.length] };
}

/** A wrong replacement for one argument (or a right one in a surprising form). */
export function badArg(rng: Rng, d: Decl, rows: number, dtype: DTypeName): Json {
  const count = Math.min(rows * d.dim, 4096); // claimed dims may be near 2^31: the data stays small
  const kind = rng.weighted([
    ['short', 3], ['long', 2], ['empty', 2], ['otherDtype', 4], ['plain', 3], ['tensorGood', 2], ['tensorBad', 4], ['int32', 2],
    ['uint8', 1], ['dataview', 1], ['bigint64', 1], ['sab', 2], ['detached', 2], ['null', 2], ['undef', 2], ['string', 1],
    ['number', 2], ['object', 1], ['bool', 1], ['bigint', 1], ['symbol', 1], ['allNaN', 2], ['holes', 1],
  ] as const);
  const t = dtype === 'float32' ? 'Float32Array' : 'Float64Array';
  switch (kind) {
    case 'short': return floatArray(rng, Math.max(0, count - rng.int(1, 3)), dtype);
    case 'long': return floatArray(rng, count + rng.int(1, 5), dtype);
    case 'empty': return floatArray(rng, 0, dtype);
    case 'otherDtype': return floatArray(rng, count, other(dtype));
    case 'plain': return Array.from({ length: count }, () => genValue(rng, 0));
    case 'tensorGood': return { data: floatArray(rng, count, dtype), shape: [rows, d.dim] };
    case 'tensorBad': {
      const shape = rng.pick<Json>([
        [rows, d.dim + 1], [d.dim, rows], [-1, d.dim], [rows, 0], [0, 0], [rows * d.dim, 1], [1.5, 2], ['2', '3'], null, [rows],
        [rows, d.dim, 1], [{ $: 'num', v: 'NaN' }, 1], [2 ** 31, 2 ** 31], [{ $: 'num', v: 'Infinity' }, 0], {},
      ]);
      const data = rng.chance(0.8) ? floatArray(rng, count, dtype) : rng.pick<Json>([null, [1, 2, 3], taJson('Int32Array', [1, 2]), 'data']);
      return rng.chance(0.9) ? { data, shape } : rng.pick<Json>([{ data }, { shape }, { data, shape, extra: 1 }]);
    }
    case 'int32': return taJson('Int32Array', Array.from({ length: count }, () => rng.int(-5, 5)));
    case 'uint8': return taJson('Uint8Array', Array.from({ length: count }, () => rng.int(0, 255)));
    case 'dataview': return { $: 'ta', type: 'DataView', v: new Array(count * 4).fill(0) };
    case 'bigint64': return taJson('BigInt64Array', Array.from({ length: count }, () => rng.int(-5, 5)));
    case 'sab': return taJson(t, Array.from({ length: count }, () => genValue(rng)), { sab: true });
    case 'detached': return taJson(t, Array.from({ length: count }, () => genValue(rng)), { detached: true });
    case 'null': return null;
    case 'undef': return { $: 'undef' };
    case 'string': return rng.pick(['x', '', '1,2,3']);
    case 'number': return rng.pick<Json>([0, 1, 0.5, { $: 'num', v: 'NaN' }, 2 ** 31]);
    case 'object': return rng.pick<Json>([{}, { length: count }, { 0: 1, length: 1 }]);
    case 'bool': return rng.chance(0.5);
    case 'bigint': return { $: 'bigint', v: '3' };
    case 'symbol': return { $: 'sym' };
    case 'allNaN': return taJson(t, new Array(count).fill(NaN));
    case 'holes': return { $: 'holes', n: count };
  }
}

/**
 * The argument list of a call: one entry per declaration, in slot order. With `mutate`,
 * one or two arguments are replaced by bad ones, or the list itself is damaged.
 */
export function genArgs(rng: Rng, decls: readonly Decl[], sizes: Sizes, dtype: DTypeName, mutate: boolean): Json {
  const ordered = [...decls].sort((a, b) => a.pos - b.pos);
  const rowsOf = (d: Decl): number => (d.cat === 'i' ? sizes.m : sizes.n);
  const args: Json[] = ordered.map((d) => (d.cat === 'param' ? paramFor(rng, d, dtype) : dataFor(rng, d, rowsOf(d), dtype)));
  if (!mutate) return args;
  const kind = rng.weighted([['one', 8], ['two', 2], ['drop', 1], ['extra', 1], ['notArray', 1], ['rowsOff', 2]] as const);
  if (args.length === 0) return args;
  switch (kind) {
    case 'one':
    case 'two':
      for (let e = 0; e < (kind === 'two' ? 2 : 1); e++) {
        const k = rng.int(0, args.length - 1);
        args[k] = badArg(rng, ordered[k], ordered[k].cat === 'param' ? 1 : rowsOf(ordered[k]), dtype);
      }
      return args;
    case 'drop': return args.slice(0, -1);
    case 'extra': return [...args, floatArray(rng, 3, dtype)];
    case 'notArray': return rng.pick<Json>([null, { $: 'undef' }, 'x', 5, { 0: args[0], length: args.length }]);
    case 'rowsOff': {
      // Every i- (or j-) variable but one keeps its rows: a row-count mismatch.
      const k = rng.int(0, args.length - 1);
      const d = ordered[k];
      if (d.cat !== 'param') args[k] = floatArray(rng, Math.min(4096, (rowsOf(d) + rng.int(1, 3)) * d.dim), dtype);
      return args;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Options.

/** An AbortSignal (or something posing as one). */
export function genSignal(rng: Rng): Json {
  return rng.weighted<Json>([
    [{ $: 'signal', mode: 'live' }, 3],
    [{ $: 'signal', mode: 'aborted' }, 3],
    [{ $: 'signal', mode: 'abort-after' }, 3],
    [{ $: 'signal', mode: 'abort-later' }, 3],
    [{ $: 'signal', mode: 'shared' }, 3],
    [{ aborted: false }, 4],
    [{ aborted: true }, 1],
    [{ aborted: 'no' }, 1],
    [{ aborted: false, addEventListener: { $: 'fn', mode: 'noop' }, removeEventListener: { $: 'fn', mode: 'noop' } }, 1],
    [{ aborted: false, addEventListener: { $: 'fn', mode: 'throws' } }, 1],
    [null, 1],
    [5, 1],
    ['signal', 1],
  ]);
}

/** Cluster boundaries over `rows` rows: (start, end) pairs, sorted and disjoint. */
function partition(rng: Rng, rows: number): number[] {
  const out: number[] = [];
  let start = 0;
  while (start < rows) {
    const end = Math.min(rows, start + rng.int(1, Math.max(1, Math.ceil(rows / 3))));
    out.push(start, end);
    start = end;
  }
  return out;
}

/** KeOps' six range arrays from cluster boundaries and a keep matrix (what cluster.ts's fromMatrix does). */
function rangesFrom(rI: number[], rJ: number[], keep: (a: number, b: number) => boolean): number[][] {
  const nI = rI.length / 2;
  const nJ = rJ.length / 2;
  const side = (n: number, m: number, kept: (a: number, b: number) => boolean, otherR: number[]): [number[], number[]] => {
    const slices: number[] = [];
    const red: number[] = [];
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < m; b++) if (kept(a, b)) red.push(otherR[2 * b], otherR[2 * b + 1]);
      slices.push(red.length / 2);
    }
    return [slices, red];
  };
  const [slicesI, redJ] = side(nI, nJ, keep, rJ);
  const [slicesJ, redI] = side(nJ, nI, (a, b) => keep(b, a), rI);
  return [rI, slicesI, redJ, rJ, slicesJ, redI];
}

/** A `ranges` option: valid for the sizes, subtly wrong, or garbage. */
export function genRanges(rng: Rng, sizes: Sizes, forced?: 'valid' | 'allPairs' | 'corrupt' | 'random' | 'wrongType' | 'wrongCount'): Json {
  const kind = forced ?? rng.weighted([['valid', 6], ['allPairs', 2], ['corrupt', 4], ['random', 3], ['wrongType', 1], ['wrongCount', 1]] as const);
  const asJson = (arrays: number[][]): Json[] => arrays.map((a) => taJson('Int32Array', a));
  const keepP = rng.pick([0, 0.3, 0.7, 1]);
  const keepBits = new Map<string, boolean>();
  const keep = (a: number, b: number): boolean => {
    const key = `${a},${b}`;
    if (!keepBits.has(key)) keepBits.set(key, rng.chance(keepP));
    return keepBits.get(key) as boolean;
  };
  switch (kind) {
    case 'valid':
      return asJson(rangesFrom(partition(rng, sizes.m), partition(rng, sizes.n), keep));
    case 'allPairs':
      return asJson(rangesFrom([0, sizes.m], [0, sizes.n], () => true));
    case 'corrupt': {
      const arrays = rangesFrom(partition(rng, sizes.m), partition(rng, sizes.n), keep);
      const k = rng.int(0, 5);
      const a = arrays[k];
      const bad = rng.pick([-1, -2147483648, 2147483647, sizes.m + 1, sizes.n + 1, 0, 1e9]);
      if (a.length > 0 && rng.chance(0.7)) a[rng.int(0, a.length - 1)] = bad;
      else if (rng.chance(0.5)) a.push(bad, bad);
      else arrays[k] = a.slice(0, Math.max(0, a.length - rng.int(1, 2)));
      if (rng.chance(0.2)) arrays[k].reverse();
      return asJson(arrays);
    }
    case 'random':
      return Array.from({ length: 6 }, () => taJson('Int32Array', Array.from({ length: 2 * rng.int(0, 4) }, () => rng.pick([rng.int(-3, 70), 2147483647, -1]))));
    case 'wrongType':
      return rng.pick<Json>([
        null, 5, 'ranges', {}, Array.from({ length: 6 }, () => [0, 1]), Array.from({ length: 6 }, () => taJson('Float64Array', [0, 1])),
        Array.from({ length: 6 }, () => taJson('Int32Array', [0])),
      ]);
    case 'wrongCount':
      return Array.from({ length: rng.pick([0, 3, 5, 7]) }, () => taJson('Int32Array', [0, 1]));
  }
}

const NUM = (v: string): Json => ({ $: 'num', v });

/** Valid and wrong values of each run option. */
const RUN_FIELDS: Record<string, { valid: (rng: Rng, sizes: Sizes) => Json; bad: (rng: Rng, sizes: Sizes) => Json }> = {
  prune: { valid: (rng) => rng.chance(0.5), bad: (rng) => rng.pick<Json>(['yes', 1, null, {}]) },
  pruneTolerance: { valid: (rng) => rng.pick<Json>([0, 1e-4, 0.5, 1, 1e300, NUM('-0')]), bad: (rng) => rng.pick<Json>([-1, NUM('NaN'), NUM('Infinity'), '0.1']) },
  backend: { valid: (rng) => rng.pick<Json>(['auto', 'cpu']), bad: (rng) => rng.pick<Json>(['cuda', 'gpu', 5, null, '']) },
  signal: {
    valid: (rng) => ({ $: 'signal', mode: rng.pick(['live', 'aborted', 'abort-after', 'abort-later', 'shared']) }),
    bad: (rng) => {
      for (;;) {
        const s = genSignal(rng) as { $?: string } | null;
        if (s === null || typeof s !== 'object' || s.$ !== 'signal') return s;
      }
    },
  },
  ranges: {
    valid: (rng, sizes) => genRanges(rng, sizes, rng.chance(0.7) ? 'valid' : 'allPairs'),
    bad: (rng, sizes) => genRanges(rng, sizes, rng.pick(['corrupt', 'corrupt', 'random', 'wrongType', 'wrongCount'] as const)),
  },
  timeout: { valid: (rng) => rng.pick<Json>([1, 5, 50, 2 ** 31 - 1]), bad: (rng) => rng.pick<Json>([0, -1, NUM('NaN'), NUM('Infinity'), 2 ** 31, '5']) },
  priority: { valid: (rng) => rng.pick<Json>([0, 1, -1, 1e9, -1e9, 7]), bad: (rng) => rng.pick<Json>([1.5, '3', 2e9, NUM('NaN'), null]) },
  background: { valid: (rng) => rng.chance(0.5), bad: (rng) => rng.pick<Json>(['yes', 1, null]) },
};

/** RunOptions: usually empty or valid; with `bad`, one field (or the whole object) is wrong. */
export function genRunOptions(rng: Rng, sizes: Sizes, bad = rng.chance(0.3)): Json {
  if (bad && rng.chance(0.1)) return rng.pick<Json>([null, 5, 'opts', [], true]);
  if (!bad && rng.chance(0.35)) return rng.chance(0.5) ? { $: 'undef' } : {};
  const o: Record<string, Json> = {};
  const chance: Record<string, number> = {
    prune: 0.4, pruneTolerance: 0.25, backend: 0.15, signal: 0.3, ranges: 0.2, timeout: 0.1, priority: 0.1, background: 0.15,
  };
  for (const [name, f] of Object.entries(RUN_FIELDS)) if (rng.chance(chance[name])) o[name] = f.valid(rng, sizes);
  if (bad) {
    const name = rng.pick(Object.keys(RUN_FIELDS));
    o[name] = RUN_FIELDS[name].bad(rng, sizes);
  }
  if (rng.chance(0.05)) o.unknownOption = 1;
  return o;
}

/** SolveOptions for n unknowns of dimension dv: RunOptions plus alpha, tol, maxIter, x0, onProgress; at most one wrong. */
export function genSolveOptions(rng: Rng, sizes: Sizes, n: number, dv: number, dtype: DTypeName): Json {
  const which = rng.chance(0.35) ? rng.pick(['run', 'alpha', 'tol', 'maxIter', 'x0', 'onProgress', 'precond', 'whole']) : '';
  if (which === 'whole') return rng.pick<Json>([null, { $: 'undef' }, 5, {}]);
  const base = genRunOptions(rng, sizes, which === 'run');
  const o: Record<string, Json> = typeof base === 'object' && base !== null && !('$' in base) && !Array.isArray(base) ? { ...(base as object) } : {};
  const count = n * dv;
  o.alpha = which === 'alpha'
    ? rng.pick<Json>([-1, NUM('NaN'), NUM('Infinity'), '1', { $: 'undef' }, null])
    : rng.weighted<Json>([[0.8, 6], [1e-3, 1], [10, 1], [0, 1]]);
  if (which === 'tol') o.tol = rng.pick<Json>([-1, NUM('NaN'), 'x', NUM('Infinity')]);
  else if (rng.chance(0.5)) o.tol = rng.pick<Json>([1e-6, 0, 1e-2, 1, 1e-300]);
  // No large valid maxIter: a solve that cannot converge would run for minutes.
  if (which === 'maxIter') o.maxIter = rng.pick<Json>([-1, 1.5, 1e9 + 1, NUM('NaN'), '10', 2 ** 31]);
  else if (rng.chance(0.5)) o.maxIter = rng.pick<Json>([0, 1, 3, 50, 200]);
  if (which === 'x0') {
    o.x0 = rng.pick<Json>([
      floatArray(rng, count + 1, 'float64', 0), { data: floatArray(rng, count, dtype, 0), shape: [dv, n] }, Array.from({ length: count }, () => 0), 'x0',
      taJson('Int32Array', new Array(count).fill(0)), floatArray(rng, Math.max(0, count - 1), dtype, 0),
    ]);
  } else if (rng.chance(0.2)) {
    o.x0 = rng.pick<Json>([
      floatArray(rng, count, 'float64', 0), floatArray(rng, count, dtype, 0), { data: floatArray(rng, count, dtype, 0), shape: [n, dv] },
      taJson('Float64Array', new Array(count).fill(NaN)),
    ]);
  }
  if (which === 'onProgress') o.onProgress = rng.pick<Json>(['notfn', 5, { $: 'fn', mode: 'throws' }, { $: 'fn', mode: 'throws-string' }]);
  else if (rng.chance(0.15)) o.onProgress = rng.pick<Json>([{ $: 'fn', mode: 'noop' }, { $: 'fn', mode: 'abort' }]);
  if (which === 'precond') {
    const bad: Record<string, Json[]> = {
      preconditioner: ['cholesky', 5, null, ''],
      rank: [0, -1, 1.5, NUM('NaN'), '8', 2 ** 40],
      landmarks: ['random', 1, null],
      seed: [-1, 0.5, NUM('Infinity'), 's', 2 ** 60],
    };
    const key = rng.pick(Object.keys(bad));
    o[key] = rng.pick(bad[key]);
    if (key !== 'preconditioner') o.preconditioner = 'nystrom';
  } else if (rng.chance(0.4)) {
    o.preconditioner = rng.pick<Json>(['none', 'auto', 'nystrom', 'jacobi']);
    if (o.preconditioner === 'nystrom') {
      if (rng.chance(0.5)) o.rank = rng.pick<Json>([1, 2, 7, 64, 1000]);
      if (rng.chance(0.3)) o.landmarks = rng.pick<Json>(['rpcholesky', 'uniform']);
      if (rng.chance(0.3)) o.seed = rng.pick<Json>([0, 1, 12345, 2 ** 31]);
    }
  }
  return o;
}

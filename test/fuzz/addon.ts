/**
 * The `addon` target: a valid program built by lib's own lowering (Genred or KernelSolve,
 * then `.compiled.bind(args)`), then damaged: any field replaced by out-of-range, huge,
 * negative, NaN or wrongly typed values, deleted, truncated or extended; the argument
 * list, the options and the cancel flag damaged too. Then `addon.reduceSync`,
 * `addon.reduce`, `addon.solveSync` or `addon.solve` is called with it directly.
 */
import { addon } from '../../lib/addon';
import * as lk from '../../lib/index';
import { DTypeName, genArgs, genRanges, genSizes, Json, taJson } from './args';
import { decode, DecodeContext, encode } from './codec';
import { AstGen, Decl, genDecls, gradientTemplate, KERNEL_TEMPLATES, printAliases, printAst, templateDecls } from './formulas';
import { checkAddonError, errorKey, resultDiff } from './oracle';
import type { CallRecord, Outcome, PendingFinding } from './api';
import type { Rng } from './rng';

export type AddonCall = 'reduceSync' | 'reduce' | 'both' | 'solveSync' | 'solve' | 'solveBoth';

export interface AddonInput {
  target: 'addon';
  call: AddonCall;
  /** What was built and what was damaged, for people reading a finding. */
  notes: string[];
  program: Json;
  args: Json;
  options: Json;
  cancel: Json;
  slot?: Json;
  b?: Json;
  onProgress?: Json;
}

const REDUCTIONS = ['Sum', 'Min', 'Max', 'ArgMin', 'ArgMax', 'Min_ArgMin', 'Max_ArgMax', 'KMin', 'ArgKMin', 'KMin_ArgKMin', 'LogSumExp', 'SumSoftMaxWeight'];

/** Values a number field is replaced by. */
const NUMBER_POOL: Json[] = [
  -1, 0, 1, 2, 3, 7, 12, 38, 39, 64, 255, 1 << 24, (1 << 24) + 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32, 1e9, 1e15, 9e15, 2 ** 53, 1e300,
  { $: 'num', v: 'NaN' }, { $: 'num', v: 'Infinity' }, { $: 'num', v: '-Infinity' }, { $: 'num', v: '-0' }, 0.5, -0.5,
  '1', null, true, {}, [], { $: 'undef' }, { $: 'bigint', v: '1' },
];

/** Values an element of an Int32Array field is set to. */
const INT_POOL = [-1, -2, 0, 1, 2, 3, 5, 7, 38, 39, 40, 100, 255, 1000, 1 << 24, (1 << 24) + 1, 2 ** 30, 2 ** 31 - 1, -(2 ** 31), 65535, -65536];

const INT_FIELDS = ['vars', 'regDims', 'code', 'kernel'];
const FIELDS = ['version', 'dtype', 'm', 'n', 'vars', 'regDims', 'code', 'consts', 'result', 'weights', 'reduction', 'k', 'kernel'];

const dummyShared = { signal: new AbortController().signal };

interface Base { program: Record<string, unknown>; args: unknown[]; slot?: number; dv?: number; notes: string[] }

/** A valid reduction program, lowered by lib: a random formula (or a kernel template) bound to valid arrays. */
function baseReduction(rng: Rng): Base {
  for (let tries = 0; tries < 8; tries++) {
    const template = rng.chance(0.3);
    let decls: Decl[] = template ? templateDecls(rng) : genDecls(rng);
    const reduction = rng.weighted(REDUCTIONS.map((r) => [r, r === 'Sum' || r.includes('KMin') ? 3 : 1] as [string, number]));
    const gen = new AstGen(rng, decls, rng.int(1, 4));
    const scalar = reduction === 'LogSumExp' || reduction === 'SumSoftMaxWeight' || rng.chance(0.6);
    let formula = template && reduction === 'Sum' ? rng.pick(KERNEL_TEMPLATES) : printAst(rng, gen.gen(scalar ? 1 : rng.pick([...new Set(decls.map((d) => d.dim))])));
    if (template && reduction === 'Sum' && rng.chance(0.3)) ({ formula, decls } = gradientTemplate(formula, decls));
    const sizes = genSizes(rng);
    sizes.m = Math.min(sizes.m, 64);
    sizes.n = Math.max(1, Math.min(sizes.n, 64));
    const axis = rng.chance(0.7) ? 1 : 0;
    const reduced = axis === 1 ? sizes.n : sizes.m;
    const opts: Record<string, unknown> = { reduction, axis };
    if (reduction.includes('KMin')) opts.k = rng.int(1, Math.max(1, Math.min(4, reduced)));
    if (reduction === 'SumSoftMaxWeight') opts.formula2 = printAst(rng, gen.gen(rng.pick([1, 2])));
    const dtype: DTypeName = rng.chance(0.6) ? 'float32' : 'float64';
    const argsJson = genArgs(rng, decls, sizes, dtype, false);
    try {
      const g = new lk.Genred(formula, printAliases(rng, decls), opts as unknown as lk.GenredOptions);
      const call = g.compiled.bind(decode(argsJson, new DecodeContext(dummyShared)));
      return { program: { ...call.program }, args: call.args, notes: [`${reduction} axis ${axis} of ${formula.slice(0, 200)}, ${dtype}, m=${call.program.m} n=${call.program.n}`] };
    } catch {
      // Not every random combination is valid; draw another.
    }
  }
  const x = new Float32Array([0, 1, 2, 3]);
  const g = new lk.Genred('SqDist(x,y)', ['x = Vi(1)', 'y = Vj(1)'], { reduction: 'KMin', axis: 1, k: 2 });
  const call = g.compiled.bind([x, x]);
  return { program: { ...call.program }, args: call.args, notes: ['KMin k=2 of SqDist(x,y), float32, m=4 n=4'] };
}

/** A valid solve program (K·v, a Sum over j with the unknown a j-variable) from KernelSolve. */
function baseSolve(rng: Rng): Base {
  const decls = templateDecls(rng).map((d) => (d.name === 'b' ? { ...d, name: 'a' } : d));
  const kernel = rng.chance(0.7) ? rng.pick(KERNEL_TEMPLATES).replace(/\bb\b/, 'a') : `(${printAst(rng, new AstGen(rng, decls.filter((d) => d.name !== 'a'), 3).gen(1))})*a`;
  const sizes = genSizes(rng);
  sizes.m = Math.max(1, Math.min(sizes.m, 48));
  sizes.n = sizes.m;
  const dtype: DTypeName = rng.chance(0.6) ? 'float32' : 'float64';
  const argsJson = genArgs(rng, decls, sizes, dtype, false);
  try {
    const s = new lk.KernelSolve(kernel, printAliases(rng, decls), 'a', { axis: 1 });
    const call = s.compiled.bind(decode(argsJson, new DecodeContext(dummyShared)));
    return { program: { ...call.program }, args: call.args, slot: s.slot, dv: s.compiled.cols, notes: [`solve of ${kernel}, ${dtype}, n=${call.program.n}`] };
  } catch {
    const x = new Float64Array([0, 0.5, 1, 1.5]);
    const s = new lk.KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(1)', 'y = Vj(1)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
    const call = s.compiled.bind([x, x, new Float64Array(4).fill(1), 1]);
    return { program: { ...call.program }, args: call.args, slot: s.slot, dv: 1, notes: ['solve of the Gaussian kernel, float64, n=4'] };
  }
}

// ---------------------------------------------------------------------------------------
// Mutations (on the JSON of the program and arguments).

type Obj = Record<string, Json>;

function taValues(j: Json): number[] | null {
  const o = j as { $?: string; v?: unknown[] } | null;
  return o !== null && typeof o === 'object' && o.$ === 'ta' && Array.isArray(o.v) ? (o.v as number[]) : null;
}

function mutateProgram(rng: Rng, p: Obj, notes: string[]): void {
  const kind = rng.weighted([
    ['scalar', 6], ['delete', 2], ['element', 8], ['wrongType', 3], ['truncate', 3], ['extend', 3], ['swapInstr', 2], ['opcode', 3],
    ['dtype', 2], ['kmin', 3], ['hugeSize', 3], ['wideReg', 2], ['extra', 1], ['empty', 1], ['consts', 2],
  ] as const);
  const field = rng.pick(FIELDS);
  switch (kind) {
    case 'scalar': {
      const f = rng.pick(['version', 'm', 'n', 'result', 'weights', 'reduction', 'k', 'dtype']);
      p[f] = rng.pick(NUMBER_POOL);
      notes.push(`program.${f} = ${JSON.stringify(p[f])}`);
      return;
    }
    case 'delete':
      delete p[field];
      notes.push(`program.${field} deleted`);
      return;
    case 'element': {
      const f = rng.pick(INT_FIELDS);
      const v = taValues(p[f]);
      if (v === null || v.length === 0) { p[f] = taJson('Int32Array', [rng.pick(INT_POOL)]); notes.push(`program.${f} = [one value]`); return; }
      const k = rng.int(0, v.length - 1);
      v[k] = rng.chance(0.7) ? rng.pick(INT_POOL) : v[k] + rng.pick([-1, 1]);
      notes.push(`program.${f}[${k}] = ${v[k]}`);
      return;
    }
    case 'wrongType': {
      const v = taValues(p[field]) ?? [1, 2, 3];
      p[field] = rng.pick<Json>([taJson('Float64Array', v), taJson('Uint32Array', v.map((x) => x >>> 0)), taJson('Int32Array', v.map((x) => x | 0)), v, taJson('Int16Array', v), null, 'code', taJson('Int32Array', v, { sab: true }), taJson('Int32Array', v, { detached: true })]);
      notes.push(`program.${field} of another type`);
      return;
    }
    case 'truncate': {
      const f = rng.pick([...INT_FIELDS, 'consts']);
      const v = taValues(p[f]);
      if (v !== null) v.splice(Math.max(0, v.length - rng.int(1, 7)));
      notes.push(`program.${f} truncated`);
      return;
    }
    case 'extend': {
      const f = rng.pick([...INT_FIELDS, 'consts']);
      const v = taValues(p[f]);
      if (v !== null) for (let e = rng.int(1, 7); e > 0; e--) v.push(rng.pick(INT_POOL));
      notes.push(`program.${f} extended`);
      return;
    }
    case 'swapInstr': {
      const v = taValues(p.code);
      if (v === null || v.length < 12) return;
      const count = v.length / 6;
      const a = rng.int(0, count - 1);
      const b = rng.int(0, count - 1);
      for (let f = 0; f < 6; f++) [v[a * 6 + f], v[b * 6 + f]] = [v[b * 6 + f], v[a * 6 + f]];
      notes.push(`instructions ${a} and ${b} swapped`);
      return;
    }
    case 'opcode': {
      const v = taValues(p.code);
      if (v === null || v.length < 6) return;
      const k = rng.int(0, v.length / 6 - 1);
      const f = rng.weighted([[0, 4], [1, 2], [2, 2], [3, 1], [4, 1], [5, 2]] as const);
      v[k * 6 + f] = f === 0 ? rng.int(0, 45) : rng.pick([...INT_POOL, rng.int(-1, 8)]);
      notes.push(`instruction ${k} field ${f} = ${v[k * 6 + f]}`);
      return;
    }
    case 'dtype':
      p.dtype = rng.pick<Json>(['float16', '', 'Float32', 5, null, p.dtype === 'float32' ? 'float64' : 'float32']);
      notes.push(`program.dtype = ${JSON.stringify(p.dtype)}`);
      return;
    case 'kmin':
      p.reduction = rng.pick([7, 8, 9]);
      p.k = rng.pick<Json>([2 ** 31 - 1, 2 ** 30, 1e9, 1 << 24, 0, -1, 65536, 100]);
      notes.push(`KMin-family reduction ${p.reduction} with k = ${JSON.stringify(p.k)}`);
      return;
    case 'hugeSize': {
      const f = rng.pick(['m', 'n']);
      p[f] = rng.pick<Json>([2 ** 31 - 1, 2 ** 31, 1e9, 1e15, 9e15, 1 << 24, 2 ** 40]);
      notes.push(`program.${f} = ${JSON.stringify(p[f])}`);
      return;
    }
    case 'wideReg': {
      const v = taValues(p.regDims);
      if (v === null || v.length === 0) return;
      const k = rng.int(0, v.length - 1);
      v[k] = rng.pick([1 << 24, (1 << 24) + 1, 2 ** 31 - 1, 0, -1, 1 << 20]);
      notes.push(`regDims[${k}] = ${v[k]}`);
      return;
    }
    case 'extra':
      p[rng.pick(['extra', '__proto__', 'toString', 'length'])] = rng.pick(NUMBER_POOL);
      notes.push('an extra field');
      return;
    case 'empty': {
      const f = rng.pick([...INT_FIELDS, 'consts']);
      p[f] = taJson(f === 'consts' ? 'Float64Array' : 'Int32Array', []);
      notes.push(`program.${f} empty`);
      return;
    }
    case 'consts': {
      const v = taValues(p.consts);
      if (v === null) return;
      const value = rng.pick<number | string>(['NaN', 'Infinity', '-Infinity', '-0', 1e308, 5e-324, 2 ** 31]);
      if (v.length > 0 && rng.chance(0.7)) v[rng.int(0, v.length - 1)] = value as number;
      else v.push(value as number);
      notes.push(`a constant = ${value}`);
    }
  }
}

function mutateArgs(rng: Rng, args: Json[], notes: string[]): Json {
  const kind = rng.weighted([['drop', 2], ['extra', 2], ['otherDtype', 3], ['length', 4], ['wrongType', 2], ['notArray', 1], ['empty', 1], ['detachGetter', 2], ['sab', 1], ['holes', 1]] as const);
  const k = args.length > 0 ? rng.int(0, args.length - 1) : 0;
  const v = args.length > 0 ? taValues(args[k]) : null;
  const type = (args[k] as { type?: string } | undefined)?.type ?? 'Float32Array';
  notes.push(`args: ${kind} (slot ${k})`);
  switch (kind) {
    case 'drop': return args.slice(0, -1);
    case 'extra': return [...args, taJson('Float32Array', [1, 2, 3])];
    case 'otherDtype': if (v !== null) args[k] = taJson(type === 'Float32Array' ? 'Float64Array' : 'Float32Array', v); return args;
    case 'length': if (v !== null) args[k] = taJson(type, rng.chance(0.5) ? v.slice(0, Math.max(0, v.length - rng.int(1, 3))) : [...v, 1, 2, 3].slice(0, v.length + rng.int(1, 3))); return args;
    case 'wrongType': args[k] = rng.pick<Json>([null, 5, 'x', [1, 2, 3], {}, taJson('Int32Array', v ?? [1]), taJson('Uint8Array', [1, 2]), { $: 'ta', type: 'DataView', v: [0, 0, 0, 0] }, { $: 'undef' }]); return args;
    case 'notArray': return rng.pick<Json>([null, 5, 'args', {}, { 0: args[0], length: 1 }, { $: 'undef' }]);
    case 'empty': return [];
    case 'detachGetter': {
      // Reading element k transfers every other argument's buffer away (readArgs must take no pointer before).
      return { $: 'getter', v: args, key: String(k), mode: 'detach', value: args[k] };
    }
    case 'sab': if (v !== null) args[k] = taJson(type, v, { sab: true }); return args;
    case 'holes': return { $: 'holes', n: args.length };
  }
}

function genOptions(rng: Rng, m: number, n: number, notes: string[]): Json {
  if (rng.chance(0.5)) return rng.chance(0.5) ? { $: 'undef' } : {};
  const o: Obj = {};
  if (rng.chance(0.4)) o.prune = rng.pick<Json>([true, false, 'yes', 1, null]);
  if (rng.chance(0.3)) o.pruneTolerance = rng.pick<Json>([0, 1e-4, 1, -1, { $: 'num', v: 'NaN' }, { $: 'num', v: 'Infinity' }, 'x']);
  if (rng.chance(0.2)) o.device = rng.pick<Json>(['cpu', 'emulated', 'emulated', 'cuda', 'gpu', 5, '']);
  if (rng.chance(0.15)) o.block = rng.pick<Json>([1, 32, 64, 1024, 0, 1025, 1.5, -1, { $: 'num', v: 'NaN' }]);
  if (rng.chance(0.15)) o.splits = rng.pick<Json>([1, 2, 7, 65535, 0, 65536, 1.5]);
  if (rng.chance(0.3)) {
    const six = genRanges(rng, { m, n });
    o.ranges = Array.isArray(six) && six.length === 6 && rng.chance(0.8) ? six.slice(0, 3) : six;
  }
  if (rng.chance(0.05)) return rng.pick<Json>([null, 5, 'options', []]);
  if (rng.chance(0.05)) return { $: 'getter', v: o, key: rng.pick(['prune', 'ranges', 'device']), mode: rng.pick(['throws', 'detach']), value: { $: 'undef' } };
  notes.push(`options ${JSON.stringify(o).slice(0, 200)}`);
  return o;
}

function genCancel(rng: Rng): Json {
  return rng.weighted<Json>([
    [{ $: 'flag' }, 8], [{ $: 'flag', cancelled: true }, 2], [{ $: 'flag', after: true }, 2], [{ $: 'undef' }, 2],
    [{ $: 'cancel', v: 0, sab: true }, 1], [{ $: 'cancel', v: 1, sab: true }, 1], [{ $: 'cancel', v: 0, len: 0 }, 1],
    [null, 1], [5, 1], [{}, 1], [{ cancel: { $: 'fn', mode: 'noop' }, cancelled: false }, 1], [taJson('Float64Array', [0]), 1], ['cancel', 1],
  ]);
}

export function genAddonInput(rng: Rng): AddonInput {
  const solve = rng.chance(0.3);
  const base = solve ? baseSolve(rng) : baseReduction(rng);
  const notes = [...base.notes];
  const program = encode(base.program) as Obj;
  let args = encode(base.args) as Json;
  const m = Number(base.program.m);
  const n = Number(base.program.n);
  const mutations = rng.weighted([[0, 15], [1, 45], [2, 25], [3, 10], [5, 5]] as const);
  let options: Json = genOptions(rng, m, n, notes);
  let cancel: Json = genCancel(rng);
  let programJson: Json = program;
  let slot: Json = base.slot;
  let b: Json = solve ? taJson('Float64Array', Array.from({ length: n * (base.dv ?? 1) }, () => rng.float() * 2 - 1)) : undefined;
  let onProgress: Json = undefined;
  for (let e = 0; e < mutations; e++) {
    const where = rng.weighted([['program', 12], ['args', 3], ['options', 1], ['cancel', 1], ['solve', solve ? 3 : 0], ['whole', 0.3]] as const);
    switch (where) {
      case 'program': mutateProgram(rng, program, notes); break;
      case 'args': args = mutateArgs(rng, Array.isArray(args) ? args : [], notes); break;
      case 'options': options = rng.pick<Json>([null, 5, 'x', { prune: 'yes' }, { pruneTolerance: -1 }, { device: 'gpu' }, { ranges: null }, { ranges: [1, 2, 3] }]); notes.push(`options ${JSON.stringify(options)}`); break;
      case 'cancel': cancel = rng.pick<Json>([null, 5, {}, taJson('Int32Array', []), taJson('Uint32Array', [0]), { $: 'cancel', v: 1 }, { $: 'flag', cancelled: true }]); notes.push(`cancel ${JSON.stringify(cancel)}`); break;
      case 'solve': {
        const which = rng.pick(['slot', 'b', 'alpha', 'tol', 'maxIter', 'x0']);
        if (which === 'slot') slot = rng.pick<Json>([-1, 0, 1, 2, 3, 4, 1e15, 2 ** 31, 1.5, { $: 'num', v: 'NaN' }, '2', null]);
        else if (which === 'b') b = rng.pick<Json>([taJson('Float64Array', [1]), taJson('Float32Array', new Array(n).fill(1)), null, taJson('Float64Array', []), taJson('Float64Array', new Array(n * 2).fill(1)), taJson('Float64Array', new Array(n).fill(NaN))]);
        else {
          const o = (typeof options === 'object' && options !== null && !Array.isArray(options) && !('$' in (options as object)) ? options : {}) as Obj;
          o[which] = which === 'x0'
            ? rng.pick<Json>([taJson('Float64Array', [1]), taJson('Float32Array', new Array(n).fill(0)), null, 5, taJson('Float64Array', new Array(n).fill(NaN))])
            : rng.pick<Json>([-1, 0, 1, 1e9 + 1, 2 ** 31, 1.5, { $: 'num', v: 'NaN' }, { $: 'num', v: 'Infinity' }, '1', null, { $: 'undef' }]);
          options = o;
        }
        notes.push(`solve ${which} damaged`);
        break;
      }
      case 'whole': programJson = rng.pick<Json>([null, 5, 'program', [], { $: 'undef' }]); notes.push(`program = ${JSON.stringify(programJson)}`); break;
    }
  }
  if (solve) {
    // Solve options are required: alpha, tol, maxIter (small: a solve that cannot converge must not run for minutes).
    const o = (typeof options === 'object' && options !== null && !Array.isArray(options) && !('$' in (options as object)) ? options : {}) as Obj;
    if (!('alpha' in o)) o.alpha = rng.pick([0.8, 0.8, 1, 1e-3, 0]);
    if (!('tol' in o)) o.tol = rng.pick([1e-6, 1e-3, 0]);
    if (!('maxIter' in o)) o.maxIter = rng.pick([0, 1, 10, 100, 200]);
    if (rng.chance(0.1)) o.x0 = taJson('Float64Array', new Array(n * (base.dv ?? 1)).fill(0));
    // The preconditioners read kernel entries through their own paths (diagonal, columns, blocks).
    if (rng.chance(0.4)) o.preconditioner = rng.pick<Json>(['nystrom', 'jacobi', 'auto', 'none', 'bad', 3]);
    if (rng.chance(0.2)) o.rank = rng.pick<Json>([1, 3, 64, 0, -2, 0.5]);
    if (rng.chance(0.1)) o.landmarks = rng.pick<Json>(['uniform', 'rpcholesky', 'x']);
    if (rng.chance(0.03)) options = rng.pick<Json>([null, 5, { $: 'undef' }]);
    else options = o;
    if (rng.chance(0.2)) onProgress = rng.pick<Json>([{ $: 'fn', mode: 'noop' }, { $: 'fn', mode: 'cancel' }, 5, null]);
  }
  const call: AddonCall = solve ? rng.pick(['solveSync', 'solve', 'solveBoth'] as const) : rng.weighted([['reduceSync', 4], ['reduce', 4], ['both', 3]] as const);
  return { target: 'addon', call, notes, program: programJson, args, options, cancel, slot, b, onProgress };
}

// ---------------------------------------------------------------------------------------
// Execution.

const PAIRS_LIMIT = 1e7;

/**
 * True when the call would do a lot of work and nothing in it is obviously wrong: m·n
 * above ~1e7 pairs (or large register dims) with every variable's array of its claimed
 * size. Such a call is skipped; one that claims enormous sizes with small arrays is sent
 * (it must be refused, quickly).
 */
export function tooHeavy(program: unknown, args: unknown): boolean {
  try {
    return heavy(program, args);
  } catch {
    return false; // a detached array or a throwing getter: the addon must refuse it
  }
}

function heavy(program: unknown, args: unknown): boolean {
  if (program === null || typeof program !== 'object') return false;
  const p = program as Record<string, unknown>;
  const { m, n } = p;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 2 ** 31 - 1;
  if (!ok(m) || !ok(n)) return false;
  const regDims = p.regDims instanceof Int32Array ? p.regDims : undefined;
  const dimSum = regDims === undefined ? 1 : regDims.reduce((s, d) => s + Math.max(0, d), 0);
  const k = typeof p.k === 'number' && p.k > 0 ? p.k : 1;
  const pairs = m * n;
  // Outputs count too: k values of up to dimSum components per row, written once (first
  // touch of fresh memory costs ~3 ms/MB on these VMs).
  const outputs = Math.max(m, n) * k * dimSum;
  if (pairs <= PAIRS_LIMIT && pairs * dimSum <= 20 * PAIRS_LIMIT && outputs <= 2 * PAIRS_LIMIT) return false;
  if (!(p.vars instanceof Int32Array) || !Array.isArray(args)) return true;
  for (let v = 0; v + 2 < p.vars.length; v += 3) {
    const [cat, dim, slot] = [p.vars[v], p.vars[v + 1], p.vars[v + 2]];
    const a = args[slot] as { length?: unknown } | undefined;
    const len = ArrayBuffer.isView(a) ? (a as unknown as { length: number }).length : -1;
    if (cat === 0 && len !== m * dim) return false;
    if (cat === 1 && len !== n * dim) return false;
  }
  return true;
}

/** Runs one addon input: the raw call(s), the addon oracle, and reduce/reduceSync agreement. */
export async function runAddonInput(input: AddonInput, env: { shared: { signal: AbortSignal } }, codes: boolean): Promise<Outcome> {
  const calls: CallRecord[] = [];
  const userThrown = new Set<unknown>();
  // The addon's CancelFlag where it has one (older addons took an Int32Array).
  const Flag = (addon as unknown as { CancelFlag?: new () => { cancel(): void } }).CancelFlag;
  const makeFlag = typeof Flag === 'function' ? (): { cancel(): void } => new Flag() : undefined;
  const fresh = (): { ctx: DecodeContext; program: unknown; args: unknown; options: unknown; cancel: unknown; slot: unknown; b: unknown; onProgress: unknown } => {
    const ctx = new DecodeContext(env.shared, makeFlag);
    const args = decode(input.args, ctx);
    const program = decode(input.program, ctx);
    const options = decode(input.options, ctx);
    const cancel = decode(input.cancel, ctx);
    const r = { ctx, program, args, options, cancel, slot: decode(input.slot, ctx), b: decode(input.b, ctx), onProgress: decode(input.onProgress, ctx) };
    ctx.userThrown.forEach((v) => userThrown.add(v));
    return r;
  };
  const probe = fresh();
  if (tooHeavy(probe.program, probe.args)) return { calls, findings: [], skipped: true };
  const syncCall = (label: string, f: (c: ReturnType<typeof fresh>) => unknown): void => {
    const c = fresh();
    const t0 = performance.now();
    try {
      calls.push({ label, ok: true, ms: 0, value: f(c) });
    } catch (error) {
      calls.push({ label, ok: false, ms: 0, error });
    }
    calls[calls.length - 1].ms = performance.now() - t0;
  };
  const asyncCall = async (label: string, f: (c: ReturnType<typeof fresh>) => unknown): Promise<void> => {
    const c = fresh();
    const t0 = performance.now();
    let p: unknown;
    try {
      p = f(c);
    } catch (error) {
      calls.push({ label: `${label} (threw synchronously)`, ok: false, ms: performance.now() - t0, error });
      c.ctx.started();
      return;
    }
    c.ctx.started();
    try {
      calls.push({ label, ok: true, ms: 0, value: await p });
    } catch (error) {
      calls.push({ label, ok: false, ms: 0, error });
    }
    calls[calls.length - 1].ms = performance.now() - t0;
  };
  const a = addon as unknown as Record<string, (...x: unknown[]) => unknown>;
  const reduce = (c: ReturnType<typeof fresh>): unknown => a.reduce(c.program, c.args, c.cancel, c.options);
  const reduceSync = (c: ReturnType<typeof fresh>): unknown => a.reduceSync(c.program, c.args, c.options);
  const solve = (c: ReturnType<typeof fresh>): unknown => a.solve(c.program, c.args, c.slot, c.b, c.options, c.cancel, c.onProgress);
  const solveSync = (c: ReturnType<typeof fresh>): unknown => a.solveSync(c.program, c.args, c.slot, c.b, c.options);
  switch (input.call) {
    case 'reduceSync': syncCall('reduceSync', reduceSync); break;
    case 'reduce': await asyncCall('reduce', reduce); break;
    case 'both': await asyncCall('reduce', reduce); syncCall('reduceSync', reduceSync); break;
    case 'solveSync': syncCall('solveSync', solveSync); break;
    case 'solve': await asyncCall('solve', solve); break;
    case 'solveBoth': await asyncCall('solve', solve); syncCall('solveSync', solveSync); break;
  }
  const findings: PendingFinding[] = [];
  for (const c of calls) {
    if (c.ok) continue;
    const why = checkAddonError(c.error, codes, userThrown);
    if (why !== null) findings.push({ kind: 'addon-untyped', reason: `${c.label}: ${why}`, key: errorKey(c.error), error: c.error, label: c.label });
  }
  const done = calls.filter((c) => c.ok);
  if (done.length === 2) {
    const diff = resultDiff(done[0].value, done[1].value);
    if (diff !== null) findings.push({ kind: 'mismatch', reason: `addon ${done[0].label} vs ${done[1].label}: ${diff}`, key: `addon:${input.call}` });
  }
  return { calls, findings, skipped: false };
}

/**
 * The checks: what counts as a finding, how findings are deduplicated and saved.
 *
 *   untyped       (api) an exception or rejection that is not a LazyKernelError (a
 *                 TypeError, "Maximum call stack size exceeded", a plain Error…)
 *   internal      (api) a LazyKernelError that is the engine's complaint about a program
 *                 lib/ built (code ERR_LK_PROGRAM or ERR_LK_INTERNAL, "invalid program: …")
 *                 or a bare C++ exception ("std::bad_alloc"): the library let through
 *                 something it should have refused with a message of its own
 *   addon-untyped (addon) an error without a string `code` starting with 'ERR_LK_' (and not
 *                 an AbortError or LazyKernelError); with --addon-codes off, only errors
 *                 that are not Errors or carry a bare C++ message
 *   mismatch      run and runSync (or two async runs, or reduce and reduceSync) both
 *                 succeeded with results that differ (bit for bit, NaN equal to NaN); with
 *                 held datasets too (each call its own, or one shared, disposed during a call)
 *   disposed      (api) a call succeeded with a dataset disposed before it started: it must
 *                 be an OptionError (api.ts records which datasets each call reads)
 *   unhandled-rejection, uncaught-exception, warning   process events in the child
 *   crash-<signal|exit|hang>   (parent) the child died or stopped answering
 *
 * Errors our own callbacks and getters throw (codec.ts, UserCallbackError) may come back
 * out of the library unchanged; those are not findings.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LazyKernelError } from '../../lib/errors';
import { shortHash } from './rng';

export type Target = 'api' | 'addon';

export interface ErrorInfo {
  type: string;
  name?: string;
  message?: string;
  code?: unknown;
  stack?: string[];
  value?: string;
}

export function errorInfo(err: unknown): ErrorInfo {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return { type: typeof err, value: String(err).slice(0, 300) };
  const e = err as { name?: unknown; message?: unknown; code?: unknown; stack?: unknown; constructor?: { name?: string } };
  const stack = typeof e.stack === 'string' ? e.stack.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 10).map((l) => l.trim()) : undefined;
  return {
    type: e.constructor?.name ?? 'object',
    name: typeof e.name === 'string' ? e.name : undefined,
    message: typeof e.message === 'string' ? e.message.slice(0, 2000) : undefined,
    code: e.code,
    stack,
  };
}

const BARE_NATIVE = /^(std::|basic_string|vector::|bad_alloc|bad_array_new_length|std::bad|St\d)|bad_alloc|Unknown (C\+\+ )?exception/;

/** An api error that is not a finding returns null; otherwise the finding kind and why. */
export function checkApiError(err: unknown, userThrown: ReadonlySet<unknown>): { kind: 'untyped' | 'internal'; reason: string } | null {
  if (userThrown.has(err)) return null;
  if (!(err instanceof LazyKernelError)) {
    const i = errorInfo(err);
    return { kind: 'untyped', reason: `${i.type}${i.name && i.name !== i.type ? ` (${i.name})` : ''} is not a LazyKernelError: ${i.message ?? i.value}` };
  }
  const message = err.message;
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_LK_PROGRAM' || code === 'ERR_LK_INTERNAL' || /^invalid program/.test(message) || BARE_NATIVE.test(message)) {
    return { kind: 'internal', reason: `the engine refused what the library built (${String(code)}): ${message.slice(0, 300)}` };
  }
  return null;
}

/** An addon error that is not a finding returns null; otherwise why it is one. */
export function checkAddonError(err: unknown, codes: boolean, userThrown: ReadonlySet<unknown>): string | null {
  if (userThrown.has(err)) return null;
  if (err instanceof LazyKernelError) return null;
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (e !== null && typeof e === 'object' && e.name === 'AbortError') return null;
  const message = typeof e?.message === 'string' ? e.message : undefined;
  if (codes) {
    if (e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('ERR_LK_')) return null;
    return `no code 'ERR_LK_…' (code ${JSON.stringify(e?.code)}): ${message ?? String(err)}`;
  }
  if (!(err instanceof Error) && !(e !== null && typeof e === 'object' && typeof message === 'string')) return `not an Error: ${String(err)}`;
  if (message === undefined || message === '') return 'an error without a message';
  if (BARE_NATIVE.test(message)) return `a bare C++ exception: ${message}`;
  return null;
}

/** Numbers out of a message, so that one defect with different values is one finding. */
export function normalizeMessage(message: string): string {
  return message
    .replace(/0x[0-9a-f]+/gi, 'H')
    .replace(/[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/gi, 'N')
    .replace(/"[^"\n]{40,}"/g, '"S"')
    .replace(/\n[\s\S]*$/, '')
    .slice(0, 300);
}

function frame(line: string): string {
  return line.replace(/:\d+\)?$/, '').replace(/^at /, '');
}

/**
 * The dedup key of an error: name, message without numbers, first stack frame. A stack
 * overflow is keyed by the set of source files in its top frames instead (a recursion
 * hits the limit in whichever function of its cycle happens to be on top).
 */
export function errorKey(err: unknown): string {
  const i = errorInfo(err);
  const message = normalizeMessage(i.message ?? i.value ?? '');
  const stack = i.stack ?? [];
  if (/call stack/i.test(message)) {
    // A recursion overflows in whichever of its functions is on top: key it by the files it runs in.
    const files = [...new Set(stack.map((l) => /([\w.-]+\.[jt]s):\d+/.exec(l)?.[1]).filter((f) => f !== undefined))].sort();
    return `${i.name ?? i.type}|${message}|${files.join(',')}`;
  }
  return `${i.name ?? i.type}|${message}|${stack.length > 0 ? frame(stack[0]) : ''}`;
}

// ---------------------------------------------------------------------------------------
// Results.

function fmt(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

function sameNumber(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

/** Fields that measure time: they differ between any two runs and say nothing about the answer. */
const TIMINGS = new Set(['setupSeconds']);

/** Where two results differ (bit for bit, NaN equal to NaN, timings skipped), or null when they are equal. */
export function resultDiff(a: unknown, b: unknown, where = 'result'): string | null {
  if (typeof a === 'number' && typeof b === 'number') return sameNumber(a, b) ? null : `${where}: ${fmt(a)} vs ${fmt(b)}`;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) return `${where}: one is a typed array, the other not`;
    if (a.constructor !== b.constructor) return `${where}: ${a.constructor.name} vs ${b.constructor.name}`;
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    if (x.length !== y.length) return `${where}: length ${x.length} vs ${y.length}`;
    for (let k = 0; k < x.length; k++) if (!sameNumber(x[k], y[k])) return `${where}[${k}]: ${fmt(x[k])} vs ${fmt(y[k])}`;
    return null;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return `${where}: arrays differ in form`;
    for (let k = 0; k < a.length; k++) {
      const d = resultDiff(a[k], b[k], `${where}[${k}]`);
      if (d !== null) return d;
    }
    return null;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      if (TIMINGS.has(k)) continue;
      const d = resultDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
      if (d !== null) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : `${where}: ${String(a)} vs ${String(b)}`;
}

// ---------------------------------------------------------------------------------------
// Saving.

export interface FindingRecord {
  kind: string;
  reason: string;
  target?: Target | 'process';
  error?: ErrorInfo;
  key?: string;
  /** The input that was running (seed, child, index, input JSON). */
  current?: unknown;
  /** The inputs just before (an unhandled rejection may surface one input late). */
  previous?: unknown[];
  [extra: string]: unknown;
}

/** Most files saved per kind; further distinct findings are counted, not saved. */
const MAX_PER_KIND = 400;

/**
 * Saves findings as `<out>/<kind>-<n>.json`, once per dedup key across every process of a
 * run and across runs into the same folder: the first process to create the key's marker
 * (`<out>/.keys/…`, exclusive create) writes the finding and records its path in the
 * marker; later hits of the key get that path back. Files are numbered without races
 * (exclusive create of the numbered name). `--fresh` (run.ts) starts from an empty folder.
 */
export class FindingStore {
  private readonly keysDir: string;

  constructor(readonly outDir: string) {
    this.keysDir = path.join(outDir, '.keys');
    fs.mkdirSync(this.keysDir, { recursive: true });
  }

  /** The finding's file and whether this call wrote it (false: the key was saved before). */
  save(record: FindingRecord, key?: string): { path: string | null; isNew: boolean } {
    let marker: string | undefined;
    if (key !== undefined) {
      marker = path.join(this.keysDir, `${record.kind}-${shortHash(key)}${shortHash(`~${key}`)}`);
      try {
        fs.writeFileSync(marker, '', { flag: 'wx' });
      } catch {
        let known: string | null = null;
        try { known = fs.readFileSync(marker, 'utf8') || null; } catch { /* being written */ }
        return { path: known, isNew: false };
      }
    }
    for (let n = 1; n <= MAX_PER_KIND; n++) {
      const file = path.join(this.outDir, `${record.kind}-${n}.json`);
      try {
        fs.writeFileSync(file, `${JSON.stringify({ ...record, key }, null, 1)}\n`, { flag: 'wx' });
        if (marker !== undefined) fs.writeFileSync(marker, file);
        return { path: file, isNew: true };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return { path: null, isNew: true };
  }
}

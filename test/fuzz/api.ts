/**
 * Runs one input of the `api` target (apigen.ts) as a user's code would: construct, then
 * call async and sync (in the order the input asks, sometimes overlapping, sometimes with
 * the inputs changed right after an async call started), and applies the api oracle
 * (oracle.ts): every error a LazyKernelError, run and runSync results equal bit for bit.
 * Arguments an input holds as datasets (DatasetUse) are made with `await dataset()` first,
 * and disposed when the input asks; a call that succeeds with a dataset disposed before it
 * started is a finding ('disposed': it should have been an OptionError).
 */
import * as lk from '../../lib/index';
import type { LazyTensor } from '../../lib/index';
import type { Node } from '../../lib/formula/ir';
import type { ApiInput, ClusterInput, DatasetUse, GenredInput, LazyInput, LazyNode, Order, PipelineInput, SolveInput } from './apigen';
import type { Json } from './args';
import { decode, DecodeContext, summarize } from './codec';
import { checkApiError, errorInfo, errorKey, normalizeMessage, resultDiff } from './oracle';
import type { Arg } from '../../lib/tensor';

/** Pairs × register dims above which a call is skipped (it would run for seconds, legitimately). */
const WORK_LIMIT = 2e8;

/**
 * The limit for an input's calls: a quarter of WORK_LIMIT where one runs in the background
 * lane, which gets only the time the other fuzz worker leaves (SCHED_IDLE): seed 19's
 * input 3196, work 2e8, took 2 s in the foreground and 5 s in the background, and its
 * three calls together passed the 10 s hang limit once.
 */
function workLimit(opts: unknown): number {
  return JSON.stringify(opts ?? null).includes('"background":true') ? WORK_LIMIT / 4 : WORK_LIMIT;
}

export interface CallRecord {
  label: string;
  ok: boolean;
  ms: number;
  value?: unknown;
  error?: unknown;
  /** A result that must equal the other compared results of the input (run, run2…, runSync). */
  compare?: boolean;
  /** A dataset the call reads was disposed before the call started: it must fail (OptionError). */
  disposed?: boolean;
}

export interface PendingFinding {
  kind: string;
  reason: string;
  key: string;
  error?: unknown;
  label?: string;
}

export interface Outcome {
  calls: CallRecord[];
  findings: PendingFinding[];
  skipped: boolean;
}

/** What a run needs from its process: the shared long-lived signal. */
export interface Env {
  shared: { signal: AbortSignal };
}

class Recorder {
  readonly calls: CallRecord[] = [];
  private readonly contexts: DecodeContext[] = [];

  constructor(private readonly env: Env) {}

  /** A fresh decode context whose callbacks' thrown values the oracle will accept. */
  context(): DecodeContext {
    const ctx = new DecodeContext(this.env.shared);
    this.contexts.push(ctx);
    return ctx;
  }

  /** Runs a call; `ctx`, the decode of its arguments, says which datasets it reads. */
  sync<T>(label: string, f: () => T, compare = false, ctx?: DecodeContext): { ok: true; value: T } | { ok: false } {
    const disposed = disposedBefore(ctx);
    const t0 = performance.now();
    try {
      const value = f();
      this.calls.push({ label, ok: true, ms: performance.now() - t0, value, compare, disposed });
      return { ok: true, value };
    } catch (error) {
      this.calls.push({ label, ok: false, ms: performance.now() - t0, error });
      return { ok: false };
    }
  }

  /**
   * Starts an async call (a synchronous throw is recorded too) and returns its settled
   * promise; then runs `ctx`'s after-start actions, unless `started` is false (a burst
   * runs them once all its calls started).
   */
  start(label: string, f: () => unknown, ctx?: DecodeContext, started = true): Promise<void> {
    const disposed = disposedBefore(ctx);
    const t0 = performance.now();
    let p: unknown;
    try {
      p = f();
    } catch (error) {
      this.calls.push({ label: `${label} (threw synchronously)`, ok: false, ms: performance.now() - t0, error });
      if (started) ctx?.started();
      return Promise.resolve();
    }
    if (started) ctx?.started();
    return Promise.resolve(p).then(
      (value) => { this.calls.push({ label, ok: true, ms: performance.now() - t0, value, compare: true, disposed }); },
      (error) => { this.calls.push({ label, ok: false, ms: performance.now() - t0, error }); },
    );
  }

  /** Awaits a setup call whose result is not compared (dataset()); its value, or undefined when it failed. */
  async setup<T>(label: string, f: () => Promise<T>): Promise<T | undefined> {
    const t0 = performance.now();
    try {
      const value = await f();
      this.calls.push({ label, ok: true, ms: performance.now() - t0, value });
      return value;
    } catch (error) {
      this.calls.push({ label, ok: false, ms: performance.now() - t0, error });
      return undefined;
    }
  }

  /** The api oracle over every recorded call of an input of `kind`. */
  findings(kind: string): PendingFinding[] {
    const out: PendingFinding[] = [];
    const accepted = this.calls.find((c) => c.ok && c.disposed);
    if (accepted !== undefined) {
      out.push({
        kind: 'disposed', reason: `${accepted.label}: succeeded although a dataset it reads was disposed before the call (expected an OptionError)`,
        key: `disposed|${kind}|${/Sync/.test(accepted.label) ? 'sync' : 'async'}`, label: accepted.label,
      });
    }
    const userThrown = new Set<unknown>();
    this.contexts.forEach((c) => c.userThrown.forEach((v) => userThrown.add(v)));
    for (const c of this.calls) {
      if (c.ok) continue;
      const verdict = checkApiError(c.error, userThrown);
      if (verdict === null) continue;
      // An engine complaint is one defect whichever call made it: keyed by its message alone.
      const key = verdict.kind === 'internal' ? normalizeMessage((c.error as Error).message) : errorKey(c.error);
      out.push({ kind: verdict.kind, reason: `${c.label}: ${verdict.reason}`, key, error: c.error, label: c.label });
    }
    const done = this.calls.filter((c) => c.ok && c.compare);
    for (let k = 1; k < done.length; k++) {
      const diff = resultDiff(done[0].value, done[k].value);
      if (diff !== null) {
        out.push({ kind: 'mismatch', reason: `${done[0].label} vs ${done[k].label}: ${diff}`, key: `${done[0].label}/${done[k].label}` });
        break;
      }
    }
    return out;
  }
}

function disposedBefore(ctx: DecodeContext | undefined): boolean {
  return ctx?.datasets.some((d) => d.disposed) ?? false;
}

// ---------------------------------------------------------------------------------------
// Datasets.

/** The datasets of one call's decode, by position. */
interface Taken {
  arg: Map<number, lk.Dataset>;
  leaf: Map<number, lk.Dataset>;
  /** Disposes the datasets asked to go once the call's LazyTensor is built ('built'). */
  built(): void;
}

/**
 * The datasets of one input (its DatasetUse list). dataset() is async and an input's calls
 * start synchronously (overlapping, in bursts), so they are all made first: for each use,
 * one per decode of the input's calls (`calls`), or one for all when `shared`. Each call's
 * decode takes the next ones in turn (the last is reused should they run out).
 */
class Held {
  private readonly pools: lk.Dataset[][];
  private readonly made: { ds: lk.Dataset; use: DatasetUse }[] = [];

  private constructor(private readonly uses: readonly DatasetUse[]) {
    this.pools = uses.map(() => []);
  }

  /** Makes the datasets; `source(use)` is the JSON of the value a use holds. Undefined without uses. */
  static async make(uses: readonly DatasetUse[] | undefined, rec: Recorder, order: Order, source: (use: DatasetUse) => Json): Promise<Held | undefined> {
    if (uses === undefined || uses.length === 0) return undefined;
    const held = new Held(uses);
    const calls = order === 'double' ? 3 : 2; // the decodes drive() makes
    for (const [k, use] of uses.entries()) {
      if (use.same !== undefined) continue;
      for (let c = 0; c < (use.shared ? 1 : calls); c++) {
        const ctx = rec.context();
        const value = decode(source(use), ctx);
        const dim = decode(use.dim, ctx);
        const ds = await rec.setup(`dataset(${use.in} ${use.at}${use.shared ? ', shared' : ''})`, () => lk.dataset(value as lk.FloatArray, dim as number));
        if (ds === undefined) break; // the same value fails every time: the calls get it plain
        held.pools[k].push(ds);
        held.made.push({ ds, use });
      }
    }
    return held;
  }

  /** `reads(use)`: whether the call reads that use's dataset (a LazyTensor leaf may go unused). */
  take(ctx: DecodeContext, reads: (use: DatasetUse) => boolean = () => true): Taken {
    const got: (lk.Dataset | undefined)[] = [];
    const built: lk.Dataset[] = [];
    const taken: Taken = { arg: new Map(), leaf: new Map(), built: () => built.forEach((d) => d.dispose()) };
    this.uses.forEach((use, k) => {
      const pool = this.pools[k];
      const ds = use.same !== undefined ? got[use.same] : use.shared || pool.length <= 1 ? pool[0] : pool.shift();
      got.push(ds);
      if (ds === undefined) return;
      (use.in === 'arg' ? taken.arg : taken.leaf).set(use.at, ds);
      if (reads(use)) ctx.datasets.push(ds);
      if (use.same !== undefined) return;
      if (use.dispose === 'before') ds.dispose();
      else if (use.dispose === 'during') ctx.afterCall.push(() => ds.dispose());
      else if (use.dispose === 'built') built.push(ds);
    });
    return taken;
  }

  /** After the input's calls: disposes every dataset but those left to the garbage collector. */
  end(): void {
    for (const { ds, use } of this.made) if (use.dispose !== 'gc') ds.dispose();
  }
}

/** A decoded argument list with the held datasets in their places. */
function withHeld(args: unknown, held: ReadonlyMap<number, lk.Dataset> | undefined): unknown {
  if (held === undefined || held.size === 0 || !Array.isArray(args)) return args;
  return args.map((a, k) => held.get(k) ?? a);
}

function mutateArrays(ctx: DecodeContext): void {
  for (const a of ctx.arrays) {
    try {
      (a as unknown as { fill(v: number): void }).fill(7);
    } catch { /* detached or not fillable */ }
  }
}

/** The largest number of values among the typed arrays of a decoded argument list (bounds the rows). */
function maxLength(values: unknown): number {
  let most = 0;
  const visit = (v: unknown, depth: number): void => {
    if (ArrayBuffer.isView(v)) most = Math.max(most, (v as unknown as { length?: number }).length ?? 0);
    else if (depth < 3 && Array.isArray(v)) v.forEach((x) => visit(x, depth + 1));
    else if (depth < 3 && v !== null && typeof v === 'object') visit((v as { data?: unknown }).data, depth + 1);
  };
  visit(values, 0);
  return most;
}

function regDimSum(compiled: unknown): number {
  const dims = (compiled as { lowered?: { regDims?: Int32Array } } | undefined)?.lowered?.regDims;
  return dims === undefined ? 1 : dims.reduce((s, d) => s + d, 0);
}

/** One call's async and sync forms, over arguments decoded once. */
interface Calls {
  async: () => unknown;
  sync: () => unknown;
}

/** Concurrent async calls of a 'burst' (one signal shared by all: listeners must not pile up). */
const BURST = 12;

/**
 * Runs the async and sync forms in the input's order; each form gets freshly decoded
 * arguments from `prepare`, except in a burst, where twelve async calls share one decode.
 */
async function drive(rec: Recorder, order: Order, prepare: (ctx: DecodeContext, burst: boolean) => Calls | null): Promise<void> {
  const asyncRun = (label: string): Promise<void> => {
    const ctx = rec.context();
    const c = prepare(ctx, false);
    return c === null ? Promise.resolve() : rec.start(label, c.async, ctx);
  };
  const syncRun = (): void => {
    const ctx = rec.context();
    const c = prepare(ctx, false);
    if (c !== null) rec.sync('runSync', c.sync, true, ctx);
  };
  switch (order) {
    case 'async-first': await asyncRun('run'); syncRun(); break;
    case 'sync-first': syncRun(); await asyncRun('run'); break;
    case 'overlap': { const p = asyncRun('run'); syncRun(); await p; break; }
    case 'double': { const p1 = asyncRun('run'); const p2 = asyncRun('run2'); syncRun(); await Promise.all([p1, p2]); break; }
    case 'burst': {
      const ctx = rec.context();
      const c = prepare(ctx, true);
      if (c === null) break;
      const all = Array.from({ length: BURST }, (_, k) => rec.start(k === 0 ? 'run' : `run${k + 1}`, c.async, ctx, false));
      ctx.started();
      syncRun();
      await Promise.all(all);
      break;
    }
  }
}

async function runGenred(input: GenredInput, env: Env, rec: Recorder): Promise<boolean> {
  const c0 = rec.context();
  const made = rec.sync('new Genred', () => new lk.Genred(decode(input.formula, c0) as string, decode(input.aliases, c0) as string[], decode(input.opts, c0) as lk.GenredOptions));
  if (!made.ok) return false;
  const g = made.value;
  // A k-reduction keeps k values per component of every pair's formula: k times the work.
  const perPair = regDimSum(g.compiled) * (g.compiled.k ?? 1);
  if (maxLength(decode(input.args, new DecodeContext(env.shared))) ** 2 * perPair > workLimit(input.runOpts)) return true;
  const held = await Held.make(input.datasets, rec, input.order, (use) => (input.args as Json[])[use.at]);
  try {
    await drive(rec, input.order, (ctx, burst) => {
      const taken = held?.take(ctx);
      const args = withHeld(decode(input.args, ctx), taken?.arg) as Arg[];
      const opts = decode(input.runOpts, ctx) as lk.RunOptions;
      taken?.built();
      return {
        async: () => {
          const p = g.run(args, opts);
          if (input.mutateAfter && !burst) mutateArrays(ctx);
          return p;
        },
        sync: () => g.runSync(args, opts),
      };
    });
  } finally {
    held?.end();
  }
  return false;
}

async function runSolve(input: SolveInput, env: Env, rec: Recorder): Promise<boolean> {
  const c0 = rec.context();
  const made = rec.sync('new KernelSolve', () => new lk.KernelSolve(
    decode(input.formula, c0) as string, decode(input.aliases, c0) as string[], decode(input.varName, c0) as string, decode(input.ctorOpts, c0) as { axis: 0 | 1 },
  ));
  if (!made.ok) return false;
  const s = made.value;
  const probe = decode(input.solveOpts, new DecodeContext(env.shared)) as { maxIter?: unknown } | null;
  const iterations = typeof probe?.maxIter === 'number' && probe.maxIter >= 0 && probe.maxIter <= 1e9 ? probe.maxIter : 10000;
  if (maxLength(decode(input.args, new DecodeContext(env.shared))) ** 2 * regDimSum(s.compiled) * iterations > 5 * workLimit(input.solveOpts)) return true;
  const held = await Held.make(input.datasets, rec, input.order, (use) => (input.args as Json[])[use.at]);
  try {
    await drive(rec, input.order, (ctx) => {
      const taken = held?.take(ctx);
      const args = withHeld(decode(input.args, ctx), taken?.arg) as Arg[];
      const opts = decode(input.solveOpts, ctx) as lk.SolveOptions;
      taken?.built();
      return { async: () => s.run(args, opts), sync: () => s.runSync(args, opts) };
    });
  } finally {
    held?.end();
  }
  return false;
}

/** Whether leaf `k` appears in the input's expression or in a LazyTensor argument. */
function readsLeaf(input: LazyInput, k: number): boolean {
  const stack: LazyNode[] = [input.expr];
  for (const a of input.args) if (a !== null && typeof a === 'object' && 'lazy' in (a as object)) stack.push((a as { lazy: LazyNode }).lazy);
  while (stack.length > 0) {
    const node = stack.pop() as LazyNode;
    if (node.t === 'leaf' && node.k === k) return true;
    if (node.t === 'm' || node.t === 'rep') stack.push(node.self, ...node.args);
  }
  return false;
}

/** Builds a LazyTensor expression (iteratively for 'rep' chains). */
function buildLazy(node: LazyNode, leaves: unknown[], ctx: DecodeContext): unknown {
  switch (node.t) {
    case 'leaf': return leaves[node.k];
    case 'num': return decode(node.v, ctx);
    case 'raw': return decode(node.v, ctx);
    case 'pm': return lk.Pm(decode(node.v, ctx) as number);
    case 'm': {
      const self = buildLazy(node.self, leaves, ctx) as Record<string, (...a: unknown[]) => unknown>;
      const args = node.args.map((a) => buildLazy(a, leaves, ctx));
      return self[node.m](...args);
    }
    case 'rep': {
      let cur = buildLazy(node.self, leaves, ctx) as Record<string, (...a: unknown[]) => unknown>;
      const args = node.args.map((a) => buildLazy(a, leaves, ctx));
      for (let k = 0; k < node.n; k++) cur = cur[node.m](...args) as typeof cur;
      return cur;
    }
  }
}

/** The leaves of a LazyTensor input; a held one is Vi(ds), Vj(ds) or Pm(ds). */
function makeLeaves(input: LazyInput, ctx: DecodeContext, held?: ReadonlyMap<number, lk.Dataset>): unknown[] {
  return input.leaves.map((l, k) => {
    const ds = held?.get(k);
    if (ds !== undefined) return l.cat === 'Pm' ? (lk.Pm as (v: unknown) => LazyTensor)(ds) : (l.cat === 'Vi' ? lk.Vi : lk.Vj)(ds);
    const data = decode(l.data, ctx);
    if (l.cat === 'Pm') return lk.Pm(data as number);
    const f = l.cat === 'Vi' ? lk.Vi : lk.Vj;
    return l.dim === undefined ? (f as (t: unknown) => LazyTensor)(data) : (f as (d: unknown, dim: unknown) => LazyTensor)(data, decode(l.dim, ctx));
  });
}

/** Pairs × Σ node dims of a LazyTensor formula (iterative walk; the formula may be very deep). */
function lazyWork(t: unknown): number {
  const lt = t as { node?: Node; leaves?: ReadonlyMap<number, { rows: number }> };
  if (lt.node === undefined || lt.leaves === undefined) return 0;
  let rows = 1;
  lt.leaves.forEach((l) => { rows = Math.max(rows, l.rows); });
  let dims = 0;
  const seen = new Set<Node>();
  const stack: Node[] = [lt.node];
  while (stack.length > 0) {
    const n = stack.pop() as Node;
    if (seen.has(n)) continue;
    seen.add(n);
    dims += n.dim;
    if (n.kind === 'op') stack.push(...n.args);
  }
  return rows * rows * dims;
}

async function runLazy(input: LazyInput, env: Env, rec: Recorder): Promise<boolean> {
  // Built once to see whether it builds at all and how big it is; each call rebuilds from fresh data.
  const c0 = rec.context();
  const built = rec.sync('build', () => buildLazy(input.expr, makeLeaves(input, c0), c0));
  if (!built.ok) return false;
  const iterations = input.method === 'solve' ? 10000 : 1;
  if (lazyWork(built.value) * iterations > (input.method === 'solve' ? 5 : 1) * workLimit(input.args)) return true;
  const held = await Held.make(input.datasets, rec, input.order, (use) => (use.in === 'leaf' ? input.leaves[use.at].data : input.args[use.at] as Json));
  try {
    await drive(rec, input.order, (ctx) => {
      const taken = held?.take(ctx, (use) => use.in === 'arg' || readsLeaf(input, use.at));
      const r = rec.sync('rebuild', () => {
        const leaves = makeLeaves(input, ctx, taken?.leaf);
        const self = buildLazy(input.expr, leaves, ctx) as Record<string, (...a: unknown[]) => unknown>;
        const args = input.args.map((a, k) => taken?.arg.get(k) ??
          (a !== null && typeof a === 'object' && 'lazy' in (a as object) ? buildLazy((a as { lazy: LazyNode }).lazy, leaves, ctx) : decode(a, ctx)));
        return { self, args };
      });
      taken?.built();
      if (!r.ok) return null;
      const { self, args } = r.value;
      return { async: () => self[input.method](...args), sync: () => self[`${input.method}Sync`](...args) };
    });
  } finally {
    held?.end();
  }
  return false;
}

function runCluster(input: ClusterInput, rec: Recorder): void {
  const ctx = rec.context();
  const fn = (lk as unknown as Record<string, (...a: unknown[]) => unknown>)[input.fn];
  rec.sync(input.fn, () => fn(...(decode(input.args, ctx) as unknown[])));
}

async function runPipeline(input: PipelineInput, rec: Recorder): Promise<void> {
  const ctx = rec.context();
  const x = decode(input.x, ctx) as lk.FloatArray;
  const y = decode(input.y, ctx) as lk.FloatArray;
  const b = decode(input.b, ctx) as lk.FloatArray;
  const d = input.dim;
  const built = rec.sync('cluster helpers', () => {
    const lx = lk.gridCluster(x, d, input.size as number);
    const ly = lk.gridCluster(y, d, input.size as number);
    const sx = lk.sortClusters(x, d, lx);
    const sy = lk.sortClusters(y, d, ly);
    const rx = lk.clusterRanges(sx.labels);
    const ry = lk.clusterRanges(sy.labels);
    const cx = lk.clusterCentroids(sx.data, d, sx.labels);
    const cy = lk.clusterCentroids(sy.data, d, sy.labels);
    const nI = rx.length / 2;
    const nJ = ry.length / 2;
    const keep = new Uint8Array(nI * nJ);
    for (let k = 0; k < nI; k++) {
      for (let l = 0; l < nJ; l++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += (cx[k * d + c] - cy[l * d + c]) ** 2;
        keep[k * nJ + l] = Math.sqrt(s) <= input.cutoff + (input.size as number) * Math.sqrt(d) ? 1 : 0;
      }
    }
    const sb = Float64Array.from(sy.order, (j) => b[j]);
    return { ranges: lk.fromMatrix(rx, ry, keep), xs: sx.data, ys: sy.data, bs: x instanceof Float32Array ? Float32Array.from(sb) : sb };
  });
  if (!built.ok) return;
  const { ranges, xs, ys, bs } = built.value;
  const k = input.reduction === 'ArgKMin' ? { k: 1 } : {};
  const made = rec.sync('new Genred', () => new lk.Genred('Exp(-g*SqDist(x,y))*b', [`x = Vi(${d})`, `y = Vj(${d})`, 'b = Vj(1)', 'g = Pm(1)'], {
    reduction: input.reduction as 'Sum', axis: input.axis as 0 | 1, ...k,
  }));
  if (!made.ok) return;
  const g = made.value;
  const args = [xs, ys, bs, input.g] as Arg[];
  await drive(rec, input.order, () => ({ async: () => g.run(args, { ranges }), sync: () => g.runSync(args, { ranges }) }));
}

/** Runs one api input; returns every call made and the findings of the api oracle. */
export async function runApiInput(input: ApiInput, env: Env): Promise<Outcome> {
  const rec = new Recorder(env);
  let skipped = false;
  switch (input.kind) {
    case 'genred': skipped = await runGenred(input, env, rec); break;
    case 'solve': skipped = await runSolve(input, env, rec); break;
    case 'lazy': skipped = await runLazy(input, env, rec); break;
    case 'cluster': runCluster(input, rec); break;
    case 'pipeline': await runPipeline(input, rec); break;
  }
  return { calls: rec.calls, findings: rec.findings(input.kind), skipped };
}

/** One line per call, for --replay. */
export function describeCalls(calls: readonly CallRecord[]): string[] {
  return calls.map((c) => {
    if (c.ok) return `  ${c.label}: ok in ${c.ms.toFixed(1)} ms -> ${summarize(c.value)}`;
    const i = errorInfo(c.error);
    return `  ${c.label}: threw ${i.type}${i.code !== undefined ? ` [${String(i.code)}]` : ''} in ${c.ms.toFixed(1)} ms: ${(i.message ?? i.value ?? '').split('\n')[0].slice(0, 300)}${i.stack?.[0] ? `\n      ${i.stack.slice(0, 3).join('\n      ')}` : ''}`;
  });
}


/**
 * The "no leak" check of a service workload: many library calls of every kind a service
 * makes, with the process's memory sampled along the way. It must stay flat once warm.
 *
 * The calls (`--calls`, default 100,000; at most `--concurrency` in flight, default 8), drawn
 * from a seeded mix against N points (`--n`, default 20,000, uniform in [0,1]^3, float32)
 * and their weights, held once with `dataset()` and also kept as plain Float32Arrays:
 *
 *   predictHeld   100-point Gaussian-kernel predict, Vi(q).sqdist(Vj(ds)).mul(-g).exp().matvec(wds)
 *   knnHeld       the 10 nearest of 100 query points, .argkmin(10, 1), against the dataset
 *   genredHeld    the same predict through Genred.run([q, ds, wds, g])
 *   predictPlain, knnPlain   the same against the plain arrays (copied at every call)
 *   syncHeld, syncPlain      matvecSync / argkminSync / Genred.runSync, held and plain
 *   abortBefore   a call with an already-aborted signal (AbortError at once)
 *   abortDuring   a 500 × N job aborted right after it is queued, or 1 ms later
 *   timeoutHit    the same job with { timeout: 1 } (AbortError, cause TimeoutError)
 *   timeoutOk     a predict with a generous timeout, which must succeed (its timer cleared)
 *   invalid       calls refused by validation, caught: wrong lengths, a bad formula string
 *                 to Genred, NaN k / timeout / pruneTolerance / priority / alpha, mixed float
 *                 types, a disposed dataset, dataset() with dim 0, a wrong argument count
 *   solve         now and then, a KernelSolve on 300 points (plain arrays or a dataset)
 *   datasetTemp   a 2,000-point dataset made, queried once, disposed
 *   churn         every `--churn` calls (1000): the held points and weights replaced by new
 *                 datasets, the old ones disposed while calls may still use them
 *
 * After every 10% of the calls it waits for the calls in flight, runs the garbage collector
 * and samples process.memoryUsage(), then prints the table and compares the last sample
 * with the one after the first 10% (the warm-up): exit code 1 when RSS grew more than
 * `--limit` percent (10), or when any call ended other than as its kind expects (the
 * unexpected outcomes are listed). `--kinds a,b` runs only those kinds (to find which one
 * grows memory); `--seed` changes the mix.
 *
 *   npx ts-node --transpile-only bench/leak.ts [--calls 100000] [--n 20000] [--concurrency 8]
 *       [--kinds predictHeld,knnHeld] [--churn 1000] [--limit 10] [--seed 1]
 *
 * It needs the garbage collector exposed: run as above, it runs itself again as
 * `node --expose-gc -r ts-node/register/transpile-only bench/leak.ts …`.
 */
import { spawnSync } from 'node:child_process';
import {
  AbortError, dataset, Dataset, Genred, info, KernelSolve, LazyKernelError, RunOptions, Vi, Vj,
} from '../lib/index';
import { uniformSource } from './problem';
import { option } from './option';

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', require.resolve('ts-node/register/transpile-only'), __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const gc = globalThis.gc as () => void;

const KINDS = {
  predictHeld: 14, knnHeld: 12, genredHeld: 6, predictPlain: 8, knnPlain: 6, syncHeld: 6, syncPlain: 4,
  abortBefore: 6, abortDuring: 6, timeoutHit: 4, timeoutOk: 6, invalid: 14, solve: 0.5, datasetTemp: 2,
} as const;
type Kind = keyof typeof KINDS | 'churn';

const calls = Number(option('calls', '100000'));
const n = Number(option('n', '20000'));
const concurrency = Number(option('concurrency', '8'));
const churnEvery = Number(option('churn', '1000'));
const limit = Number(option('limit', '10'));
const seed = Number(option('seed', '1'));
const only = option('kinds', '');
const enabled = new Set<Kind>(only === '' ? [...Object.keys(KINDS) as Kind[], 'churn'] : only.split(',').map((s) => s.trim() as Kind));
for (const k of enabled) if (k !== 'churn' && !(k in KINDS)) throw new Error(`unknown kind ${k}; the kinds: ${Object.keys(KINDS).join(', ')}, churn`);

const QUERY = 100;
const K = 10;
const G = 1000;
const rand = uniformSource(seed);
const points = (rows: number): Float32Array => Float32Array.from({ length: 3 * rows }, rand);
const X = points(n);
const W = Float32Array.from({ length: n }, () => rand() - 0.5);
const SX = points(300);
const SB = Float32Array.from({ length: 300 }, () => rand() - 0.5);
const TEMP = points(2000);
const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });

let held: { x: Dataset<Float32Array>; w: Dataset<Float32Array> };
let small: Dataset<Float32Array>;
let disposed: Dataset<Float32Array>;

// ---------------------------------------------------------------------------------------
// The calls. Each returns normally when it ended as its kind expects, and throws otherwise.

class Unexpected extends Error {}

function shaped(t: { shape: [number, number] }, rows: number, cols: number): void {
  if (t.shape[0] !== rows || t.shape[1] !== cols) throw new Unexpected(`shape [${t.shape.join(', ')}], expected [${rows}, ${cols}]`);
}

/** Awaits `p`, which must reject with an AbortError (or, when `mayFinish`, resolve). */
async function aborted(p: Promise<unknown>, mayFinish: boolean): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AbortError && e.code === 'ABORT_ERR') return 'aborted';
    throw e;
  }
  if (!mayFinish) throw new Unexpected('resolved, expected an AbortError');
  return 'finished';
}

/** Runs `f`, which must throw or reject with a LazyKernelError of `code`. */
async function refused(code: string, f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof LazyKernelError && e.code === code) return code;
    throw e;
  }
  throw new Unexpected(`succeeded, expected ${code}`);
}

const predict = (q: Float32Array, x: Dataset<Float32Array> | Float32Array) => Vi(q, 3).sqdist(x instanceof Dataset ? Vj(x) : Vj(x, 3)).mul(-G).exp();
const near = (q: Float32Array, x: Dataset<Float32Array> | Float32Array) => Vi(q, 3).sqdist(x instanceof Dataset ? Vj(x) : Vj(x, 3));
/** 500 × N pairs of a formula that is never pruned: tens of ms unless stopped. */
const heavy = (opts: RunOptions) => Vi(points(500), 3).sqdist(Vj(held.x)).sin().sum(1, opts);

const INVALID: (() => Promise<string>)[] = [
  () => refused('ERR_LK_SHAPE', () => Vi(new Float32Array(3 * QUERY - 1), 3)),
  () => refused('ERR_LK_SHAPE', () => predict(points(QUERY), held.x).matvec(W.subarray(1))),
  () => refused('ERR_LK_SYNTAX', () => new Genred('Exp(-g*SqDist(x,y)*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 })),
  () => refused('ERR_LK_OPTION', () => near(points(QUERY), held.x).argkmin(NaN, 1)),
  () => refused('ERR_LK_OPTION', () => predict(points(QUERY), held.x).matvec(held.w, { timeout: NaN })),
  () => refused('ERR_LK_OPTION', () => predict(points(QUERY), held.x).matvec(held.w, { pruneTolerance: NaN })),
  () => refused('ERR_LK_OPTION', () => near(points(QUERY), X).argkmin(K, 1, { priority: NaN })),
  () => refused('ERR_LK_OPTION', () => solver.run([SX, SX, SB, 10], { alpha: NaN })),
  () => refused('ERR_LK_DTYPE', () => Vi(new Float64Array(3 * QUERY), 3).sqdist(Vj(held.x)).argkmin(K, 1)),
  () => refused('ERR_LK_OPTION', () => gauss.run([points(QUERY), disposed, held.w, G])),
  () => refused('ERR_LK_OPTION', () => near(points(QUERY), disposed).argkmin(K, 1)),
  () => refused('ERR_LK_OPTION', () => dataset(TEMP, 0)),
  () => refused('ERR_LK_OPTION', () => gauss.run([points(QUERY), held.x, held.w] as never)),
  () => refused('ERR_LK_SHAPE', () => gauss.runSync([points(QUERY), X, W.subarray(0, n - 1), G])),
];

let invalidTurn = 0;
let abortTurn = 0;
let syncTurn = 0;

async function call(kind: Kind): Promise<string> {
  switch (kind) {
    case 'predictHeld': {
      const y = await predict(points(QUERY), held.x).matvec(held.w);
      shaped(y, QUERY, 1);
      return 'ok';
    }
    case 'knnHeld': {
      const idx = await near(points(QUERY), held.x).argkmin(K, 1);
      shaped(idx, QUERY, K);
      return 'ok';
    }
    case 'genredHeld': {
      const y = await gauss.run([points(QUERY), held.x, held.w, G]);
      shaped(y, QUERY, 1);
      return 'ok';
    }
    case 'predictPlain': {
      const y = await predict(points(QUERY), X).matvec(W);
      shaped(y, QUERY, 1);
      return 'ok';
    }
    case 'knnPlain': {
      const idx = await near(points(QUERY), X).argkmin(K, 1);
      shaped(idx, QUERY, K);
      return 'ok';
    }
    case 'syncHeld': {
      const turn = syncTurn++ % 3;
      if (turn === 0) shaped(predict(points(QUERY), held.x).matvecSync(held.w), QUERY, 1);
      else if (turn === 1) shaped(near(points(QUERY), held.x).argkminSync(K, 1), QUERY, K);
      else shaped(gauss.runSync([points(QUERY), held.x, held.w, G]), QUERY, 1);
      return 'ok';
    }
    case 'syncPlain': {
      if (syncTurn++ % 2 === 0) shaped(gauss.runSync([points(QUERY), X, W, G]), QUERY, 1);
      else shaped(near(points(QUERY), X).argkminSync(K, 1), QUERY, K);
      return 'ok';
    }
    case 'abortBefore': {
      const turn = abortTurn++ % 3;
      if (turn === 0) return aborted(predict(points(QUERY), held.x).matvec(held.w, { signal: AbortSignal.abort() }), false);
      const ac = new AbortController();
      ac.abort('client went away');
      return aborted(turn === 1 ? near(points(QUERY), X).argkmin(K, 1, { signal: ac.signal }) : solver.run([SX, SX, SB, 10], { alpha: 0.1, signal: ac.signal }), false);
    }
    case 'abortDuring': {
      const ac = new AbortController();
      const p = heavy({ signal: ac.signal });
      if (abortTurn++ % 2 === 0) ac.abort();
      else setTimeout(() => ac.abort(), 1);
      return aborted(p, true);
    }
    case 'timeoutHit':
      return aborted(heavy({ timeout: 1 }), true);
    case 'timeoutOk': {
      const y = await predict(points(QUERY), held.x).matvec(held.w, { timeout: 60_000 });
      shaped(y, QUERY, 1);
      return 'ok';
    }
    case 'invalid':
      return INVALID[invalidTurn++ % INVALID.length]();
    case 'solve': {
      const r = rand() < 0.5
        ? await solver.run([SX, SX, SB, 10], { alpha: 0.1 })
        : await Vi(small).sqdist(Vj(small)).mul(-10).exp().solve(SB, { alpha: 0.1 });
      if (!r.converged) throw new Unexpected(`solve did not converge: ${r.reason}`);
      return 'ok';
    }
    case 'datasetTemp': {
      const d = await dataset(TEMP, 3);
      shaped(await near(points(QUERY), d).argkmin(K, 1), QUERY, K);
      d.dispose();
      return 'ok';
    }
    case 'churn': {
      const old = held;
      held = { x: await dataset(X, 3), w: await dataset(W, 1) };
      old.x.dispose();
      old.w.dispose();
      return 'ok';
    }
  }
}

// ---------------------------------------------------------------------------------------
// The run.

const weights = (Object.entries(KINDS) as [Kind, number][]).filter(([k]) => enabled.has(k));
const total = weights.reduce((s, [, w]) => s + w, 0);
function draw(index: number): Kind {
  if (enabled.has('churn') && (weights.length === 0 || (index + 1) % churnEvery === 0)) return 'churn';
  let r = rand() * total;
  for (const [k, w] of weights) {
    r -= w;
    if (r < 0) return k;
  }
  return weights[weights.length - 1][0];
}

interface Sample { calls: number; seconds: number; rss: number; heap: number; external: number }
const MB = 2 ** 20;

async function sample(done: number, t0: number): Promise<Sample> {
  // Twice, with turns in between: finalizers and the addon's deferred frees run between passes.
  for (let k = 0; k < 3; k++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { calls: done, seconds: (performance.now() - t0) / 1000, rss: m.rss / MB, heap: m.heapUsed / MB, external: m.external / MB };
}

async function main(): Promise<void> {
  held = { x: await dataset(X, 3), w: await dataset(W, 1) };
  small = await dataset(SX, 3);
  disposed = await dataset(TEMP, 3);
  disposed.dispose();
  const counts = new Map<string, number>();
  const unexpected = new Map<string, { count: number; first: string }>();
  console.log(`lazykernel ${info().version}: ${info().cpu.simd}, ${info().cpu.threads} threads; node ${process.version}`);
  console.log(`${calls} calls against N = ${n} points (held and plain), ${concurrency} in flight, kinds: ${only === '' ? 'all' : only}`);

  const t0 = performance.now();
  const samples: Sample[] = [await sample(0, t0)];
  let next = 0;
  const worker = async (end: number): Promise<void> => {
    while (next < end) {
      const kind = draw(next++);
      let outcome: string;
      try {
        outcome = await call(kind);
      } catch (e) {
        outcome = 'UNEXPECTED';
        const key = `${kind}: ${e instanceof Error ? `${e.name}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}` : typeof e}`;
        const u = unexpected.get(key) ?? { count: 0, first: String(e instanceof Error ? e.message : e).split('\n')[0].slice(0, 200) };
        u.count++;
        unexpected.set(key, u);
      }
      const key = `${kind} ${outcome}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  console.log('     calls   seconds   RSS MB   heap MB   external MB');
  const row = (s: Sample): void => console.log(`${String(s.calls).padStart(10)}   ${s.seconds.toFixed(1).padStart(7)}   ${s.rss.toFixed(1).padStart(6)}   ${s.heap.toFixed(1).padStart(7)}   ${s.external.toFixed(1).padStart(11)}`);
  row(samples[0]);
  for (let step = 1; step <= 10; step++) {
    const end = Math.round((calls * step) / 10);
    await Promise.all(Array.from({ length: concurrency }, () => worker(end)));
    samples.push(await sample(end, t0));
    row(samples[samples.length - 1]);
  }

  console.log('\ncalls by kind and outcome:');
  for (const [k, c] of [...counts].sort()) console.log(`  ${k.padEnd(36)} ${c}`);
  if (unexpected.size > 0) {
    console.log('\nUNEXPECTED outcomes:');
    for (const [k, u] of unexpected) console.log(`  ${k}: ${u.count}× (first: ${u.first})`);
  }
  const base = samples[1];
  const last = samples[samples.length - 1];
  const growth = ((last.rss - base.rss) / base.rss) * 100;
  const flat = Math.abs(growth) <= limit;
  console.log(`\nRSS ${flat ? 'flat' : 'NOT flat'}: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}% (limit ±${limit}%) from ${base.rss.toFixed(1)} MB after ${base.calls} calls to ${last.rss.toFixed(1)} MB after ${last.calls}` +
    `; heap ${(last.heap - base.heap >= 0 ? '+' : '')}${(last.heap - base.heap).toFixed(1)} MB, external ${(last.external - base.external >= 0 ? '+' : '')}${(last.external - base.external).toFixed(1)} MB; ${last.seconds.toFixed(0)} s`);
  held.x.dispose();
  held.w.dispose();
  small.dispose();
  process.exitCode = growth > limit || unexpected.size > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Async behaviour (DESIGN.md, "Jobs, threads and memory"): heavy calls run off the event
 * loop on one native queue, concurrent calls all get their own right answer, an
 * AbortSignal cancels a queued or running job with an AbortError, and inputs are copied
 * when a call starts.
 *
 * The long jobs are sized from a calibration run on this machine, so that they take
 * about the time each test needs whatever the engine's speed.
 */
import { performance } from 'perf_hooks';
import { AbortError, Genred, info, KernelSolve, OptionError, Pm, QueueFullError, setQueueLimit, Vi, Vj } from '../lib/index';
import type { RunOptions } from '../lib/index';
import {
  asTensor, caught, dual, Dual, DType, expectSumClose, expectTensor, pick, refSum, row, Rng, sqdist, tabulate, Table, uniform,
} from './helpers/reference';

/** Math through a module binding: a global lookup is ~50× slower in jest's sandbox, and the references call it per pair. */
const math = Math;

const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
/** The Gaussian spelled so that the kernel recogniser misses it: the generic interpreter runs it. */
const generic = new Genred('Exp(-g*SqDist(x,y))*b + Zero(1)*b', ALIASES, { reduction: 'Sum', axis: 1 });
const fused = new Genred('Exp(-g*SqDist(x,y))*b', ALIASES, { reduction: 'Sum', axis: 1 });
const GAMMA = 0.5;

interface Problem { M: number; N: number; x: Float64Array; y: Float64Array; b: Float64Array }

function problem(M: number, N: number, seed: number): Problem {
  const rng = new Rng(seed);
  return { M, N, x: uniform(rng, M * 3), y: uniform(rng, N * 3), b: uniform(rng, N, -1, 1) };
}

/** The float64 reference of a few output rows of the Gaussian sum (a full one would be O(M·N)). */
function rowsReference(p: Problem, rows: number[]): Table {
  return tabulate(rows.length, p.N, 1, (r, j) => [math.exp(-GAMMA * sqdist(row(p.x, rows[r], 3), row(p.y, j, 3))) * p.b[j]]);
}

function expectRowsRight(out: ArrayLike<number>, p: Problem): void {
  const rows = [0, 1, math.floor(p.M / 2), p.M - 1];
  expectSumClose(rows.map((r) => out[r]), rowsReference(p, rows), 1, 'float64', `rows ${rows.join(', ')}`);
}

/** Seconds per pair of the generic float64 Gaussian on this machine, from a Sync run of 3000 × 3000. */
let secondsPerPair = 0;
/** n such that an n × n generic float64 Gaussian sum takes about `seconds`. */
const sizeFor = (seconds: number): number => math.max(2000, math.min(40000, math.round(math.sqrt(seconds / secondsPerPair))));
const predicted = (n: number): number => secondsPerPair * n * n * 1000; // ms

beforeAll(() => {
  const p = problem(3000, 3000, 1);
  generic.runSync([p.x, p.y, p.b, GAMMA], { prune: false }); // warm up (threads, pages)
  const t0 = performance.now();
  generic.runSync([p.x, p.y, p.b, GAMMA], { prune: false });
  secondsPerPair = (performance.now() - t0) / 1000 / (3000 * 3000);
});

describe('concurrent calls', () => {
  test('64 concurrent Genred.run calls with different data each return their own right answer', async () => {
    const calls = Array.from({ length: 64 }, (_, k) => {
      const rng = new Rng(100 + k);
      const M = 20 + rng.int(80);
      const N = 50 + rng.int(250);
      const dtype: DType = k % 2 === 0 ? 'float32' : 'float64';
      const x = dual(uniform(rng, M * 3));
      const y = dual(uniform(rng, N * 3));
      const b = dual(uniform(rng, N, -1, 1));
      const g = 0.25 + rng.next();
      const t = tabulate(M, N, 1, (i, j) => [math.exp(-g * sqdist(row(x.f64, i, 3), row(y.f64, j, 3))) * b.f64[j]]);
      const genred = k % 4 < 2 ? fused : generic;
      return { M, dtype, t, promise: genred.run([pick(x, dtype), pick(y, dtype), pick(b, dtype), g]) };
    });
    const results = await Promise.all(calls.map((c) => c.promise));
    results.forEach((r, k) => {
      const t = asTensor(r);
      expectTensor(t, calls[k].dtype, [calls[k].M, 1]);
      expectSumClose(t.data, calls[k].t, 1, calls[k].dtype, `call ${k}`);
    });
  });

  test('concurrent LazyTensor reductions of different kinds each return their own right answer', async () => {
    const ps = Array.from({ length: 16 }, (_, k) => problem(30 + k, 200 + 7 * k, 300 + k));
    const sums = ps.map((p) => Vi(p.x, 3).sqdist(Vj(p.y, 3)).mul(Pm(GAMMA)).neg().exp().mul(Vj(p.b, 1)).sum(1));
    const mins = ps.map((p) => Vi(p.x, 3).sqdist(Vj(p.y, 3)).min(1));
    const [S, Mn] = await Promise.all([Promise.all(sums), Promise.all(mins)]);
    ps.forEach((p, k) => {
      const t = tabulate(p.M, p.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(p.x, i, 3), row(p.y, j, 3))) * p.b[j]]);
      expectSumClose(S[k].data, t, 1, 'float64', `sum ${k}`);
      const d = tabulate(p.M, p.N, 1, (i, j) => [sqdist(row(p.x, i, 3), row(p.y, j, 3))]);
      const expected = Array.from({ length: p.M }, (_, i) => math.min(...Array.from({ length: p.N }, (_u, j) => d.at(i, j))));
      Array.from(Mn[k].data).forEach((v, i) => expect(math.abs(v - expected[i])).toBeLessThanOrEqual(1e-14 * math.max(1, expected[i])));
    });
  });
});

describe('Sync calls beside async jobs', () => {
  // A Sync call runs at once on the calling thread, not queued behind the worker's job:
  // the long async job is still running when the Sync call returns, so the abort that
  // follows stops it (had the Sync call waited for it, it would have resolved).
  test.each(['runSync', 'KernelSolve.runSync'] as const)('a %s returns while a long async job is still running', async (what) => {
    const n = sizeFor(1.5);
    const long = problem(n, n, 21);
    const ac = new AbortController();
    const job = generic.run([long.x, long.y, long.b, GAMMA], { signal: ac.signal, prune: false });
    await new Promise((r) => setTimeout(r, 50)); // the job has started
    const small = problem(40, 40, 22);
    if (what === 'runSync') {
      const t = tabulate(small.M, small.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(small.x, i, 3), row(small.y, j, 3))) * small.b[j]]);
      expectSumClose(asTensor(fused.runSync([small.x, small.y, small.b, GAMMA])).data, t, 1, 'float64');
    } else {
      const solver = new KernelSolve('Exp(-g*SqDist(x,y))*b', ALIASES, 'b', { axis: 1 });
      const r = solver.runSync([small.x, small.x, small.b, GAMMA], { alpha: 1, tol: 1e-10 });
      expect(r.converged).toBe(true);
    }
    ac.abort();
    expect(await caught(() => job)).toBeInstanceOf(AbortError);
  });
});

describe('the queue a service steers', () => {
  /** Polls until `f()` holds (the worker updates its state just after a job settles). */
  const eventually = async (f: () => boolean): Promise<boolean> => {
    for (let k = 0; k < 200 && !f(); k++) await new Promise((r) => setTimeout(r, 5));
    return f();
  };
  const smallSum = (seed: number, opts: RunOptions = {}): Promise<unknown> => {
    const p = problem(30, 40, seed);
    return fused.run([p.x, p.y, p.b, GAMMA], opts);
  };

  test('jobs queued behind a running one start by priority, then in call order; info().queue shows them', async () => {
    // A long first job, aborted once the others are queued: nothing here hangs on timing.
    const n = sizeFor(3);
    const long = problem(n, n, 31);
    const ac = new AbortController();
    const first = caught(() => generic.run([long.x, long.y, long.b, GAMMA], { prune: false, signal: ac.signal }));
    expect(await eventually(() => info().queue.foreground.running)).toBe(true);
    // Jobs long enough (~0.1 s) that each settles in its own turn of the event loop: the
    // order they settle in is the order they ran in.
    const m = sizeFor(0.1);
    const mid = problem(m, m, 35);
    const order: string[] = [];
    const jobs = [['a', 0], ['b', 5], ['c', 0], ['d', 5], ['e', -3]].map(([name, priority]) =>
      generic.run([mid.x, mid.y, mid.b, GAMMA], { prune: false, priority: priority as number }).then(() => order.push(name as string)));
    const q = info().queue;
    expect(q.foreground.running).toBe(true);
    expect(q.foreground.waiting).toBe(5);
    expect(q.foreground.runningMs).toBeGreaterThanOrEqual(0);
    expect(q.background).toEqual({ waiting: 0, running: false, priority: 0, runningMs: 0 });
    expect(q.limit).toBe(Infinity);
    ac.abort();
    expect(await first).toBeInstanceOf(AbortError);
    await Promise.all(jobs);
    expect(order).toEqual(['b', 'd', 'a', 'c', 'e']);
    expect(await eventually(() => !info().queue.foreground.running)).toBe(true);
    expect(info().queue.foreground.waiting).toBe(0);
  });

  test('a background job runs beside the foreground lane: a call made after it finishes first', async () => {
    const n = sizeFor(1.5);
    const long = problem(n, n, 32);
    const ac = new AbortController();
    const refit = generic.run([long.x, long.y, long.b, GAMMA], { prune: false, background: true, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 30));
    expect(info().queue.background.running).toBe(true);
    const small = problem(40, 40, 33);
    const t = tabulate(small.M, small.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(small.x, i, 3), row(small.y, j, 3))) * small.b[j]]);
    expectSumClose(asTensor(await fused.run([small.x, small.y, small.b, GAMMA])).data, t, 1, 'float64');
    // The background job is still running: the abort stops it.
    ac.abort();
    expect(await caught(() => refit)).toBeInstanceOf(AbortError);
    // And a background job that runs to its end gives the right answer, a solve included.
    expectSumClose(asTensor(await fused.run([small.x, small.y, small.b, GAMMA], { background: true, priority: 3 })).data, t, 1, 'float64');
    const solver = new KernelSolve('Exp(-g*SqDist(x,y))*b', ALIASES, 'b', { axis: 1 });
    expect((await solver.run([small.x, small.x, small.b, GAMMA], { alpha: 1, tol: 1e-10, background: true })).converged).toBe(true);
  });

  test('setQueueLimit: a call beyond the limit rejects with QueueFullError at once, queueing and copying nothing', async () => {
    const n = sizeFor(3);
    const long = problem(n, n, 34);
    const ac = new AbortController();
    try {
      setQueueLimit(2);
      const first = caught(() => generic.run([long.x, long.y, long.b, GAMMA], { prune: false, signal: ac.signal }));
      expect(await eventually(() => info().queue.foreground.running)).toBe(true);
      const queued = [smallSum(41), smallSum(42)];
      expect(info().queue.limit).toBe(2);
      const refused = await caught(() => smallSum(43));
      expect(refused).toBeInstanceOf(QueueFullError);
      expect((refused as QueueFullError).code).toBe('ERR_LK_QUEUE_FULL');
      expect(info().queue.foreground.waiting).toBe(2);
      ac.abort();
      await Promise.all([first, ...queued]);
      await smallSum(44); // room again
    } finally {
      setQueueLimit(Infinity);
    }
    for (const bad of [-1, 1.5, NaN, '3'] as unknown[]) expect(() => setQueueLimit(bad as number)).toThrow(OptionError);
  });

  test.each([
    [{ priority: 1.5 }], [{ priority: '3' }], [{ priority: 2e9 }], [{ background: 'yes' }], [{ background: 1 }],
  ])('%p is an OptionError', async (opts) => {
    expect(await caught(() => smallSum(45, opts as RunOptions))).toBeInstanceOf(OptionError);
  });
});

describe('the event loop during a long call', () => {
  test('keeps ticking during a ~0.8 s async generic Gaussian sum in float64', async () => {
    const n = sizeFor(0.8);
    const p = problem(n, n, 2);
    let ticks = 0;
    let immediates = 0;
    let stop = false;
    const timer = setInterval(() => { ticks++; }, 10);
    const spin = (): void => { immediates++; if (!stop) setImmediate(spin); };
    setImmediate(spin);
    const t0 = performance.now();
    const out = await generic.run([p.x, p.y, p.b, GAMMA], { prune: false });
    const elapsed = performance.now() - t0;
    stop = true;
    clearInterval(timer);
    // The call must have been long enough to mean something, and the loop must have run
    // its timers throughout (a blocked loop fires one late tick at the end, at most).
    expect(elapsed).toBeGreaterThan(200);
    expect(ticks).toBeGreaterThanOrEqual(math.min(10, math.floor(elapsed / 10 / 4)));
    expect(immediates).toBeGreaterThan(10);
    expectRowsRight(asTensor(out).data, p);
  });
});

describe('AbortSignal', () => {
  test("an already-aborted signal rejects with an error named 'AbortError'", async () => {
    const p = problem(50, 60, 3);
    const err = await caught(() => fused.run([p.x, p.y, p.b, GAMMA], { signal: AbortSignal.abort() }));
    expect((err as Error).name).toBe('AbortError');
    expect(err).toBeInstanceOf(AbortError);
  });

  test('an already-aborted signal rejects a LazyTensor reduction with an AbortError too', async () => {
    const p = problem(50, 60, 4);
    const err = await caught(() => Vi(p.x, 3).sqdist(Vj(p.y, 3)).argkmin(3, 1, { signal: AbortSignal.abort() }));
    expect((err as Error).name).toBe('AbortError');
  });

  test('aborting a running long job rejects it with an AbortError well before it would have finished', async () => {
    const n = sizeFor(2.0);
    const expectedMs = predicted(n);
    const p = problem(n, n, 5);
    const ac = new AbortController();
    const t0 = performance.now();
    const job = generic.run([p.x, p.y, p.b, GAMMA], { signal: ac.signal, prune: false });
    const abortAt = 150;
    setTimeout(() => ac.abort(), abortAt);
    const err = await caught(() => job);
    const elapsed = performance.now() - t0;
    expect((err as Error).name).toBe('AbortError');
    expect(err).toBeInstanceOf(AbortError);
    // Promptly: the job would have run about expectedMs; it must stop long before that.
    expect(elapsed).toBeLessThan(abortAt + math.max(200, 0.4 * (expectedMs - abortAt)));
  });

  test('a job queued behind a long one can be aborted, and the long one still finishes right', async () => {
    const n = sizeFor(0.6);
    const long = problem(n, n, 6);
    const small = problem(40, 50, 7);
    const first = generic.run([long.x, long.y, long.b, GAMMA], { prune: false });
    const ac = new AbortController();
    const queued = fused.run([small.x, small.y, small.b, GAMMA], { signal: ac.signal });
    ac.abort();
    const err = await caught(() => queued);
    expect((err as Error).name).toBe('AbortError');
    expectRowsRight(asTensor(await first).data, long);
  });

  test("the AbortError carries the signal's reason as its cause, code ABORT_ERR, as Node's own", async () => {
    const p = problem(50, 60, 9);
    const reason = new Error('client went away');
    const before = await caught(() => fused.run([p.x, p.y, p.b, GAMMA], { signal: AbortSignal.abort(reason) }));
    expect(before).toBeInstanceOf(AbortError);
    expect((before as AbortError).code).toBe('ABORT_ERR');
    expect((before as Error).cause).toBe(reason);
    // While running: the reason given to abort() later.
    const long = problem(sizeFor(1.0), sizeFor(1.0), 10);
    const ac = new AbortController();
    const job = generic.run([long.x, long.y, long.b, GAMMA], { signal: ac.signal, prune: false });
    setTimeout(() => ac.abort('shutting down'), 50);
    const during = await caught(() => job);
    expect(during).toBeInstanceOf(AbortError);
    expect((during as Error).cause).toBe('shutting down');
    // AbortSignal.timeout: its TimeoutError is the cause.
    const timed = await caught(() => generic.run([long.x, long.y, long.b, GAMMA], { signal: AbortSignal.timeout(50), prune: false }));
    expect(timed).toBeInstanceOf(AbortError);
    expect(((timed as Error).cause as Error).name).toBe('TimeoutError');
  });

  test('timeout cancels a long job with an AbortError whose cause is a TimeoutError; a quick job is not touched', async () => {
    const n = sizeFor(1.5);
    const p = problem(n, n, 11);
    const err = await caught(() => generic.run([p.x, p.y, p.b, GAMMA], { timeout: 60, prune: false }));
    expect(err).toBeInstanceOf(AbortError);
    expect(((err as Error).cause as Error).name).toBe('TimeoutError');
    // A queued job's timeout runs from its call: behind a long job it is cancelled before it starts.
    const first = generic.run([p.x, p.y, p.b, GAMMA], { prune: false, timeout: 2 ** 31 - 1 });
    const small = problem(40, 50, 12);
    const queued = await caught(() => fused.run([small.x, small.y, small.b, GAMMA], { timeout: 30 }));
    expect(queued).toBeInstanceOf(AbortError);
    expectRowsRight(asTensor(await first).data, p);
    // Both a signal and a timeout: the first to fire is the cause.
    const ac = new AbortController();
    const both = generic.run([p.x, p.y, p.b, GAMMA], { signal: ac.signal, timeout: 2 ** 31 - 1, prune: false });
    ac.abort('first');
    expect(((await caught(() => both)) as Error).cause).toBe('first');
    // A quick job well within its timeout is untouched.
    const t = tabulate(small.M, small.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(small.x, i, 3), row(small.y, j, 3))) * small.b[j]]);
    expectSumClose(asTensor(await fused.run([small.x, small.y, small.b, GAMMA], { timeout: 60000 })).data, t, 1, 'float64');
  });

  test('a KernelSolve that would run on is stopped by its timeout', async () => {
    // Each product alone takes longer than the timeout (4e8 pairs, wide: nothing pruned).
    const n = 20000;
    const p = problem(n, n, 15);
    const solver = new KernelSolve('Exp(-g*SqDist(x,y))*b', ALIASES, 'b', { axis: 1 });
    // An unreachable tolerance and no cap to speak of: only the timeout ends it.
    const err = await caught(() => solver.run([p.x, p.x, p.b, GAMMA], { alpha: 1e-9, tol: 0, maxIter: 1e9, preconditioner: 'none', timeout: 100 }));
    expect(err).toBeInstanceOf(AbortError);
    expect(((err as Error).cause as Error).name).toBe('TimeoutError');
    expect(() => solver.runSync([p.x, p.x, p.b, GAMMA], { alpha: 1, timeout: 100 })).toThrow(/Sync call/);
  });

  test.each([0, -1, NaN, Infinity, 2 ** 31, '100'])('timeout %p is an OptionError', async (timeout) => {
    const p = problem(5, 6, 13);
    const err = await caught(() => fused.run([p.x, p.y, p.b, GAMMA], { timeout: timeout as number }));
    expect((err as Error).name).toBe('OptionError');
  });

  test('a Sync call refuses a timeout, which it could not honour', () => {
    const p = problem(5, 6, 14);
    expect(() => fused.runSync([p.x, p.y, p.b, GAMMA], { timeout: 100 })).toThrow(/Sync call/);
  });

  test('after aborts a normal call still works', async () => {
    const p = problem(77, 133, 8);
    const t = tabulate(p.M, p.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(p.x, i, 3), row(p.y, j, 3))) * p.b[j]]);
    expectSumClose(asTensor(await fused.run([p.x, p.y, p.b, GAMMA])).data, t, 1, 'float64');
    expectSumClose(asTensor(await generic.run([p.x, p.y, p.b, GAMMA])).data, t, 1, 'float64');
    expectSumClose(asTensor(fused.runSync([p.x, p.y, p.b, GAMMA])).data, t, 1, 'float64');
  });
});

describe('inputs are copied when a call starts', () => {
  /** Keeps the queue busy so that the call under test runs after its inputs have changed. */
  const blocker = (): Promise<unknown> => {
    const n = sizeFor(0.3);
    const p = problem(n, n, 9);
    return generic.run([p.x, p.y, p.b, GAMMA], { prune: false });
  };

  test('overwriting the arrays right after Genred.run starts does not change its result (float64)', async () => {
    const busy = blocker();
    const p = problem(101, 211, 10);
    const t = tabulate(p.M, p.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(p.x, i, 3), row(p.y, j, 3))) * p.b[j]]);
    const expected = refSum(t, 1);
    const job = fused.run([p.x, p.y, p.b, GAMMA]);
    p.x.fill(NaN);
    p.y.fill(0);
    p.b.fill(7);
    const out = asTensor(await job);
    expectSumClose(out.data, t, 1, 'float64');
    expect(out.data.length).toBe(expected.length);
    await busy;
  });

  test('overwriting float32 arrays right after a LazyTensor reduction starts does not change its result', async () => {
    const busy = blocker();
    const rng = new Rng(11);
    const x: Dual = dual(uniform(rng, 90 * 3));
    const y: Dual = dual(uniform(rng, 170 * 3));
    const t = tabulate(90, 170, 1, (i, j) => [math.exp(-sqdist(row(x.f64, i, 3), row(y.f64, j, 3)))]);
    const job = Vi(x.f32, 3).sqdist(Vj(y.f32, 3)).neg().exp().sum(1);
    x.f32.fill(1e30);
    y.f32.fill(-1e30);
    expectSumClose((await job).data, t, 1, 'float32');
    await busy;
  });

  const transfer = typeof structuredClone === 'function' ? test : test.skip;
  transfer('detaching an input buffer (transferring it) after the call starts does not change the result', async () => {
    const busy = blocker();
    const p = problem(64, 128, 12);
    const t = tabulate(p.M, p.N, 1, (i, j) => [math.exp(-GAMMA * sqdist(row(p.x, i, 3), row(p.y, j, 3))) * p.b[j]]);
    const job = generic.run([p.x, p.y, p.b, GAMMA]);
    structuredClone(p.y.buffer, { transfer: [p.y.buffer as ArrayBuffer] });
    expect(p.y.length).toBe(0); // detached
    expectSumClose(asTensor(await job).data, t, 1, 'float64');
    await busy;
  });
});

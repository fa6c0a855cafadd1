/**
 * A service under load (issue 15): a plain `http` server in-process over N points
 * (default 2e5, uniform in [0,1]^3, float32), answering POST /predict (a Gaussian kernel
 * sum at 100 query points, γ = `--gamma`) and POST /knn (the 10 nearest of 100 query
 * points), loaded by autocannon on loopback (`--connections`, half per route, for
 * `--duration` seconds), with the event loop's delay sampled throughout. The predictor's
 * weights are random: this measures serving, not fitting.
 *
 * Scenarios, side by side in one run:
 *   plain       the points passed as plain typed arrays at every call
 *   held        the points and weights held once (`dataset`), their clusters kept
 *   held+refit  the same while a long KernelSolve runs in the background lane
 *   held+fg     the same long solve in the foreground lane (what a refit cost before lanes)
 * and the time to hold the dataset, with the event loop's worst delay meanwhile, and that
 * of the first calls on it (which build its clusters).
 *
 *   npx ts-node --transpile-only bench/service.ts [--n 200000] [--duration 5] [--connections 32] [--gamma 1000]
 *       [--scenarios plain,held,held+refit,held+fg]
 */
import * as http from 'node:http';
import * as os from 'node:os';
import { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { dataset, Dataset, info, KernelSolve, Vi, Vj } from '../lib';
import { uniformSource } from './problem';
import { option } from './option';

const POINTS = 100;
const K = 10;

type Points = Float32Array | Dataset<Float32Array>;

/** The server: both routes over `x` (N × 3) and weights `a` (N × 1). */
function serve(x: Points, a: Points, gamma: number): Promise<http.Server> {
  const X = x instanceof Dataset ? Vj(x) : Vj(x, 3);
  const handle = async (route: string, body: string): Promise<unknown> => {
    const { points, k } = JSON.parse(body) as { points: number[][]; k?: number };
    const q = Float32Array.from(points.flat());
    if (route === '/knn') {
      const idx = await Vi(q, 3).sqdist(X).argkmin(k ?? K, 1);
      return { indices: Array.from(idx.data) };
    }
    const out = await Vi(q, 3).sqdist(X).mul(-gamma).exp().matvec(a);
    return { predictions: Array.from(out.data) };
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      handle(req.url ?? '', body).then(
        (answer) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function bodies(route: string, seed: number): string[] {
  const rand = uniformSource(seed);
  return Array.from({ length: 8 }, () => {
    const points = Array.from({ length: POINTS }, () => [rand(), rand(), rand()]);
    return JSON.stringify(route === '/knn' ? { points, k: K } : { points });
  });
}

interface Row { name: string; rps: number; p50: number; p99: number; loopP99: number; loopMax: number; failed: number; rss: number }

async function scenario(name: string, x: Points, a: Points, gamma: number, opts: { connections: number; duration: number; during?: () => Promise<unknown> }): Promise<Row> {
  const server = await serve(x, a, gamma);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const perRoute = Math.max(1, Math.round(opts.connections / 2));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const load = (route: string, seed: number) => autocannon({
    url: url + route, connections: perRoute, duration: opts.duration, headers: { 'content-type': 'application/json' },
    requests: bodies(route, seed).map((body) => ({ method: 'POST', body })),
  });
  const side = opts.during?.();
  delay.enable();
  const [p, k] = await Promise.all([load('/predict', 5), load('/knn', 7)]);
  delay.disable();
  await side;
  await new Promise((r) => server.close(r));
  // Requests cut off when the load ended leave their jobs queued: let them finish, so
  // that the next scenario starts on an idle queue.
  for (;;) {
    const { foreground: f, background: b } = info().queue;
    if (f.waiting + b.waiting === 0 && !f.running && !b.running) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  // Latency percentiles over both routes: the worse route's.
  return {
    name,
    rps: p.requests.average + k.requests.average,
    p50: Math.max(p.latency.p50, k.latency.p50),
    p99: Math.max(p.latency.p99, k.latency.p99),
    loopP99: delay.percentile(99) / 1e6,
    loopMax: delay.max / 1e6,
    failed: p.errors + p.timeouts + p.non2xx + k.errors + k.timeouts + k.non2xx,
    rss: process.memoryUsage().rss / 2 ** 20,
  };
}

async function main(): Promise<void> {
  const n = Number(option('n', '200000'));
  const duration = Number(option('duration', '5'));
  const connections = Number(option('connections', '32'));
  const gamma = Number(option('gamma', '1000'));
  const rand = uniformSource(3);
  const x = Float32Array.from({ length: 3 * n }, rand);
  const a = Float32Array.from({ length: n }, () => rand() - 0.5);

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const t0 = performance.now();
  const xs = await dataset(x, 3);
  const as = await dataset(a, 1);
  const holdMs = performance.now() - t0;
  delay.disable();
  // The first calls on the datasets build their clusters and transposed layout, once:
  // timed here, so that the scenarios measure the steady state.
  const q = Float32Array.from({ length: 3 * POINTS }, rand);
  const t1 = performance.now();
  await Vi(q, 3).sqdist(Vj(xs)).mul(-gamma).exp().matvec(as);
  await Vi(q, 3).sqdist(Vj(xs)).argkmin(K, 1);
  const firstMs = performance.now() - t1;

  // The long job: a solve on 4e4 of the points, as a refit would be.
  const m = Math.min(n, 40000);
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], 'b', { axis: 1 });
  const sub = x.subarray(0, 3 * m);
  const refit = (background: boolean) => async () => {
    // Until the load ends: a solve that will not converge, stopped by its timeout.
    await solver.run([sub, sub, a.subarray(0, m), 100], { alpha: 1e-6, tol: 0, maxIter: 1e9, preconditioner: 'none', background, timeout: duration * 1000 }).catch(() => undefined);
  };

  console.log(`lazykernel ${info().version}: ${info().cpu.simd}, ${info().cpu.threads} threads; ${os.cpus()[0]?.model ?? ''}`);
  console.log(`N = ${n} points, γ = ${gamma}, ${POINTS}-point /predict and /knn (k = ${K}) bodies, ${connections} connections, ${duration} s each`);
  console.log(`dataset(): ${holdMs.toFixed(0)} ms to hold ${n} points and weights; event-loop delay meanwhile p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`);
  console.log(`first predict and knn on the datasets (clusters and layout built, once): ${firstMs.toFixed(0)} ms`);
  const wanted = option('scenarios', 'plain,held,held+refit,held+fg').split(',');
  const all: [string, () => Promise<Row>][] = [
    ['plain', () => scenario('plain', x, a, gamma, { connections, duration })],
    ['held', () => scenario('held', xs, as, gamma, { connections, duration })],
    ['held+refit', () => scenario('held+refit', xs, as, gamma, { connections, duration, during: refit(true) })],
    ['held+fg', () => scenario('held+fg', xs, as, gamma, { connections, duration, during: refit(false) })],
  ];
  const rows: Row[] = [];
  for (const [name, run] of all) if (wanted.includes(name)) rows.push(await run());
  console.log('scenario     req/s   p50 ms   p99 ms   loop p99 ms   loop max ms   failed   rss MB');
  for (const r of rows) {
    console.log(`${r.name.padEnd(12)} ${r.rps.toFixed(1).padStart(6)}   ${r.p50.toFixed(0).padStart(6)}   ${r.p99.toFixed(0).padStart(6)}   ${r.loopP99.toFixed(1).padStart(11)}   ${r.loopMax.toFixed(1).padStart(11)}   ${String(r.failed).padStart(6)}   ${r.rss.toFixed(0).padStart(6)}`);
  }
  process.exitCode = rows.some((r) => r.failed > 0) ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

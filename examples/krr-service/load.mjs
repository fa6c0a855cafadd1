/**
 * A bounded load on loopback against an in-process server: /predict and /knn side by
 * side (two autocannon runs of half the connections each, so each route has its own
 * latencies), 100 points per body, while the event loop's delay is sampled. Prints one
 * table; exits 1 if any request failed.
 *
 *   node examples/krr-service/load.mjs [--small] [--duration SECONDS] [--connections C] [--threads T]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { mulberry32 } from '../random.mjs';
import { FULL, SMALL } from './model.mjs';
import { buildServer } from './server.mjs';

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!(Number.isInteger(value) && value >= 1)) throw new Error(`--${name} takes a positive integer, not ${process.argv[at + 1]}`);
  return value;
}

const small = process.argv.includes('--small');
const duration = option('duration', small ? 2 : 10);
const connections = option('connections', 32);
// Threads per lazykernel job while serving (buildServer's default: all cores but one).
const threads = option('threads', undefined);
// Half the connections on each route (at least one each).
const perRoute = Math.max(1, Math.round(connections / 2));
const POINTS = 100;
const K = 10;

/** A few different bodies per route, so that no answer is cached anywhere along the way. */
function bodies(route, count) {
  const uniform = mulberry32(route === '/knn' ? 7 : 5);
  return Array.from({ length: count }, () => {
    const points = Array.from({ length: POINTS }, () => [uniform(), uniform(), uniform()]);
    return JSON.stringify(route === '/knn' ? { points, k: K } : { points });
  });
}

function load(url, route) {
  // A 2xx body that is not an answer counts as a mismatch; checking its start is enough.
  const prefix = route === '/knn' ? '{"indices":[' : '{"predictions":[';
  return autocannon({
    url: url + route,
    connections: perRoute,
    duration,
    headers: { 'content-type': 'application/json' },
    requests: bodies(route, 8).map((body) => ({ method: 'POST', body })),
    verifyBody: (body) => body.startsWith(prefix),
  });
}

const app = await buildServer({ small, threads, logger: { level: 'warn' } });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const [predict, knn] = await Promise.all([load(url, '/predict'), load(url, '/knn')]);
delay.disable();
await app.close();

const failed = (r) => r.errors + r.timeouts + r.mismatches;
const ms = (ns) => ns / 1e6;
const table = [
  ['', '/predict', '/knn', 'total'],
  ['requests/s', predict.requests.average, knn.requests.average, predict.requests.average + knn.requests.average],
  ['latency p50 (ms)', predict.latency.p50, knn.latency.p50, ''],
  ['latency p99 (ms)', predict.latency.p99, knn.latency.p99, ''],
  ['errors (incl. timeouts)', failed(predict), failed(knn), failed(predict) + failed(knn)],
  ['non-2xx', predict.non2xx, knn.non2xx, predict.non2xx + knn.non2xx],
  ['event-loop delay p99 (ms)', '', '', ms(delay.percentile(99))],
  ['event-loop delay max (ms)', '', '', ms(delay.max)],
];
const cell = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : v);
const widths = table[0].map((_, c) => Math.max(...table.map((row) => cell(row[c]).length)));
console.log(`krr-service load: ${(small ? SMALL : FULL).n} training points, ${POINTS}-point bodies, ${2 * perRoute} connections, ${duration} s`);
for (const row of table) console.log(row.map((v, c) => (c === 0 ? cell(v).padEnd(widths[c]) : cell(v).padStart(widths[c]))).join('  ').trimEnd());
process.exitCode = failed(predict) + failed(knn) + predict.non2xx + knn.non2xx > 0 ? 1 : 0;

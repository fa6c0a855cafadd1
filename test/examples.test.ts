/**
 * The examples in examples/, run as a user would (node on the .mjs file, small sizes),
 * their output checked, and the krr-service's routes checked against references computed
 * here: the noiseless function for /predict, a float64 brute force for /knn.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const RUN_TIMEOUT_MS = 60_000;

interface Run { code: number | null; stdout: string; stderr: string }

function runExample(file: string, args: string[] = []): Run {
  const r = spawnSync(process.execPath, [file, '--small', ...args], { cwd: ROOT, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The number after `label` on its line of `text`. */
function numberAfter(text: string, label: RegExp): number {
  const m = new RegExp(`${label.source}\\s*(-?[\\d.]+)`).exec(text);
  if (!m) throw new Error(`no ${label} in:\n${text}`);
  return Number(m[1]);
}

describe('knn-classify', () => {
  test('classifies the spirals well and agrees with the brute force', () => {
    const r = runExample('examples/knn-classify/classify.mjs');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Chance is 33%; a neighbour search that returned wrong or shuffled indices would
    // vote near it. The arms overlap at the centre, so even the best rule errs there:
    // the small run measures ~93%, and 85% leaves room without admitting a broken search.
    expect(numberAfter(r.stdout, /test accuracy:/)).toBeGreaterThan(85);
    expect(r.stdout).toMatch(/brute-force check: 20 test rows, .* votes agree: OK/);
  });
});

describe('fit-bandwidth', () => {
  test('the validation loss falls toward the noise variance', () => {
    const r = runExample('examples/fit-bandwidth/fit.mjs');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const losses = [...r.stdout.matchAll(/validation loss ([\d.e+-]+) /g)].map((m) => Number(m[1]));
    expect(losses.length).toBe(13);
    // A wrong gradient (sign, a missing path through the solve) climbs or stalls: the
    // small run goes from 2.2e-2 to 1.2e-2, the noise variance is 1e-2.
    expect(losses[losses.length - 1]).toBeLessThan(0.7 * losses[0]);
    expect(losses[losses.length - 1]).toBeGreaterThan(0.009);
    expect(losses.slice(1).every((l, k) => l <= losses[k] * 1.01)).toBe(true);
  });
});

describe('gaussian-mixture', () => {
  test('the log-likelihood rises and the three components are recovered', () => {
    const r = runExample('examples/gaussian-mixture/fit.mjs');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lls = [...r.stdout.matchAll(/step +\d+: mean log-likelihood (-?[\d.]+)/g)].map((m) => Number(m[1]));
    expect(lls.slice(1).every((l, k) => l >= lls[k])).toBe(true);
    const fitted = [...r.stdout.matchAll(/component: mean \((-?[\d.]+), (-?[\d.]+)\), sigma ([\d.]+), share ([\d.]+)/g)]
      .map((m) => m.slice(1, 5).map(Number));
    // The truth (fit.mjs), sorted as the script sorts: by the mean's first coordinate.
    const truth = [[-2, 0, 0.5, 0.5], [0, 3, 0.3, 0.2], [2, 1, 0.8, 0.3]];
    expect(fitted.length).toBe(3);
    // 3000 samples: means within 0.1, spreads and shares within 0.05 of the truth.
    fitted.forEach((f, k) => {
      expect(Math.abs(f[0] - truth[k][0]) + Math.abs(f[1] - truth[k][1])).toBeLessThan(0.1);
      expect(Math.abs(f[2] - truth[k][2])).toBeLessThan(0.05);
      expect(Math.abs(f[3] - truth[k][3])).toBeLessThan(0.05);
    });
  });
});

describe('density', () => {
  test('picks an interior bandwidth, matches the brute force and writes the plot', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-density-'));
    try {
      const r = runExample('examples/density/density.mjs', ['--out', out]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/brute-force check: 8 grid values within 1e-5·\(1 \+ \|log p\|\) of float64 log-sum-exp \(worst \|diff\| [\d.e+-]+\): OK/);
      // The held-out likelihood must peak inside the range tried: a wrong normaliser
      // (its −log h²) or a wrong scale in the exponent would push it to an end.
      const tried = [...r.stdout.matchAll(/h = ([\d.]+): held-out log-likelihood (-?[\d.]+)/g)].map((m) => ({ h: Number(m[1]), ll: Number(m[2]) }));
      expect(tried.length).toBeGreaterThanOrEqual(4);
      const best = tried.reduce((a, b) => (b.ll > a.ll ? b : a));
      expect(numberAfter(r.stdout, /best bandwidth: h =/)).toBe(best.h);
      expect(best.h).not.toBe(tried[0].h);
      expect(best.h).not.toBe(tried[tried.length - 1].h);
      const svg = fs.readFileSync(path.join(out, 'density.svg'), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      const png = fs.readFileSync(path.join(out, 'density.png'));
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('krr-service load', () => {
  test('prints the table with no failed request', () => {
    const r = runExample('examples/krr-service/load.mjs');
    expect(r.code).toBe(0);
    const row = (label: string): string[] => {
      const line = r.stdout.split('\n').find((l) => l.startsWith(label));
      if (line === undefined) throw new Error(`no "${label}" row in:\n${r.stdout}`);
      return line.slice(label.length).trim().split(/\s+/);
    };
    const [predictRate, knnRate] = row('requests/s').map(Number);
    expect(predictRate).toBeGreaterThan(0);
    expect(knnRate).toBeGreaterThan(0);
    expect(row('latency p99 (ms)').map(Number).every((v) => v > 0)).toBe(true);
    expect(row('errors (incl. timeouts)')).toEqual(['0', '0', '0']);
    expect(row('non-2xx')).toEqual(['0', '0', '0']);
    expect(Number(row('event-loop delay p99 (ms)')[0])).toBeGreaterThan(0);
    expect(Number(row('event-loop delay max (ms)')[0])).toBeGreaterThan(0);
  });
});

// --- the service, in a child process -------------------------------------------------

interface Reply { status: number; body: any }

function request(url: string, method: 'GET' | 'POST', payload?: unknown): Promise<Reply> {
  const text = payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: text === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** The server's training points, regenerated by its own data module from the documented seed. */
function trainingPoints(): Float64Array {
  const script = `import { makeData } from './examples/krr-service/data.mjs';
import { SMALL } from './examples/krr-service/model.mjs';
process.stdout.write(JSON.stringify(Array.from(makeData(SMALL).x)));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(r.stderr);
  return Float64Array.from(JSON.parse(r.stdout) as number[]);
}

/** A seeded uniform generator of the test's own (Park–Miller), independent of the server's. */
function uniform(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

describe('krr-service', () => {
  let server: ChildProcess;
  let url: string;
  let log = '';

  beforeAll(async () => {
    server = spawn(process.execPath, ['examples/krr-service/server.mjs', '--small'], { cwd: ROOT, env: { ...process.env, PORT: '0' } });
    server.stdout?.setEncoding('utf8');
    server.stderr?.setEncoding('utf8');
    server.stderr?.on('data', (chunk: string) => (log += chunk));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening on" line in 30 s:\n${log}`)), 30_000);
      server.stdout?.on('data', (chunk: string) => {
        log += chunk;
        const m = /^listening on (http:\/\/\S+)$/m.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      server.on('exit', (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
    });
  });

  afterAll(async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  });

  test('GET /health reports the fit', async () => {
    const r = await request(`${url}/health`, 'GET');
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ok');
    expect(r.body.fit.n).toBe(2000);
    expect(r.body.fit.residual).toBeLessThanOrEqual(1e-6);
  });

  test('POST /predict is close to the noiseless function at held-out points', async () => {
    const u = uniform(2024);
    // Inside [0.1, 0.9]³: near the cube's faces there are fewer points to average, and the
    // Gaussian prior pulls predictions towards 0 (α = 0.1 is a regulariser, not 0).
    const points = Array.from({ length: 200 }, () => [0.1 + 0.8 * u(), 0.1 + 0.8 * u(), 0.1 + 0.8 * u()]);
    const r = await request(`${url}/predict`, 'POST', { points });
    expect(r.status).toBe(200);
    const truth = ([a, b, c]: number[]): number => Math.sin(4 * a) + Math.cos(3 * b) + c;
    const rmse = Math.sqrt(points.reduce((s, p, i) => s + (r.body.predictions[i] - truth(p)) ** 2, 0) / points.length);
    // The targets carry noise of σ = 0.1 and f varies with a standard deviation of ~0.8:
    // predicting the mean scores ~0.8, echoing the nearest noisy target ~0.1. A smoother
    // that averages many points lands well below the noise (~0.02 measured); 0.05 fails
    // both of the former and anything that has not learned f.
    expect(rmse).toBeLessThan(0.05);
  });

  test('POST /knn returns the brute-force nearest training points', async () => {
    const x = trainingPoints();
    const n = x.length / 3;
    expect(n).toBe(2000);
    const u = uniform(77);
    const points = Array.from({ length: 12 }, () => [u(), u(), u()]);
    const k = 10;
    const r = await request(`${url}/knn`, 'POST', { points, k });
    expect(r.status).toBe(200);
    points.forEach((q, i) => {
      const d = Array.from({ length: n }, (_, j) => (x[3 * j] - q[0]) ** 2 + (x[3 * j + 1] - q[1]) ** 2 + (x[3 * j + 2] - q[2]) ** 2);
      const order = d.map((_, j) => j).sort((a, b) => d[a] - d[b] || a - b).slice(0, k);
      // The service computes in float64 on the training points' exact values: the same
      // neighbours, and distances equal up to the rounding of a fused multiply-add.
      expect(r.body.indices[i]).toEqual(order);
      r.body.sqdists[i].forEach((v: number, l: number) => expect(Math.abs(v - d[order[l]])).toBeLessThanOrEqual(1e-14));
    });
  });

  test.each([
    ['points not an array', '/predict', { points: 'abc' }, /^points must be an array/],
    ['a body that is an array', '/predict', [1, 2, 3], /^the body must be a JSON object/],
    ['no points', '/predict', { points: [] }, /^points must hold 1 to 10000 points, not 0$/],
    ['too many points', '/predict', { points: Array.from({ length: 10001 }, () => [0, 0, 0]) }, /^points must hold 1 to 10000 points, not 10001$/],
    ['a 2-D point', '/predict', { points: [[1, 2]] }, /^points\[0\] must be \[x, y, z\]/],
    ['a string coordinate', '/predict', { points: [[0, 0, 0], [1, 'a', 3]] }, /^points\[1\]\[1\] must be a finite number/],
    ['a null coordinate', '/predict', { points: [[null, 1, 1]] }, /^points\[0\]\[0\] must be a finite number, not null$/],
    ['1e999 (Infinity)', '/predict', '{"points":[[1,2,1e999]]}', /^points\[0\]\[2\] must be a finite number, not Infinity$/],
    ['malformed JSON', '/predict', '{"points":[[1,2,', /JSON/],
    ['no k', '/knn', { points: [[0, 0, 0]] }, /^k must be a positive integer, not undefined$/],
    ['k = 0', '/knn', { points: [[0, 0, 0]], k: 0 }, /^k must be a positive integer, not 0$/],
    ['k = 2.5', '/knn', { points: [[0, 0, 0]], k: 2.5 }, /^k must be a positive integer, not 2.5$/],
    ['k a string', '/knn', { points: [[0, 0, 0]], k: '3' }, /^k must be a positive integer/],
    ['k × points too large', '/knn', { points: Array.from({ length: 101 }, () => [0, 0, 0]), k: 1000 }, /^k × points must be at most 100000/],
  ])('%s: POST %s answers 400 with a message', async (_case, route, body, message) => {
    const r = await request(`${url}${route}`, 'POST', body);
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(message);
  });

  test("lazykernel's OptionError (k above the training points) answers 400 with its code", async () => {
    const r = await request(`${url}/knn`, 'POST', { points: [[0.5, 0.5, 0.5]], k: 2001 });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('ERR_LK_OPTION');
    expect(r.body.message).toMatch(/k = 2001 is more than the 2000 rows/);
  });

  test('a client that disconnects has its job aborted, and the service carries on', async () => {
    // Jobs run one at a time on lazykernel's queue: when the first of these answers, the
    // others are queued or running, and closing their sockets must abort them.
    const body = JSON.stringify({ points: Array.from({ length: 5000 }, (_, i) => [(i % 17) / 17, (i % 13) / 13, (i % 11) / 11]) });
    const requests: http.ClientRequest[] = [];
    await new Promise<void>((resolve) => {
      for (let r = 0; r < 12; r++) {
        const req = http.request(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => {
            requests.forEach((q) => q.destroy());
            resolve();
          });
        });
        req.on('error', () => {}); // the destroyed ones
        req.end(body);
        requests.push(req);
      }
    });
    const deadline = Date.now() + 10_000;
    while (!log.includes('client disconnected: lazykernel job aborted') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(log).toMatch(/"route":"\/predict".*"msg":"client disconnected: lazykernel job aborted"/);
    expect((await request(`${url}/health`, 'GET')).status).toBe(200);
  });
});

/**
 * A kernel ridge regression service: fits at start (model.mjs), then answers
 *   POST /predict { points: [[x, y, z], ...] }         → { predictions: [...] }
 *   POST /knn     { points: [[x, y, z], ...], k: 10 }  → { indices: [[...]], sqdists: [[...]] }
 *   GET  /health                                       → { status: 'ok', fit: {...} }
 *
 *   node examples/krr-service/server.mjs [--small]     (PORT=0 picks a free port)
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import Fastify, { LogController } from 'fastify';
import { AbortError, DTypeError, OptionError, setNumThreads, ShapeError } from 'lazykernel';
import { fitModel, FULL, SMALL } from './model.mjs';
import { readK, readPoints } from './validate.mjs';

/**
 * An AbortSignal that fires when the client goes away before its answer is written, so
 * that its lazykernel job leaves the queue (or stops within a tile) instead of computing
 * an answer nobody reads.
 */
function disconnectSignal(reply) {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Rows of a flat m × k array, as JSON arrays. */
function rows(flat, k) {
  const out = new Array(flat.length / k);
  for (let i = 0; i < out.length; i++) out[i] = Array.from(flat.subarray(i * k, (i + 1) * k));
  return out;
}

/**
 * Runs one lazykernel job for a route; a client that disconnected meanwhile gets nothing
 * (its socket is gone), and the log says the job was aborted.
 */
async function answer(request, reply, job) {
  try {
    return await job(disconnectSignal(reply));
  } catch (err) {
    if (!(err instanceof AbortError)) throw err;
    request.log.info({ route: request.routeOptions.url }, 'client disconnected: lazykernel job aborted');
    return reply.hijack();
  }
}

/**
 * Fits the model and returns the fastify app, not yet listening.
 *
 * options: small (the SMALL problem), params (a problem of your own, see model.mjs),
 * logger (fastify's logger option; default info level), maxPoints per request (10 000),
 * maxValues in a /knn answer, k × points (100 000), threads per lazykernel job while
 * serving (default: all cores but one).
 */
export async function buildServer(options = {}) {
  const { small = false, logger = { level: 'info' }, maxPoints = 10_000, maxValues = 100_000 } = options;
  const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
  const params = options.params ?? (small ? SMALL : FULL);
  // Request logging off: a log line per request would dominate the cost of small requests.
  const app = Fastify({ logger, logController: new LogController({ disableRequestLogging: true }) });
  app.log.info({ params }, 'fitting');
  const model = await fitModel(params);
  // The fit had every core. While serving, a job's thread team competes with the event
  // loop (parsing, serialising) and with anything else on the machine: on 2 quiet cores
  // load.mjs served 1.35x more requests/s with 2 threads per job than with 1, but its
  // event-loop delay p99 reached 21 ms against 17; with other processes busy on the
  // machine, 2 threads per job served 2.3x (n = 20 000) to 11x (n = 2 000) fewer. All
  // cores but one degrades gracefully. setNumThreads is process-wide.
  setNumThreads(threads);
  app.log.info({ fit: model.summary, threads }, 'fitted');

  app.setErrorHandler((err, request, reply) => {
    // lazykernel checks what the service leaves to it (k against the training points);
    // its typed errors for arguments are the client's fault.
    if (err instanceof OptionError || err instanceof ShapeError || err instanceof DTypeError || err.statusCode === 400) {
      return reply.code(400).send({ error: err.code ?? 'ERR_BAD_REQUEST', message: err.message });
    }
    if (err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.code, message: err.message });
    request.log.error(err);
    return reply.code(500).send({ error: 'ERR_INTERNAL', message: 'internal error' });
  });

  app.get('/health', async () => ({ status: 'ok', params: model.params, fit: model.summary }));

  app.post('/predict', async (request, reply) => {
    const points = readPoints(request.body, maxPoints);
    return answer(request, reply, async (signal) => ({ predictions: Array.from(await model.predict(points, { signal })) }));
  });

  app.post('/knn', async (request, reply) => {
    const points = readPoints(request.body, maxPoints);
    const k = readK(request.body, points.length / 3, maxValues);
    return answer(request, reply, async (signal) => {
      const { indices, sqdists } = await model.knn(points, k, { signal });
      return { indices: rows(indices, k), sqdists: rows(sqdists, k) };
    });
  });

  return app;
}

async function main() {
  const app = await buildServer({ small: process.argv.includes('--small') });
  const port = Number(process.env.PORT ?? 3000);
  const url = await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' });
  console.log(`listening on ${url}`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => app.close());
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();

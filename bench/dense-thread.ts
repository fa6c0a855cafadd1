/**
 * The dense solves, run on a worker thread (./dense-worker.ts) so that the main thread
 * stays free to redraw the progress line while ml-matrix factors a 2000×2000 matrix.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { DenseJobs, JobReply, JobRequest } from './dense-worker';
import { MemoryOverflow } from './timing';

type Result<K extends keyof DenseJobs> = Awaited<ReturnType<DenseJobs[K]>>;

/** The errors that the schedule tells apart (MemoryOverflow, RangeError) keep their class across the thread. */
function revive({ name, message }: { name: string; message: string }): Error {
  if (name === 'MemoryOverflow') return new MemoryOverflow(message);
  const err = name === 'RangeError' ? new RangeError(message) : new Error(message);
  err.name = name;
  return err;
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

function start(): Worker {
  const file = JSON.stringify(path.join(__dirname, 'dense-worker'));
  // Under ts-node the worker must register it too (a Worker does not load .ts by itself),
  // with this repository's tsconfig whatever the working directory.
  const tsNode = (): string => JSON.stringify(require.resolve('ts-node'));
  const project = JSON.stringify(path.join(__dirname, '..', 'tsconfig.json'));
  const code = __filename.endsWith('.ts')
    ? `require(${tsNode()}).register({ transpileOnly: true, project: ${project} }); require(${file});`
    : `require(${file});`;
  const w = new Worker(code, { eval: true });
  w.on('message', (reply: JobReply) => {
    const call = pending.get(reply.id);
    pending.delete(reply.id);
    if (pending.size === 0) w.unref();
    if ('error' in reply) call?.reject(revive(reply.error));
    else call?.resolve(reply.result);
  });
  w.on('error', (err) => {
    for (const call of pending.values()) call.reject(err);
    pending.clear();
    worker = undefined;
  });
  return w;
}

/**
 * Runs one dense job on the worker thread, started on first use. The thread keeps the
 * process alive only while a job is pending, so nothing has to close it.
 */
export function runDense<K extends keyof DenseJobs>(job: K, ...args: Parameters<DenseJobs[K]>): Promise<Result<K>> {
  worker ??= start();
  worker.ref();
  const id = nextId++;
  const request: JobRequest = { id, job, args };
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker?.postMessage(request);
  });
}

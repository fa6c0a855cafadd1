/**
 * The worker-thread side of ./dense-thread.ts: the dense float64 solves run here because
 * they take seconds without ever yielding, which would freeze the progress display.
 */
import { parentPort } from 'worker_threads';
import { referenceSolve, solveWithMlMatrix } from './dense';
import type { Problem } from './problem';
import { timeLoops } from './timing';

export const jobs = {
  /** The dense-ml-matrix column; timed in this thread, so no message passing is measured. */
  measureMlMatrix: (p: Problem, loops: number) => timeLoops(loops, () => ({ answer: solveWithMlMatrix(p) })),
  /** The answer every routine is checked against. */
  reference: (p: Problem) => referenceSolve(p),
};

export type DenseJobs = typeof jobs;

export interface JobRequest { id: number; job: keyof DenseJobs; args: unknown[] }
export type JobReply = { id: number; result: unknown } | { id: number; error: { name: string; message: string } };

parentPort?.on('message', async ({ id, job, args }: JobRequest) => {
  let reply: JobReply;
  try {
    reply = { id, result: await (jobs[job] as (...a: unknown[]) => unknown)(...args) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { id, error: { name: e.name, message: e.message } };
  }
  parentPort?.postMessage(reply);
});

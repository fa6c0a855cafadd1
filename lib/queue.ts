/**
 * The job queue as a service sees it: its state (info().queue), a limit on the jobs
 * waiting, and the check every async call makes against it before copying anything.
 * The native queue (native/queue.h) has two lanes: the foreground, whose jobs run one at
 * a time with the whole thread team, highest `priority` first; and the background
 * (`background: true`), whose jobs run one at a time beside the foreground's with half
 * the team, so that a refit never holds the requests queued behind it.
 */
import { addon } from './addon';
import { OptionError, QueueFullError } from './errors';

/** One lane of the queue. */
export interface LaneInfo {
  /** Jobs queued and not started. */
  waiting: number;
  /** Whether a job is running, its priority and how long it has run. */
  running: boolean;
  priority: number;
  runningMs: number;
}

/** The queue's lanes and its limit on waiting jobs (Infinity: none). */
export interface QueueInfo {
  foreground: LaneInfo;
  background: LaneInfo;
  limit: number;
}

let limit = Infinity;

/** The queue now. */
export function queueInfo(): QueueInfo {
  return { ...addon.queueInfo(), limit };
}

/**
 * Caps the jobs waiting in the queue (both lanes together, running jobs not counted):
 * an async call made when `limit` are waiting rejects at once with a QueueFullError,
 * before its inputs are copied. Infinity (the default) removes the cap.
 *
 * @example
 * setQueueLimit(64); // a service sheds load (503) instead of queueing for minutes
 */
export function setQueueLimit(n: number): void {
  if (!(n === Infinity || (Number.isInteger(n) && n >= 0))) {
    throw new OptionError(`setQueueLimit expects an integer >= 0 or Infinity, not ${String(n)}`);
  }
  limit = n;
}

/** Throws QueueFullError when the queue holds `limit` waiting jobs. */
export function checkQueueRoom(): void {
  if (limit === Infinity) return;
  const { foreground, background } = addon.queueInfo();
  const waiting = foreground.waiting + background.waiting;
  if (waiting >= limit) {
    throw new QueueFullError(`the queue holds ${waiting} waiting jobs, its limit (setQueueLimit); try again later`);
  }
}

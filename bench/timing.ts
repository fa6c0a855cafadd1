/**
 * The reference benchmark's timing schedule (KeOps' benchmark_utils.bench_config): at
 * each N one warm-up run, then the mean of `loops` runs; `loops` starts at 100 and drops
 * to 10, then 1, as the routine gets slower, and when it cannot drop any further the
 * routine stops with "Too slow!". A routine that would not fit in memory stops with
 * "Memory overflow!". This file knows nothing of what is measured.
 */

export interface Schedule {
  /** A routine whose `loops` runs at one N take longer than this drops to fewer loops, or stops. */
  maxTime: number;
  /** ...and drops to fewer loops already past this, while fewer loops remain. */
  redTime: number;
  loops: readonly number[];
}

/** The reference's CPU setting (MAXTIME 1 s, REDTIME 0.2 s). */
export const CPU_SCHEDULE: Schedule = { maxTime: 1, redTime: 0.2, loops: [100, 10, 1] };
/** On a GPU the reference allows more time: a run there is cheap but its start-up is not. */
export const GPU_SCHEDULE: Schedule = { maxTime: 10, redTime: 5, loops: [100, 10, 1] };

/** Thrown by a routine before it allocates more than it may (recorded as nan). */
export class MemoryOverflow extends Error {
  name = 'MemoryOverflow';
}

/** Thrown when a routine's answer is wrong (recorded as nan, and the run fails). */
export class WrongAnswer extends Error {
  name = 'WrongAnswer';
}

/** Why a routine stopped before the last N. */
export type StopReason = 'too-slow' | 'overflow' | 'wrong' | 'error';

/** The words the reference prints and plots for each stop. */
export const STOP_LABEL: Record<StopReason, string> = {
  'too-slow': 'Too slow!',
  overflow: 'Memory overflow!',
  wrong: 'Wrong answer!',
  error: 'Runtime error!',
};

/** One routine's column: seconds per run at each N, inf after "Too slow!", nan after a failure. */
export interface Series {
  name: string;
  /** One entry per N of the run, in order. */
  seconds: number[];
  stop?: { reason: StopReason; n: number; message: string };
}

/** A wrong answer or a runtime error: the benchmark must not pass with these. */
export function failed(series: Series): boolean {
  return series.stop?.reason === 'wrong' || series.stop?.reason === 'error';
}

/** A typed-array allocation that failed: V8 answers a RangeError, not an out-of-memory crash. */
function isAllocationFailure(err: unknown): boolean {
  return err instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(err.message);
}

function stopReason(err: unknown): StopReason {
  if (err instanceof MemoryOverflow || isAllocationFailure(err)) return 'overflow';
  if (err instanceof WrongAnswer) return 'wrong';
  return 'error';
}

/** What the schedule reports as it goes, for the progress display. */
export interface ScheduleEvents {
  start(n: number, loops: number): void;
  done(n: number, loops: number, seconds: number): void;
  stopped(reason: StopReason, n: number, message: string): void;
}

/**
 * Times one routine over increasing N with the reference's schedule. `measure(n, loops)`
 * does one warm-up run and returns the mean time of `loops` runs; it throws
 * MemoryOverflow or WrongAnswer (or anything else, a runtime error) to stop the routine.
 */
export async function runSchedule(
  name: string,
  sizes: readonly number[],
  schedule: Schedule,
  measure: (n: number, loops: number) => Promise<number>,
  events: ScheduleEvents,
): Promise<Series> {
  const series: Series = { name, seconds: [] };
  const remaining = [...schedule.loops];
  let loops = remaining.shift() as number;
  for (const n of sizes) {
    events.start(n, loops);
    let seconds: number;
    try {
      seconds = await measure(n, loops);
    } catch (err) {
      const reason = stopReason(err);
      const message = err instanceof Error ? err.message : String(err);
      series.stop = { reason, n, message };
      events.stopped(reason, n, message);
      break;
    }
    series.seconds.push(seconds);
    events.done(n, loops, seconds);
    // As the reference: fewer loops once `loops` runs exceed REDTIME (or MAXTIME on the
    // last setting), and "Too slow!" when there are no fewer loops to go to.
    const total = loops * seconds;
    if (total > schedule.maxTime || (total > schedule.redTime && remaining.length > 0)) {
      const next = remaining.shift();
      if (next === undefined) {
        if (series.seconds.length < sizes.length) {
          const message = `at N = ${n}, ${loops} × ${seconds.toPrecision(3)} s is over MAXTIME = ${schedule.maxTime} s with no fewer loops left`;
          series.stop = { reason: 'too-slow', n: sizes[series.seconds.length], message };
          events.stopped('too-slow', series.stop.n, message);
        }
        break;
      }
      loops = next;
    }
  }
  // The reference's fill: inf where it was too slow, nan where it failed or overflowed.
  const fill = series.stop?.reason === 'too-slow' ? Infinity : NaN;
  while (series.seconds.length < sizes.length) series.seconds.push(fill);
  return series;
}

/** What one run of a routine gives: the solution a, and how many CG iterations it took. */
export interface Solution {
  answer: ArrayLike<number>;
  iterations?: number;
}

/** One measurement: the warm-up run's solution (the one checked) and the mean time per run. */
export interface Measurement extends Solution {
  seconds: number;
}

/**
 * One measurement of an in-process routine: a warm-up run, then the mean of `loops`
 * timed runs, awaited one after the other.
 */
export async function timeLoops(loops: number, run: () => Promise<Solution> | Solution): Promise<Measurement> {
  const solution = await run();
  const start = performance.now();
  for (let k = 0; k < loops; k++) await run();
  return { ...solution, seconds: (performance.now() - start) / 1000 / loops };
}

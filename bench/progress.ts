/**
 * What the benchmark shows while it runs. On a terminal: a bar over all (routine, N)
 * steps with the current routine, N and elapsed time, redrawn in place, with log lines
 * scrolling above it. Elsewhere (CI, a pipe): the log lines only, so logs stay readable.
 */
import { formatCount } from './format';

const REDRAW_MS = 250;
const BAR_WIDTH = 24;

export class Progress {
  private readonly tty: boolean;
  private readonly started = performance.now();
  private stepStarted = performance.now();
  private done = 0;
  private current = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WriteStream, private readonly total: number) {
    this.tty = out.isTTY === true;
    if (this.tty) {
      // Redraws while runs go on elsewhere: the native job queue, the dense worker thread,
      // the Python child. In-process TypeScript (the TS CG's loop) holds it only briefly.
      this.timer = setInterval(() => this.draw(), REDRAW_MS);
      this.timer.unref();
    }
  }

  /** A (routine, N) step begins. */
  start(routine: string, n: number, loops: number): void {
    this.current = `${routine}  N=${formatCount(n)}  ${loops} loop${loops === 1 ? '' : 's'}`;
    this.stepStarted = performance.now();
    this.draw();
  }

  /** `steps` steps are over (more than one when a routine stops early). */
  advance(steps = 1): void {
    this.done = Math.min(this.total, this.done + steps);
    this.draw();
  }

  /** A line of the log: above the bar on a terminal, plain elsewhere. */
  log(line: string): void {
    this.out.write(this.tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    this.draw();
  }

  /** Removes the bar for good. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) this.out.write('\r\x1b[2K');
    this.current = '';
  }

  private draw(): void {
    if (!this.tty || this.current === '') return;
    const filled = Math.round((BAR_WIDTH * this.done) / this.total);
    const now = performance.now();
    const line = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${this.done}/${this.total}  ${this.current}  ` +
      `${clock(now - this.stepStarted)} (total ${clock(now - this.started)})`;
    // A line wider than the terminal wraps, and \r would then redraw only its last part.
    this.out.write(`\r\x1b[2K${line.slice(0, (this.out.columns ?? 80) - 1)}`);
  }
}

/** Elapsed time at a glance: "4.2 s", "2:05". */
function clock(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

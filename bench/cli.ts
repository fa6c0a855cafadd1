/**
 * The benchmark's command line (issue 6):
 *   npm run bench -- [--max-n N] [--out DIR] [--routines a,b] [--full] [--max-time S]
 */
import * as path from 'path';
import { parseArgs } from 'util';
import { SIZES } from './problem';

/** The default run stops here: a couple of minutes on 2 cores. */
const QUICK_MAX_N = 1e4;

export interface Options {
  sizes: number[];
  outDir: string;
  /** undefined: every routine this machine can run. */
  routines: string[] | undefined;
  /** MAXTIME of the CPU routines, seconds: the reference's 1 s, or more to reach a large N. */
  maxTime: number;
}

/** With --full a CPU routine may take a minute per solve: the point is to reach N = 1e6. */
const FULL_MAX_TIME = 60;

export const USAGE = `Usage: npm run bench -- [options]
  --max-n N          largest N (default ${QUICK_MAX_N}; with --full, 1e6); --max is the same
  --full             every N of the reference, up to 1e6, with MAXTIME ${FULL_MAX_TIME} s
  --max-time S       MAXTIME of the CPU routines in seconds (default 1, as the reference)
  --out DIR          where the CSV and plots go (default bench/output/)
  --routines a,b     only these columns
  --help
Environment: LAZYKERNEL_BENCH_PYTHON=/path/to/python adds the reference's NumPy (and KeOps) columns.`;

export class UsageError extends Error {}

function parseSize(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < SIZES[0]) throw new UsageError(`--max-n takes an integer N ≥ ${SIZES[0]}, not ${text}`);
  return n;
}

/** Parses argv; returns undefined when help was asked for. Throws UsageError. */
export function parseCli(argv: readonly string[]): Options | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'max-n': { type: 'string' },
        max: { type: 'string' },
        full: { type: 'boolean', default: false },
        out: { type: 'string' },
        routines: { type: 'string' },
        'max-time': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const asked = values['max-n'] ?? values.max;
  const maxN = asked !== undefined ? parseSize(asked) : values.full ? SIZES[SIZES.length - 1] : QUICK_MAX_N;
  // An N between the reference's sizes is run as the last one, so that --max-n means it.
  const sizes = SIZES.filter((n) => n <= maxN);
  if (sizes[sizes.length - 1] !== maxN) sizes.push(maxN);
  const routines = values.routines?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (routines !== undefined && routines.length === 0) throw new UsageError('--routines needs at least one name');
  const maxTime = values['max-time'] !== undefined ? Number(values['max-time']) : values.full ? FULL_MAX_TIME : 1;
  if (!(maxTime > 0) || !Number.isFinite(maxTime)) throw new UsageError(`--max-time takes a number of seconds > 0, not ${values['max-time']}`);
  return {
    sizes,
    outDir: path.resolve(values.out ?? path.join(__dirname, 'output')),
    routines,
    maxTime,
  };
}

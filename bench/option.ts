/**
 * The small command lines of the side benchmarks (abort, matvec, prune, solve, grad):
 * `--name value` options, and the median they report.
 */

/** The value after `--name` on the command line, or `fallback`. */
export function option(name: string, fallback: string): string {
  const k = process.argv.indexOf(`--${name}`);
  return k >= 0 && k + 1 < process.argv.length ? process.argv[k + 1] : fallback;
}

/** The median of `xs` (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Numbers as a person reads them: times and counts with SI prefixes. */

const TIME_UNITS: [number, string][] = [[1, 's'], [1e-3, 'ms'], [1e-6, 'µs'], [1e-9, 'ns']];

/** 3 significant digits with a unit prefix: "12.3 ms", "4.56 s", "789 µs". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds >= 1000) return `${seconds.toFixed(0)} s`;
  // Compared after rounding, so that 0.9996 s reads "1.00 s", not "1.00e+3 ms".
  const [scale, unit] = TIME_UNITS.find(([s]) => Number((seconds / s).toPrecision(3)) >= 1) ?? TIME_UNITS[TIME_UNITS.length - 1];
  return `${(seconds / scale).toPrecision(3)} ${unit}`;
}

/** 10, 200, 5k, 20k, 1M. */
export function formatCount(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}

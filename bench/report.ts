/**
 * The benchmark's results as text: the CSV a program reads (comma-separated, the
 * reference's columns: Npoints then one column per routine, seconds, inf for "Too slow!",
 * nan for "Memory overflow!" or a failure)
 * and the table a person reads.
 */
import { CHECK_MAX_N } from './check';
import { formatCount, formatSeconds } from './format';
import { Series, STOP_LABEL } from './timing';

function csvValue(seconds: number): string {
  if (Number.isNaN(seconds)) return 'nan';
  if (!Number.isFinite(seconds)) return 'inf';
  return String(Number(seconds.toPrecision(6)));
}

export function csvText(sizes: readonly number[], columns: readonly Series[]): string {
  const rows = [['Npoints', ...columns.map((c) => c.name)].join(',')];
  sizes.forEach((n, k) => rows.push([String(n), ...columns.map((c) => csvValue(c.seconds[k]))].join(',')));
  return `${rows.join('\n')}\n`;
}

/**
 * Seconds per solve, one column per routine; where a routine stopped, the reason, then
 * blanks. Below, each routine's worst relative error against the dense solve.
 */
export function tableText(sizes: readonly number[], columns: readonly Series[], maxErrors: readonly (number | undefined)[]): string {
  const cell = (c: Series, k: number): string => {
    if (Number.isFinite(c.seconds[k])) return formatSeconds(c.seconds[k]);
    return c.stop && k === sizes.indexOf(c.stop.n) ? STOP_LABEL[c.stop.reason] : '-';
  };
  const header = ['N', ...columns.map((c) => c.name)];
  const body = sizes.map((n, k) => [formatCount(n), ...columns.map((c) => cell(c, k))]);
  const errors = ['rel. err', ...maxErrors.map((e) => (e === undefined ? '-' : e.toExponential(1)))];
  const widths = header.map((_, j) => Math.max(...[header, ...body, errors].map((row) => row[j].length)));
  // The label column reads left to right, numbers align on the right.
  const line = (row: string[]): string => row.map((s, j) => (j === 0 ? s.padEnd(widths[j]) : s.padStart(widths[j]))).join('   ');
  const rule = widths.map((w) => '-'.repeat(w)).join('   ');
  const footnote = `rel. err: the largest relative error against the dense float64 solve, over N ≤ ${formatCount(CHECK_MAX_N)}`;
  return [line(header), rule, ...body.map(line), rule, line(errors), '', footnote].join('\n');
}

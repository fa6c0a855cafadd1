/**
 * The README's example, run as written but on 2000 points instead of 100 000, and
 * checked against a float64 brute force: the first thing a newcomer copies must work.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as lazykernel from '../lib/index';
import { asTensor } from './helpers/reference';

const N = 2000;

function readmeExample(): string {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README.md has no ts example');
  return block[1];
}

test('the README example runs and its Gaussian sum and 8 nearest neighbours are right', async () => {
  const source = readmeExample()
    .replace(/^import \{([^}]*)\} from 'lazykernel';$/m, 'const {$1} = lazykernel;')
    .replace(/100_000/g, String(N))
    .concat('\nreturn { x, b, kb, knn };');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const run = new Function('lazykernel', `return (async () => {\n${source}\n})();`) as
    (lk: typeof lazykernel) => Promise<{ x: Float32Array; b: Float32Array; kb: unknown; knn: unknown }>;
  const { x, b, kb, knn } = await run(lazykernel);

  const sums = asTensor(kb);
  const neighbours = asTensor(knn);
  expect(sums.shape).toEqual([N, 1]);
  expect(neighbours.shape).toEqual([N, 8]);
  const d2 = (i: number, j: number): number =>
    (x[3 * i] - x[3 * j]) ** 2 + (x[3 * i + 1] - x[3 * j + 1]) ** 2 + (x[3 * i + 2] - x[3 * j + 2]) ** 2;
  for (let i = 0; i < N; i += 97) {
    let s = 0;
    for (let j = 0; j < N; j++) s += Math.exp(-100 * d2(i, j)) * b[j];
    // float32 data, float64 reference: 1e-5 relative (sums of positive terms).
    expect(Math.abs(sums.data[i] - s)).toBeLessThanOrEqual(1e-5 * Math.abs(s));
    const order = Array.from({ length: N }, (_, j) => j).sort((p, q) => d2(i, p) - d2(i, q) || p - q);
    // The 8th neighbour's distance must match; indices may differ only on float32 near-ties.
    const got = Array.from({ length: 8 }, (_, l) => neighbours.data[8 * i + l]);
    expect(got[0]).toBe(i);
    expect(Math.abs(d2(i, got[7]) - d2(i, order[7]))).toBeLessThanOrEqual(1e-6);
  }
});

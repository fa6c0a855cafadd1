/**
 * The OpenMP wait default (lib/addon.ts): loading lazykernel sets GOMP_SPINCOUNT to
 * 10,000 before libgomp reads it, unless the user chose a spin count or a wait policy.
 * Each case loads the package (dist/, built by pretest) in a fresh process, since the
 * environment only matters before the addon loads.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const dist = path.join(__dirname, '..', 'dist');

function spinCountAfterLoad(extra: NodeJS.ProcessEnv): string {
  const env = { ...process.env };
  delete env.GOMP_SPINCOUNT;
  delete env.OMP_WAIT_POLICY;
  const script = `require(${JSON.stringify(dist)}); process.stdout.write(String(process.env.GOMP_SPINCOUNT))`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...env, ...extra } });
  expect(r.status).toBe(0);
  return r.stdout;
}

test('unset: loading sets a short spin (10,000 turns) before idle OpenMP threads sleep', () => {
  expect(spinCountAfterLoad({})).toBe('10000');
});

test("the user's own GOMP_SPINCOUNT is kept", () => {
  expect(spinCountAfterLoad({ GOMP_SPINCOUNT: '300000' })).toBe('300000');
});

test('an OMP_WAIT_POLICY leaves the spin count to libgomp', () => {
  expect(spinCountAfterLoad({ OMP_WAIT_POLICY: 'active' })).toBe('undefined');
});

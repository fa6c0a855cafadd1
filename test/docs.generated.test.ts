/**
 * docs/ops.md and docs/api/ are generated (scripts/docs.js) and committed: they must be
 * what the current op table and TSDoc give, or a reader sees an API that is not there.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

test('docs/ops.md and docs/api/ match the code (npm run docs)', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'docs.js'), '--check'], { encoding: 'utf8' });
  expect(`${r.stdout}${r.stderr}`).toContain('generated docs are current');
  expect(r.status).toBe(0);
}, 120_000);

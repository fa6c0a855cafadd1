/**
 * `npx lazykernel info` (dist/cli.js, built by pretest): what it prints must be what
 * info() says, and a binary that cannot load must be explained, not crash.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { info } from '../lib';

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
const run = (args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
  return { status: r.status, out: r.stdout, err: r.stderr };
};

test('info prints the binary, the SIMD level and the CUDA status that info() reports', () => {
  const i = info();
  const r = run(['info']);
  expect(r.status).toBe(0);
  expect(r.out).toContain(`lazykernel ${i.version}`);
  expect(r.out).toMatch(new RegExp(`^binary +${i.binary.kind}: ${i.binary.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  expect(r.out).toMatch(new RegExp(`SIMD level ${i.cpu.simd}, ${i.cpu.threads} threads per job`));
  expect(r.out).toContain(i.cuda.available ? `${i.cuda.devices} device(s)` : `unavailable: ${i.cuda.reason}`);
});

test('--json is info() plus the Node version and platform', () => {
  const r = run(['info', '--json']);
  expect(r.status).toBe(0);
  const parsed = JSON.parse(r.out) as Record<string, unknown>;
  // As JSON writes it: the queue's limit, Infinity by default, is null there.
  const want = JSON.parse(JSON.stringify({ ...info(), node: process.version, napi: process.versions.napi, platform: `${process.platform}-${process.arch}` }));
  expect(parsed).toEqual(want);
});

test('an unknown command prints the usage and exits 2', () => {
  const r = run(['infos']);
  expect(r.status).toBe(2);
  expect(r.err).toMatch(/^usage: lazykernel info/);
});

test('a binary that cannot load is explained: what was tried, why, how to build it', () => {
  const r = run(['info'], { ...process.env, LAZYKERNEL_ADDON: '/nonexistent/lazykernel.node' });
  expect(r.status).toBe(1);
  expect(r.err).toContain('could not load its native addon');
  expect(r.err).toContain('/nonexistent/lazykernel.node does not exist.');
  expect(r.err).toContain('npm run build:native');
});

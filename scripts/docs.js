#!/usr/bin/env node
// `npm run docs`: regenerates docs/ops.md (from the op table) and docs/api/ (TypeDoc's
// markdown of the TSDoc in lib/). Both are committed, so they read on a Git host and ship
// in the tarball. `node scripts/docs.js --check` writes nothing and fails when either is
// stale (test/docs.generated.test.ts runs it).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const docs = path.join(root, 'docs');
const check = process.argv.includes('--check');
const out = check ? fs.mkdtempSync(path.join(os.tmpdir(), 'lazykernel-docs-')) : docs;

require('ts-node').register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } });
const { opsMarkdown } = require('./ops-table.ts');
fs.writeFileSync(path.join(out, 'ops.md'), opsMarkdown());

const typedoc = path.join(path.dirname(require.resolve('typedoc/package.json')), 'bin', 'typedoc');
const r = spawnSync(process.execPath, [typedoc, '--options', path.join(root, 'typedoc.json'), '--out', path.join(out, 'api'), '--logLevel', 'Warn'],
  { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
if (!check) process.exit(0);

function files(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}
// Every generated file, in either tree: one missing from docs/, or left there after its
// symbol went away, is stale too.
const apiFiles = (dir) => files(path.join(dir, 'api')).map((f) => path.join('api', f));
const generated = new Set(['ops.md', ...apiFiles(out), ...apiFiles(docs)]);
const same = (f) => [out, docs].every((d) => fs.existsSync(path.join(d, f))) &&
  fs.readFileSync(path.join(out, f), 'utf8') === fs.readFileSync(path.join(docs, f), 'utf8');
const stale = [...generated].filter((f) => !same(f)).map((f) => path.join('docs', f));
fs.rmSync(out, { recursive: true, force: true });
if (stale.length) {
  console.error(`stale generated docs (run \`npm run docs\` and commit): ${stale.join(', ')}`);
  process.exit(1);
}
console.log('generated docs are current');

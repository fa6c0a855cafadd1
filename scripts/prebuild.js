#!/usr/bin/env node
// Copies the built addon (and the CUDA plugin, when built) into prebuilds/<platform>-<arch>/,
// where node-gyp-build finds it on a machine with no compiler. OpenMP's runtime goes
// beside it: libgomp's archive is not position-independent, so it cannot be linked in,
// and the addon's RUNPATH is $ORIGIN.
//   node scripts/prebuild.js          copy
//   node scripts/prebuild.js --check  before packing: a publish needs a prebuild for this
//                                     platform; any other pack (`npm pack`, a git
//                                     dependency) only warns, and installs compile
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const addon = path.join(target, 'lazykernel.node');

if (process.argv.includes('--check')) {
  if (!fs.existsSync(addon)) {
    const publishing = process.env.npm_command === 'publish';
    console.error(`prepack: ${path.relative(root, addon)} is missing; ` +
      (publishing ? 'run `npm run prebuild` first so the package carries a binary.' : 'the package will compile its addon when installed.'));
    process.exit(publishing ? 1 : 0);
  }
  process.exit(0);
}

const built = path.join(root, 'build', 'Release');
fs.rmSync(target, { recursive: true, force: true });
fs.mkdirSync(target, { recursive: true });
fs.copyFileSync(path.join(built, 'lazykernel.node'), addon);
execFileSync('strip', ['--strip-unneeded', addon]);
const plugin = path.join(built, 'lazykernel_cuda.so');
if (fs.existsSync(plugin)) {
  fs.copyFileSync(plugin, path.join(target, 'lazykernel_cuda.so'));
  execFileSync('strip', ['--strip-unneeded', path.join(target, 'lazykernel_cuda.so')]);
}

// The OpenMP runtime the addon was linked against, as the loader resolves it.
const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
const gomp = /libgomp\.so\.1 => (\S+)/.exec(ldd);
if (gomp) fs.copyFileSync(fs.realpathSync(gomp[1]), path.join(target, 'libgomp.so.1'));

for (const f of fs.readdirSync(target)) {
  console.log(`${path.relative(root, path.join(target, f))}  ${(fs.statSync(path.join(target, f)).size / 1024).toFixed(0)} KiB`);
}

#!/usr/bin/env node
// Builds the native addon (and the CUDA plugin where nvcc exists) with cmake-js, the
// main build. Without cmake it falls back to node-gyp and binding.gyp (CPU addon only).
//   node scripts/build-native.js [--if-missing]
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'lazykernel.node');
if (process.argv.includes('--if-missing') && fs.existsSync(addon)) process.exit(0);

function run(cmd, args) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL || '2' } });
  if (r.error) throw r.error;
  return r.status === 0;
}

const hasCmake = spawnSync('cmake', ['--version']).status === 0;
let cmakeJs = null;
try { cmakeJs = require.resolve('cmake-js/bin/cmake-js'); } catch { /* not installed */ }

let ok;
if (hasCmake && cmakeJs) {
  ok = run(process.execPath, [cmakeJs, 'build', '--config', 'Release']);
} else {
  console.log('cmake or cmake-js not found: building the CPU addon with node-gyp (binding.gyp)');
  const gyp = process.env.npm_config_node_gyp;
  ok = gyp ? run(process.execPath, [gyp, 'rebuild']) : run('npx', ['--yes', 'node-gyp', 'rebuild']);
}
process.exit(ok ? 0 : 1);

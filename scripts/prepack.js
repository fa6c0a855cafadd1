#!/usr/bin/env node
// Before packing: a publish must carry the Linux prebuilds (`sudo npm run prebuild`, which
// runs scripts/prebuild-linux.sh); any other pack (`npm pack`, a git dependency) only
// warns, and installs without a prebuild for their platform compile.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const missing = ['linux-x64', 'linux-arm64']
  .map((p) => path.join('prebuilds', p, 'lazykernel.napi.glibc.node'))
  .filter((f) => !fs.existsSync(path.join(root, f)));
if (missing.length) {
  const publishing = process.env.npm_command === 'publish';
  console.error(`prepack: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing; ` +
    (publishing ? 'run `sudo npm run prebuild` first so that the package carries its binaries.' : 'installs there will compile the addon.'));
  process.exit(publishing ? 1 : 0);
}

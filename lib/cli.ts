#!/usr/bin/env node
/**
 * `npx lazykernel info [--json]`: what a user pastes into a bug report — the version, the
 * binary that loaded (prebuilt or a local build), the CPU engine, and why CUDA is or is
 * not usable. A binary that fails to load prints the loader's explanation and exits 1.
 */
import * as os from 'os';

const USAGE = 'usage: lazykernel info [--json]\n  prints the lazykernel version, the native binary loaded, the CPU engine and the CUDA status';

function main(argv: string[]): number {
  const [command, ...rest] = argv[0] === undefined || argv[0] === '--json' ? ['info', ...argv] : argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  if ((command !== 'info' && command !== '--version') || rest.some((a) => a !== '--json')) {
    console.error(USAGE);
    return 2;
  }
  let info: typeof import('./info').info;
  try {
    // Loaded here, not imported at the top: a binary that cannot load is what this
    // command must explain, not crash on.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ({ info } = require('./info') as typeof import('./info'));
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const i = info();
  if (command === '--version') {
    console.log(i.version);
    return 0;
  }
  if (rest.includes('--json')) {
    console.log(JSON.stringify({ ...i, node: process.version, napi: process.versions.napi, platform: `${process.platform}-${process.arch}` }, null, 2));
    return 0;
  }
  const lines = [
    `lazykernel ${i.version}`,
    `node        ${process.version} (N-API ${process.versions.napi}), ${process.platform}-${process.arch}`,
    `binary      ${i.binary.kind}: ${i.binary.file}`,
    `cpu         ${os.cpus()[0]?.model.trim() ?? 'unknown'}; SIMD level ${i.cpu.simd}, ${i.cpu.threads} threads per job`,
    `cuda        ${i.cuda.available ? `${i.cuda.devices} device(s), plugin ${i.cuda.plugin}` : `unavailable: ${i.cuda.reason ?? 'unknown reason'}`}`,
  ];
  console.log(lines.join('\n'));
  return 0;
}

process.exitCode = main(process.argv.slice(2));

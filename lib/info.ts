import * as fs from 'fs';
import * as path from 'path';
import { addon, binary, LoadedBinary, packageRoot } from './addon';
import { OptionError } from './errors';
import { QueueInfo, queueInfo } from './queue';

/**
 * What lazykernel runs on: its version, the binary loaded, the CPU engine, and whether
 * CUDA is usable (and if not, why).
 */
export interface Info {
  version: string;
  /** The native addon's file, and whether it is the prebuilt one or a local build. */
  binary: LoadedBinary;
  /** Threads per job and the SIMD level chosen for this CPU ('avx512', 'avx2' or 'base'). */
  cpu: { threads: number; simd: string };
  /** `plugin`: where the CUDA plugin is looked for; `reason`: why CUDA is unavailable. */
  cuda: { available: boolean; devices: number; plugin: string; reason?: string };
  /** The job queue: each lane's waiting jobs and running job, and the limit (setQueueLimit). */
  queue: QueueInfo;
}

const version: string = (
  JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * Describes the engine in use.
 *
 * @example
 * const { cpu, cuda } = info();
 * console.log(cpu.simd, cpu.threads, cuda.available ? cuda.devices : cuda.reason);
 */
export function info(): Info {
  const native = addon.info();
  return { version, binary: { ...binary }, cpu: native.cpu, cuda: native.cuda, queue: queueInfo() };
}

/**
 * Sets how many threads each job uses (default: OpenMP's, i.e. OMP_NUM_THREADS or the
 * number of cores). Foreground jobs run one at a time, each with the whole team; a
 * background job (`background: true`) runs beside them with half of it.
 *
 * @example
 * setNumThreads(1); // leave the other cores to the service
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 4096) {
    throw new OptionError(`setNumThreads expects an integer from 1 to 4096, not ${String(n)}`);
  }
  addon.setNumThreads(n);
}

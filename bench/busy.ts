/**
 * KernelSolve on a busy machine (issue 16, lever 4): the reference problem's median solve
 * time per N, alone and while `--busy` other processes spin (default: one per core), with
 * lazykernel's OpenMP wait default (lib/addon.ts) and with libgomp's own (300,000 spins
 * before an idle thread sleeps). Each measurement runs in a fresh process, since OpenMP
 * reads its settings once. A fair share of a machine with as many busy processes as
 * cores is half of it: a job slowed by more than 2x loses more than its share. Both
 * calls are timed: `run` (the queue's foreground lane: native/queue.cc) and `runSync`
 * (the calling thread).
 *
 *   npx ts-node --transpile-only bench/busy.ts [--sizes 500,5000,50000] [--reps 15] [--busy 2]
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as os from 'os';
import { option } from './option';

const sizes = option('sizes', '500,5000,50000');
const reps = option('reps', '15');
const busy = Number(option('busy', String(os.cpus().length)));

// The child: medians of `reps` solves per N, as JSON on stdout.
const child = (sync: boolean): string => `
const { KernelSolve } = require(${JSON.stringify(require.resolve('../lib'))});
const { ALIASES, FORMULA, makeProblem } = require(${JSON.stringify(require.resolve('./problem'))});
(async () => {
  const solver = new KernelSolve(FORMULA, ALIASES, 'a', { axis: 1 });
  const medians = [];
  for (const n of ${JSON.stringify(sizes)}.split(',').map(Number)) {
    const p = makeProblem(n);
    const times = [];
    for (let r = 0; r < ${Number(reps)}; r++) {
      const t0 = performance.now();
      ${sync ? 'solver.runSync' : 'await solver.run'}([p.x, p.x, p.b, p.gamma], { alpha: p.alpha, tol: p.tol });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    medians.push(times[Math.floor(times.length / 2)]);
  }
  console.log(JSON.stringify(medians));
})();`;

function measure(env: NodeJS.ProcessEnv, sync: boolean): number[] {
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', child(sync)], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop() as string) as number[];
}

function spinners(count: number): ChildProcess[] {
  return Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

function main(): void {
  const base = { ...process.env };
  delete base.GOMP_SPINCOUNT;
  delete base.OMP_WAIT_POLICY;
  const variants: [string, NodeJS.ProcessEnv][] = [
    ['lazykernel default', base],
    ["libgomp's default", { ...base, GOMP_SPINCOUNT: '300000' }],
  ];
  console.log(`${os.cpus()[0]?.model.trim()} (${os.cpus().length} cores); ${busy} busy processes; medians of ${reps} solves, ms`);
  console.log(['wait policy', 'call', 'N', 'alone', 'busy', 'busy / alone'].join('\t'));
  for (const [name, env] of variants) {
    for (const sync of [false, true]) {
      const alone = measure(env, sync);
      const load = spinners(busy);
      let loaded: number[];
      try {
        loaded = measure(env, sync);
      } finally {
        for (const p of load) p.kill();
      }
      sizes.split(',').forEach((n, k) => {
        const call = sync ? 'runSync' : 'run';
        console.log([name, call, n, alone[k].toFixed(1), loaded[k].toFixed(1), (loaded[k] / alone[k]).toFixed(1)].join('\t'));
      });
    }
  }
}

main();

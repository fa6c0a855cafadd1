/**
 * lazykernel's fuzz harness: the supervisor. It forks worker processes (child.ts), each
 * running inputs derived only from (seed, child index, input number) until the time
 * budget ends, and records what goes wrong. Same seed, same inputs: nothing here uses
 * Math.random (rng.ts). Run it from the repository root; it needs build/Release/lazykernel.node.
 *
 * Smoke run (CI, about a minute; exit code 1 if anything was found, 0 if not):
 *   npx ts-node --transpile-only test/fuzz/run.ts --seconds 60 --seed 1 --fresh --out fuzz-findings
 *   (or: npm run fuzz -- --seconds 60 --seed 1 --fresh)
 * Long run (a new seed each time, both cores; findings accumulate in DIR across runs):
 *   npm run fuzz -- --seconds 3600 --seed $RANDOM --jobs 2 --target all --out fuzz-findings
 * Replay one saved input (a finding file or a current-<k>.json), without workers, printing
 * every call, its result or error, and the verdict:
 *   npx ts-node --transpile-only test/fuzz/run.ts --replay fuzz-findings/untyped-1.json
 * Print the input a (seed, child, index) generates:
 *   npx ts-node --transpile-only test/fuzz/run.ts --print-input 1:0:42 [--target api]
 *
 * Options: --seconds N (60)  --seed S (from the clock, printed)  --jobs N (2)
 *   --target api|addon|all (all)  --out DIR (fuzz-findings)  --addon-codes on|off (on)
 *   --hang-seconds N (10)  --mem-mb N (4096: each worker, and a replay, runs under ulimit -d,
 *   so a 16 GB request fails fast; 0 for none)  --max-inputs N (each worker stops after its
 *   inputs 0..N-1: a run that does not depend on speed)  --fresh (empty DIR first; otherwise
 *   a finding already saved in DIR by an earlier run is counted, not saved again)
 *   --selftest-crash N / --selftest-hang N: each worker kills itself with SIGSEGV / spins at
 *   input N, to check that the supervisor saves a crash-SIGSEGV / crash-hang and goes on
 *
 * What counts as a finding (oracle.ts has the details), each saved once per dedup key as
 * DIR/<kind>-<n>.json with the input that caused it (every hit, duplicates included, is a
 * line of DIR/hits.jsonl; DIR/worker-<k>.log holds the workers' output):
 *   untyped        the public API threw or rejected with something that is not a LazyKernelError
 *                  (TypeError, "Maximum call stack size exceeded", a plain Error…)
 *   internal       a LazyKernelError that is the engine refusing a program lib/ built
 *                  (code ERR_LK_PROGRAM / ERR_LK_INTERNAL, "invalid program: …") or a bare C++ exception
 *   addon-untyped  the raw addon threw an error without code 'ERR_LK_…' (--addon-codes off:
 *                  only non-Errors and bare C++ exceptions such as "std::bad_alloc")
 *   mismatch       run and runSync (or reduce and reduceSync) succeeded with different results
 *   disposed       a call succeeded although a held dataset it reads (an argument the input holds
 *                  with `await dataset()`, see apigen.ts DatasetUse) was disposed before it started
 *   unhandled-rejection, uncaught-exception, warning   in a worker
 *   crash-<SIGNAL>, crash-exit<code>, crash-hang        a worker died, or an input ran longer
 *                  than --hang-seconds; the worker restarts after that input
 *   harness        a bug of the harness itself (generating or running an input threw)
 * Inputs whose work would legitimately take seconds are skipped and counted as such.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { Input, TargetOption } from './child';
import { errorInfo, FindingStore, normalizeMessage } from './oracle';

interface Options {
  seconds: number;
  seed: number;
  jobs: number;
  target: TargetOption;
  out: string;
  codes: boolean;
  hangSeconds: number;
  memMb: number;
  maxInputs: number;
  fresh: boolean;
  /** Harness self-test: every worker kills itself (SIGSEGV) / spins forever at this input. */
  selftest: string[];
  replay?: string;
  printInput?: string;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    seconds: 60, seed: Date.now() % 1_000_000, jobs: 2, target: 'all', out: 'fuzz-findings', codes: true, hangSeconds: 10, memMb: 4096,
    maxInputs: Infinity, fresh: false, selftest: [],
  };
  for (let k = 0; k < argv.length; k++) {
    const name = argv[k];
    const value = (): string => {
      if (k + 1 >= argv.length) throw new Error(`${name} needs a value`);
      return argv[++k];
    };
    const num = (): number => {
      const v = Number(value());
      if (!Number.isFinite(v)) throw new Error(`${name} needs a number`);
      return v;
    };
    switch (name) {
      case '--seconds': o.seconds = num(); break;
      case '--seed': o.seed = Math.trunc(num()); break;
      case '--jobs': o.jobs = Math.max(1, Math.trunc(num())); break;
      case '--target': {
        const t = value();
        if (t !== 'api' && t !== 'addon' && t !== 'all') throw new Error('--target is api, addon or all');
        o.target = t;
        break;
      }
      case '--out': o.out = value(); break;
      case '--addon-codes': o.codes = value() !== 'off'; break;
      case '--hang-seconds': o.hangSeconds = num(); break;
      case '--mem-mb': o.memMb = num(); break;
      case '--max-inputs': o.maxInputs = num(); break;
      case '--fresh': o.fresh = true; break;
      case '--selftest-crash': case '--selftest-hang': o.selftest.push(name, String(Math.trunc(num()))); break;
      case '--replay': o.replay = value(); break;
      case '--print-input': o.printInput = value(); break;
      case '--help': case '-h':
        process.stdout.write(`${fs.readFileSync(__filename, 'utf8').split('*/')[0]}*/\n`);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${name} (see --help)`);
    }
  }
  return o;
}

const TS_NODE = require.resolve('ts-node/register/transpile-only');

/**
 * node with `args`, under `ulimit -d` where that exists (Linux: it caps mmap too), so that
 * an input asking for 16 GB fails fast instead of swamping the machine.
 */
function limited(memMb: number, args: string[]): [string, string[]] {
  if (process.platform !== 'linux' || !(memMb > 0)) return [process.execPath, args];
  return ['/bin/sh', ['-c', `ulimit -d ${Math.round(memMb * 1024)} && exec "$0" "$@"`, process.execPath, ...args]];
}

// ---------------------------------------------------------------------------------------
// Replay.

async function replay(file: string, codes: boolean): Promise<void> {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { current?: { input: Input; seed: number; child: number; index: number }; previous?: { input: Input }[]; input?: Input; kind?: string; reason?: string };
  // A finding file holds `current` (and maybe `previous`); a current-<k>.json file is itself one.
  const current = saved.current ?? (saved.input !== undefined ? (saved as { input: Input; seed: number; child: number; index: number }) : undefined);
  if (current === undefined) throw new Error(`${file} holds no input`);
  const { runInput, settle } = await import('./child');
  const { describeCalls } = await import('./api');
  process.on('unhandledRejection', (r) => console.log(`  !! unhandled rejection: ${JSON.stringify(errorInfo(r))}`));
  process.on('uncaughtException', (e) => console.log(`  !! uncaught exception: ${JSON.stringify(errorInfo(e))}`));
  process.on('warning', (w) => console.log(`  !! warning: ${w.name}: ${w.message}`));
  if (saved.kind !== undefined) console.log(`finding: ${saved.kind}: ${saved.reason}`);
  const inputs = [...(saved.previous ?? []).map((p) => ({ input: p.input, what: 'previous input' })), { input: current.input, what: `input ${current.seed}:${current.child}:${current.index}` }];
  for (const { input, what } of inputs) {
    const text = JSON.stringify(input);
    console.log(`\n${what} (${input.target}${'kind' in input ? `/${input.kind}` : `/${input.call}`}): ${text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text}`);
    const t0 = performance.now();
    const outcome = await runInput(input, codes);
    await settle();
    console.log(`ran in ${(performance.now() - t0).toFixed(1)} ms${outcome.skipped ? ' (skipped: too much work)' : ''}`);
    describeCalls(outcome.calls).forEach((l) => console.log(l));
    if (outcome.findings.length === 0) console.log('  verdict: no finding');
    outcome.findings.forEach((f) => console.log(`  FINDING ${f.kind}: ${f.reason}`));
  }
}

// ---------------------------------------------------------------------------------------
// Supervisor.

interface Worker {
  k: number;
  proc: ChildProcess;
  spawnedAt: number;
  ready: boolean;
  done: boolean;
  lastBeat: number;
  /** The input running now (from its 'start' message), -1 between inputs. */
  index: number;
  start: number;
  killedForHang: boolean;
  /** Killed by the watchdog after the deadline, between inputs: a normal end. */
  killedAtEnd: boolean;
  stderr: string;
}

interface Tally {
  tried: Record<string, number>;
  skipped: Record<string, number>;
  hits: Record<string, number>;
  newPaths: Record<string, Set<string>>;
  oldPaths: Record<string, Set<string>>;
  restarts: number;
  startupFailures: number;
  slowest: { ms: number; index: number; child: number };
}

function supervise(o: Options): Promise<number> {
  if (o.fresh) fs.rmSync(o.out, { recursive: true, force: true });
  fs.mkdirSync(o.out, { recursive: true });
  const store = new FindingStore(o.out);
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const tally: Tally = { tried: {}, skipped: {}, hits: {}, newPaths: {}, oldPaths: {}, restarts: 0, startupFailures: 0, slowest: { ms: 0, index: -1, child: -1 } };
  const add = (r: Record<string, number>, key: string, n = 1): void => { r[key] = (r[key] ?? 0) + n; };
  const note = (kind: string, file: string | null, isNew: boolean): void => {
    add(tally.hits, kind);
    if (file === null) return;
    const set = isNew ? tally.newPaths : tally.oldPaths;
    (set[kind] ??= new Set()).add(file);
  };
  const workers = new Map<number, Worker>();
  const hangMs = o.hangSeconds * 1000;
  const childScript = path.join(__dirname, 'child.ts');
  const logs = new Map<number, fs.WriteStream>();

  console.log(`fuzz: seed ${o.seed}, ${o.seconds} s, ${o.jobs} worker(s), target ${o.target}, out ${o.out}, addon codes ${o.codes ? 'on' : 'off'}`);

  return new Promise((resolve) => {
    const finishIfIdle = (): void => {
      if (workers.size > 0) return;
      clearInterval(watchdog);
      logs.forEach((s) => s.end());
      resolve(summary(o, tally, t0));
    };

    const launch = (k: number, start: number): void => {
      if (Date.now() >= deadline || start >= o.maxInputs) { finishIfIdle(); return; }
      const nodeArgs = ['-r', TS_NODE, childScript, '--seed', String(o.seed), '--child', String(k), '--start', String(start),
        '--deadline', String(deadline), '--target', o.target, '--out', o.out, '--addon-codes', o.codes ? 'on' : 'off'];
      if (Number.isFinite(o.maxInputs)) nodeArgs.push('--end', String(o.maxInputs));
      nodeArgs.push(...o.selftest);
      // ulimit -d caps what one worker may allocate (mmap included, on Linux): a request for
      // 16 GB fails fast there instead of swamping the machine.
      const [cmd, cmdArgs] = limited(o.memMb, nodeArgs);
      const proc = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      const w: Worker = { k, proc, spawnedAt: Date.now(), ready: false, done: false, lastBeat: Date.now(), index: -1, start, killedForHang: false, killedAtEnd: false, stderr: '' };
      workers.set(k, w);
      if (!logs.has(k)) logs.set(k, fs.createWriteStream(path.join(o.out, `worker-${k}.log`), { flags: 'a' }));
      const log = logs.get(k) as fs.WriteStream;
      const keep = (chunk: Buffer): void => {
        log.write(chunk);
        w.stderr = (w.stderr + chunk.toString()).slice(-4000);
      };
      proc.stdout?.on('data', keep);
      proc.stderr?.on('data', keep);
      proc.on('message', (msg: { type: string; [k: string]: unknown }) => {
        w.lastBeat = Date.now();
        switch (msg.type) {
          case 'ready': w.ready = true; break;
          case 'start': w.index = msg.index as number; add(tally.tried, msg.target as string); break;
          case 'end':
            w.index = -1;
            if (msg.skipped) add(tally.skipped, msg.target as string);
            if ((msg.ms as number) > tally.slowest.ms) tally.slowest = { ms: msg.ms as number, index: msg.index as number, child: k };
            break;
          case 'finding': note(msg.kind as string, msg.path as string | null, msg.isNew as boolean); break;
          case 'done': w.done = true; break;
        }
      });
      proc.on('exit', (code, signal) => {
        workers.delete(k);
        if ((w.done && code === 0) || w.killedAtEnd) { finishIfIdle(); return; }
        if (!w.ready) {
          tally.startupFailures++;
          const why = w.stderr.trim().split('\n').slice(-3).join(' | ');
          console.log(`fuzz: worker ${k} failed to start (${signal ?? `exit ${code}`}): ${why.slice(0, 400)}`);
          if (tally.startupFailures > 12) console.log('fuzz: giving up on restarts (is build/Release/lazykernel.node there?)');
          else if (Date.now() + 5000 < deadline) { setTimeout(() => launch(k, start), 5000); return; }
          finishIfIdle();
          return;
        }
        // The input that was running: current-<k>.json, if this very process wrote it.
        let current: { pid?: number; index?: number; input?: Input } | undefined;
        try {
          current = JSON.parse(fs.readFileSync(path.join(o.out, `current-${k}.json`), 'utf8'));
        } catch { /* none written yet */ }
        if (current?.pid !== proc.pid) current = undefined;
        const atIndex = current?.index ?? (w.index >= 0 ? w.index : start);
        const kind = w.killedForHang ? 'crash-hang' : signal !== null ? `crash-${signal}` : `crash-exit${code}`;
        const reason = w.killedForHang
          ? `input ${atIndex} ran more than ${o.hangSeconds} s (no heartbeat); killed`
          : `worker died (${signal ?? `exit code ${code}`}) during input ${atIndex}`;
        // A hang of a deliberately extreme input is saved once per kind of extreme (its note,
        // numbers left out); other hangs and every death by a signal or exit code are all saved.
        const input = current?.input as { target?: string; kind?: string; call?: string; note?: string } | undefined;
        const key = w.killedForHang && input?.note ? `${input.target}|${input.kind ?? input.call}|${normalizeMessage(input.note)}` : undefined;
        const saved = store.save({ kind, reason, target: current?.input?.target, current, stderr: w.stderr.split('\n').slice(-25), replay: 'npx ts-node --transpile-only test/fuzz/run.ts --replay <this file>' }, key);
        note(kind, saved.path, saved.isNew);
        console.log(`fuzz: ${kind}: ${reason} -> ${saved.path}${saved.isNew ? '' : ' (seen before)'}`);
        tally.restarts++;
        launch(k, atIndex + 1);
      });
    };

    const watchdog = setInterval(() => {
      const now = Date.now();
      for (const w of workers.values()) {
        if (!w.ready) {
          if (now - w.spawnedAt > 180_000) w.proc.kill('SIGKILL');
          continue;
        }
        const late = now - w.lastBeat > hangMs;
        const overtime = now > deadline + hangMs + 10_000;
        if (late && w.index >= 0) {
          w.killedForHang = true;
          w.proc.kill('SIGKILL');
        } else if ((late && now > deadline) || overtime) {
          w.killedAtEnd = true;
          w.proc.kill('SIGKILL');
        }
      }
    }, 500);

    for (let k = 0; k < o.jobs; k++) launch(k, 0);
  });
}

function summary(o: Options, t: Tally, t0: number): number {
  const seconds = (Date.now() - t0) / 1000;
  const lines: string[] = [];
  lines.push('', `fuzz summary: seed ${o.seed}, ${seconds.toFixed(0)} s, ${o.jobs} worker(s), target ${o.target}`);
  for (const target of ['api', 'addon']) {
    const n = t.tried[target] ?? 0;
    if (n === 0 && o.target !== 'all' && o.target !== target) continue;
    lines.push(`  ${target}: ${n} inputs (${(n / seconds).toFixed(1)}/s over all workers), ${t.skipped[target] ?? 0} skipped as too much work`);
  }
  lines.push(`  worker restarts: ${t.restarts}${t.startupFailures ? `, failed starts: ${t.startupFailures}` : ''}; slowest input ${t.slowest.ms.toFixed(0)} ms (${o.seed}:${t.slowest.child}:${t.slowest.index})`);
  const kinds = Object.keys(t.hits).sort();
  if (kinds.length === 0) lines.push('  findings: none');
  else {
    lines.push('  findings:');
    for (const kind of kinds) {
      const fresh = [...(t.newPaths[kind] ?? [])].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const old = [...(t.oldPaths[kind] ?? [])].filter((p) => !fresh.includes(p));
      lines.push(`    ${kind}: ${t.hits[kind]} hit(s), ${fresh.length} new file(s)${old.length ? `, ${old.length} seen in earlier runs` : ''}`);
      for (const p of [...fresh, ...old.map((p) => `${p} (earlier)`)]) lines.push(`      ${p}`);
    }
  }
  console.log(lines.join('\n'));
  return kinds.length > 0 ? 1 : 0;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.replay !== undefined) {
    // Replays run under the workers' memory limit too (this process re-runs itself under it).
    if (process.platform === 'linux' && o.memMb > 0 && process.env.LK_FUZZ_LIMITED !== '1') {
      const [cmd, cmdArgs] = limited(o.memMb, ['-r', TS_NODE, __filename, ...process.argv.slice(2)]);
      const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', env: { ...process.env, LK_FUZZ_LIMITED: '1' } });
      process.exit(r.status ?? (r.signal !== null ? 128 : 1));
    }
    await replay(o.replay, o.codes);
    setImmediate(() => process.exit(0));
    return;
  }
  if (o.printInput !== undefined) {
    const [seed, child, index] = o.printInput.split(':').map(Number);
    const { genInput } = await import('./child');
    console.log(JSON.stringify(genInput(seed, child, index, o.target), null, 1));
    process.exit(0);
  }
  process.exit(await supervise(o));
}

main().catch((err) => {
  console.error(`fuzz: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(2);
});

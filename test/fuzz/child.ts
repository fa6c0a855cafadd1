/**
 * The worker: runs inputs (seed, child, index), index = start, start+1, … until the
 * deadline, writing each input to `<out>/current-<child>.json` before running it, and
 * reporting to the parent (run.ts) over IPC: a heartbeat as each input starts, each
 * finding as it is saved. Process-level events (unhandled rejections, uncaught
 * exceptions, warnings) are findings too. Started by run.ts; not meant to be run by hand.
 *
 * Arguments: --seed S --child C --start I --deadline <epoch ms> --target api|addon|all
 *            --out DIR --addon-codes on|off [--end N: stop before input N]
 *            [--selftest-crash N | --selftest-hang N: kill itself / spin at input N]
 */
import * as fs from 'fs';
import * as path from 'path';
import { Outcome, runApiInput } from './api';
import { ApiInput, genApiInput } from './apigen';
import { AddonInput, genAddonInput, runAddonInput } from './addon';
import { errorInfo, errorKey, FindingRecord, FindingStore, normalizeMessage } from './oracle';
import { inputRng } from './rng';

export type Input = ApiInput | AddonInput;
export type TargetOption = 'api' | 'addon' | 'all';

/** Input number `index` of child `child`: the same arguments always give the same input. */
export function genInput(seed: number, child: number, index: number, target: TargetOption): Input {
  const rng = inputRng(seed, child, index);
  const t = target === 'all' ? (rng.chance(0.6) ? 'api' : 'addon') : target;
  return t === 'api' ? genApiInput(rng) : genAddonInput(rng);
}

/** The long-lived signal some inputs share (listeners left on it show up as a MaxListeners warning). */
const shared = { signal: new AbortController().signal };

export function runInput(input: Input, codes: boolean): Promise<Outcome> {
  return input.target === 'api' ? runApiInput(input, { shared }) : runAddonInput(input, { shared }, codes);
}

/** One macrotask turn: lets unhandled rejections of the input just run surface while it is still current. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

interface Current { pid: number; seed: number; child: number; index: number; input: Input }

function arg(argv: string[], name: string, fallback?: string): string {
  const k = argv.indexOf(`--${name}`);
  if (k >= 0 && k + 1 < argv.length) return argv[k + 1];
  if (fallback !== undefined) return fallback;
  throw new Error(`child: --${name} is required`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const seed = Number(arg(argv, 'seed'));
  const child = Number(arg(argv, 'child'));
  const start = Number(arg(argv, 'start'));
  const deadline = Number(arg(argv, 'deadline'));
  const target = arg(argv, 'target', 'all') as TargetOption;
  const out = arg(argv, 'out');
  const codes = arg(argv, 'addon-codes', 'on') !== 'off';
  const end = Number(arg(argv, 'end', 'Infinity'));
  const selftestCrash = Number(arg(argv, 'selftest-crash', '-1'));
  const selftestHang = Number(arg(argv, 'selftest-hang', '-1'));
  const store = new FindingStore(out);
  const currentFile = path.join(out, `current-${child}.json`);
  const hitsFile = path.join(out, 'hits.jsonl');
  const send = (msg: object): void => { if (process.send) process.send(msg); };

  let current: Current | undefined;
  const previous: Current[] = [];

  const report = (record: FindingRecord, key: string): void => {
    const saved = store.save({ ...record, current, previous: record.previous, replay: 'npx ts-node --transpile-only test/fuzz/run.ts --replay <this file>' }, key);
    send({ type: 'finding', kind: record.kind, path: saved.path, isNew: saved.isNew });
    // Every hit, duplicates included, one line each: which inputs keep finding what.
    const input = current?.input as { kind?: string; call?: string; note?: string; notes?: string[] } | undefined;
    const hit = { kind: record.kind, file: saved.path, child, index: current?.index, input: input?.kind ?? input?.call, note: input?.note ?? input?.notes?.slice(1).join('; '), reason: record.reason.slice(0, 200) };
    fs.appendFileSync(hitsFile, `${JSON.stringify(hit)}\n`);
  };
  const processEvent = (kind: string, err: unknown): void => {
    const info = errorInfo(err);
    report({ kind, reason: `${kind}: ${info.type}: ${info.message ?? info.value}`, target: current?.input.target ?? 'process', error: info, previous: [...previous] }, `${kind}|${errorKey(err)}`);
  };
  process.on('unhandledRejection', (reason) => processEvent('unhandled-rejection', reason));
  process.on('uncaughtException', (err) => processEvent('uncaught-exception', err));
  process.on('warning', (w) => {
    report({ kind: 'warning', reason: `${w.name}: ${w.message}`, target: current?.input.target ?? 'process', error: errorInfo(w), previous: [...previous] }, `warning|${w.name}|${normalizeMessage(w.message)}`);
  });

  send({ type: 'ready', pid: process.pid });
  for (let index = start; Date.now() < deadline && index < end; index++) {
    let input: Input;
    try {
      input = genInput(seed, child, index, target);
    } catch (err) {
      // A bug of the harness itself: saved, so that it gets fixed, and skipped.
      report({ kind: 'harness', reason: `generating input ${index}: ${String((err as Error)?.message)}`, error: errorInfo(err) }, `harness|gen|${errorKey(err)}`);
      continue;
    }
    current = { pid: process.pid, seed, child, index, input };
    fs.writeFileSync(currentFile, JSON.stringify(current));
    send({ type: 'start', index, target: input.target });
    // The harness's own self-test: die or hang on purpose, to see the supervisor record it.
    if (index === selftestCrash) process.kill(process.pid, 'SIGSEGV');
    if (index === selftestHang) for (;;);
    const t0 = performance.now();
    let outcome: Outcome | undefined;
    try {
      outcome = await runInput(input, codes);
    } catch (err) {
      report({ kind: 'harness', reason: `running input ${index}: ${String((err as Error)?.message)}`, target: input.target, error: errorInfo(err) }, `harness|run|${errorKey(err)}`);
    }
    await settle();
    const ms = performance.now() - t0;
    for (const f of outcome?.findings ?? []) {
      report({ kind: f.kind, reason: f.reason, target: input.target, error: f.error === undefined ? undefined : errorInfo(f.error), label: f.label }, `${input.target}|${f.key}`);
    }
    send({ type: 'end', index, target: input.target, skipped: outcome?.skipped === true, ms });
    previous.push(current);
    if (previous.length > 3) previous.shift();
    current = undefined;
  }
  await settle();
  if (process.send) process.send({ type: 'done' }, () => process.exit(0));
  else process.exit(0);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`fuzz child: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(70);
  });
}

/**
 * The program contract between lib/ and native/ (DESIGN.md): the addon's numbering of op
 * codes, reductions and kernels is exactly lib/formula/program.ts's; and the small
 * questions of the public API: info() and setNumThreads().
 */
import * as fs from 'fs';
import * as path from 'path';
import { Genred, info, OptionError, LazyKernelError, setNumThreads } from '../lib/index';
import { addon } from '../lib/addon';
import { Kernel, Op, Reduction } from '../lib/formula/program';
import { asTensor, caught, expectSumClose, row, Rng, sqdist, tabulate, uniform } from './helpers/reference';

/** Math through a module binding: a global lookup is ~50× slower in jest's sandbox, and the references call it per pair. */
const math = Math;

/** A plain copy of an object from the addon's realm, so that jest compares values only. */
const plain = (o: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(o));

describe("the addon's op codes equal lib/formula/program.ts's", () => {
  const codes = addon.opCodes();

  test('instruction op codes (Op) are the same names with the same numbers', () => {
    expect(plain(codes.ops)).toEqual({ ...Op });
  });

  test('reduction codes (Reduction) are the same names with the same numbers', () => {
    expect(plain(codes.reductions)).toEqual({ ...Reduction });
  });

  test('fused kernel tags (Kernel) are the same names with the same numbers', () => {
    expect(plain(codes.kernels)).toEqual({ ...Kernel });
  });
});

describe('info()', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };

  test("version is package.json's version", () => {
    expect(info().version).toBe(pkg.version);
  });

  test('cpu.threads is an integer of at least 1', () => {
    const { threads } = info().cpu;
    expect(Number.isInteger(threads)).toBe(true);
    expect(threads).toBeGreaterThanOrEqual(1);
  });

  test('cpu.simd is one of base, avx2, avx512', () => {
    expect(['base', 'avx2', 'avx512']).toContain(info().cpu.simd);
  });

  /** This machine has no GPU (the project's CI has none); where one exists this test does not apply. */
  const gpuless = fs.existsSync('/dev/nvidia0') ? test.skip : test;
  gpuless('cuda.available is false on this GPU-less machine, with no devices and a non-empty reason', () => {
    const { cuda } = info();
    expect(cuda.available).toBe(false);
    expect(cuda.devices).toBe(0);
    expect(typeof cuda.reason).toBe('string');
    expect((cuda.reason as string).trim().length).toBeGreaterThan(0);
  });
});

describe('setNumThreads()', () => {
  const before = info().cpu.threads;
  afterAll(() => setNumThreads(before));

  test.each([
    ['0', 0],
    ['1.5', 1.5],
    ["'x'", 'x'],
    ['-1', -1],
    ['NaN', NaN],
    ['Infinity', Infinity],
  ])('rejects %s with an OptionError', async (_what, n) => {
    const err = await caught(() => setNumThreads(n as number));
    expect(err).toBeInstanceOf(OptionError);
    expect(err).toBeInstanceOf(LazyKernelError);
    expect((err as Error).name).toBe('OptionError');
  });

  test('a rejected value leaves the thread count unchanged', () => {
    const now = info().cpu.threads;
    expect(() => setNumThreads(0)).toThrow();
    expect(info().cpu.threads).toBe(now);
  });

  test('accepts 1, which info() then reports, and a Gaussian sum is still right on one thread', async () => {
    setNumThreads(1);
    expect(info().cpu.threads).toBe(1);
    const rng = new Rng(31);
    const x = uniform(rng, 101 * 3);
    const y = uniform(rng, 203 * 3);
    const t = tabulate(101, 203, 1, (i, j) => [math.exp(-sqdist(row(x, i, 3), row(y, j, 3)))]);
    const g = new Genred('Exp(-SqDist(x,y))', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 });
    expectSumClose(asTensor(await g.run([x, y])).data, t, 1, 'float64');
    setNumThreads(before);
    expect(info().cpu.threads).toBe(before);
    expectSumClose(asTensor(await g.run([x, y])).data, t, 1, 'float64');
  });
});

/**
 * Typed errors of the public API (API.md, "Errors"), and the raw addon's answer to
 * malformed programs: a JS exception every time, never a crash.
 *
 * Errors thrown by lib/ are checked with `instanceof` on the classes of lib/errors.ts and
 * by `.name`. Errors thrown by native code come from the addon's realm, so under jest they
 * are recognised with util.types.isNativeError, not `instanceof Error`.
 */
import * as util from 'util';
import {
  clusterCentroids, DTypeError, FormulaSyntaxError, Genred, info, KernelSolve, LazyKernelError, OptionError, ShapeError, Vi, Vj, Pm,
} from '../lib/index';
import { addon } from '../lib/addon';
import type { Program } from '../lib/formula/program';
import { Kernel, Op, Reduction } from '../lib/formula/program';
import { asTensor, caught, dual, expectSumClose, row, Rng, sqdist, tabulate, uniform } from './helpers/reference';
import type { Arg } from '../lib/tensor';

/** Math through a module binding: a global lookup is ~50× slower in jest's sandbox, and the references call it per pair. */
const math = Math;

type ErrorClass = typeof ShapeError | typeof DTypeError | typeof OptionError | typeof FormulaSyntaxError;

/** The error is of `cls`, a LazyKernelError and an Error, with `.name` the class's name. */
function expectTyped(err: unknown, cls: ErrorClass): void {
  expect(err).toBeInstanceOf(cls);
  expect(err).toBeInstanceOf(LazyKernelError);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).name).toBe(cls.name);
}

const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)'];
const GAUSS = 'Exp(-g*SqDist(x,y))*b';
const M = 5;
const N = 7;
const rng = new Rng(2024);
const x = uniform(rng, M * 3);
const y = uniform(rng, N * 3);
const b = uniform(rng, N * 2);
const gauss = new Genred(GAUSS, ALIASES, { reduction: 'Sum', axis: 1 });

/** Both entry points of a Genred: run must reject and runSync must throw, with the same class. */
async function expectRunError(g: Genred, args: Arg[], cls: ErrorClass, opts: Record<string, unknown> = {}): Promise<Error[]> {
  const asyncErr = await caught(() => g.run(args, opts as never));
  const syncErr = await caught(() => g.runSync(args, opts as never));
  expectTyped(asyncErr, cls);
  expectTyped(syncErr, cls);
  return [asyncErr as Error, syncErr as Error];
}

describe('array arguments', () => {
  test('an i-variable whose length is not a whole number of rows is a ShapeError naming it', async () => {
    for (const e of await expectRunError(gauss, [x.subarray(0, 10), y, b, 0.5], ShapeError)) expect(e.message).toMatch(/\bx\b/);
  });

  test('a j-variable whose length is not a whole number of rows is a ShapeError naming it', async () => {
    for (const e of await expectRunError(gauss, [x, y, b.subarray(0, 2 * N - 1), 0.5], ShapeError)) expect(e.message).toMatch(/\bb\b/);
  });

  test('a parameter with the wrong number of values is a ShapeError naming it', async () => {
    for (const e of await expectRunError(gauss, [x, y, b, [0.5, 1]], ShapeError)) expect(e.message).toMatch(/\bg\b/);
  });

  test('a Tensor whose shape does not match its data is a ShapeError', async () => {
    await expectRunError(gauss, [{ data: x, shape: [M, 4] }, y, b, 0.5], ShapeError);
  });

  test('a Tensor whose columns differ from the declared dimension is a ShapeError naming it', async () => {
    const data = new Float64Array(12);
    for (const e of await expectRunError(gauss, [{ data, shape: [6, 2] }, y, b, 0.5], ShapeError)) expect(e.message).toMatch(/\bx\b/);
  });

  test('i-variables with different row counts are a ShapeError naming both', async () => {
    const g = new Genred('SqDist(x,y)*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vi(1)'], { reduction: 'Sum', axis: 1 });
    for (const e of await expectRunError(g, [x, y, new Float64Array(M + 1)], ShapeError)) {
      expect(e.message).toMatch(/\bx\b/);
      expect(e.message).toMatch(/\ba\b/);
    }
  });

  test('j-variables with different row counts are a ShapeError naming both', async () => {
    for (const e of await expectRunError(gauss, [x, y, new Float64Array(2 * (N + 1)), 0.5], ShapeError)) {
      expect(e.message).toMatch(/\by\b/);
      expect(e.message).toMatch(/\bb\b/);
    }
  });

  test('Vi with a length that is not a whole number of rows is a ShapeError', async () => {
    expectTyped(await caught(() => Vi(new Float64Array(10), 3)), ShapeError);
  });

  test('LazyTensor i-variables with different row counts are a ShapeError at the reduction', async () => {
    const K = Vi(new Float64Array(15), 3).add(Vi(new Float64Array(18), 3)).sqdist(Vj(y, 3));
    expectTyped(await caught(() => K.sum(1)), ShapeError);
    expectTyped(await caught(() => K.sumSync(1)), ShapeError);
  });

  test('float32 and float64 arrays in one call are a DTypeError', async () => {
    const e = await expectRunError(gauss, [Float32Array.from(x), y, b, 0.5], DTypeError);
    expect(e[0].message).toMatch(/float32/);
    expect(e[0].message).toMatch(/float64/);
  });

  test('a typed-array parameter of the other float type is a DTypeError', async () => {
    await expectRunError(gauss, [x, y, b, Float32Array.of(0.5)], DTypeError);
  });

  test('a cluster helper whose output would exceed one typed array is a ShapeError, as a reduction\'s is', async () => {
    // 2^31 − 1 labels × 3 components: 6.4e9 centroid values.
    const e = await caught(() => clusterCentroids(new Float64Array(3), 3, Int32Array.of(0x7ffffffe)));
    expectTyped(e, ShapeError);
    expect((e as Error).message).toMatch(/do not fit one typed array/);
  });

  test('a Buffer (bytes: no float type of its own) is a DTypeError that says how to view it as floats', async () => {
    const bytes = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    for (const e of await expectRunError(gauss, [bytes, y, b, 0.5] as Arg[], DTypeError)) {
      expect(e.message).toMatch(/x: .*got a Buffer; .*new Float32Array\(buf\.buffer, buf\.byteOffset, buf\.byteLength \/ 4\)/);
    }
    for (const e of await expectRunError(gauss, [x, y, b, Buffer.alloc(8)] as Arg[], DTypeError)) expect(e.message).toMatch(/g: .*not a Buffer; .*Float32Array/);
    // The fix it names works: the same bytes viewed as float64 give the float64 answer.
    const viewed = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    expect(gauss.runSync([viewed, y, b, 0.5]).data).toEqual(gauss.runSync([x, y, b, 0.5]).data);
  });

  test('mixed float types in a LazyTensor formula are a DTypeError at the reduction', async () => {
    const K = Vi(Float32Array.from(x), 3).sqdist(Vj(y, 3));
    expectTyped(await caught(() => K.sum(1)), DTypeError);
  });

  test.each([
    ['a plain array of numbers', [0, 1, 2, 3, 4, 5]],
    ['a string', 'abc'],
    ['an Int32Array', new Int32Array(M * 3)],
    ['null', null],
    ['a number', 3],
  ])('%s in place of the data of x is a DTypeError', async (_what, bad) => {
    await expectRunError(gauss, [bad, y, b, 0.5] as Arg[], DTypeError);
  });

  test.each([
    ['a string', 'abc'],
    ['an array holding a string', ['a']],
    ['null', null],
    ['an Int32Array', Int32Array.of(1)],
  ])('%s in place of a parameter is a DTypeError', async (_what, bad) => {
    await expectRunError(gauss, [x, y, b, bad] as Arg[], DTypeError);
  });

  test('a plain JS array given to Vi is a DTypeError', async () => {
    expectTyped(await caught(() => Vi([1, 2, 3] as never, 3)), DTypeError);
  });

  test('a string given to Pm is a DTypeError', async () => {
    expectTyped(await caught(() => Pm('0.5' as never)), DTypeError);
  });

  test('a missing argument is an OptionError', async () => {
    await expectRunError(gauss, [x, y, b], OptionError);
  });

  test('an extra argument is an OptionError', async () => {
    await expectRunError(gauss, [x, y, b, 0.5, 0.5], OptionError);
  });

  test('arguments that are not an array are an OptionError', async () => {
    expectTyped(await caught(() => gauss.run(x as never)), OptionError);
    expectTyped(await caught(() => gauss.runSync({} as never)), OptionError);
  });

  test('k larger than the reduced rows is an OptionError at run', async () => {
    const g = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin', axis: 1, k: N + 1 });
    await expectRunError(g, [x, y], OptionError);
  });
});

describe('Genred options', () => {
  const make = (opts: unknown, formula = 'SqDist(x,y)', aliases = ['x = Vi(3)', 'y = Vj(3)']) => (): Genred => new Genred(formula, aliases, opts as never);

  test.each([
    ['an unknown reduction name', { reduction: 'Average', axis: 1 }],
    ['a reduction name in the wrong case', { reduction: 'sum', axis: 1 }],
    ['axis 2', { reduction: 'Sum', axis: 2 }],
    ["axis '1' (a string)", { reduction: 'Sum', axis: '1' }],
    ['a missing axis', { reduction: 'Sum' }],
    ['KMin without k', { reduction: 'KMin', axis: 1 }],
    ['KMin with k = 0', { reduction: 'KMin', axis: 1, k: 0 }],
    ['ArgKMin with k = 2.5', { reduction: 'ArgKMin', axis: 1, k: 2.5 }],
    ['KMin_ArgKMin with k = -1', { reduction: 'KMin_ArgKMin', axis: 1, k: -1 }],
    ['k given to Sum', { reduction: 'Sum', axis: 1, k: 3 }],
    ['SumSoftMaxWeight without formula2', { reduction: 'SumSoftMaxWeight', axis: 1 }],
    ['formula2 given to Sum', { reduction: 'Sum', axis: 1, formula2: 'x' }],
    ['no options at all', undefined],
  ])('%s is an OptionError at new Genred', async (_what, opts) => {
    expectTyped(await caught(make(opts)), OptionError);
  });

  test('LazyTensor kmin with k = 0 rejects with an OptionError', async () => {
    const K = Vi(x, 3).sqdist(Vj(y, 3));
    expectTyped(await caught(() => K.kmin(0, 1)), OptionError);
  });

  test('a LazyTensor reduction over axis 2 rejects with an OptionError', async () => {
    const K = Vi(x, 3).sqdist(Vj(y, 3));
    expectTyped(await caught(() => K.sum(2 as never)), OptionError);
  });
});

describe('formula errors at new Genred', () => {
  const SYNTAX: [string, string, number][] = [
    ['a missing closing parenthesis', 'Exp(-g*SqDist(x,y)', 18],
    ['an operator with no operand', 'SqDist(x,y) + * b', 14],
    ['an unknown operation', 'Exp(Fooo(x))', 4],
    ['an unknown variable', 'SqDist(x,z)', 9],
    ['an unexpected character', 'x $ y', 2],
    ['an empty formula', '', 0],
    ['a wrong number of arguments', 'Exp(-SqDist(x))', 5],
    ['an extra closing parenthesis', 'SqDist(x,y))', 11],
  ];

  test.each(SYNTAX)('%s (%j) is a FormulaSyntaxError with .position %d', async (_what, formula, position) => {
    const err = await caught(() => new Genred(formula, ALIASES, { reduction: 'Sum', axis: 1 }));
    expectTyped(err, FormulaSyntaxError);
    expect((err as FormulaSyntaxError).position).toBe(position);
  });

  test('the FormulaSyntaxError for an unknown variable names it', async () => {
    const err = await caught(() => new Genred('SqDist(x,z)', ALIASES, { reduction: 'Sum', axis: 1 }));
    expectTyped(err, FormulaSyntaxError);
    expect((err as Error).message).toMatch(/'z'/);
  });

  test('a malformed alias is a FormulaSyntaxError', async () => {
    expectTyped(await caught(() => new Genred('x', ['x = Vk(3)'], { reduction: 'Sum', axis: 1 })), FormulaSyntaxError);
  });

  test('a syntax error in formula2 is a FormulaSyntaxError', async () => {
    const err = await caught(() => new Genred('-SqDist(x,y)', ALIASES, { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b*(' }));
    expectTyped(err, FormulaSyntaxError);
  });

  test.each([
    ['SqDist of dimensions 3 and 2', 'SqDist(x,b)', ['x', 'b']],
    ['adding dimensions 3 and 2', 'x+b', ['x', 'b']],
    ['a scalar product of dimensions 3 and 2', '(x|b)', ['x', 'b']],
    ['Elem past the last component', 'Elem(x,3)', ['x']],
    ['MatVecMult with a matrix that is not a multiple of the vector', 'MatVecMult(x,b)', ['x', 'b']],
    ['a WeightedSqNorm weight of dimension 2 for a vector of dimension 3', 'WeightedSqNorm(b,x)', ['b', 'x']],
  ])('%s is a ShapeError naming the operands', async (_what, formula, names) => {
    const err = await caught(() => new Genred(formula, ALIASES, { reduction: 'Sum', axis: 1 }));
    expectTyped(err, ShapeError);
    for (const n of names) expect((err as Error).message).toMatch(new RegExp(`\\b${n}\\b`));
  });

  test('LogSumExp of a formula of dimension 3 is a ShapeError', async () => {
    expectTyped(await caught(() => new Genred('x-y', ALIASES, { reduction: 'LogSumExp', axis: 1 })), ShapeError);
  });

  test('SumSoftMaxWeight of a formula of dimension 3 is a ShapeError', async () => {
    expectTyped(await caught(() => new Genred('x-y', ALIASES, { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b' })), ShapeError);
  });

  test('a LazyTensor operation on mismatched dimensions is a ShapeError', async () => {
    expectTyped(await caught(() => Vi(x, 3).sqdist(Vj(b, 2))), ShapeError);
  });
});

describe('run options', () => {
  test.each([
    ["prune: 'yes'", { prune: 'yes' }],
    ['pruneTolerance: -1', { pruneTolerance: -1 }],
    ['pruneTolerance: NaN', { pruneTolerance: NaN }],
    ["backend: 'gpu'", { backend: 'gpu' }],
    ["signal: 'x'", { signal: 'x' }],
  ])('%s is an OptionError', async (_what, opts) => {
    await expectRunError(gauss, [x, y, b, 0.5], OptionError, opts);
  });

  test('bad run options through the LazyTensor API reject with an OptionError', async () => {
    const K = Vi(x, 3).sqdist(Vj(y, 3));
    expectTyped(await caught(() => K.sum(1, { prune: 'yes' } as never)), OptionError);
    expectTyped(await caught(() => K.sumSync(1, { backend: 'gpu' } as never)), OptionError);
  });

  const noCuda = info().cuda.available ? test.skip : test;
  noCuda("backend 'cuda' on a machine without a CUDA device is an error whose message mentions CUDA", async () => {
    for (const e of [await caught(() => gauss.run([x, y, b, 0.5], { backend: 'cuda' })), await caught(() => gauss.runSync([x, y, b, 0.5], { backend: 'cuda' }))]) {
      expect(e).toBeInstanceOf(LazyKernelError);
      expect((e as Error).message).toMatch(/cuda/i);
      expect((e as Error).message.length).toBeGreaterThan('backend "cuda"'.length);
    }
  });

  test("backend 'cpu' and 'auto' run and give the reference", async () => {
    const t = tabulate(M, N, 2, (i, j) => {
      const k = math.exp(-0.5 * sqdist(row(x, i, 3), row(y, j, 3)));
      return [k * b[2 * j], k * b[2 * j + 1]];
    });
    expectSumClose(asTensor(await gauss.run([x, y, b, 0.5], { backend: 'cpu' })).data, t, 1, 'float64');
    expectSumClose(asTensor(gauss.runSync([x, y, b, 0.5], { backend: 'auto' })).data, t, 1, 'float64');
  });
});

// ---------------------------------------------------------------------------------------
// The raw addon: malformed programs
// ---------------------------------------------------------------------------------------

describe('the raw addon answers malformed programs with a JS error, never a crash', () => {
  type Mutable = { -readonly [K in keyof Program]: unknown } & Record<string, unknown>;
  type Call = { program: unknown; args: unknown };

  const d = dual(uniform(new Rng(7), M * 3 + N * 3 + N * 2));
  const xs = d.f64.slice(0, M * 3);
  const ys = d.f64.slice(M * 3, M * 3 + N * 3);
  const bs = d.f64.slice(M * 3 + N * 3);
  /** A recognised Gaussian (kernel field set), a generic formula with a CONST, a KMin and a SumSoftMaxWeight. */
  const fused = gauss.compiled.bind([xs, ys, bs, 0.5]);
  const generic = new Genred('Exp(-g*SqDist(x,y))*b + Zero(1)*b', ALIASES, { reduction: 'Sum', axis: 1 }).compiled.bind([xs, ys, bs, 0.5]);
  const kmin = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'KMin', axis: 1, k: 2 }).compiled.bind([xs, ys]);
  const ssmw = new Genred('-SqDist(x,y)', ALIASES, { reduction: 'SumSoftMaxWeight', axis: 1, formula2: 'b' }).compiled.bind([xs, ys, bs, 0.5]);

  const copy = (p: Program): Mutable => ({
    ...p, vars: p.vars.slice(), regDims: p.regDims.slice(), code: p.code.slice(), consts: p.consts.slice(), kernel: p.kernel.slice(),
  }) as Mutable;
  const I32 = (p: Mutable, key: 'vars' | 'regDims' | 'code' | 'kernel'): Int32Array => p[key] as Int32Array;
  /** Index in `code` of the first instruction with op `op`. */
  const firstOf = (p: Mutable, op: number): number => {
    const code = I32(p, 'code');
    for (let k = 0; k < code.length; k += 6) if (code[k] === op) return k;
    throw new Error(`no instruction ${op} in the program`);
  };
  const firstBinary = (p: Mutable): number => {
    const code = I32(p, 'code');
    for (let k = 0; k < code.length; k += 6) if (code[k + 2] >= 0 && code[k + 3] >= 0) return k;
    throw new Error('no binary instruction');
  };

  type Base = typeof fused;
  const on = (base: Base, mutate: (p: Mutable) => void): (() => Call) => () => {
    const p = copy(base.program);
    mutate(p);
    return { program: p, args: base.args.slice() };
  };
  const withArgs = (base: Base, mutate: (a: unknown[]) => unknown): (() => Call) => () => ({ program: base.program, args: mutate(base.args.slice()) });

  const FIELDS = ['version', 'dtype', 'm', 'n', 'vars', 'regDims', 'code', 'consts', 'result', 'weights', 'reduction', 'k', 'kernel'];

  const CASES: [string, () => Call][] = [
    ['program is null', () => ({ program: null, args: fused.args })],
    ['program is a number', () => ({ program: 42, args: fused.args })],
    ['program is a string', () => ({ program: 'Exp(x)', args: fused.args })],
    ['program is an empty object', () => ({ program: {}, args: fused.args })],
    ...FIELDS.map((f): [string, () => Call] => [`program.${f} is missing`, on(fused, (p) => { delete p[f]; })]),
    ...FIELDS.map((f): [string, () => Call] => [`program.${f} is undefined`, on(fused, (p) => { p[f] = undefined; })]),
    // wrong array types
    ...(['vars', 'regDims', 'code', 'kernel'] as const).flatMap((f): [string, () => Call][] => [
      [`program.${f} is a Float64Array`, on(fused, (p) => { p[f] = Float64Array.from(p[f] as Int32Array); })],
      [`program.${f} is a plain Array`, on(fused, (p) => { p[f] = Array.from(p[f] as Int32Array); })],
      [`program.${f} is a Uint32Array`, on(fused, (p) => { p[f] = Uint32Array.from(p[f] as Int32Array); })],
    ]),
    ['program.consts is a Float32Array', on(generic, (p) => { p.consts = Float32Array.from(p.consts as Float64Array); })],
    ['program.consts is a plain Array', on(generic, (p) => { p.consts = Array.from(p.consts as Float64Array); })],
    // scalar fields
    ['program.version is 3', on(fused, (p) => { p.version = 3; })],
    ["program.version is '2'", on(fused, (p) => { p.version = '2'; })],
    ["program.dtype is 'float16'", on(fused, (p) => { p.dtype = 'float16'; })],
    ['program.dtype is a number', on(fused, (p) => { p.dtype = 1; })],
    ["program.dtype is 'float32' while the arrays are Float64Array", on(fused, (p) => { p.dtype = 'float32'; })],
    ['program.m is -1', on(fused, (p) => { p.m = -1; })],
    ['program.n is -5', on(fused, (p) => { p.n = -5; })],
    ['program.m and n are negative', on(fused, (p) => { p.m = -3; p.n = -3; })],
    ['program.m is 1.5', on(fused, (p) => { p.m = 1.5; })],
    ['program.m is NaN', on(fused, (p) => { p.m = NaN; })],
    ['program.n is Infinity', on(fused, (p) => { p.n = Infinity; })],
    ["program.m is '5'", on(fused, (p) => { p.m = '5'; })],
    ['program.m is one more than the rows of x', on(fused, (p) => { p.m = M + 1; })],
    ['program.n is one more than the rows of y', on(fused, (p) => { p.n = N + 1; })],
    ['program.m is 2^40', on(fused, (p) => { p.m = 2 ** 40; })],
    ['program.n is 2^33 (generic program)', on(generic, (p) => { p.n = 2 ** 33; })],
    ['program.result is -1', on(fused, (p) => { p.result = -1; })],
    ['program.result is one past the last register', on(fused, (p) => { p.result = (p.regDims as Int32Array).length; })],
    ['program.result is 1e6', on(fused, (p) => { p.result = 1e6; })],
    ['program.result is 1.5', on(fused, (p) => { p.result = 1.5; })],
    ['program.reduction is -1', on(fused, (p) => { p.reduction = -1; })],
    ['program.reduction is 12 (one past the last)', on(fused, (p) => { p.reduction = 12; })],
    ['program.reduction is 99', on(fused, (p) => { p.reduction = 99; })],
    ['program.k is 0 for KMin', on(kmin, (p) => { p.k = 0; })],
    ['program.k is -1 for KMin', on(kmin, (p) => { p.k = -1; })],
    ['program.k is 2^31 - 1 for KMin', on(kmin, (p) => { p.k = 2 ** 31 - 1; })],
    ['program.weights is -1 for SumSoftMaxWeight', on(ssmw, (p) => { p.weights = -1; })],
    ['program.weights is past the last register for SumSoftMaxWeight', on(ssmw, (p) => { p.weights = 9999; })],
    // instructions
    ['program.code is not a whole number of instructions', on(generic, (p) => { p.code = (p.code as Int32Array).slice(0, -1); })],
    ['program.code is empty', on(generic, (p) => { p.code = new Int32Array(0); })],
    ['an op code of 99', on(generic, (p) => { I32(p, 'code')[0] = 99; })],
    ['an op code of -1', on(generic, (p) => { I32(p, 'code')[0] = -1; })],
    ['an op code one past the last (39)', on(generic, (p) => { I32(p, 'code')[0] = 39; })],
    ['an op code of 2^31 - 1', on(generic, (p) => { I32(p, 'code')[firstBinary(p)] = 2 ** 31 - 1; })],
    ['an instruction writing a register other than its own', on(generic, (p) => { I32(p, 'code')[1] = 3; })],
    ['an operand register read before it is written', on(generic, (p) => { const k = firstBinary(p); I32(p, 'code')[k + 2] = I32(p, 'code')[k + 1]; })],
    ['an operand register of 1000', on(generic, (p) => { I32(p, 'code')[firstBinary(p) + 3] = 1000; })],
    ['a missing operand (-1) of a binary op', on(generic, (p) => { I32(p, 'code')[firstBinary(p) + 3] = -1; })],
    ['a negative operand register (-7)', on(generic, (p) => { I32(p, 'code')[firstBinary(p) + 2] = -7; })],
    ['a LOAD of variable 99', on(generic, (p) => { I32(p, 'code')[firstOf(p, Op.LOAD) + 5] = 99; })],
    ['a LOAD of variable -1', on(generic, (p) => { I32(p, 'code')[firstOf(p, Op.LOAD) + 5] = -1; })],
    ['a CONST reading past the constants', on(generic, (p) => { I32(p, 'code')[firstOf(p, Op.CONST) + 5] = 50; })],
    ['a CONST with index -1', on(generic, (p) => { I32(p, 'code')[firstOf(p, Op.CONST) + 5] = -1; })],
    ['an EXTRACT past the components', () => {
      const g = new Genred('Extract(x,1,2)*SqDist(x,y)', ALIASES, { reduction: 'Sum', axis: 1 }).compiled.bind([xs, ys, bs, 0.5]);
      const p = copy(g.program);
      I32(p, 'code')[firstOf(p, Op.EXTRACT) + 5] = 2;
      return { program: p, args: g.args };
    }],
    ['an ELEM past the components', () => {
      const g = new Genred('Elem(x,1)*SqDist(x,y)', ALIASES, { reduction: 'Sum', axis: 1 }).compiled.bind([xs, ys, bs, 0.5]);
      const p = copy(g.program);
      I32(p, 'code')[firstOf(p, Op.ELEM) + 5] = 3;
      return { program: p, args: g.args };
    }],
    ['a MATVEC whose output dimension does not fit its operands', () => {
      const g = new Genred('MatVecMult(w,x)', ['x = Vi(3)', 'y = Vj(3)', 'w = Vj(6)'], { reduction: 'Sum', axis: 1 })
        .compiled.bind([xs, ys, new Float64Array(N * 6)]);
      const p = copy(g.program);
      I32(p, 'regDims')[I32(p, 'code')[firstOf(p, Op.MATVEC) + 1]] = 4;
      return { program: p, args: g.args };
    }],
    // register dimensions
    ['regDims one shorter than the registers', on(generic, (p) => { p.regDims = (p.regDims as Int32Array).slice(0, -1); })],
    ['regDims one longer than the registers', on(generic, (p) => { p.regDims = Int32Array.from([...(p.regDims as Int32Array), 1]); })],
    ['a register of dimension 0', on(generic, (p) => { I32(p, 'regDims')[0] = 0; })],
    ['a register of dimension -3', on(generic, (p) => { I32(p, 'regDims')[0] = -3; })],
    ['a LOAD register whose dimension differs from its variable', on(generic, (p) => { I32(p, 'regDims')[I32(p, 'code')[firstOf(p, Op.LOAD) + 1]] += 1; })],
    ['a register of dimension 2^30', on(generic, (p) => { I32(p, 'regDims')[I32(p, 'code')[firstOf(p, Op.LOAD) + 1]] = 2 ** 30; })],
    ['a result register of the wrong dimension for the output', on(generic, (p) => { I32(p, 'regDims')[p.result as number] = 5; })],
    // variable table
    ['vars not a whole number of entries', on(fused, (p) => { p.vars = (p.vars as Int32Array).slice(0, -1); })],
    ['vars empty', on(fused, (p) => { p.vars = new Int32Array(0); })],
    ['a variable category of 7', on(fused, (p) => { I32(p, 'vars')[0] = 7; })],
    ['a variable category of -1', on(fused, (p) => { I32(p, 'vars')[0] = -1; })],
    ['a variable of dimension 0', on(fused, (p) => { I32(p, 'vars')[1] = 0; })],
    ['a variable of dimension 4 where its array holds rows of 3', on(fused, (p) => { I32(p, 'vars')[1] = 4; })],
    ['a variable in argument slot 9', on(fused, (p) => { I32(p, 'vars')[2] = 9; })],
    ['a variable in argument slot -1', on(fused, (p) => { I32(p, 'vars')[2] = -1; })],
    ['an i-variable declared as a j-variable (lengths no longer fit)', on(fused, (p) => { I32(p, 'vars')[0] = 1; })],
    // fused kernel
    ['a kernel tag of 99', on(fused, (p) => { I32(p, 'kernel')[0] = 99; })],
    ['a kernel tag of -1', on(fused, (p) => { I32(p, 'kernel')[0] = -1; })],
    ['a kernel of 4 fields', on(fused, (p) => { p.kernel = (p.kernel as Int32Array).slice(0, 4); })],
    ['a kernel whose x is variable 99', on(fused, (p) => { I32(p, 'kernel')[1] = 99; })],
    ['a kernel whose x is a j-variable', on(fused, (p) => { I32(p, 'kernel')[1] = 1; })],
    ['a kernel whose y is an i-variable', on(fused, (p) => { I32(p, 'kernel')[2] = 0; })],
    ['a kernel whose b is the parameter', on(fused, (p) => { I32(p, 'kernel')[3] = 3; })],
    ['a kernel whose scale register is 999', on(fused, (p) => { I32(p, 'kernel')[4] = 999; })],
    ['a kernel whose scale register is -1', on(fused, (p) => { I32(p, 'kernel')[4] = -1; })],
    ['a kernel whose scale register has dimension 3', on(fused, (p) => { I32(p, 'kernel')[4] = I32(p, 'code')[firstOf(p, Op.SUB) + 1]; })],
    ['a kernel whose scale register reads a j-variable', () => {
      const g = new Genred('Exp(-g*SqDist(x,y))*c', ['x = Vi(3)', 'y = Vj(3)', 'c = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 })
        .compiled.bind([xs, ys, bs.slice(0, N), 0.5]);
      const p = copy(g.program);
      const code = I32(p, 'code');
      for (let k = 0; k < code.length; k += 6) if (code[k] === Op.LOAD && code[k + 5] === 2) I32(p, 'kernel')[4] = code[k + 1];
      return { program: p, args: g.args };
    }],
    ['a kernel gradient whose weights are variable 99', on(fused, (p) => { I32(p, 'kernel')[5] = 99; })],
    ['a kernel gradient whose weights are -2', on(fused, (p) => { I32(p, 'kernel')[5] = -2; })],
    ['a kernel gradient whose weights are a j-variable', on(fused, (p) => { I32(p, 'kernel')[5] = 1; })],
    ['a kernel gradient whose weights are the parameter', on(fused, (p) => { I32(p, 'kernel')[5] = 3; })],
    ["a kernel gradient whose weights lack b's dimension", on(fused, (p) => { I32(p, 'kernel')[5] = 0; })],
    ['a softmax kernel of a profile with no log form (cauchy)', on(ssmw, (p) => { I32(p, 'kernel')[0] = Kernel.cauchy; })],
    ['a kernel on a LogSumExp', on(ssmw, (p) => { p.reduction = Reduction.LogSumExp; p.weights = -1; })],
    ['a softmax kernel with no kernel fields but 3', on(ssmw, (p) => { p.kernel = (p.kernel as Int32Array).slice(0, 3); })],
    ['a kernel whose x and y dimensions differ', () => {
      const g = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)', 'z = Vj(2)'], { reduction: 'Sum', axis: 1 })
        .compiled.bind([xs, ys, bs, 0.5, bs]);
      const p = copy(g.program);
      I32(p, 'kernel')[2] = 4; // y := z, of dimension 2
      return { program: p, args: g.args };
    }],
    // argument arrays
    ['args is null', withArgs(fused, () => null)],
    ['args is a string', withArgs(fused, () => 'x')],
    ['args is an object', withArgs(fused, () => ({}))],
    ['args has one array fewer than the variables', withArgs(fused, (a) => a.slice(0, -1))],
    ['args is empty', withArgs(fused, () => [])],
    ['an argument is a plain Array', withArgs(fused, (a) => { a[0] = Array.from(a[0] as Float64Array); return a; })],
    ['an argument is an Int32Array', withArgs(fused, (a) => { a[0] = new Int32Array(M * 3); return a; })],
    ['an argument is null', withArgs(fused, (a) => { a[1] = null; return a; })],
    ['an argument is a Float32Array in a float64 program', withArgs(fused, (a) => { a[0] = Float32Array.from(a[0] as Float64Array); return a; })],
    ['x is one value short', withArgs(fused, (a) => { a[0] = (a[0] as Float64Array).slice(0, -1); return a; })],
    ['y is one row short', withArgs(fused, (a) => { a[1] = (a[1] as Float64Array).slice(0, -3); return a; })],
    ['b is one value long', withArgs(fused, (a) => { a[2] = Float64Array.from([...(a[2] as Float64Array), 1]); return a; })],
    ['the parameter has two values', withArgs(fused, (a) => { a[3] = Float64Array.of(0.5, 0.5); return a; })],
    ['the parameter is empty', withArgs(fused, (a) => { a[3] = new Float64Array(0); return a; })],
    ['x is empty while m is 5', withArgs(generic, (a) => { a[0] = new Float64Array(0); return a; })],
  ];

  async function checkValidPrograms(): Promise<void> {
    for (const c of [fused, generic]) {
      const t = tabulate(M, N, 2, (i, j) => {
        const k = math.exp(-0.5 * sqdist(row(xs, i, 3), row(ys, j, 3)));
        return [k * bs[2 * j], k * bs[2 * j + 1]];
      });
      expectSumClose(addon.reduceSync(c.program, c.args).values as Float64Array, t, 1, 'float64');
      expectSumClose((await addon.reduce(c.program, c.args)).values as Float64Array, t, 1, 'float64');
    }
    expect(kmin.program.reduction).toBe(Reduction.KMin);
    expect(fused.program.kernel.length).toBe(6);
    expect(generic.program.kernel.length).toBe(0);
  }

  test('the unmodified programs run through reduceSync and reduce (the baseline the corruptions start from)', checkValidPrograms);

  /** Both entry points must refuse: reduceSync throws, reduce throws or rejects; each a native Error. */
  test.each(CASES)('%s', async (_what, make) => {
    const { program, args } = make();
    let syncErr: unknown;
    try {
      addon.reduceSync(program as never, args as never);
    } catch (e) {
      syncErr = e;
    }
    if (syncErr === undefined) throw new Error('reduceSync accepted the malformed program');
    expect(syncErr).toBeInstanceOf(LazyKernelError);
    expect((syncErr as LazyKernelError).code).toMatch(/^ERR_LK_(PROGRAM|ARGUMENT)$/);
    const asyncErr = await caught(() => addon.reduce(program as never, args as never, new addon.CancelFlag()));
    expect(asyncErr).toBeInstanceOf(LazyKernelError);
    expect((asyncErr as LazyKernelError).code).toBe((syncErr as LazyKernelError).code);
  });

  test('the unmodified programs still run after all the malformed ones', checkValidPrograms);

  test('a KMin_ArgKMin program with k more than n is not malformed: the missing entries are +Infinity with index -1', () => {
    // lib/ refuses k > n (OptionError); the engine pads, as refKMin documents.
    const g = new Genred('SqDist(x,y)', ['x = Vi(1)', 'y = Vj(1)'], { reduction: 'KMin_ArgKMin', axis: 1, k: 2 });
    const c = g.compiled.bind([Float64Array.of(0, 1), Float64Array.of(3, 1)]);
    const r = addon.reduceSync({ ...c.program, k: 4 }, c.args);
    expect(Array.from(r.values as Float64Array)).toEqual([1, 9, Infinity, Infinity, 0, 4, Infinity, Infinity]);
    expect(Array.from(r.indices as Int32Array)).toEqual([1, 0, -1, -1, 1, 0, -1, -1]);
  });
});

describe('errors raised inside the engine reach callers as the library\'s errors', () => {
  test('ranges out of bounds are an OptionError from run and runSync', async () => {
    const g = new Genred('SqDist(x,y)', ['x = Vi(1)', 'y = Vj(1)'], { reduction: 'Min', axis: 1 });
    const x = new Float64Array([0, 1, 2]);
    const i = Int32Array.from([0, 4]); // past the 3 rows
    const ranges = [i, Int32Array.from([1]), Int32Array.from([0, 3]), Int32Array.from([0, 3]), Int32Array.from([1]), Int32Array.from([0, 3])] as const;
    expect(() => g.runSync([x, x], { ranges })).toThrow(OptionError);
    await expect(g.run([x, x], { ranges })).rejects.toThrow(OptionError);
    await expect(g.run([x, x], { ranges })).rejects.toThrow(/^invalid ranges/);
  });

  test('a solve that breaks down on NaN is a LazyKernelError naming the cause', async () => {
    const solver = new KernelSolve('Exp(-SqDist(x,y))*a', ['x = Vi(1)', 'y = Vj(1)', 'a = Vj(1)'], 'a', { axis: 1 });
    const x = new Float64Array([0, 1, 2]);
    const b = new Float64Array([1, Number.NaN, 1]);
    expect(() => solver.runSync([x, x, b], { alpha: 1 })).toThrow(LazyKernelError);
    await expect(solver.run([x, x, b], { alpha: 1 })).rejects.toThrow(LazyKernelError);
    await expect(solver.run([x, x, b], { alpha: 1 })).rejects.toThrow(/not finite/);
  });
});

describe('arrays detached while the addon reads its arguments', () => {
  test('a getter that moves an earlier argument\'s buffer away cannot make reduceSync read it', () => {
    const g = new Genred('x', ['x = Vi(1)', 'y = Vj(1)'], { reduction: 'Sum', axis: 1 });
    const x = new Float64Array([1, 2, 3]);
    const y = new Float64Array([1, 1]);
    const { program } = g.compiled.bind([x, y]);
    const args: Float64Array[] = [x];
    let moved: ArrayBuffer | undefined;
    Object.defineProperty(args, 1, {
      get() {
        moved = structuredClone(x.buffer, { transfer: [x.buffer] });
        new Float64Array(moved).fill(7);
        return y;
      },
    });
    Object.defineProperty(args, 'length', { value: 2 });
    // Either a clear error (x is now empty) or the sums of the values x held: never 7s.
    let out: Float64Array | undefined;
    try {
      out = addon.reduceSync(program, args).values as Float64Array;
    } catch (e) {
      expect(util.types.isNativeError(e)).toBe(true);
    }
    expect(moved).toBeDefined();
    if (out !== undefined) expect(Array.from(out)).not.toContain(14);
  });
});

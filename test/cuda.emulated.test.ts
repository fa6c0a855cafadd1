/**
 * The CUDA path's kernel code, run on the host (LAZYKERNEL_CUDA=emulated: blocks and
 * threads played in turn, phase by phase, native/device/emulate.h), against float64
 * brute force: the tiling, shared-memory staging, 2D split and merge, the device
 * interpreter and the per-row reduction states that a GPU would run. What a GPU adds
 * (real concurrency, the CUDA runtime, device memory) is only checked by
 * test/cuda.test.ts on a machine with a device.
 */
import { Genred, OptionError } from '../lib/index';
import { deviceOpSuite, deviceSolveSuite, deviceSuite } from './helpers/device_suite';
import { asTensor, caught } from './helpers/reference';

process.env.LAZYKERNEL_CUDA = 'emulated';

// {}: the plan's choice (the 2D split engages at M = 5, N = 4003); then a small block
// (many partial tiles), and a forced 2D split with a partial last chunk.
const SHAPES = [{}, { block: 32 }, { block: 64, splits: 5 }];

deviceSuite([[1, 1], [7, 5], [303, 207], [5, 4003]], SHAPES);
deviceOpSuite(SHAPES);
deviceSolveSuite();

describe('the emulated device path: limits and options', () => {
  const g = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 });
  const x = new Float32Array(9);
  test('explicit ranges are refused with a clear error, not computed densely', async () => {
    const ranges = [Int32Array.of(0, 3), Int32Array.of(1), Int32Array.of(0, 3), Int32Array.of(0, 3), Int32Array.of(1), Int32Array.of(0, 3)] as const;
    const err = await caught(() => g.runSync([x, x], { backend: 'cuda', ranges: [...ranges] as never }));
    expect(String(err)).toMatch(/ranges/);
  });
  test('a formula beyond the device tables is a clear error naming the CUDA backend', async () => {
    const big = new Genred(`${'x+'.repeat(140)}x`, ['x = Vi(1)', 'y = Vj(1)'], { reduction: 'Sum', axis: 1 });
    const err = await caught(() => big.runSync([new Float32Array(2), new Float32Array(2)], { backend: 'cuda' }));
    expect(String(err)).toMatch(/too large for the CUDA backend/);
  });
  test('a bad forced launch shape is a RangeError from the engine', async () => {
    process.env.LAZYKERNEL_CUDA_BLOCK = '0';
    try {
      const err = await caught(() => g.runSync([x, x], { backend: 'cuda' }));
      expect(String(err)).toMatch(/block must be an integer/);
    } finally {
      delete process.env.LAZYKERNEL_CUDA_BLOCK;
    }
  });
  test('empty inputs: N = 0 gives the reductions\' identities, M = 0 an empty result', () => {
    const none = new Float64Array(0);
    const three = Float64Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8);
    expect(Array.from(asTensor(g.runSync([three, none], { backend: 'cuda' })).data)).toEqual([0, 0, 0]);
    const min = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Min_ArgMin', axis: 1 });
    const r = min.runSync([three, none], { backend: 'cuda' }) as { values: { data: Float64Array }; indices: { data: Int32Array } };
    expect(Array.from(r.values.data)).toEqual([Infinity, Infinity, Infinity]);
    expect(Array.from(r.indices.data)).toEqual([-1, -1, -1]);
    const empty = asTensor(g.runSync([none, three], { backend: 'cuda' }));
    expect(empty.shape).toEqual([0, 1]);
    // A forced 2D split of no columns (once a division by zero in the launch plan).
    process.env.LAZYKERNEL_CUDA_SPLITS = '5';
    try {
      expect(Array.from(asTensor(g.runSync([three, none], { backend: 'cuda' })).data)).toEqual([0, 0, 0]);
    } finally {
      delete process.env.LAZYKERNEL_CUDA_SPLITS;
    }
  });
  test('an unknown backend is an OptionError', async () => {
    expect(await caught(() => g.runSync([x, x], { backend: 'gpu' as never }))).toBeInstanceOf(OptionError);
  });
});

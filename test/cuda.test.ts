/**
 * The CUDA backend on a real device. Where no device is usable (this project's CI and
 * development machines), the device checks are reported skipped, and what is checked is
 * that info() says why and that backend 'cuda' fails with an error naming CUDA.
 */
import { Genred, info, OptionError } from '../lib/index';
import { deviceOpSuite, deviceSolveSuite, deviceSuite } from './helpers/device_suite';
import { asTensor, caught } from './helpers/reference';

delete process.env.LAZYKERNEL_CUDA;
const cuda = info().cuda;

if (cuda.available) {
  deviceSuite([[1, 1], [7, 5], [303, 207], [5, 4003], [1003, 2001]], [{}, { block: 32 }, { block: 64, splits: 5 }]);
  deviceOpSuite([{}]);
  deviceSolveSuite();
} else {
  describe.skip(`the CUDA backend on a device (skipped: ${cuda.reason})`, () => {
    test('every reduction against the float64 reference', () => undefined);
  });
  describe('without a usable CUDA device', () => {
    test('info().cuda says why', () => {
      expect(cuda.devices).toBe(0);
      expect(cuda.reason).toMatch(/CUDA|cuda/);
    });
    test("backend 'cuda' throws an OptionError that mentions CUDA, and 'auto' runs on the CPU", async () => {
      const g = new Genred('SqDist(x,y)', ['x = Vi(1)', 'y = Vj(1)'], { reduction: 'Sum', axis: 1 });
      const x = Float64Array.of(0, 1);
      const err = await caught(() => g.runSync([x, x], { backend: 'cuda' }));
      expect(err).toBeInstanceOf(OptionError);
      expect(String(err)).toMatch(/CUDA|cuda/);
      expect(Array.from(asTensor(g.runSync([x, x], { backend: 'auto' })).data)).toEqual([1, 1]);
    });
  });
}

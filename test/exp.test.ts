/**
 * exp at the edges of its range (native/maths/exp.h), through the generic interpreter
 * (`Exp(x+y)`) and the fused Gaussian loop (`Exp(-g*SqDist(x,y))*b` with g = ±1), on both
 * axes and both dtypes, against Math.exp of the value the engine exponentiates.
 *
 * The documented semantics checked here: within 2 ulp of exp wherever the result is a
 * normal number above the flush threshold; 0 below it (2^-125.5 in float32, 2^-1021.5 in
 * float64); +Infinity past the largest finite value; NaN (either sign) stays NaN. Values
 * within a hair of a threshold may land on either side and are checked only for that.
 * The fused Gaussian computes exp(-g·s) as 2^-t (exp.h's exp2Neg), t = (g·log2 e)·s with
 * the factor and the product each rounded to the dtype: it is checked by the same rules
 * against 2^-t for the engine's own t, which pins exp2Neg's accuracy; the roundings of t
 * and of the factor are the documented |s|·2^-23 (float32) on top.
 */
import { Genred } from '../lib/index';
import { Kernel } from '../lib/formula/program';
import { asTensor, DType, DTYPES, Rng, uniform } from './helpers/reference';

const math = Math;

interface Limits {
  /** Relative tolerance: 2 ulp (float32) or 4 ulp (float64: ours plus Math.exp's). */
  rtol: number;
  /** exp returns 0 below this, and a normal number within rtol at or above 2× it. */
  flush: number;
  /** The largest finite value. */
  max: number;
}
const LIMITS: Record<DType, Limits> = {
  float32: { rtol: 2 * 2 ** -23, flush: 2 ** -125.5, max: 3.4028234663852886e38 },
  float64: { rtol: 4 * 2 ** -52, flush: 2 ** -1021.5, max: Number.MAX_VALUE },
};

/** 1003 random arguments over and past exp's range, with its edges and the special values. */
function argumentsFor(dtype: DType): Float32Array | Float64Array {
  const rng = new Rng(4242);
  const edge = dtype === 'float32' ? 88 : 708;
  const wide = uniform(rng, 603, -1.3 * edge, 1.3 * edge);
  const low = uniform(rng, 200, -edge - 2, -edge + 2);
  const high = uniform(rng, 200, edge - 2, edge + 2);
  const special = [NaN, NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 1e30, -1e30, 1, -1, 100, -100, 800, -800];
  const all = [...wide, ...low, ...high, ...special];
  const out = dtype === 'float32' ? new Float32Array(all) : new Float64Array(all);
  // The second NaN with its sign bit set: x86 arithmetic makes that one.
  const hi = new Uint32Array(out.buffer);
  if (dtype === 'float32') hi[wide.length + low.length + high.length + 1] = 0xffc00000;
  else hi[2 * (wide.length + low.length + high.length + 1) + 1] = 0xfff80000;
  return out;
}

/**
 * Checks got[k] against f(arg[k]) (exp, or the fused Gaussian's 2^-t) by the rules above;
 * returns the failures, described.
 */
function misses(args: ArrayLike<number>, got: ArrayLike<number>, dtype: DType, f = math.exp, name = 'exp'): string[] {
  const { rtol, flush, max } = LIMITS[dtype];
  const bad: string[] = [];
  for (let k = 0; k < args.length; ++k) {
    const a = args[k];
    const g = got[k];
    const ref = f(a);
    let ok: boolean;
    if (Number.isNaN(a)) ok = Number.isNaN(g);
    else if (ref > max * (1 + 1e-6)) ok = g === Infinity;
    else if (ref < flush * 0.99) ok = g === 0;
    else if (ref > max * (1 - 1e-6)) ok = g === Infinity || math.abs(g - ref) <= rtol * ref;
    else if (ref < 2 * flush) ok = g === 0 || math.abs(g - ref) <= rtol * ref;
    else ok = math.abs(g - ref) <= rtol * ref;
    if (!ok) bad.push(`${name}(${a}) = ${g}, expected ${ref}`);
  }
  return bad;
}

describe('exp at the edges of its range', () => {
  const cases = DTYPES.flatMap((dtype) => ([1, 0] as const).map((axis) => [dtype, axis] as const));

  test.each(cases)('Exp(x+y) through the interpreter (%s, axis %i)', async (dtype, axis) => {
    const args = argumentsFor(dtype);
    const zero = dtype === 'float32' ? new Float32Array(1) : new Float64Array(1);
    const aliases = axis === 1 ? ['x = Vi(1)', 'y = Vj(1)'] : ['x = Vj(1)', 'y = Vi(1)'];
    const g = new Genred('Exp(x+y)', aliases, { reduction: 'Sum', axis });
    const got = asTensor(await g.run([args, zero])).data;
    expect(got.length).toBe(args.length);
    expect(misses(args, got, dtype)).toEqual([]);
  });

  test.each(cases)('the fused Gaussian loop with g = ±1 (%s, axis %i)', async (dtype, axis) => {
    // phi = exp(-g·x²) with y = 0 and b = 1: the engine's s is x² rounded to the dtype.
    const raw = argumentsFor(dtype);
    const sign = Array.from(raw, (v) => (v < 0 ? 1 : -1));
    const x = dtype === 'float32' ? Float32Array.from(raw, (v) => math.sqrt(math.abs(v))) : Float64Array.from(raw, (v) => math.sqrt(math.abs(v)));
    const sq = dtype === 'float32' ? Float32Array.from(x, (v) => v * v) : Float64Array.from(x, (v) => v * v);
    const zero = dtype === 'float32' ? new Float32Array(1) : new Float64Array(1);
    const one = dtype === 'float32' ? Float32Array.of(1) : Float64Array.of(1);
    const aliases = axis === 1 ? ['x = Vi(1)', 'y = Vj(1)', 'b = Vj(1)', 'g = Pm(1)'] : ['x = Vj(1)', 'y = Vi(1)', 'b = Vi(1)', 'g = Pm(1)'];
    const g = new Genred('Exp(-g*SqDist(x,y))*b', aliases, { reduction: 'Sum', axis });
    expect(Array.from(g.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel.gaussian]);
    for (const s of [1, -1]) {
      const rows = sign.flatMap((v, k) => (v === s ? [k] : []));
      const xs = dtype === 'float32' ? Float32Array.from(rows, (k) => x[k]) : Float64Array.from(rows, (k) => x[k]);
      const got = asTensor(await g.run([xs, zero, one, s])).data;
      // The engine's t: the factor g·log2(e) rounded to the dtype, times s, rounded.
      const round = dtype === 'float32' ? math.fround : (v: number) => v;
      const factor = round(s * math.LOG2E);
      const t = rows.map((k) => (Number.isNaN(x[k]) ? NaN : round(factor * sq[k])));
      expect(misses(t, got, dtype, (v) => 2 ** -v, '2^-')).toEqual([]);
    }
  });
  test.each(cases)('the fused Gaussian at the edges of its scale (%s, axis %i)', async (dtype, axis) => {
    // exp(-g·x²) with y = 0, b = 1, for x = 0 (the diagonal) and x = 1, against what
    // the interpreter's Exp(-g*SqDist) gives there: 0·g = 0 for a finite g, however large
    // (the fused loop holds g·log2(e) finite), and NaN for an infinite or NaN one.
    const huge = dtype === 'float32' ? 3e38 : 1.7e308;
    const expected: [number, number, number][] = [
      [0, 0, 1], [0, 1, 1], [huge, 0, 1], [huge, 1, 0], [-huge, 0, 1], [-huge, 1, Infinity],
      [Infinity, 0, NaN], [Infinity, 1, 0], [-Infinity, 1, Infinity], [NaN, 0, NaN], [NaN, 1, NaN],
    ];
    const make = (v: number[]) => (dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v));
    const aliases = axis === 1 ? ['x = Vi(1)', 'y = Vj(1)', 'b = Vj(1)', 'g = Pm(1)'] : ['x = Vj(1)', 'y = Vi(1)', 'b = Vi(1)', 'g = Pm(1)'];
    const fused = new Genred('Exp(-g*SqDist(x,y))*b', aliases, { reduction: 'Sum', axis });
    const generic = new Genred('Exp(-g*SqDist(x,y)+Zero(1))*b', aliases, { reduction: 'Sum', axis });
    expect(Array.from(fused.compiled.lowered.kernel.slice(0, 1))).toEqual([Kernel.gaussian]);
    expect(generic.compiled.lowered.kernel.length).toBe(0);
    for (const [gv, xv, want] of expected) {
      for (const reduction of [fused, generic]) {
        const got = asTensor(await reduction.run([make([xv]), make([0]), make([1]), gv])).data[0];
        expect({ g: gv, x: xv, got }).toEqual({ g: gv, x: xv, got: want });
      }
    }
  });
});

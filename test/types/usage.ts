/**
 * Typed usage of the public API, compiled (never run) by test/types.test.ts: every line
 * states the type a caller gets, and each `@ts-expect-error` a mistake that must not
 * compile. An unused `@ts-expect-error` is itself a compile error, so each can fail.
 */
import {
  Genred, KernelSolve, LazyTensor, Pm, Tensor, ValuesAndIndices, Vi, Vj, SolveProgress, SolveResult,
} from '../../lib/index';

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function is<A, B>(_proof: Equal<A, B>): void { /* compile-time only */ }

declare const x32: Float32Array;
declare const b32: Float32Array;
declare const x64: Float64Array;
declare const b64: Float64Array;

export async function genred(): Promise<void> {
  const aliases = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
  const sum = new Genred('Exp(-g*SqDist(x,y))*b', aliases, { reduction: 'Sum', axis: 1 });
  is<typeof sum, Genred<'Sum'>>(true);
  const s32 = await sum.run([x32, x32, b32, 100]);
  is<typeof s32, Tensor<Float32Array>>(true);
  const s64 = sum.runSync([x64, x64, b64, [100]]);
  is<typeof s64, Tensor<Float64Array>>(true);
  const t64 = await sum.run([{ data: x64, shape: [x64.length / 3, 3] }, x64, b64, 100]);
  is<typeof t64, Tensor<Float64Array>>(true);

  const knn = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'ArgKMin', axis: 1, k: 8 });
  const idx = await knn.run([x32, x32]);
  is<typeof idx, Tensor<Int32Array>>(true);
  const both = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Min_ArgMin', axis: 1 });
  const vi = both.runSync([x64, x64]);
  is<typeof vi, ValuesAndIndices<Float64Array>>(true);
  is<typeof vi.indices, Tensor<Int32Array>>(true);

  const spelled = new Genred('KMin_ArgKMin_Reduction(SqDist(x,y),3,0)', ['x = Vi(3)', 'y = Vj(3)']);
  is<typeof spelled, Genred<'KMin_ArgKMin'>>(true);
  is<ReturnType<typeof spelled.runSync<[Float32Array, Float32Array]>>, ValuesAndIndices<Float32Array>>(true);
  const zero = new Genred('Zero_Reduction(3,0)', ['x = Vi(3)']);
  is<typeof zero, Genred>(true);

  // @ts-expect-error strings are not arrays of points
  await sum.run(['not', 'arrays']);
  // @ts-expect-error a reduction name that does not exist
  new Genred('x', ['x = Vi(1)'], { reduction: 'Summ', axis: 1 });
  // @ts-expect-error axis is 0 or 1
  new Genred('x', ['x = Vi(1)'], { reduction: 'Sum', axis: 2 });
  // @ts-expect-error a Sum has no indices
  void s32.indices;
}

export async function lazy(): Promise<void> {
  const K = Vi(x32, 3).sqdist(Vj(x32, 3)).mul(-100).exp();
  is<typeof K, LazyTensor<Float32Array>>(true);
  const g = Pm(100);
  is<typeof g, LazyTensor>(true);
  const K2 = g.mul(Vi(x64, 3).sqdist(Vj(x64, 3))).neg().exp();
  is<typeof K2, LazyTensor<Float64Array>>(true);
  const kb = await K.mul(Vj(b32, 1)).sum(1);
  is<typeof kb, Tensor<Float32Array>>(true);
  is<ReturnType<typeof K.argkminSync>, Tensor<Int32Array>>(true);
  is<ReturnType<typeof K2.minArgminSync>, ValuesAndIndices<Float64Array>>(true);
  const mv = K.matvecSync(b32);
  is<typeof mv, Tensor<Float32Array>>(true);
  const lse = await K.logsumexp(1, { weight: Vj(b32, 1) });
  is<typeof lse, Tensor<Float32Array>>(true);
  const z = Vi(x32, 4).complexMul(Vj(x32, 4)).real();
  is<typeof z, LazyTensor<Float32Array>>(true);
  const held = Vi(0, 3).sqdist(Vj(1, 3)).genred({ reduction: 'ArgKMin', axis: 1, k: 4 });
  is<typeof held, Genred<'ArgKMin'>>(true);
  is<Awaited<ReturnType<typeof held.run<[Float64Array, Float64Array]>>>, Tensor<Int32Array>>(true);
  // @ts-expect-error a weight is a LazyTensor, not an array
  void K.logsumexpSync(1, { weight: b32 });
  const r = await K.solve(b32, { alpha: 0.8 });
  is<typeof r, SolveResult>(true);
  is<typeof r.x, Tensor<Float64Array>>(true);
  // Data made with `new` (Float64Array<ArrayBuffer> since TypeScript 5.7) takes results back.
  const K64 = Vi(new Float64Array(9), 3).sqdist(Vj(new Float64Array(9), 3)).neg().exp();
  is<typeof K64, LazyTensor<Float64Array>>(true);
  const r64 = K64.solveSync(new Float64Array(3), { alpha: 1 });
  K64.matvecSync(r64.x);
  // @ts-expect-error a float64 vector for a float32 kernel
  K.matvecSync(b64);
  // @ts-expect-error alpha is required
  await K.solve(b32, {});
}

export async function solve(): Promise<void> {
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], 'b', { axis: 1 });
  const seen: SolveProgress[] = [];
  const r = await solver.run([x32, x32, b32, 1e4], { alpha: 0.8, onProgress: (p) => seen.push(p) });
  is<typeof r.reason, 'converged' | 'maxIter' | 'stagnated'>(true);
  is<typeof r.preconditioner.kind, 'none' | 'nystrom' | 'jacobi'>(true);
  // @ts-expect-error no such preconditioner
  await solver.run([x32, x32, b32, 1e4], { alpha: 0.8, preconditioner: 'ilu' });
}

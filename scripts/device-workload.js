// A small workload for compute-sanitizer (scripts/device-check.sh): each reduction family
// on the device once per dtype, axis and odd shape, with and without a forced 2D split,
// then a KernelSolve; every answer is compared with the CPU backend's. The numerics are
// test/cuda.test.ts's job; this run is for the sanitizer's memory and race checks.
const { Genred, KernelSolve } = require('../dist');

let state = 12345;
const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
const fill = (n, Type) => Type.from({ length: n }, random);
const values = (r) => (r.values ? r.values.data : r.data);
let mismatches = 0;
function compare(got, want, tol, what) {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  if (!(worst <= tol)) {
    mismatches++;
    console.log(`mismatch: ${what}: ${worst}`);
  }
}

const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'];
const CASES = [
  ['Exp(-g*SqDist(x,y))*b', 'Sum'], ['Cos((x|y))*b', 'Sum'], ['SqDist(x,y)', 'Min_ArgMin'],
  ['SqDist(x,y)', 'KMin_ArgKMin'], ['g*(x|y)', 'LogSumExp'], ['g*(x|y)', 'SumSoftMaxWeight'], ['SqDist(x,y)', 'Max'],
];
for (const [M, N] of [[7, 5], [303, 207], [5, 4003]])
  for (const Type of [Float32Array, Float64Array])
    for (const axis of [0, 1])
      for (const [formula, reduction] of CASES) {
        const opts = { reduction, axis, ...(reduction === 'KMin_ArgKMin' ? { k: 3 } : {}), ...(reduction === 'SumSoftMaxWeight' ? { formula2: 'b' } : {}) };
        const g = new Genred(formula, ALIASES, opts);
        const args = axis === 1 ? [fill(3 * M, Type), fill(3 * N, Type), fill(N, Type), 2] : [fill(3 * N, Type), fill(3 * M, Type), fill(M, Type), 2];
        const want = values(g.runSync(args, { backend: 'cpu' }));
        for (const splits of [undefined, '3']) {
          if (splits) process.env.LAZYKERNEL_CUDA_SPLITS = splits;
          else delete process.env.LAZYKERNEL_CUDA_SPLITS;
          const tol = Type === Float32Array ? 1e-4 : 1e-10;
          compare(values(g.runSync(args, { backend: 'cuda' })), want, tol, `${formula} ${reduction} ${M}×${N} axis ${axis} ${Type.name} splits ${splits ?? 'planned'}`);
        }
      }
delete process.env.LAZYKERNEL_CUDA_SPLITS;

(async () => {
  const n = 1003;
  const x = fill(3 * n, Float32Array);
  const b = fill(n, Float32Array);
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
  const onDevice = await solver.run([x, x, b, 100], { backend: 'cuda', alpha: 0.8 });
  const onCpu = await solver.run([x, x, b, 100], { backend: 'cpu', alpha: 0.8 });
  console.log(`solve: ${onDevice.iterations} iterations on the device (CPU ${onCpu.iterations}), residual ${onDevice.residual}`);
  compare(onDevice.x.data, onCpu.x.data, 1e-4, 'KernelSolve');
  console.log(mismatches ? `device workload: ${mismatches} mismatches` : 'device workload: every answer matches the CPU');
  process.exitCode = mismatches ? 1 : 0;
})();

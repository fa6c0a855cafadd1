// Checks an installed lazykernel: info() and a small Gaussian sum against a float64 loop.
// scripts/smoke.cjs passes it the package as CommonJS requires it, scripts/smoke.mjs as an
// ES module imports it (named imports), so both entry points are tested.
'use strict';
module.exports = function check(lk, how) {
const i = lk.info();
if (typeof i.version !== 'string' || !(i.cpu.threads >= 1)) throw new Error('info() is wrong: ' + JSON.stringify(i));
const M = 37, N = 53, g = 2.5;
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const x = Float64Array.from({ length: 3 * M }, rand);
const y = Float64Array.from({ length: 3 * N }, rand);
const b = Float64Array.from({ length: N }, rand);
const op = new lk.Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
const out = op.runSync([x, y, b, [g]]);
let worst = 0;
for (let r = 0; r < M; r++) {
  let s = 0;
  for (let c = 0; c < N; c++) {
    let d = 0;
    for (let k = 0; k < 3; k++) d += (x[3 * r + k] - y[3 * c + k]) ** 2;
    s += Math.exp(-g * d) * b[c];
  }
  worst = Math.max(worst, Math.abs(out.data[r] - s) / Math.abs(s));
}
if (!(worst < 1e-12)) throw new Error(`Gaussian sum off by ${worst}`);
console.log(`smoke (${how}): lazykernel ${i.version}, ${i.binary.kind} binary (${i.cpu.simd}, ${i.cpu.threads} threads) computes; cuda: ${i.cuda.available ? i.cuda.devices + ' device(s)' : i.cuda.reason}`);
};

// Checks an installed lazykernel on a platform the test suite does not run on (the
// Debian 11 root, arm64 under qemu): every reduction on both axes and in both dtypes, the
// pruned sum and k-nearest paths, and a small KernelSolve with each preconditioner,
// against float64 brute force written here. Plain Node, no test runner: under emulation
// jest alone would take minutes. scripts/pack-smoke.sh copies it into an installed project.
//   node platform-smoke.cjs            (LAZYKERNEL_SIMD=base|avx2 picks a lower x86-64 level)
'use strict';
const lk = require('lazykernel');

let seed = 12345;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const fill = (n, f = rand) => Float64Array.from({ length: n }, f);
let checks = 0;
function fail(what, detail) { throw new Error(`platform-smoke: ${what}: ${detail}`); }

// F(x_i, y_j) = ‖x_i − y_j‖² + c_j: distinct enough that float32 keeps every order.
const D = 3;
function pairValues(x, y, c, m, n) {
  const F = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < D; k++) s += (x[D * i + k] - y[D * j + k]) ** 2;
    F[i * n + j] = s + c[j];
  }
  return F;
}
// Reference reductions of F (m × n, row-major) over axis 1, or over axis 0 through the transpose.
function reference(name, F, m, n, w, k) {
  const rows = [];
  for (let i = 0; i < m; i++) {
    const v = Array.from(F.subarray(i * n, (i + 1) * n));
    const order = v.map((_, j) => j).sort((a, b) => v[a] - v[b] || a - b);
    const mx = Math.max(...v);
    switch (name) {
      case 'Sum': rows.push([v.reduce((s, t) => s + t, 0)]); break;
      case 'Min': case 'ArgMin': case 'Min_ArgMin': rows.push([v[order[0]]]); break;
      case 'Max': case 'ArgMax': case 'Max_ArgMax': rows.push([mx]); break;
      case 'KMin': case 'ArgKMin': case 'KMin_ArgKMin': rows.push(order.slice(0, k).map((j) => v[j])); break;
      case 'LogSumExp': rows.push([mx + Math.log(v.reduce((s, t) => s + Math.exp(t - mx), 0))]); break;
      case 'SumSoftMaxWeight': {
        let num = 0, den = 0;
        v.forEach((t, j) => { const e = Math.exp(t - mx); num += e * w[j]; den += e; });
        rows.push([num / den]);
        break;
      }
      default: fail(name, 'no reference');
    }
  }
  return rows;
}
const transpose = (F, m, n) => { const T = new Float64Array(m * n); for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = F[i * n + j]; return T; };

function checkReductions(dtype) {
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const tol = dtype === 'float32' ? 1e-4 : 1e-11;
  const M = 37, N = 53, k = 3; // not multiples of any tile
  const x = Arr.from(fill(D * M)), y = Arr.from(fill(D * N)), c = Arr.from(fill(N)), w = Arr.from(fill(N));
  const xm = Arr.from(fill(M));
  const decls = ['x = Vi(3)', 'y = Vj(3)', 'c = Vj(1)', 'w = Vj(1)'];
  const F = pairValues(Float64Array.from(x), Float64Array.from(y), Float64Array.from(c), M, N);
  const names = ['Sum', 'Min', 'Max', 'ArgMin', 'ArgMax', 'Min_ArgMin', 'Max_ArgMax', 'KMin', 'ArgKMin', 'KMin_ArgKMin', 'LogSumExp', 'SumSoftMaxWeight'];
  for (const axis of [0, 1]) {
    // Over axis 0 the weights live on i: w is replaced by an i-variable.
    const formula2 = axis === 1 ? 'w' : 'u';
    const declsAxis = axis === 1 ? decls : [...decls, 'u = Vi(1)'];
    const [Fr, rows, cols] = axis === 1 ? [F, M, N] : [transpose(F, M, N), N, M];
    const weights = axis === 1 ? Float64Array.from(w) : Float64Array.from(xm);
    for (const name of names) {
      const opts = { reduction: name, axis, ...(name.includes('KMin') ? { k } : {}), ...(name === 'SumSoftMaxWeight' ? { formula2 } : {}) };
      const op = new lk.Genred('SqDist(x,y) + c', declsAxis, opts);
      const args = axis === 1 ? [x, y, c, w] : [x, y, c, w, xm];
      const out = op.runSync(args);
      const want = reference(name, Fr, rows, cols, weights, k);
      const values = out.values ? out.values.data : name.startsWith('Arg') ? null : out.data;
      const indices = out.indices ? out.indices.data : name.startsWith('Arg') ? out.data : null;
      for (let r = 0; r < rows; r++) {
        const width = want[r].length;
        for (let t = 0; t < width; t++) {
          const ref = want[r][t];
          if (values) {
            const got = values[r * width + t];
            if (!(Math.abs(got - ref) <= tol * (1 + Math.abs(ref)))) fail(`${name} axis ${axis} ${dtype}`, `row ${r}: ${got} against ${ref}`);
          }
          if (indices) {
            // An index must give the reference value (float32 may resolve a near tie otherwise).
            const j = indices[r * width + t];
            if (!(j >= 0 && j < cols) || !(Math.abs(Fr[r * cols + j] - ref) <= tol * (1 + Math.abs(ref)))) fail(`${name} axis ${axis} ${dtype}`, `row ${r}: index ${j}`);
          }
        }
      }
      checks++;
    }
  }
}

// The clustered paths: a narrow Gaussian sum and 4 nearest neighbours on 3003 points.
function checkPruned() {
  const n = 3003, g = 400;
  const p = fill(D * n), b = fill(n);
  const K = new lk.Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
  const sum = K.runSync([p, p, b, [g]], { prune: true }).data;
  const knn = new lk.Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'ArgKMin', axis: 1, k: 4 }).runSync([p, p], { prune: true }).data;
  for (let i = 0; i < n; i++) {
    let s = 0, sAbs = 0;
    const d = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      for (let t = 0; t < D; t++) d[j] += (p[D * i + t] - p[D * j + t]) ** 2;
      const term = Math.exp(-g * d[j]) * b[j];
      s += term; sAbs += Math.abs(term);
    }
    if (!(Math.abs(sum[i] - s) <= 1e-6 * sAbs)) fail('pruned Gaussian sum', `row ${i}: ${sum[i]} against ${s}`);
    const order = Array.from(d.keys()).sort((a, c) => d[a] - d[c] || a - c).slice(0, 4);
    for (let t = 0; t < 4; t++) if (knn[4 * i + t] !== order[t]) fail('pruned 4 nearest', `row ${i}: ${Array.from(knn.subarray(4 * i, 4 * i + 4))} against ${order}`);
  }
  checks += 2;
}

// (αI + K) a = b for a Gaussian kernel, each preconditioner; the residual is recomputed here.
async function checkSolve(dtype) {
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const n = 503, g = 50, alpha = 0.1;
  const p = Arr.from(fill(D * n)), b = Arr.from(fill(n, () => rand() - 0.5));
  const solver = new lk.KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
  for (const preconditioner of ['none', 'jacobi', 'nystrom', 'auto']) {
    const r = await solver.run([p, p, b, [g]], { alpha, tol: 1e-6, preconditioner });
    const a = r.x.data;
    let res = 0, nb = 0;
    for (let i = 0; i < n; i++) {
      let s = alpha * a[i];
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let t = 0; t < D; t++) d += (p[D * i + t] - p[D * j + t]) ** 2;
        s += Math.exp(-g * d) * a[j];
      }
      res += (s - b[i]) ** 2; nb += b[i] ** 2;
    }
    const rel = Math.sqrt(res / nb);
    if (!r.converged || !(rel <= 2e-6)) fail(`KernelSolve ${preconditioner} ${dtype}`, `converged ${r.converged}, residual ${rel}`);
    checks++;
  }
}

(async () => {
  const i = lk.info();
  // The installed package's own binary, not a build lying around.
  if (i.binary.kind !== 'prebuilt') fail('binary', `${i.binary.kind} ${i.binary.file}`);
  for (const dtype of ['float64', 'float32']) checkReductions(dtype);
  checkPruned();
  for (const dtype of ['float64', 'float32']) await checkSolve(dtype);
  if (checks !== 58) fail('count', `${checks} checks ran, 58 expected`);
  console.log(`platform-smoke: ${process.platform}-${process.arch}, glibc ${process.report.getReport().header.glibcVersionRuntime}, ` +
    `Node ${process.version}, ${i.binary.kind} ${require('path').basename(i.binary.file)} (${i.cpu.simd}): ${checks} checks passed`);
})().catch((err) => { console.error(err); process.exit(1); });

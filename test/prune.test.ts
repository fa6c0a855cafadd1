/**
 * Block-sparse pruning of the fused radial kernels (issue 8; native/cpu/cluster.h says
 * what is dropped): the default-pruned Sum, `prune: false` and a float64 brute force
 * written here, on uniform, clustered and degenerate data, both axes, float32 and
 * float64, all six recognised kernels, several tolerances, inside KernelSolve, and with
 * NaN in the data.
 *
 * The guarantee under test (lib/run.ts, cluster.h): for every output row i and column c
 * of b,
 *
 *     |pruned_ic − exact_ic|  ≤  tol · Σ_j |K_ij b_jc|  +  R_ic  +  Z
 *
 * with tol = pruneTolerance (default: the unit roundoff u, 2^-24 for float32 and 2^-53
 * for float64). exact and Σ|K b| are float64 brute-force sums over the very values the
 * engine sees (float32-representable data). R_ic is the float rounding of the engine's
 * own computation, stated per term:
 *
 *     R_ic = u · Σ_j |K_ij b_jc| · ((D + 3)·σ_ij + 32)
 *
 * where σ_ij is the kernel's sensitivity to rounding of s = scale·|x_i − y_j|² (s for
 * the Gaussian, √s for the others: the squared distance carries (D + 3)·u relative
 * error into s, which exp(−s) or exp(−√s) turn into s or √s times that), and 32·u covers
 * exp's ulp, the product by b and the summation of a tile in float32 (random rounding
 * errors grow like √len). Z = N·max|b|·2.5e-38 (float32) or 2.5e-308 (float64) is the
 * flush to zero of exp below the smallest normal number (native/maths/exp.h).
 * `prune: false` must meet the same bound with tol = 0.
 */
import * as util from 'util';
import { Genred, KernelSolve, OptionError, info, setNumThreads } from '../lib';
import type { RunOptions, SolveResult } from '../lib';
import { asTensor, caught, dual, Dual, DType, DTYPES, lazily, pick, Rng, sqdistRows, uniform } from './helpers/reference';
import { FLUSH, FORMULA, KernelName, KERNELS, phi, U } from './helpers/radial';
import type { Arg } from '../lib/tensor';

// Module bindings: global lookups are slow inside jest's sandbox (see reference.ts).
const { abs: mAbs, exp: mExp, sqrt: mSqrt, max: mMax } = Math;
const { isNaN: numIsNaN, isFinite: numIsFinite } = Number;

// ---------------------------------------------------------------------------------------
// Kernels: the recognised spellings (helpers/radial.ts) and their float64 profiles
// ---------------------------------------------------------------------------------------

/** σ(s): the relative sensitivity of phi to a relative change of s, bounded above. */
function sensitivity(kernel: KernelName, s: number): number {
  return kernel === 'gaussian' ? mAbs(s) : mSqrt(mAbs(s));
}

/**
 * Scales at which each kernel decays enough on [0,1]^3 with ~1000 points for pruning to
 * drop something (Cauchy and IMQ decay only polynomially: huge scales).
 */
const LARGE_SCALE: Record<KernelName, number> = {
  gaussian: 1e3, laplace: 1e4, cauchy: 1e6, imq: 1e8, matern32: 1e4, matern52: 1e4,
};

// ---------------------------------------------------------------------------------------
// Problems and the float64 brute force
// ---------------------------------------------------------------------------------------

/**
 * out_r = Σ_t phi(g·|x_r − y_t|²) · b_t: x are the output points (M × D), y the reduced
 * points (N × D), b is N × dv. axis 1 passes x as Vi and y, b as Vj; axis 0 swaps the
 * roles (x as Vj, y and b as Vi), which gives the same sums.
 */
interface Problem {
  kernel: KernelName;
  g: number;
  D: number;
  dv: number;
  M: number;
  N: number;
  x: Dual;
  y: Dual;
  b: Dual;
  axis: 0 | 1;
}

/** The float64 reference of a problem, M × dv each. */
interface Reference {
  exact: Float64Array;
  /** Σ_t |K_rt b_tc|. */
  abs: Float64Array;
  /** Σ_t |K_rt b_tc|·((D + 3)·σ_rt + 32): R_rc / u. */
  round: Float64Array;
  /** N·max|b|: Z / FLUSH. */
  flush: number;
}

function reference(p: Problem): Reference {
  const { kernel, g, D, dv, M, N } = p;
  const x = p.x.f64;
  const y = p.y.f64;
  const b = p.b.f64;
  const exact = new Float64Array(M * dv);
  const absS = new Float64Array(M * dv);
  const round = new Float64Array(M * dv);
  const kappa = D + 3;
  for (let r = 0; r < M; r++) {
    for (let t = 0; t < N; t++) {
      const s = g * sqdistRows(x, r, y, t, D);
      const K = phi(kernel, s);
      const w = kappa * sensitivity(kernel, s) + 32;
      for (let c = 0; c < dv; c++) {
        const term = K * b[t * dv + c];
        exact[r * dv + c] += term;
        const a = mAbs(term);
        absS[r * dv + c] += a;
        round[r * dv + c] += a * w;
      }
    }
  }
  let bmax = 0;
  for (let k = 0; k < b.length; k++) if (numIsFinite(b[k])) bmax = mMax(bmax, mAbs(b[k]));
  return { exact, abs: absS, round, flush: N * bmax };
}

const operators = new Map<string, Genred>();

function operator(kernel: KernelName, D: number, dv: number, axis: 0 | 1, formula = FORMULA[kernel]): Genred {
  const key = `${formula}|${D}|${dv}|${axis}`;
  let op = operators.get(key);
  if (op === undefined) {
    const aliases = axis === 1
      ? [`x = Vi(${D})`, `y = Vj(${D})`, `b = Vj(${dv})`, 'g = Pm(1)']
      : [`x = Vj(${D})`, `y = Vi(${D})`, `b = Vi(${dv})`, 'g = Pm(1)'];
    op = new Genred(formula, aliases, { reduction: 'Sum', axis });
    operators.set(key, op);
  }
  return op;
}

function args(p: Problem, dtype: DType): Arg[] {
  return [pick(p.x, dtype), pick(p.y, dtype), pick(p.b, dtype), p.g];
}

/** Runs the problem's Sum and checks the result's type and shape. */
// prune: true unless a test says otherwise: these sizes are below the 2^24 pairs from
// which the engine prunes of its own accord.
function runSync(p: Problem, dtype: DType, opts: RunOptions = {}, formula?: string): Float32Array | Float64Array {
  const t = asTensor(operator(p.kernel, p.D, p.dv, p.axis, formula).runSync(args(p, dtype), { prune: true, ...opts }));
  expect(t.shape).toEqual([p.M, p.dv]);
  const ok = dtype === 'float32' ? util.types.isFloat32Array(t.data) : util.types.isFloat64Array(t.data);
  if (!ok) throw new Error(`expected ${dtype} output`);
  return t.data as Float32Array | Float64Array;
}

function fmt(v: number): string {
  return numIsFinite(v) ? v.toPrecision(10) : String(v);
}

/**
 * Every entry: NaN where the reference is NaN (and nowhere else), and otherwise
 * |got − exact| ≤ tol·Σ|K b| + R + Z (the file's header). `skip(k)` leaves entries out.
 */
function expectBound(
  got: ArrayLike<number>, ref: Reference, tol: number, dtype: DType, dv: number, label: string,
  skip?: (k: number) => boolean,
): void {
  const u = U[dtype];
  const z = ref.flush * FLUSH[dtype];
  let worst = -1;
  let worstRatio = 0;
  for (let k = 0; k < ref.exact.length; k++) {
    if (skip?.(k)) continue;
    const e = ref.exact[k];
    const a = got[k];
    if (numIsNaN(e) || numIsNaN(a)) {
      if (numIsNaN(e) !== numIsNaN(a)) {
        throw new Error(`${label}: row ${Math.floor(k / dv)}, column ${k % dv}: got ${fmt(a)}, expected ${fmt(e)}`);
      }
      continue;
    }
    const allowed = tol * ref.abs[k] + u * ref.round[k] + z;
    const err = mAbs(a - e);
    const ratio = allowed > 0 ? err / allowed : (err > 0 ? Infinity : 0);
    if (!(ratio <= worstRatio)) {
      worstRatio = ratio;
      worst = k;
    }
  }
  if (worstRatio > 1) {
    const k = worst;
    throw new Error(
      `${label}: row ${Math.floor(k / dv)}, column ${k % dv}: got ${fmt(got[k])}, exact ${fmt(ref.exact[k])}, ` +
        `|error| ${mAbs(got[k] - ref.exact[k]).toExponential(3)} > allowed ${(tol * ref.abs[k] + u * ref.round[k] + z).toExponential(3)} ` +
        `(tol ${tol} × Σ|Kb| ${ref.abs[k].toExponential(3)} + rounding ${(u * ref.round[k]).toExponential(3)} + flush ${z.toExponential(1)})`,
    );
  }
}

/**
 * Two computations of the same terms in different orders: |a − b| ≤ tol·Σ|K b| +
 * 2·32·u·Σ|K b| + 2Z (dropped terms, plus the summation rounding of each).
 */
function expectCloseToFull(
  pruned: ArrayLike<number>, full: ArrayLike<number>, ref: Reference, tol: number, dtype: DType, dv: number, label: string,
): void {
  const u = U[dtype];
  const z = ref.flush * FLUSH[dtype];
  for (let k = 0; k < ref.exact.length; k++) {
    const a = pruned[k];
    const f = full[k];
    if (numIsNaN(a) || numIsNaN(f)) {
      if (numIsNaN(a) !== numIsNaN(f)) throw new Error(`${label}: row ${Math.floor(k / dv)}, column ${k % dv}: pruned ${fmt(a)}, prune:false ${fmt(f)}`);
      continue;
    }
    const allowed = (tol + 64 * u) * ref.abs[k] + 2 * z;
    if (!(mAbs(a - f) <= allowed)) {
      throw new Error(
        `${label}: row ${Math.floor(k / dv)}, column ${k % dv}: pruned ${fmt(a)}, prune:false ${fmt(f)}, ` +
          `|difference| ${mAbs(a - f).toExponential(3)} > ${allowed.toExponential(3)} (Σ|Kb| ${ref.abs[k].toExponential(3)})`,
      );
    }
  }
}

/** How many entries of the pruned result differ from prune:false by more than both computations' rounding (2R + 2Z). */
function countBeyondRounding(pruned: ArrayLike<number>, full: ArrayLike<number>, ref: Reference, dtype: DType): number {
  const u = U[dtype];
  const z = ref.flush * FLUSH[dtype];
  let n = 0;
  for (let k = 0; k < ref.exact.length; k++) if (mAbs(pruned[k] - full[k]) > 2 * u * ref.round[k] + 2 * z) n++;
  return n;
}

// ---------------------------------------------------------------------------------------
// Data (seeded; every array float32-representable, so one reference serves both dtypes)
// ---------------------------------------------------------------------------------------

function points(rng: Rng, n: number, D: number, lo = 0, hi = 1): Float64Array {
  return uniform(rng, n * D, lo, hi);
}

/** b with mixed signs, uniform in [−1, 1). */
function weights(rng: Rng, n: number, dv: number): Dual {
  return dual(uniform(rng, n * dv, -1, 1));
}

/** n points in `centres.length` tight blobs (sd `sd`), assigned round-robin. */
function blobs(rng: Rng, n: number, D: number, centres: number[][], sd: number): Float64Array {
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const c = centres[i % centres.length];
    for (let k = 0; k < D; k++) out[i * D + k] = c[k] + sd * rng.normal();
  }
  return out;
}

/** The 2^D corners of a cube of side `side`, first `count` of them. */
function corners(D: number, side: number, count: number): number[][] {
  const out: number[][] = [];
  for (let m = 0; m < count; m++) out.push(Array.from({ length: D }, (_, k) => ((m >> k) & 1) * side));
  return out;
}

/** n points t·dir + origin, t uniform in [0, 1). */
function line(rng: Rng, n: number, dir: number[], origin: number[]): Float64Array {
  const D = dir.length;
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const t = rng.next();
    for (let k = 0; k < D; k++) out[i * D + k] = origin[k] + t * dir[k];
  }
  return out;
}

function constantPoints(n: number, p: number[]): Float64Array {
  const D = p.length;
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) for (let k = 0; k < D; k++) out[i * D + k] = p[k];
  return out;
}

interface Spec {
  name: string;
  make: () => Problem;
}

function problem(
  kernel: KernelName, g: number, D: number, dv: number, x: Float64Array, y: Float64Array, b: Dual, axis: 0 | 1 = 1,
): Problem {
  return { kernel, g, D, dv, M: x.length / D, N: y.length / D, x: dual(x), y: dual(y), b, axis };
}

/** Uniform points in [0,1]^D, x ≠ y unless `same`. */
function uniformProblem(
  seed: number, kernel: KernelName, g: number, D: number, dv: number, M: number, N: number, axis: 0 | 1 = 1, same = false,
): Problem {
  const rng = new Rng(seed);
  const y = points(rng, N, D);
  const x = same ? y : points(rng, M, D);
  return problem(kernel, g, D, dv, x, y, weights(rng, N, dv), axis);
}

const NARROW = 1 / 0.01 ** 2; // γ = 1e4, the seed's kernel

const SPECS: Spec[] = [
  // Uniform data.
  { name: 'uniform [0,1]^3, Gaussian γ = 1/0.01², x = y, 1003 points, b of dim 1', make: () => uniformProblem(11, 'gaussian', NARROW, 3, 1, 1003, 1003, 1, true) },
  { name: 'uniform [0,1]^3, Gaussian γ = 1/0.01², x ≠ y, 1003 × 517, b of dim 3', make: () => uniformProblem(12, 'gaussian', NARROW, 3, 3, 1003, 517) },
  { name: 'uniform [0,1]^3, Gaussian γ = 1e3, 517 × 1003, b of dim 1', make: () => uniformProblem(13, 'gaussian', 1e3, 3, 1, 517, 1003) },
  { name: 'uniform [0,1]^3, Gaussian γ = 1e3, x = y, 1003 points, b of dim 3', make: () => uniformProblem(14, 'gaussian', 1e3, 3, 3, 1003, 1003, 1, true) },
  // x = y and b of dim 1 go through a half plan (each pair once for both rows), then
  // rings for the blocks whose bound needs more: other kernels and dimensions.
  { name: 'uniform [0,1]^2, Matérn 5/2 scale 1e4, x = y, 2003 points, b of dim 1', make: () => uniformProblem(18, 'matern52', 1e4, 2, 1, 2003, 2003, 1, true) },
  { name: 'uniform [0,1], Laplace γ = 1e5, x = y, 1003 points, b of dim 1', make: () => uniformProblem(19, 'laplace', 1e5, 1, 1, 1003, 1003, 1, true) },
  { name: 'uniform [0,1]^3, Cauchy scale 1e6, x = y, 7 points, b of dim 1', make: () => uniformProblem(20, 'cauchy', 1e6, 3, 1, 7, 7, 1, true) },
  // Axis 0: the same sums with the roles of i and j swapped.
  { name: 'axis 0: uniform [0,1]^3, Gaussian γ = 1/0.01², 1003 outputs × 517 summed, b of dim 3', make: () => uniformProblem(15, 'gaussian', NARROW, 3, 3, 1003, 517, 0) },
  { name: 'axis 0: uniform [0,1]^3, Gaussian γ = 1e3, x = y, 1003 points, b of dim 1', make: () => uniformProblem(16, 'gaussian', 1e3, 3, 1, 1003, 1003, 0, true) },
  { name: 'axis 0: uniform [0,1]^2, Laplace γ = 1e4, 517 outputs × 1003 summed, b of dim 1', make: () => uniformProblem(17, 'laplace', 1e4, 2, 1, 517, 1003, 0) },
  // Clustered data: tight blobs far apart, so whole blobs are pruned against each other.
  {
    name: 'clustered: 8 tight blobs (sd 0.01) at the corners of a cube of side 10, Gaussian γ = 1e3, x = y, b of dim 3',
    make: () => {
      const rng = new Rng(21);
      const x = blobs(rng, 1003, 3, corners(3, 10, 8), 0.01);
      return problem('gaussian', 1e3, 3, 3, x, x, weights(rng, 1003, 3));
    },
  },
  {
    name: 'clustered: 8 blobs (sd 0.02) on a line 1 apart, Gaussian γ = 20: neighbouring blobs weigh ~e^-20 (to keep in float64), the others ≤ e^-80 (to prune), b of dim 1',
    make: () => {
      const rng = new Rng(24);
      const centres = Array.from({ length: 8 }, (_, m) => [m, 0, 0]);
      const x = blobs(rng, 1003, 3, centres, 0.02);
      const y = blobs(rng, 1003, 3, centres, 0.02);
      return problem('gaussian', 20, 3, 1, x, y, weights(rng, 1003, 1));
    },
  },
  {
    name: 'clustered: 3 blobs of rows and 3 interleaved blobs of columns, Gaussian γ = 1, b of dim 1',
    make: () => {
      const rng = new Rng(22);
      const x = blobs(rng, 517, 3, [[0, 0, 0], [20, 0, 0], [0, 20, 0]], 0.05);
      const y = blobs(rng, 1003, 3, [[0, 0, 0.5], [20, 0, 0.5], [40, 40, 40]], 0.05);
      return problem('gaussian', 1, 3, 1, x, y, weights(rng, 1003, 1));
    },
  },
  {
    name: 'axis 0: clustered: 6 blobs in D = 5, Matérn 5/2 γ = 1e4, b of dim 3',
    make: () => {
      const rng = new Rng(23);
      const x = blobs(rng, 700, 5, corners(5, 5, 6), 0.02);
      const y = blobs(rng, 1003, 5, corners(5, 5, 6), 0.02);
      return problem('matern52', 1e4, 5, 3, x, y, weights(rng, 1003, 3), 0);
    },
  },
  // Degenerate data.
  {
    name: 'degenerate: all points equal (x = y, one point), Gaussian γ = 1/0.01², b of dim 3',
    make: () => {
      const rng = new Rng(31);
      const x = constantPoints(517, [0.25, 0.5, 0.75]);
      return problem('gaussian', NARROW, 3, 3, x, x, weights(rng, 517, 3));
    },
  },
  {
    name: 'degenerate: all rows at one point and all columns at another (γ·d² = 5), Gaussian, b of dim 1',
    make: () => {
      const rng = new Rng(32);
      const x = constantPoints(200, [0, 0, 0]);
      const y = constantPoints(300, [0.01, 0.02, 0]);
      return problem('gaussian', 1e4, 3, 1, x, y, weights(rng, 300, 1));
    },
  },
  {
    name: 'degenerate: points on the diagonal line of the unit cube, Gaussian γ = 1/0.01², x = y, b of dim 1',
    make: () => {
      const rng = new Rng(33);
      const x = line(rng, 1003, [1, 1, 1], [0, 0, 0]);
      return problem('gaussian', NARROW, 3, 1, x, x, weights(rng, 1003, 1));
    },
  },
  {
    name: 'degenerate: rows and columns on one axis-parallel line in D = 2, Laplace γ = 1e5, b of dim 3',
    make: () => {
      const rng = new Rng(34);
      const x = line(rng, 1003, [1, 0], [0, 0.5]);
      const y = line(rng, 517, [1, 0], [0, 0.5]);
      return problem('laplace', 1e5, 2, 3, x, y, weights(rng, 517, 3));
    },
  },
  {
    name: 'degenerate: one far outlier (100,100,100) among uniform rows, Gaussian γ = 1/0.01², b of dim 1',
    make: () => {
      const rng = new Rng(35);
      const y = points(rng, 1003, 3);
      const x = points(rng, 1003, 3);
      x.set([100, 100, 100], 3 * 500);
      return problem('gaussian', NARROW, 3, 1, x, y, weights(rng, 1003, 1));
    },
  },
  {
    name: 'degenerate: one far outlier (100,100,100) among uniform columns, Gaussian γ = 1/0.01², b of dim 3',
    make: () => {
      const rng = new Rng(36);
      const y = points(rng, 1003, 3);
      const x = points(rng, 1003, 3);
      y.set([100, 100, 100], 3 * 77);
      return problem('gaussian', NARROW, 3, 3, x, y, weights(rng, 1003, 3));
    },
  },
  {
    name: 'degenerate: one row outlier at (1.5, 0.5, 0.5), Gaussian γ = 1e2: its row sums only terms ≤ e^-25 and must still be relatively exact, b of dim 3',
    make: () => {
      const rng = new Rng(39);
      const y = points(rng, 1003, 3);
      const x = points(rng, 1003, 3);
      x.set([1.5, 0.5, 0.5], 3 * 400);
      return problem('gaussian', 1e2, 3, 3, x, y, weights(rng, 1003, 3));
    },
  },
  {
    name: 'degenerate: one heavy column outlier (b = 1e4) at (1.5, 0.5, 0.5), Gaussian γ = 1e2: its terms (~1e-7) in the rows near the face x = 1 must be kept',
    make: () => {
      const rng = new Rng(37);
      const y = points(rng, 1003, 3);
      const x = points(rng, 1003, 3);
      y.set([1.5, 0.5, 0.5], 3 * 900);
      const b = uniform(rng, 1003, -1, 1);
      b[900] = 1e4;
      return problem('gaussian', 1e2, 3, 1, x, y, dual(b));
    },
  },
  {
    // Strips (native/cpu/strips.h): rows whose own neighbourhood has b = 0 set no budget
    // to drop against, so their blocks keep growing the radius, up to every column.
    name: 'b = 0 for the points with x_0 < 0.5, Gaussian γ = 1e3, x = y, 1003 points, b of dim 2',
    make: () => {
      const rng = new Rng(39);
      const y = points(rng, 1003, 3);
      const b = uniform(rng, 1003 * 2, -1, 1);
      for (let j = 0; j < 1003; j++) if (y[3 * j] < 0.5) b[2 * j] = b[2 * j + 1] = 0;
      return problem('gaussian', 1e3, 3, 2, y, y, dual(b));
    },
  },
  {
    // Strips: rows beyond the columns' grid join its outermost cells.
    name: 'queries overhanging the points: x in [0.5, 1.1]^2, y in [0,1]^2, Gaussian γ = 1e4, 517 × 1003',
    make: () => {
      const rng = new Rng(40);
      const y = points(rng, 1003, 2);
      const x = points(rng, 517, 2, 0.5, 1.1);
      return problem('gaussian', 1e4, 2, 1, x, y, weights(rng, 1003, 1));
    },
  },
  {
    name: 'axis 0: one far outlier among uniform points on both sides, Gaussian γ = 1e3, b of dim 1',
    make: () => {
      const rng = new Rng(38);
      const y = points(rng, 1003, 3);
      const x = points(rng, 517, 3);
      y.set([-50, 0, 0], 0);
      x.set([0, -50, 0], 3 * 516);
      return problem('gaussian', 1e3, 3, 1, x, y, weights(rng, 1003, 1), 0);
    },
  },
];

// Sizes around the cluster size (64) and dimensions 1, 2, 3, 5; the scale keeps about a
// handful of neighbours per point whatever D is, so that pruning has work to do.
const SIZE_SCALE: Record<number, number> = { 1: 1e5, 2: 1e4, 3: 1e3, 5: 1e2 };
const SIZES: [number, number, number, number][] = [
  // [M, N, D, dv]
  [1003, 517, 1, 1], [517, 1003, 2, 3], [65, 65, 3, 1], [64, 64, 5, 3], [63, 63, 1, 3],
  [1003, 65, 2, 1], [65, 1003, 3, 3], [64, 1003, 5, 1], [1003, 64, 3, 1], [1003, 63, 2, 3],
  [1003, 1003, 5, 3], [1, 1003, 3, 1],
];
for (const [M, N, D, dv] of SIZES) {
  SPECS.push({
    name: `uniform [0,1]^${D}, Gaussian γ = ${SIZE_SCALE[D]}, M = ${M}, N = ${N}, D = ${D}, b of dim ${dv}`,
    make: () => uniformProblem(100 + M + 7 * N + 13 * D, 'gaussian', SIZE_SCALE[D], D, dv, M, N),
  });
}
// Every kernel, at a scale where it decays (Cauchy and IMQ decay slowly: still correct).
for (const [n, kernel] of KERNELS.entries()) {
  SPECS.push({
    name: `${kernel}, scale ${LARGE_SCALE[kernel]}, uniform [0,1]^3, 1003 × 1003, b of dim 1`,
    make: () => uniformProblem(200 + n, kernel, LARGE_SCALE[kernel], 3, 1, 1003, 1003),
  });
  SPECS.push({
    name: `axis 0: ${kernel}, scale ${LARGE_SCALE[kernel]}, uniform [0,1]^3, x = y, 517 points, b of dim 3`,
    make: () => uniformProblem(300 + n, kernel, LARGE_SCALE[kernel], 3, 3, 517, 517, 0, true),
  });
}


// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

describe('pruned (default) vs prune: false vs the float64 brute force', () => {
  const cases = SPECS.flatMap((spec) => {
    const p = lazily(spec.make);
    const ref = lazily(() => reference(p()));
    return DTYPES.map((dtype) => ({ name: `${spec.name}, ${dtype}`, dtype, p, ref }));
  });
  test.each(cases)('$name: both within the bound of the exact sum, and within rounding of each other', ({ dtype, p, ref }) => {
    const prob = p();
    const r = ref();
    const pruned = runSync(prob, dtype);
    const full = runSync(prob, dtype, { prune: false });
    expectBound(full, r, 0, dtype, prob.dv, 'prune: false vs brute force');
    expectBound(pruned, r, U[dtype], dtype, prob.dv, 'pruned vs brute force');
    expectCloseToFull(pruned, full, r, U[dtype], dtype, prob.dv, 'pruned vs prune: false');
  });
});

describe('the bound |pruned − exact| ≤ tol·Σ_j |K_ij b_jc| per row and column', () => {
  // Uniform [0,1]^3, rows ≠ columns, b of dim 3 with mixed signs; scales at which
  // tolerances 1e-3 and 1e-1 drop terms (at 1e-1 the Gaussian's result moves by ~1e-5 of
  // Σ|K b|: the cutoff is conservative, see below) while the sums stay far from zero.
  const MID_SCALE: Record<KernelName, number> = {
    gaussian: 1e2, laplace: 1e3, cauchy: 1e4, imq: 1e5, matern32: 1e3, matern52: 1e3,
  };
  const probs = new Map(KERNELS.map((k, n) => {
    const p = lazily(() => uniformProblem(400 + n, k, MID_SCALE[k], 3, 3, 1003, 1003));
    return [k, { p, ref: lazily(() => reference(p())) }];
  }));
  const cases = KERNELS.flatMap((kernel) => DTYPES.flatMap((dtype) =>
    [undefined, 1e-3, 1e-1].map((tol) => ({ kernel, dtype, tol, label: tol === undefined ? 'the default tolerance' : `pruneTolerance ${tol}` }))));
  test.each(cases)('$kernel, $dtype, $label: every row and column of b within the bound', ({ kernel, dtype, tol }) => {
    const { p, ref } = probs.get(kernel)!;
    const got = runSync(p(), dtype, tol === undefined ? {} : { pruneTolerance: tol });
    expectBound(got, ref(), tol ?? U[dtype], dtype, 3, `pruneTolerance ${tol ?? 'default'}`);
  });

  // Proof that pruning runs: with pruneTolerance 0.1 the result differs from
  // prune: false by more than both computations' rounding (2R + 2Z) somewhere, and still
  // meets the bound. The cutoff is conservative (theta is tol times the smallest
  // neighbourhood sum over Σ_all |b|), so the data must let it bite: narrow-kernel
  // uniform points in D = 2 (D = 1 for Cauchy, whose tail is polynomial); IMQ decays
  // too slowly to drop anything measurable on uniform data, so it gets two tight blobs
  // 20 apart, which it must drop whole.
  const dropSpecs: { kernel: KernelName; what: string; make: () => Problem }[] = [
    { kernel: 'gaussian', what: 'uniform [0,1]^2, γ = 1e2', make: () => uniformProblem(501, 'gaussian', 1e2, 2, 1, 1003, 1003) },
    { kernel: 'laplace', what: 'uniform [0,1]^2, scale 1e3', make: () => uniformProblem(502, 'laplace', 1e3, 2, 1, 1003, 1003) },
    { kernel: 'matern32', what: 'uniform [0,1]^2, scale 3e2', make: () => uniformProblem(503, 'matern32', 3e2, 2, 1, 1003, 1003) },
    { kernel: 'matern52', what: 'uniform [0,1]^2, scale 3e2', make: () => uniformProblem(504, 'matern52', 3e2, 2, 1, 1003, 1003) },
    { kernel: 'cauchy', what: 'uniform [0,1], scale 1e6', make: () => uniformProblem(505, 'cauchy', 1e6, 1, 1, 1003, 1003) },
    {
      kernel: 'imq',
      what: 'two blobs (sd 0.01) 20 apart, scale 1e4',
      make: () => {
        const rng = new Rng(506);
        const x = blobs(rng, 1003, 3, [[0, 0, 0], [20, 0, 0]], 0.01);
        return problem('imq', 1e4, 3, 1, x, x, weights(rng, 1003, 1));
      },
    },
  ];
  const dropCases = dropSpecs.flatMap((spec) => {
    const p = lazily(spec.make);
    const ref = lazily(() => reference(p()));
    return DTYPES.map((dtype) => ({ ...spec, dtype, p, ref }));
  });
  test.each(dropCases)('$kernel, $dtype: pruneTolerance 0.1 really drops terms ($what)', ({ dtype, p, ref }) => {
    const got = runSync(p(), dtype, { pruneTolerance: 0.1 });
    const full = runSync(p(), dtype, { prune: false });
    expectBound(got, ref(), 0.1, dtype, 1, 'pruneTolerance 0.1');
    expect(countBeyondRounding(got, full, ref(), dtype)).toBeGreaterThan(0);
  });
});

describe('other spellings of the kernels (lib/formula/kernels.ts) prune with the right scale', () => {
  // A scale taken wrongly from these spellings (s instead of 1/s, a lost factor or sign)
  // would make the cutoff wrong: the default must stay within the bound of the exact
  // sum, and pruneTolerance 0.1 must still drop something (the spelling is recognised)
  // and meet its bound. The reference's scale is the effective one (γ_eff).
  const spellings: { formula: string; aliases: string[]; params: number[]; kernel: KernelName; gEff: number }[] = [
    { formula: 'b*Exp(-SqDist(x,y)/s)', aliases: ['s = Pm(1)'], params: [1e-2], kernel: 'gaussian', gEff: 1e2 },
    { formula: 'Exp(-SqDist(y,x)*g*h)*b', aliases: ['g = Pm(1)', 'h = Pm(1)'], params: [10, 10], kernel: 'gaussian', gEff: 1e2 },
    { formula: 'Exp(SqDist(x,y)*(-g))*b', aliases: ['g = Pm(1)'], params: [1e2], kernel: 'gaussian', gEff: 1e2 },
    { formula: 'Exp(-SqDist(x,y)/(IntCst(2)*s*s))*b', aliases: ['s = Pm(1)'], params: [0.0625], kernel: 'gaussian', gEff: 128 },
    { formula: 'b*Exp(-Sqrt(SqDist(x,y)/s))', aliases: ['s = Pm(1)'], params: [1e-3], kernel: 'laplace', gEff: 1e3 },
    { formula: '(IntCst(1)/(IntCst(1)+SqDist(x,y)/s))*b', aliases: ['s = Pm(1)'], params: [1e-6], kernel: 'cauchy', gEff: 1e6 },
  ];
  const cases = spellings.flatMap((sp, n) => {
    const D = sp.kernel === 'cauchy' ? 1 : 2;
    const p = lazily(() => uniformProblem(650 + n, sp.kernel, sp.gEff, D, 1, 1003, 1003));
    const ref = lazily(() => reference(p()));
    return DTYPES.map((dtype) => ({ ...sp, D, dtype, p, ref }));
  });
  test.each(cases)('$formula, $dtype: within the bound by default and with pruneTolerance 0.1, which drops something', ({ formula, aliases, params, D, dtype, p, ref }) => {
    const prob = p();
    const op = new Genred(formula, [`x = Vi(${D})`, `y = Vj(${D})`, 'b = Vj(1)', ...aliases], { reduction: 'Sum', axis: 1 });
    const a = [pick(prob.x, dtype), pick(prob.y, dtype), pick(prob.b, dtype), ...params];
    const byDefault = asTensor(op.runSync(a, { prune: true })).data;
    const loose = asTensor(op.runSync(a, { pruneTolerance: 0.1 })).data;
    const full = asTensor(op.runSync(a, { prune: false })).data;
    expectBound(full, ref(), 0, dtype, 1, 'prune: false');
    expectBound(byDefault, ref(), U[dtype], dtype, 1, 'default');
    expectBound(loose, ref(), 0.1, dtype, 1, 'pruneTolerance 0.1');
    expect(countBeyondRounding(loose, full, ref(), dtype)).toBeGreaterThan(0);
  });
});

describe('pruneTolerance and prune options', () => {
  const p = lazily(() => uniformProblem(600, 'gaussian', NARROW, 3, 3, 1003, 1003));
  const ref = lazily(() => reference(p()));

  test.each(DTYPES)('pruneTolerance 0 is allowed and stays within float rounding of prune: false (%s)', (dtype) => {
    const got = runSync(p(), dtype, { pruneTolerance: 0 });
    const full = runSync(p(), dtype, { prune: false });
    expectCloseToFull(got, full, ref(), 0, dtype, 3, 'pruneTolerance 0 vs prune: false');
    expectBound(got, ref(), 0, dtype, 3, 'pruneTolerance 0 vs brute force');
  });

  test('pruneTolerance is ignored by prune: false (every pair, within rounding of the exact sum)', () => {
    const got = runSync(p(), 'float64', { prune: false, pruneTolerance: 0.5 });
    expectBound(got, ref(), 0, 'float64', 3, 'prune: false, pruneTolerance 0.5');
  });

  const bad: [string, RunOptions][] = [
    ['pruneTolerance −1', { pruneTolerance: -1 }],
    ['pruneTolerance NaN', { pruneTolerance: NaN }],
    ['pruneTolerance Infinity', { pruneTolerance: Infinity }],
    ["pruneTolerance '1e-3' (a string)", { pruneTolerance: '1e-3' as unknown as number }],
    ["prune 'yes' (a string)", { prune: 'yes' as unknown as boolean }],
  ];
  test.each(bad)('%s throws OptionError from runSync and rejects with OptionError from run', async (_, opts) => {
    const op = operator('gaussian', 3, 3, 1);
    const a = args(p(), 'float64');
    expect(() => op.runSync(a, opts)).toThrow(OptionError);
    await expect(op.run(a, opts)).rejects.toBeInstanceOf(OptionError);
  });

  test.each(bad)('%s throws OptionError from KernelSolve', async (_, opts) => {
    const rng = new Rng(601);
    const x = Float64Array.from(points(rng, 100, 3));
    const b = Float64Array.from(uniform(rng, 100, -1, 1));
    const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });
    expect(() => solver.runSync([x, x, b, 10], { alpha: 0.8, ...opts })).toThrow(OptionError);
    expect(await caught(() => solver.run([x, x, b, 10], { alpha: 0.8, ...opts }))).toBeInstanceOf(OptionError);
  });
});

describe('automatic pruning', () => {
  test('left to the engine, a call below 2^24 pairs computes every pair: bit-identical to prune: false', () => {
    const rng = new Rng(990);
    const n = 1003;
    const x = points(rng, n, 3);
    const b = uniform(rng, n, -1, 1);
    const op = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
    const a = [x, x, b, NARROW];
    const auto = asTensor(op.runSync(a)).data;
    const full = asTensor(op.runSync(a, { prune: false })).data;
    const forced = asTensor(op.runSync(a, { prune: true, pruneTolerance: 0.1 })).data;
    expect(Array.from(auto)).toEqual(Array.from(full));
    // The same call with pruning asked for does drop terms (so the first check can fail).
    expect(Array.from(forced)).not.toEqual(Array.from(full));
  });
});

describe('pruning inside KernelSolve', () => {
  // The seed setting: γ = 1/0.01², α = 0.8, tol 1e-6, ~3000 uniform points in [0,1]^3.
  const n = 3001;
  const alpha = 0.8;
  const tol = 1e-6;
  const data = lazily(() => {
    const rng = new Rng(700);
    return { x: dual(points(rng, n, 3)), b: dual(uniform(rng, n, -1, 1)) };
  });
  const solver = new KernelSolve('Exp(-g*SqDist(x,y))*a', ['x = Vi(3)', 'y = Vj(3)', 'a = Vj(1)', 'g = Pm(1)'], 'a', { axis: 1 });

  /** ‖b − (αv + K v)‖₂ / ‖b‖₂ in float64 (K by brute force), and ‖Σ_j |K_ij v_j|‖₂ + α‖v‖₂ (the scale of its rounding). */
  function trueResidual(v: ArrayLike<number>): { residual: number; scale: number } {
    const x = data().x.f64;
    const b = data().b.f64;
    let rr = 0;
    let bb = 0;
    let aa = 0;
    let vv = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      let a = 0;
      const x0 = x[3 * i];
      const x1 = x[3 * i + 1];
      const x2 = x[3 * i + 2];
      for (let j = 0; j < n; j++) {
        const d0 = x0 - x[3 * j];
        const d1 = x1 - x[3 * j + 1];
        const d2 = x2 - x[3 * j + 2];
        const t = mExp(-NARROW * (d0 * d0 + d1 * d1 + d2 * d2)) * v[j];
        s += t;
        a += mAbs(t);
      }
      const r = b[i] - alpha * v[i] - s;
      rr += r * r;
      bb += b[i] * b[i];
      aa += a * a;
      vv += v[i] * v[i];
    }
    return { residual: mSqrt(rr / bb), scale: (mSqrt(aa) + alpha * mSqrt(vv)) / mSqrt(bb) };
  }

  test.each(DTYPES)('the default-pruned solve and the prune: false solve agree within the solver tolerance, with truthful residuals (%s)', (dtype) => {
    const { x, b } = data();
    const a = [pick(x, dtype), pick(x, dtype), pick(b, dtype), NARROW];
    const pruned: SolveResult = solver.runSync(a, { alpha, tol, prune: true });
    const full: SolveResult = solver.runSync(a, { alpha, tol, prune: false });
    for (const [name, r] of [['pruned', pruned], ['prune: false', full]] as const) {
      expect(r.converged).toBe(true);
      expect(r.residual).toBeLessThanOrEqual(tol);
      const t = trueResidual(r.x.data);
      // The reported residual comes from the engine's own product K·x (float rounding,
      // and for float32 the solution is rounded to float32 on return).
      const slack = 64 * U[dtype] * t.scale + 1e-12;
      if (!(mAbs(t.residual - r.residual) <= slack)) {
        throw new Error(`${name}, ${dtype}: reported residual ${r.residual.toExponential(4)}, float64 brute force ${t.residual.toExponential(4)} (slack ${slack.toExponential(2)})`);
      }
    }
    // αI + K is symmetric with eigenvalues ≥ α (the Gaussian kernel is positive
    // semi-definite), so ‖x_p − x_f‖ ≤ (‖r_p‖ + ‖r_f‖)/α with the true residuals.
    const tp = trueResidual(pruned.x.data).residual;
    const tf = trueResidual(full.x.data).residual;
    let dd = 0;
    let bb = 0;
    for (let i = 0; i < n; i++) {
      dd += (pruned.x.data[i] - full.x.data[i]) ** 2;
      bb += b.f64[i] ** 2;
    }
    expect(mSqrt(dd)).toBeLessThanOrEqual(((tp + tf) * mSqrt(bb)) / alpha * (1 + 1e-6) + 1e-300);
  });

  test('the solve passes prune and pruneTolerance to its products: a loose tolerance solves a visibly different system', () => {
    const { x, b } = data();
    const a = [x.f64, x.f64, b.f64, NARROW];
    // 1e6: every product keeps only each cluster's touching neighbourhood.
    const loose: SolveResult = solver.runSync(a, { alpha, tol, pruneTolerance: 1e6 });
    const full: SolveResult = solver.runSync(a, { alpha, tol, prune: false });
    // Both converge on the products they compute; only prune: false solves the exact
    // system to 1e-6. The loose one's true residual shows what its products dropped.
    expect(loose.converged).toBe(true);
    expect(trueResidual(full.x.data).residual).toBeLessThanOrEqual(2 * tol);
    expect(trueResidual(loose.x.data).residual).toBeGreaterThan(10 * tol);
  });
});

describe('kernels that do not decay (scale ≤ 0 or NaN) are never pruned', () => {
  // pruneTolerance 0.1 would drop plenty if the engine pruned these; the results must
  // instead be within rounding of the exact sum (tol 0 in the bound).
  const cases: { name: string; make: () => Problem; formula?: string }[] = [
    {
      name: 'Exp(g*SqDist(x,y))*b with g = 1 (a growing Gaussian: scale −1)',
      make: () => uniformProblem(800, 'gaussian', -1, 3, 1, 1003, 1003),
      formula: 'Exp(g*SqDist(x,y))*b',
    },
    {
      name: 'Exp(-g*SqDist(x,y))*b with g = −2 (scale −2)',
      make: () => uniformProblem(801, 'gaussian', -2, 3, 3, 517, 1003),
    },
    {
      name: 'Rsqrt(IntCst(1)+g*SqDist(x,y))*b with g = −0.2 (a growing IMQ)',
      make: () => uniformProblem(802, 'imq', -0.2, 3, 1, 1003, 517),
    },
    {
      name: 'Exp(-g*SqDist(x,y))*b with g = 0 (every K_ij = 1)',
      make: () => uniformProblem(803, 'gaussian', 0, 3, 3, 1003, 1003),
    },
    {
      name: 'Exp(-g*SqDist(x,y))*b with g = NaN (every output NaN)',
      make: () => uniformProblem(804, 'gaussian', NaN, 3, 1, 517, 1003),
    },
  ];
  const all = cases.flatMap((c) => {
    const p = lazily(c.make);
    const ref = lazily(() => reference(p()));
    return DTYPES.map((dtype) => ({ ...c, dtype, p, ref }));
  });
  test.each(all)('$name, $dtype: pruneTolerance 0.1 changes nothing beyond rounding', ({ p, ref, dtype, formula }) => {
    const prob = p();
    // The problem's g is the reference's scale (phi(g·d²)); for the formula written
    // Exp(g*SqDist(x,y)) the engine gets −g, so that it computes exp(−(−1)·d²) too.
    const run = (opts: RunOptions): Float32Array | Float64Array => (formula === undefined
      ? runSync(prob, dtype, opts)
      : runSync({ ...prob, g: -prob.g }, dtype, opts, formula));
    const loose = run({ pruneTolerance: 0.1 });
    const byDefault = run({});
    expectBound(loose, ref(), 0, dtype, prob.dv, 'pruneTolerance 0.1');
    expectBound(byDefault, ref(), 0, dtype, prob.dv, 'default');
  });
});

describe('NaN in the data', () => {
  test.each(DTYPES)('a NaN in one row of x makes that output row NaN and leaves the others exact (%s)', (dtype) => {
    const rng = new Rng(900);
    const y = points(rng, 1003, 3);
    const x = points(rng, 1003, 3);
    x[3 * 321 + 1] = NaN;
    const p = problem('gaussian', 1e3, 3, 3, x, y, weights(rng, 1003, 3));
    const ref = reference(p);
    for (let c = 0; c < 3; c++) expect(numIsNaN(ref.exact[321 * 3 + c])).toBe(true);
    const got = runSync(p, dtype);
    // expectBound demands NaN exactly where the reference is NaN: row 321, all columns.
    expectBound(got, ref, U[dtype], dtype, 3, 'NaN in x row 321');
    const full = runSync(p, dtype, { prune: false });
    expectBound(full, ref, 0, dtype, 3, 'prune: false, NaN in x row 321');
  });

  // With pruning, a NaN in b_j* reaches only the rows whose clusters keep j*'s cluster:
  // the brute force is NaN everywhere (0·NaN = NaN), but a row whose kernel weight on j*
  // is below the pruning cutoff may skip it. What is asserted:
  //   - a row with a non-negligible weight K_ij* ≥ 1e-6 (far above any cutoff: the
  //     default tolerance is u times a row's Σ|K b|) must be NaN;
  //   - every finite row must meet the bound against the sum without j* (the terms of
  //     the other columns are not dropped beyond the guarantee because of the NaN).
  function nanInB(seed: number, g: number, dv: number, nanCol: number): { p: Problem; clean: Reference; w: Float64Array; jStar: number } {
    const rng = new Rng(seed);
    const y = points(rng, 1003, 3);
    const x = points(rng, 1003, 3);
    const b = uniform(rng, 1003 * dv, -1, 1);
    const jStar = 500;
    const cleanB = Float64Array.from(b);
    cleanB[jStar * dv + nanCol] = 0;
    b[jStar * dv + nanCol] = NaN;
    const p = problem('gaussian', g, 3, dv, x, y, dual(b));
    const clean = reference({ ...p, b: dual(cleanB) });
    const w = new Float64Array(1003);
    for (let i = 0; i < 1003; i++) {
      let q = 0;
      for (let k = 0; k < 3; k++) q += (p.x.f64[3 * i + k] - p.y.f64[3 * jStar + k]) ** 2;
      w[i] = mExp(-g * q);
    }
    return { p, clean, w, jStar };
  }

  function checkNanInB(got: ArrayLike<number>, s: ReturnType<typeof nanInB>, dtype: DType, tol: number, nanCol: number, label: string): void {
    const dv = s.p.dv;
    let mustBeNaN = 0;
    for (let i = 0; i < s.p.M; i++) {
      if (s.w[i] >= 1e-6) {
        mustBeNaN++;
        if (!numIsNaN(got[i * dv + nanCol])) {
          throw new Error(`${label}: row ${i} has weight K_ij* = ${s.w[i].toExponential(3)} on the NaN but got ${fmt(got[i * dv + nanCol])}`);
        }
      }
    }
    expect(mustBeNaN).toBeGreaterThan(0);
    // Finite entries: within the bound of the sum without the NaN term. Entries of the
    // other columns of b must all be finite (their terms are finite).
    for (let k = 0; k < got.length; k++) {
      if (k % dv !== nanCol && numIsNaN(got[k])) throw new Error(`${label}: row ${Math.floor(k / dv)}, column ${k % dv} is NaN; its b column has no NaN`);
    }
    expectBound(got, s.clean, tol, dtype, dv, `${label} (finite entries vs the sum without b_j*)`, (k) => numIsNaN(got[k]));
  }

  test.each(DTYPES)('a NaN in b with a narrow Gaussian (γ = 1/0.01²): NaN in the rows near it, the finite rows correct (%s)', (dtype) => {
    const s = nanInB(901, NARROW, 1, 0);
    checkNanInB(runSync(s.p, dtype), s, dtype, U[dtype], 0, 'narrow, NaN in b');
    expect(runSync(s.p, dtype, { prune: false }).every((v) => numIsNaN(v))).toBe(true);
  });

  test.each(DTYPES)('a NaN in b with a wide Gaussian (γ = 10, every weight ≥ 1e-13): every row that weighs it by ≥ 1e-6 is NaN, the finite rows correct (%s)', (dtype) => {
    const s = nanInB(902, 10, 1, 0);
    checkNanInB(runSync(s.p, dtype), s, dtype, U[dtype], 0, 'wide, NaN in b');
  });

  test.each(DTYPES)('a NaN in one component of a 3-dim b (γ = 1e2): that column NaN where it weighs, the other columns correct (%s)', (dtype) => {
    const s = nanInB(903, 1e2, 3, 1);
    checkNanInB(runSync(s.p, dtype), s, dtype, U[dtype], 1, 'NaN in b column 1');
  });
});

describe('determinism', () => {
  const p = lazily(() => uniformProblem(1000, 'gaussian', 1e3, 3, 3, 2003, 2003));

  test.each(DTYPES)('the same pruned call twice gives bit-identical results (%s)', (dtype) => {
    const a = runSync(p(), dtype);
    const b = runSync(p(), dtype);
    expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
  });

  test.each(DTYPES)('async run equals runSync bit for bit, pruned and with pruneTolerance 1e-3 (%s)', async (dtype) => {
    const op = operator('gaussian', 3, 3, 1);
    for (const opts of [{}, { pruneTolerance: 1e-3 }]) {
      const sync = asTensor(op.runSync(args(p(), dtype), opts)).data;
      const async_ = asTensor(await op.run(args(p(), dtype), opts)).data;
      expect(Array.from(async_)).toEqual(Array.from(sync));
    }
  });

  test('the pruned result does not depend on the thread count', () => {
    const before = info().cpu.threads;
    try {
      setNumThreads(1);
      const one = runSync(p(), 'float32');
      setNumThreads(mMax(2, before));
      const many = runSync(p(), 'float32');
      expect(Array.from(many)).toEqual(Array.from(one));
    } finally {
      setNumThreads(before);
    }
  });
});

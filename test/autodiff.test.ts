/**
 * Symbolic derivatives (issue 13): Grad of every operation against central finite
 * differences of the same formula, for each variable it reads (i, j and parameters), in
 * float64 on seeded random data; Diff, GradMatrix, Divergence, Laplacian and second
 * derivatives against closed forms of the Gaussian kernel.
 *
 * The gradient of a sum reduction is itself a reduction: for an i-variable x,
 * Σ_j Grad(F, x, e_i) over j (axis 1); for a j-variable y, the same over i (axis 0); for a
 * parameter, both. The finite differences perturb one input value at a time and
 * difference T = Σ_i Σ_j (e_i | F_ij).
 */
import { Genred, OptionError, Vi, Vj } from '../lib';
import { OPS } from '../lib/formula/ir';
import { parseFormula } from '../lib/formula/parse';
import { Rng } from './helpers/reference';

const M = 7;
const N = 5;
const ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'p = Pm(1)', 'w = Pm(3)', 'W = Pm(9)', 'A = Vj(6)', 'q = Vi(2)'];
const SPECS: Record<string, { cat: 'i' | 'j' | 'param'; dim: number }> = {
  x: { cat: 'i', dim: 3 }, y: { cat: 'j', dim: 3 }, p: { cat: 'param', dim: 1 }, w: { cat: 'param', dim: 3 },
  W: { cat: 'param', dim: 9 }, A: { cat: 'j', dim: 6 }, q: { cat: 'i', dim: 2 },
};
const NAMES = Object.keys(SPECS);

function data(seed: number): Record<string, Float64Array> {
  const rng = new Rng(seed);
  const rows = (name: string): number => (SPECS[name].cat === 'i' ? M : SPECS[name].cat === 'j' ? N : 1);
  // Values in [0.5, 1.5]: logs, roots and powers stay defined, products stay moderate.
  return Object.fromEntries(NAMES.map((n) => [n, Float64Array.from({ length: rows(n) * SPECS[n].dim }, () => 0.5 + rng.next())]));
}

const argsOf = (d: Record<string, Float64Array>, extra: Float64Array[] = []): (Float64Array | number[])[] =>
  [...NAMES.map((n) => (SPECS[n].cat === 'param' ? Array.from(d[n]) : d[n])), ...extra];

/** T = Σ_i Σ_j (e_i | F_ij) in float64. */
function total(formula: string, dim: number, d: Record<string, Float64Array>, e: Float64Array): number {
  const g = new Genred(dim === 1 ? `(${formula})*e` : `(${formula}|e)`, [...ALIASES, `e = Vi(${dim})`], { reduction: 'Sum', axis: 1 });
  return g.runSync(argsOf(d, [e])).data.reduce((s, v) => s + v, 0);
}

/** Σ over the other axis (and over rows, for a parameter) of Grad(F, v, e): ∂T/∂v. */
function analytic(formula: string, dim: number, v: string, d: Record<string, Float64Array>, e: Float64Array): Float64Array {
  const spec = SPECS[v];
  const g = new Genred(`Grad(${formula}, ${v}, e)`, [...ALIASES, `e = Vi(${dim})`], { reduction: 'Sum', axis: spec.cat === 'j' ? 0 : 1 });
  const out = g.runSync(argsOf(d, [e])).data;
  if (spec.cat !== 'param') return Float64Array.from(out);
  const sums = new Float64Array(spec.dim);
  for (let r = 0; r < M; r++) for (let k = 0; k < spec.dim; k++) sums[k] += out[r * spec.dim + k];
  return sums;
}

/** Central differences of T in every value of v (step h, relative to the value). */
function numeric(formula: string, dim: number, v: string, d: Record<string, Float64Array>, e: Float64Array): Float64Array {
  const out = new Float64Array(d[v].length);
  for (let k = 0; k < out.length; k++) {
    const h = 1e-6 * Math.max(1, Math.abs(d[v][k]));
    const at = (delta: number): number => {
      const moved = { ...d, [v]: Float64Array.from(d[v]) };
      moved[v][k] += delta;
      return total(formula, dim, moved, e);
    };
    out[k] = (at(h) - at(-h)) / (2 * h);
  }
  return out;
}

/** Operations whose own derivative is not built: Grad through them is an OptionError (tested below). */
const NOT_DIFFERENTIABLE = ['GradSoftDTW_SqDist', 'GradSoftDTW_SqDist_Gamma'] as const;

/** One formula per operation, reading it with differentiable inputs (values away from kinks and ties). */
const CASES: Record<Exclude<keyof typeof OPS, (typeof NOT_DIFFERENTIABLE)[number]>, string[]> = {
  Minus: ['-(x*y)'],
  Add: ['x + y*p'],
  Subtract: ['x - y*p'],
  Mult: ['x*y*p', 'Elem(x,0)*y'],
  Divide: ['x/(y+p)', 'p/x'],
  Exp: ['Exp(x*y*p)'],
  Log: ['Log(x+y*p)'],
  Sqrt: ['Sqrt(x*y+p)'],
  Rsqrt: ['Rsqrt(x*y+p)'],
  Square: ['Square(x-y)*p'],
  Inv: ['Inv(x+y*p)'],
  Abs: ['Abs(x-y)*p'],
  Sign: ['Sign(x-y)*x*p'],
  Step: ['Step(x-y)*x*p'],
  ReLU: ['ReLU(x-y)*p'],
  Sin: ['Sin(x*y*p)'],
  Cos: ['Cos(x*y*p)'],
  Atan: ['Atan(x*y*p)'],
  Floor: ['Floor(3*x)*y*p'],
  Atan2: ['Atan2(x-y, x+y*p)'],
  Powf: ['Powf(x+y, p*y)'],
  Pow: ['Pow(x-y*p, 3)', 'Pow(x+y, -2)*p', 'Pow(x*y, 1)*p', 'Pow(x*y, 0)*p'],
  Round: ['Round(x, 1)*y*p'],
  Clamp: ['Clamp(x, y-0.2, y+0.2*p)*p'],
  IfElse: ['IfElse(x-y, x*p, y*y)'],
  Mod: ['Mod(x*p, y+1, 0.3)'],
  SqDist: ['SqDist(x,y)*p'],
  Scalprod: ['(x|y)*p'],
  SqNorm2: ['SqNorm2(x-y*p)'],
  Norm2: ['Norm2(x-y*p)'],
  Normalize: ['Normalize(x-y*p)'],
  Sum: ['Sum(x*y)*p'],
  Max: ['Max(x*y*p)'],
  Min: ['Min(x*y*p)'],
  Elem: ['Elem(x*y, 1)*p'],
  Extract: ['Extract(Concat(x,y*p), 2, 3)'],
  Concat: ['Concat(x*p, y)'],
  OneHot: ['OneHot(Elem(x,0)*4, 5)*p'],
  WeightedSqNorm: ['WeightedSqNorm(p, x-y)', 'WeightedSqNorm(w, x-y)', 'WeightedSqNorm(W, x-y)'],
  WeightedSqDist: ['WeightedSqDist(w, x, y)', 'WeightedSqDist(W, x, y*p)'],
  MatVecMult: ['MatVecMult(A, x*p)'],
  VecMatMult: ['VecMatMult(x*p, A)'],
  TensorProd: ['TensorProd(x, q)*p', 'TensorProd(q, y*p)'],
  Acos: ['Acos((x-y)*p*0.5)'],
  Asin: ['Asin((x-y)*p*0.5)'],
  SinXDivX: ['SinXDivX(x*y*p)'],
  XLogX: ['XLogX(x*y*p)'],
  Equal: ['Equal(Floor(x*2),Floor(y*2))*x*p'],
  NotEqual: ['NotEqual(Floor(x*2),Floor(y*2))*x*p'],
  LessThan: ['LessThan(x,y)*x*p', '(x*p < y)*y'],
  LessOrEqual: ['LessOrEqual(x,y)*y*p'],
  ArgMax: ['ArgMax(x*y)*p'],
  ArgMin: ['ArgMin(x*y)*p*x'],
  Gather: ['Gather(x*p,[2,0,0])', 'Gather(Concat(x,q*p),[4,1])'],
  SoftDTW_SqDist: ['SoftDTW_SqDist(x, y*p, p*0.5)', 'SoftDTW_SqDist(q, y, p)'],
};

const cases = Object.entries(CASES).flatMap(([op, formulas]) => formulas.map((f) => [op, f] as const));

describe('Grad of every operation against central finite differences (float64)', () => {
  test('every operation has a case', () => {
    expect([...Object.keys(CASES), ...NOT_DIFFERENTIABLE].sort()).toEqual(Object.keys(OPS).sort());
  });

  test.each(NOT_DIFFERENTIABLE)('Grad through %s is an OptionError that says so', (op) => {
    expect(() => new Genred(`Grad(Sum(${op}(x,y,p)),x,IntCst(1))`, ALIASES, { reduction: 'Sum', axis: 1 })).toThrow(/not built/);
  });

  test.each(cases)('%s: %s', (_op, formula) => {
    const { node } = parseFormula(formula, ALIASES);
    const used = NAMES.filter((n) => new RegExp(`\\b${n}\\b`).test(formula));
    const d = data(formula.length * 31 + 7);
    const rng = new Rng(99);
    const e = Float64Array.from({ length: M * node.dim }, () => rng.next() - 0.5);
    for (const v of used) {
      const want = numeric(formula, node.dim, v, d, e);
      const got = analytic(formula, node.dim, v, d, e);
      // Central differences with h = 1e-6: truncation ~h² and rounding ~1e-16/h relative.
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      const worst = Math.max(...Array.from(got, (g, k) => Math.abs(g - want[k])));
      expect([v, worst <= 1e-6 * scale]).toEqual([v, true]);
    }
  });
});

describe('higher orders and the other autodiff operations, against closed forms of the Gaussian', () => {
  // K(x, y) = exp(-g r²), r = x − y in 3-D: ∂K/∂x = −2g K r, H = K (4g² r rᵀ − 2g I),
  // ΔK = K (4g² |r|² − 6g).
  const G_ALIASES = ['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)', 'u = Vi(3)', 'e = Vi(1)'];
  const rng = new Rng(5);
  const x = Float64Array.from({ length: 3 * M }, () => rng.next());
  const y = Float64Array.from({ length: 3 * N }, () => rng.next());
  const u = Float64Array.from({ length: 3 * M }, () => rng.next() - 0.5);
  const e = Float64Array.from({ length: M }, () => rng.next() - 0.5);
  const g = 2.5;
  const args = [x, y, [g], u, e];
  const K = 'Exp(-g*SqDist(x,y))';

  /** Σ_j f(K, r, i) over j, by brute force; f returns `dim` values. */
  function reference(dim: number, f: (k: number, r: number[], i: number) => number[]): Float64Array {
    const out = new Float64Array(M * dim);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const r = [0, 1, 2].map((c) => x[3 * i + c] - y[3 * j + c]);
        const k = Math.exp(-g * (r[0] ** 2 + r[1] ** 2 + r[2] ** 2));
        f(k, r, i).forEach((v, c) => { out[dim * i + c] += v; });
      }
    }
    return out;
  }
  const run = (formula: string): Float64Array => Float64Array.from(new Genred(formula, G_ALIASES, { reduction: 'Sum', axis: 1 }).runSync(args).data);
  const close = (got: Float64Array, want: Float64Array): void => {
    expect(got.length).toBe(want.length);
    const worst = Math.max(...Array.from(got, (v, k) => Math.abs(v - want[k]) / (1 + Math.abs(want[k]))));
    expect(worst).toBeLessThan(1e-12);
  };

  test("KeOps' spelling: Grad(Exp(-g*SqDist(x,y))*b, x, e) with e = Vi(1)", () => {
    const b = Float64Array.from({ length: N }, () => rng.next());
    const out = new Genred('Grad(Exp(-g*SqDist(x,y))*b, x, e)', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)', 'e = Vi(1)'],
      { reduction: 'Sum', axis: 1 }).runSync([x, y, b, [g], e]).data;
    const want = new Float64Array(M * 3);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const r = [0, 1, 2].map((c) => x[3 * i + c] - y[3 * j + c]);
        const k = Math.exp(-g * (r[0] ** 2 + r[1] ** 2 + r[2] ** 2));
        for (let c = 0; c < 3; c++) want[3 * i + c] += -2 * g * k * r[c] * b[j] * e[i];
      }
    }
    close(Float64Array.from(out), want);
  });

  test('Laplacian(K, x) = K (4g²|r|² − 6g)', () => {
    close(run(`Laplacian(${K}, x)`), reference(1, (k, r) => [k * (4 * g * g * (r[0] ** 2 + r[1] ** 2 + r[2] ** 2) - 6 * g)]));
  });

  test('Divergence(Grad(K, x, 1), x) is the Laplacian', () => {
    close(run(`Divergence(Grad(${K}, x, IntCst(1)), x)`), run(`Laplacian(${K}, x)`));
  });

  test('a Hessian-vector product, as Grad of Grad and as Diff of Grad: H u = K (4g² r (r|u) − 2g u)', () => {
    const want = reference(3, (k, r, i) => {
      const ru = r[0] * u[3 * i] + r[1] * u[3 * i + 1] + r[2] * u[3 * i + 2];
      return [0, 1, 2].map((c) => k * (4 * g * g * r[c] * ru - 2 * g * u[3 * i + c]));
    });
    close(run(`Grad(Grad(${K}, x, IntCst(1)), x, u)`), want);
    close(run(`Diff(Grad(${K}, x, IntCst(1)), x, u)`), want);
  });

  test('Diff(K, x, u) = −2g K (r|u), the directional derivative', () => {
    close(run(`Diff(${K}, x, u)`), reference(1, (k, r, i) => [-2 * g * k * (r[0] * u[3 * i] + r[1] * u[3 * i + 1] + r[2] * u[3 * i + 2])]));
  });

  test('GradMatrix(K r, x) is the Jacobian transposed, row by row: K (I − 2g r rᵀ)', () => {
    // F = K·(x − y) has dimension 3; row k of GradMatrix is Grad(F, x, e_k) = ∂F_k/∂x.
    const want = reference(9, (k, r) => [0, 1, 2].flatMap((a) => [0, 1, 2].map((b) => k * ((a === b ? 1 : 0) - 2 * g * r[a] * r[b]))));
    close(run(`GradMatrix(${K}*(x-y), x)`), want);
  });

  test('the gradient of the Gaussian sum stays a small program', () => {
    const gauss = new Genred('Grad(Exp(-g*SqDist(x,y))*b, x, e)', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)', 'e = Vi(1)'], { reduction: 'Sum', axis: 1 });
    const forward = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'], { reduction: 'Sum', axis: 1 });
    const size = (r: Genred): number => r.compiled.lowered.code.length / 6;
    // Forward: loads, SqDist, scale, exp, product. The gradient adds x − y, its scaling
    // and the products with e and b: a handful of instructions, nothing duplicated.
    expect(size(gauss)).toBeLessThanOrEqual(size(forward) + 8);
  });
});

describe('autodiff errors', () => {
  test.each([
    ['Grad(SqDist(x,y), x+y, e)', /differentiates with respect to a variable/],
    ['Grad(SqDist(x,y), x)', /Grad takes 3 arguments/],
    ['Grad(x, x, e)', /input gradient has dimension 1, the formula 3/],
    ['Divergence(SqDist(x,y), x)', /same|dimension/],
    ['Laplacian(x, x)', /scalar formula/],
    ['Diff(SqDist(x,y), x, e)', /direction has dimension 1, the variable 3/],
  ])('%s', (formula, message) => {
    expect(() => new Genred(formula, ['x = Vi(3)', 'y = Vj(3)', 'e = Vi(1)'], { reduction: 'Sum', axis: 1 })).toThrow(message);
  });
});

describe('LazyTensor derivatives', () => {
  // The gradient of a LazyTensor reduction with respect to x and to y, against the same
  // formula string through Genred and against the closed form of the Gaussian.
  const rng = new Rng(17);
  const [m, n] = [1003, 7];
  const x = Float64Array.from({ length: 2 * m }, () => rng.next());
  const y = Float64Array.from({ length: 2 * n }, () => rng.next());
  const e = Float64Array.from({ length: m }, () => rng.next() - 0.5);
  const f = Float64Array.from({ length: n }, () => rng.next() - 0.5);
  const g = 3;
  const kernel = (i: number, j: number): [number, number[]] => {
    const r = [x[2 * i] - y[2 * j], x[2 * i + 1] - y[2 * j + 1]];
    return [Math.exp(-g * (r[0] ** 2 + r[1] ** 2)), r];
  };

  test('Σ_j Grad(K, x, e_i) over j (axis 1): −2g Σ_j e_i K_ij (x_i − y_j)', () => {
    const xi = Vi(x, 2), yj = Vj(y, 2);
    const K = xi.sqdist(yj).mul(-g).exp();
    const got = K.grad(xi, Vi(e, 1)).sumSync(1);
    expect(got.shape).toEqual([m, 2]);
    for (let i = 0; i < m; i += 17) {
      const want = [0, 0];
      for (let j = 0; j < n; j++) {
        const [k, r] = kernel(i, j);
        want[0] += -2 * g * e[i] * k * r[0];
        want[1] += -2 * g * e[i] * k * r[1];
      }
      expect(Math.abs(got.data[2 * i] - want[0]) + Math.abs(got.data[2 * i + 1] - want[1])).toBeLessThan(1e-13);
    }
  });

  test('Σ_i Grad(K, y, f_j) over i (axis 0): 2g Σ_i f_j K_ij (x_i − y_j)', () => {
    const xi = Vi(x, 2), yj = Vj(y, 2);
    const got = xi.sqdist(yj).mul(-g).exp().grad(yj, Vj(f, 1)).sumSync(0);
    expect(got.shape).toEqual([n, 2]);
    for (let j = 0; j < n; j++) {
      const want = [0, 0];
      for (let i = 0; i < m; i++) {
        const [k, r] = kernel(i, j);
        want[0] += 2 * g * f[j] * k * r[0];
        want[1] += 2 * g * f[j] * k * r[1];
      }
      expect(Math.abs(got.data[2 * j] - want[0]) + Math.abs(got.data[2 * j + 1] - want[1])).toBeLessThan(1e-11);
    }
  });

  test('the other derivatives match their formula strings', () => {
    const xi = Vi(x, 2), yj = Vj(y, 2);
    const K = xi.sqdist(yj).mul(-g).exp();
    const u = Vi(x, 2);
    const aliases = ['x = Vi(2)', 'y = Vj(2)', 'u = Vi(2)'];
    const viaString = (s: string): Float64Array => Float64Array.from(new Genred(s, aliases, { reduction: 'Sum', axis: 1 }).runSync([x, y, x]).data);
    const Ks = `Exp(-${g}*SqDist(x,y))`;
    expect(Float64Array.from(K.laplacian(xi).sumSync(1).data)).toEqual(viaString(`Laplacian(${Ks}, x)`));
    expect(Float64Array.from(K.diff(xi, u).sumSync(1).data)).toEqual(viaString(`Diff(${Ks}, x, u)`));
    expect(Float64Array.from(K.mul(xi).gradMatrix(xi).sumSync(1).data)).toEqual(viaString(`GradMatrix(${Ks}*x, x)`));
    expect(Float64Array.from(K.mul(xi).divergence(xi).sumSync(1).data)).toEqual(viaString(`Divergence(${Ks}*x, x)`));
  });

  test('with respect to a formula rather than a variable is an OptionError', () => {
    const xi = Vi(x, 2);
    expect(() => xi.sqnorm2().grad(xi.mul(2), 1)).toThrow(OptionError);
  });
});

/**
 * Symbolic differentiation of formulas: KeOps' Grad, Diff, GradMatrix, Divergence and
 * Laplacian, expanded into ordinary formula nodes when they are built, so the lowering,
 * the engine and the device path never see them.
 *
 * Grad(F, v, e) is reverse mode over the formula's DAG: every operation has one rule, its
 * vector-Jacobian product (`VJP`, checked by TypeScript to cover every op of OPS), and
 * the cotangents of shared subformulas are summed before they flow further. The builders
 * below fold zeros, ones and constants as they go, and the lowering hash-conses equal
 * instructions, so a gradient's program stays close to what one would write by hand.
 *
 * Where an operation is piecewise constant (Sign, Step, Floor, Round, OneHot, the
 * comparisons inside IfElse's condition) its derivative is zero, as in KeOps.
 */
import { LazyKernelError, OptionError, ShapeError } from '../errors';
import { constant, foldNodes, markGradient, Node, OpName, operation, OpNode, VarNode, variable } from './ir';

// ---------------------------------------------------------------------------------------
// Builders that fold as they build
// ---------------------------------------------------------------------------------------

const isConst = (n: Node, value?: number): boolean => n.kind === 'const' && (value === undefined || n.value === value);
/** True for a zero constant (of any dimension). */
export const isZero = (n: Node): boolean => isConst(n, 0);
const isScalarConst = (n: Node, value: number): boolean => isConst(n, value) && n.dim === 1;

/** Zero of dimension d. */
export const zero = (d: number): Node => constant(0, d);

/** a + b, element-wise with broadcasting. */
export function add(a: Node, b: Node): Node {
  const d = Math.max(a.dim, b.dim);
  if (isZero(a) && b.dim === d) return b;
  if (isZero(b) && a.dim === d) return a;
  if (a.kind === 'const' && b.kind === 'const' && d === 1) return constant(a.value + b.value);
  return operation('Add', [a, b]);
}

/** -a. */
export function neg(a: Node): Node {
  if (a.kind === 'const') return constant(-a.value, a.dim);
  if (a.kind === 'op' && a.op === 'Minus') return a.args[0];
  return operation('Minus', [a]);
}

/** a - b. */
export function sub(a: Node, b: Node): Node {
  const d = Math.max(a.dim, b.dim);
  if (isZero(b) && a.dim === d) return a;
  if (isZero(a) && b.dim === d) return neg(b);
  if (a.kind === 'const' && b.kind === 'const' && d === 1) return constant(a.value - b.value);
  return operation('Subtract', [a, b]);
}

/** a * b, element-wise with broadcasting. */
export function mul(a: Node, b: Node): Node {
  const d = Math.max(a.dim, b.dim);
  if (isZero(a) || isZero(b)) {
    operation('Mult', [a, b]); // the dimension rule still applies
    return zero(d);
  }
  if (isScalarConst(a, 1) && b.dim === d) return b;
  if (isScalarConst(b, 1) && a.dim === d) return a;
  if (isScalarConst(a, -1) && b.dim === d) return neg(b);
  if (isScalarConst(b, -1) && a.dim === d) return neg(a);
  if (a.kind === 'const' && b.kind === 'const' && d === 1) return constant(a.value * b.value);
  return operation('Mult', [a, b]);
}

/** a / b. */
export function div(a: Node, b: Node): Node {
  const d = Math.max(a.dim, b.dim);
  if (isZero(a)) {
    operation('Divide', [a, b]);
    return zero(d);
  }
  if (isScalarConst(b, 1) && a.dim === d) return a;
  return operation('Divide', [a, b]);
}

/** An operation with its integer parameters, unfolded. */
export const op = (name: OpName, args: readonly Node[], ints: readonly number[] = []): Node => operation(name, args, ints);
const c = (v: number): Node => constant(v);

/** g as a vector of dimension d (a dim-1 g broadcast; g itself when it has dimension d). */
export function broadcast(g: Node, d: number): Node {
  if (g.dim === d) return g;
  if (g.dim !== 1) throw new LazyKernelError(`internal: cannot broadcast dimension ${g.dim} to ${d}`);
  return isZero(g) ? zero(d) : operation('Add', [zero(d), g]);
}

/** A cotangent of dimension g.dim for an operand of dimension d ≤ g.dim: broadcasting's adjoint sums. */
function unbroadcast(g: Node, d: number): Node {
  if (g.dim === d) return g;
  if (isZero(g)) return zero(d);
  return op('Sum', [g]);
}

/** The scalar product (a|b), folded when either is zero. */
export function dot(a: Node, b: Node): Node {
  if (isZero(a) || isZero(b)) return zero(1);
  return op('Scalprod', [a, b]);
}

// ---------------------------------------------------------------------------------------
// One vector-Jacobian product per operation
// ---------------------------------------------------------------------------------------

/**
 * The rule of one operation: given the node n = op(args) and the cotangent g of its output
 * (dimension n.dim), the cotangent of each operand (dimension of that operand), or null
 * where the operand gets none.
 */
type Rule = (n: OpNode, g: Node) => (Node | null)[];

/** The element-wise rule: the operand's local derivative times g, summed where it broadcast. */
const pointwise = (...derivs: ((n: OpNode) => Node | null)[]): Rule => (n, g) =>
  derivs.map((local, k) => {
    const l = local(n);
    return l === null ? null : unbroadcast(mul(g, l), n.args[k].dim);
  });
const none: Rule = (n) => n.args.map(() => null);
const a0 = (n: OpNode): Node => n.args[0];
const a1 = (n: OpNode): Node => n.args[1];

/** The weight, point and cotangent of WeightedSqNorm(w, x) = xᵀ W x with W = w I, diag(w) or w. */
function weightedVjp(w: Node, x: Node, g: Node): [Node, Node] {
  const d = x.dim;
  if (w.dim === 1) return [mul(g, op('SqNorm2', [x])), mul(mul(c(2), mul(g, w)), x)];
  if (w.dim === d && d !== 1) return [mul(g, op('Square', [x])), mul(mul(c(2), g), mul(w, x))];
  // Full: xᵀ W x; W is read as given (KeOps asks for a symmetric one), so ∂x = (W + Wᵀ) x.
  const wx = op('MatVecMult', [w, x]);
  const wtx = op('VecMatMult', [x, w]);
  return [mul(g, op('TensorProd', [x, x])), mul(g, add(wx, wtx))];
}

const VJP: { readonly [K in OpName]: Rule } = {
  Minus: (_n, g) => [neg(g)],
  Add: (n, g) => [unbroadcast(g, n.args[0].dim), unbroadcast(g, n.args[1].dim)],
  Subtract: (n, g) => [unbroadcast(g, n.args[0].dim), unbroadcast(neg(g), n.args[1].dim)],
  Mult: pointwise(a1, a0),
  Divide: pointwise((n) => div(c(1), a1(n)), (n) => neg(div(n, a1(n)))),
  Exp: pointwise((n) => n),
  Log: pointwise((n) => div(c(1), a0(n))),
  // KeOps' conventions at 0: Sqrt' = Rsqrt/2 and Rsqrt' = -Rsqrt³/2, both 0 there.
  Sqrt: pointwise((n) => mul(c(0.5), op('Rsqrt', [a0(n)]))),
  Rsqrt: pointwise((n) => mul(c(-0.5), op('Pow', [n], [3]))),
  Square: pointwise((n) => mul(c(2), a0(n))),
  Inv: pointwise((n) => neg(op('Square', [n]))),
  Abs: pointwise((n) => op('Sign', [a0(n)])),
  Sign: none,
  Step: none,
  ReLU: pointwise((n) => op('Step', [a0(n)])),
  Sin: pointwise((n) => op('Cos', [a0(n)])),
  Cos: pointwise((n) => neg(op('Sin', [a0(n)]))),
  Atan: pointwise((n) => div(c(1), add(c(1), op('Square', [a0(n)])))),
  Floor: none,
  // atan2(y, x): ∂y = x / (x² + y²), ∂x = -y / (x² + y²).
  Atan2: pointwise(
    (n) => div(a1(n), add(op('Square', [a0(n)]), op('Square', [a1(n)]))),
    (n) => neg(div(a0(n), add(op('Square', [a0(n)]), op('Square', [a1(n)])))),
  ),
  // a^b = exp(b log a): ∂a = b a^b / a, ∂b = a^b log a.
  Powf: pointwise((n) => div(mul(a1(n), n), a0(n)), (n) => mul(n, op('Log', [a0(n)]))),
  Pow: (n, g) => {
    const k = n.ints[0];
    if (k === 0) return [null];
    const local = k === 1 ? c(1) : k === 2 ? mul(c(2), a0(n)) : mul(c(k), op('Pow', [a0(n)], [k - 1]));
    return [mul(g, local)];
  },
  Round: none,
  // min(max(f, a), b): the cotangent goes to whichever argument the value is.
  Clamp: (n, g) => {
    const [f, a, b] = n.args;
    // KeOps' DiffClampInt: f itself inside the closed interval [a, b], the bound outside it.
    const below = op('LessThan', [f, a]); // f < a: the value is a (where a <= b)
    const above = op('LessThan', [b, f]); // f > b: the value is b
    const inside = mul(sub(c(1), below), sub(c(1), above));
    return [unbroadcast(mul(g, inside), f.dim), unbroadcast(mul(g, mul(below, sub(c(1), above))), a.dim), unbroadcast(mul(g, above), b.dim)];
  },
  IfElse: (n, g) => {
    const [f, a, b] = n.args;
    const s = op('Step', [f]);
    return [null, unbroadcast(mul(g, s), a.dim), unbroadcast(mul(g, sub(c(1), s)), b.dim)];
  },
  // f - n floor((f - offset) / n): ∂f = 1, ∂n = -floor(...), ∂offset = 0.
  Mod: (n, g) => {
    const [f, m, offset] = n.args;
    const q = op('Floor', [div(sub(f, offset), m)]);
    return [unbroadcast(g, f.dim), unbroadcast(neg(mul(g, q)), m.dim), null];
  },
  SqDist: (n, g) => {
    const diff = sub(a0(n), a1(n));
    const t = mul(mul(c(2), g), diff);
    return [t, neg(t)];
  },
  Scalprod: (n, g) => [mul(g, a1(n)), mul(g, a0(n))],
  SqNorm2: (n, g) => [mul(mul(c(2), g), a0(n))],
  Norm2: (n, g) => [mul(g, op('Normalize', [a0(n)]))],
  // f / |f|: ∂f = (g - n (n|g)) / |f|, 0 at f = 0 (Rsqrt(0) = 0).
  Normalize: (n, g) => [mul(sub(g, mul(n, dot(n, g))), op('Rsqrt', [op('SqNorm2', [a0(n)])]))],
  Sum: (n, g) => [broadcast(g, a0(n).dim)],
  // The components equal to the max (min) share its cotangent; KeOps picks one on ties.
  Max: (n, g) => [mul(g, sub(c(1), op('Sign', [sub(n, a0(n))])))],
  Min: (n, g) => [mul(g, sub(c(1), op('Sign', [sub(a0(n), n)])))],
  Elem: (n, g) => [mul(g, op('OneHot', [c(n.ints[0])], [a0(n).dim]))],
  Extract: (n, g) => {
    const [start, d] = n.ints;
    const total = a0(n).dim;
    let out = g;
    if (start > 0) out = op('Concat', [zero(start), out]);
    if (start + d < total) out = op('Concat', [out, zero(total - start - d)]);
    return [out];
  },
  Concat: (n, g) => {
    const [a, b] = n.args;
    return [op('Extract', [g], [0, a.dim]), op('Extract', [g], [a.dim, b.dim])];
  },
  OneHot: none,
  WeightedSqNorm: (n, g) => weightedVjp(a0(n), a1(n), g),
  WeightedSqDist: (n, g) => {
    const [w, x, y] = n.args;
    const [gw, gd] = weightedVjp(w, sub(x, y), g);
    return [gw, gd, neg(gd)];
  },
  MatVecMult: (n, g) => [op('TensorProd', [g, a1(n)]), op('VecMatMult', [g, a0(n)])],
  VecMatMult: (n, g) => [op('MatVecMult', [a1(n), g]), op('TensorProd', [a0(n), g])],
  TensorProd: (n, g) => [op('MatVecMult', [g, a1(n)]), op('VecMatMult', [a0(n), g])],
  // KeOps' rules: ∓1/sqrt(1 - f²), and for sin(f)/f one that is NaN at f = 0 as KeOps' is.
  Acos: pointwise((n) => neg(op('Rsqrt', [sub(c(1), op('Square', [a0(n)]))]))),
  Asin: pointwise((n) => op('Rsqrt', [sub(c(1), op('Square', [a0(n)]))])),
  SinXDivX: pointwise((n) => div(sub(op('Cos', [a0(n)]), n), a0(n))),
  XLogX: pointwise((n) => add(op('Log', [a0(n)]), c(1))),
  Equal: none,
  NotEqual: none,
  LessThan: none,
  LessOrEqual: none,
  ArgMax: none,
  ArgMin: none,
  Gather: (n, g) => [scatter(g, n.ints, a0(n).dim)],
  SoftDTW_SqDist: (n, g) => {
    const [x, y] = n.args;
    const xy = op('GradSoftDTW_SqDist', n.args);
    return [mul(g, op('Extract', [xy], [0, x.dim])), mul(g, op('Extract', [xy], [x.dim, y.dim])), mul(g, op('GradSoftDTW_SqDist_Gamma', n.args))];
  },
  GradSoftDTW_SqDist: secondDerivative,
  GradSoftDTW_SqDist_Gamma: secondDerivative,
};

function secondDerivative(): never {
  throw new OptionError('second derivatives of SoftDTW_SqDist are not built');
}

/**
 * The transpose of Gather(f, indices): component c of the result sums the components k
 * of g with indices[k] = c. A permutation or selection (each c picked at most twice) is
 * one gather per repeat, reading a zero where a component is not picked; a broadcast
 * (SumT, a complex scalar) gathers g by target and sums each target's run, so its
 * gradient stays a handful of instructions however wide the broadcast.
 */
function scatter(g: Node, indices: readonly number[], dim: number): Node {
  const where: number[][] = Array.from({ length: dim }, () => []);
  indices.forEach((c, k) => where[c].push(k));
  const rounds = where.reduce((most, w) => Math.max(most, w.length), 0);
  if (rounds > 2) {
    const sorted = op('Gather', [g], where.flat());
    const parts: Node[] = [];
    let start = 0;
    let zeros = 0; // targets nothing picks, since the last part: one Zero for a run of them
    for (const w of where) {
      if (w.length === 0) {
        zeros++;
        continue;
      }
      if (zeros > 0) parts.push(zero(zeros));
      zeros = 0;
      parts.push(w.length === 1 ? op('Elem', [sorted], [start]) : op('Sum', [op('Extract', [sorted], [start, w.length])]));
      start += w.length;
    }
    if (zeros > 0) parts.push(zero(zeros));
    return parts.reduce((a, b) => op('Concat', [a, b]));
  }
  const padded = where.some((w) => w.length < rounds) ? op('Concat', [g, zero(1)]) : g;
  let out: Node | null = null;
  for (let r = 0; r < rounds; r++) {
    const picked = op('Gather', [padded], where.map((w) => w[r] ?? g.dim));
    out = out === null ? picked : add(out, picked);
  }
  return out as Node;
}

// ---------------------------------------------------------------------------------------
// Grad, Diff, GradMatrix, Divergence, Laplacian
// ---------------------------------------------------------------------------------------

const varKey = (v: VarNode): string => `${v.cat}:${v.pos}`;

/** The op nodes of a formula, every node after all the nodes it reads (iterative). */
function topological(root: Node): OpNode[] {
  const order: OpNode[] = [];
  foldNodes<null>(root, (n) => {
    if (n.kind === 'op') order.push(n);
    return null;
  });
  return order;
}

/**
 * Grad(F, v, e): the gradient of F with respect to the variable v, applied to e (of F's
 * dimension): Σ_k e_k ∂F_k/∂v, a formula of v's dimension. Zero(dim v) when F does not
 * read v.
 *
 * @example
 * // Grad(Exp(-SqDist(x,y)), x, e) = e·Exp(-SqDist(x,y))·(-2(x − y))
 * const gx = grad(formula, x, e);
 */
export function grad(F: Node, v: Node, e: Node): Node {
  if (v.kind !== 'var') throw new OptionError(`Grad differentiates with respect to a variable, not ${v.kind === 'const' ? 'a constant' : `the formula ${v.op}(…)`}`);
  if (e.dim !== F.dim) throw new ShapeError(`Grad: the input gradient has dimension ${e.dim}, the formula ${F.dim}; they must be equal`);
  const cot = new Map<Node, Node>([[F, e]]);
  let result: Node | null = null;
  const addTo = (n: Node, g: Node): void => {
    if (n.kind === 'var') {
      if (varKey(n) === varKey(v)) result = result === null ? g : add(result, g);
      return;
    }
    if (n.kind === 'const') return;
    const known = cot.get(n);
    cot.set(n, known === undefined ? g : add(known, g));
  };
  if (F.kind === 'var') addTo(F, e);
  const order = topological(F);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k];
    const g = cot.get(n);
    if (g === undefined || isZero(g)) continue;
    cot.delete(n);
    VJP[n.op](n, g).forEach((ga, j) => {
      if (ga !== null && !isZero(ga)) addTo(n.args[j], ga);
    });
  }
  // (result is assigned in addTo, a closure: TypeScript's narrowing does not see it.)
  const found = result as Node | null;
  if (found === null) return zero(v.dim);
  // A new node is marked as this gradient (the lowering may fuse it, kernels.ts); one
  // that already stood in F or e (Grad(x, x, e) is e) is not: it means itself elsewhere.
  if (found.kind === 'op' && !order.includes(found) && !reaches(e, found)) markGradient(found, { F, v, e });
  return found;
}

/** True when `target` is `root` or one of its subformulas. */
function reaches(root: Node, target: Node): boolean {
  return foldNodes<boolean>(root, (n, args) => n === target || args.some((a) => a));
}

// Temporary variables (KeOps' gradin) are parameters in slots no formula can name
// (variable positions from the top of the 31-bit range down); they are substituted away
// before a formula leaves this file.
let nextTemp = 0;
function temporary(dim: number): VarNode {
  nextTemp = (nextTemp + 1) % 0x10000;
  return variable('param', 0x7fffffff - nextTemp, dim);
}

/** F with the variable t replaced by the node `by`, folded again where that makes zeros. */
function substitute(F: Node, t: VarNode, by: Node): Node {
  return foldNodes<Node>(F, (n, args) => {
    if (n.kind === 'var') return varKey(n) === varKey(t) ? by : n;
    if (n.kind === 'const') return n;
    return args.every((a, k) => a === n.args[k]) ? n : rebuild(n, args);
  });
}

/** n with new operands, folded like the builders fold. */
function rebuild(n: OpNode, args: Node[]): Node {
  switch (n.op) {
    case 'Add': return add(args[0], args[1]);
    case 'Subtract': return sub(args[0], args[1]);
    case 'Mult': return mul(args[0], args[1]);
    case 'Divide': return div(args[0], args[1]);
    case 'Minus': return neg(args[0]);
    case 'Scalprod': return dot(args[0], args[1]);
    default: return op(n.op, args, n.ints);
  }
}

function reads(F: Node, t: VarNode): boolean {
  return foldNodes<boolean>(F, (n, args) => (n.kind === 'var' ? varKey(n) === varKey(t) : args.some(Boolean)));
}

/**
 * Diff(F, v, u): the differential of F with respect to v applied to u (of v's dimension),
 * a formula of F's dimension: the adjoint of e ↦ Grad(F, v, e), applied to u.
 *
 * @example
 * diff(formula, x, u); // Σ_k u_k ∂F/∂x_k
 */
export function diff(F: Node, v: Node, u: Node): Node {
  if (v.kind !== 'var') throw new OptionError('Diff differentiates with respect to a variable');
  if (u.dim !== v.dim) throw new ShapeError(`Diff: the direction has dimension ${u.dim}, the variable ${v.dim}; they must be equal`);
  const t = temporary(F.dim);
  // Grad(F, v, t) is linear in t; the gradient of (Grad(F, v, t) | u) in t is its adjoint at u.
  const out = grad(op('Scalprod', [grad(F, v, t), u]), t, c(1));
  if (reads(out, t)) throw new LazyKernelError('internal: Diff left its temporary variable in the formula');
  return out;
}

/** The k-th vector of the standard basis of dimension d. */
const basis = (k: number, d: number): Node => op('OneHot', [c(k)], [d]);

/**
 * GradMatrix(F, v): the gradient's matrix (the Jacobian's transpose) as a vector of
 * dimension dim(F)·dim(v), row k being Grad(F, v, e_k), as KeOps concatenates it.
 *
 * @example
 * gradMatrix(formula, x); // [∂F_0/∂x, ∂F_1/∂x, …]
 */
export function gradMatrix(F: Node, v: Node): Node {
  if (v.kind !== 'var') throw new OptionError('GradMatrix differentiates with respect to a variable');
  const t = temporary(F.dim);
  const g = grad(F, v, t);
  let out: Node | null = null;
  for (let k = 0; k < F.dim; k++) {
    const row = substitute(g, t, basis(k, F.dim));
    out = out === null ? row : op('Concat', [out, row]);
  }
  return out as Node;
}

/**
 * Divergence(F, v): Σ_k ∂F_k/∂v_k, for F and v of equal dimension.
 *
 * @example
 * divergence(formula, x); // a scalar formula
 */
export function divergence(F: Node, v: Node): Node {
  if (v.kind !== 'var') throw new OptionError('Divergence differentiates with respect to a variable');
  if (F.dim !== v.dim) throw new ShapeError(`Divergence needs a formula of the variable's dimension: ${F.dim} against ${v.dim}`);
  const t = temporary(F.dim);
  const g = grad(F, v, t);
  let out: Node = zero(1);
  for (let k = 0; k < F.dim; k++) out = add(out, op('Elem', [substitute(g, t, basis(k, F.dim))], [k]));
  return out;
}

/**
 * Laplacian(F, v) = Divergence(Grad(F, v, 1), v), for a scalar F.
 *
 * @example
 * laplacian(gaussian, x); // Σ_k ∂²F/∂x_k²
 */
export function laplacian(F: Node, v: Node): Node {
  if (F.dim !== 1) throw new ShapeError(`Laplacian needs a scalar formula, not one of dimension ${F.dim}`);
  return divergence(grad(F, v, c(1)), v);
}

/**
 * Recognition of the fused radial kernels: F = phi(s) * b with s = scale * SqDist(x, y),
 * x an i-variable, y a j-variable, b a j-variable and scale a dim-1 expression of
 * parameters and constants. Only exact matches are recognised: the native engine may
 * replace the generic code by its fused loop, so a near miss taken for a kernel would be
 * a wrong answer, while a kernel left unrecognised is only slower.
 *
 * Recognised spellings (E is `SqDist(x,y)` times or divided by scale factors, any
 * number of them, in any order, with any `-` signs; IntCst(1) may be written 1; the
 * factor b may stand on either side and the products may nest either way):
 *   gaussian  Exp(E) * b                         e.g. Exp(-g*SqDist(x,y))*b, Exp(-SqDist(x,y)/s)*b
 *                                                s = -E, so Exp(g*SqDist(x,y)) has scale -g
 *   laplace   Exp(-Sqrt(E)) * b                  e.g. Exp(-Sqrt(g*SqDist(x,y)))*b
 *   cauchy    Inv(IntCst(1)+E) * b  or  (IntCst(1)/(IntCst(1)+E)) * b
 *   imq       Rsqrt(IntCst(1)+E) * b
 *   matern32  (IntCst(1)+Sqrt(E)) * Exp(-Sqrt(E)) * b
 *   matern52  (IntCst(1)+Sqrt(E)+E/IntCst(3)) * Exp(-Sqrt(E)) * b   (the three terms in any order)
 * For the last four s = E. Every E inside one formula must be the same expression.
 * A SumSoftMaxWeight with F = E (gaussian, s = -E) or F = -Sqrt(E) (laplace) and weights
 * a j-variable b is recognised too: its weights exp(F) are phi(s). And F = E alone under a
 * Min or KMin reduction is 'sqdist', a nearest-neighbour search (s = E).
 */
import { constant, gradientOrigin, isParamOnly, Node, OpName, OpNode, VarCategory, VarNode } from './ir';
import { structuralKey } from './keys';
import type { KernelName } from './program';

/** One factor of the scale: a dim-1 parameter/constant expression, multiplied or divided. */
export interface ScaleFactor { node: Node; divide: boolean }

/**
 * A recognised kernel; scale = sign * product of the factors (× or ÷). With `w`, the
 * kernel's gradient with respect to x applied to w (see {@link recogniseKernelGradient}).
 */
export interface RecognisedKernel {
  tag: Exclude<KernelName, 'none'>;
  x: VarNode;
  y: VarNode;
  /** The j-side factor; absent for 'sqdist' (F = E itself). */
  b?: VarNode;
  factors: ScaleFactor[];
  sign: 1 | -1;
  w?: VarNode;
}

/** E = sign * product(factors) * SqDist(x, y). */
interface Scaled { x: VarNode; y: VarNode; factors: ScaleFactor[]; sign: 1 | -1; key: string }

type Cat = (v: VarNode) => VarCategory;

const isOp = <K extends OpName>(n: Node, op: K): n is OpNode & { readonly op: K } => n.kind === 'op' && n.op === op;
const isOne = (n: Node): boolean => n.kind === 'const' && n.value === 1 && n.dim === 1;

/** A scale factor with its obvious signs taken out (Minus nodes and negative constants). */
function scaleFactor(node: Node, divide: boolean): { factor: ScaleFactor; sign: 1 | -1 } | null {
  if (node.dim !== 1 || !isParamOnly(node)) return null;
  let sign: 1 | -1 = 1;
  while (isOp(node, 'Minus')) {
    node = node.args[0];
    sign = sign === 1 ? -1 : 1;
  }
  if (node.kind === 'const' && node.value < 0) {
    node = constant(-node.value);
    sign = sign === 1 ? -1 : 1;
  }
  return { factor: { node, divide }, sign };
}

/**
 * How deep `scaled` looks through Minus, Mult and Divide: a kernel's scale has a few
 * factors, and a formula nested deeper simply runs on the generic path. (Each Mult may
 * try both sides, so a formula that shares its subformulas costs up to 2^depth.)
 */
const MAX_SCALE_DEPTH = 8;

function scaled(e: Node, cat: Cat, depth = 0): Scaled | null {
  if (depth > MAX_SCALE_DEPTH) return null;
  if (isOp(e, 'SqDist')) {
    const [a, b] = e.args;
    if (a.kind !== 'var' || b.kind !== 'var') return null;
    const [x, y] = cat(a) === 'i' ? [a, b] : [b, a];
    if (cat(x) !== 'i' || cat(y) !== 'j') return null;
    return { x, y, factors: [], sign: 1, key: structuralKey(e) };
  }
  if (isOp(e, 'Minus')) {
    const inner = scaled(e.args[0], cat, depth + 1);
    return inner && { ...inner, sign: inner.sign === 1 ? -1 : 1, key: structuralKey(e) };
  }
  const combine = (inner: Scaled | null, other: Node, divide: boolean): Scaled | null => {
    if (inner === null) return null;
    const f = scaleFactor(other, divide);
    if (f === null) return null;
    return { ...inner, factors: [...inner.factors, f.factor], sign: inner.sign === f.sign ? 1 : -1, key: structuralKey(e) };
  };
  if (isOp(e, 'Mult')) {
    return combine(scaled(e.args[0], cat, depth + 1), e.args[1], false) ?? combine(scaled(e.args[1], cat, depth + 1), e.args[0], false);
  }
  if (isOp(e, 'Divide')) return combine(scaled(e.args[0], cat, depth + 1), e.args[1], true);
  return null;
}

/** Sqrt(E) -> E. */
function sqrtOf(n: Node, cat: Cat): Scaled | null {
  return isOp(n, 'Sqrt') ? scaled(n.args[0], cat) : null;
}

/** Exp(-Sqrt(E)) -> E. */
function expMinusSqrt(n: Node, cat: Cat): Scaled | null {
  return isOp(n, 'Exp') && isOp(n.args[0], 'Minus') ? sqrtOf(n.args[0].args[0], cat) : null;
}

/** 1 + E (either order) -> E. */
function onePlus(n: Node, cat: Cat): Scaled | null {
  if (!isOp(n, 'Add')) return null;
  const [a, b] = n.args;
  return isOne(a) ? scaled(b, cat) : isOne(b) ? scaled(a, cat) : null;
}

/** The leaves of a tree of `op` nodes, left to right (iterative: a flat sum may hold thousands). */
function flatten(n: Node, op: 'Add' | 'Mult'): Node[] {
  const out: Node[] = [];
  const stack = [n];
  while (stack.length > 0) {
    const t = stack.pop() as Node;
    if (isOp(t, op)) stack.push(t.args[1], t.args[0]);
    else out.push(t);
  }
  return out;
}

/** The addends of a tree of Adds. */
function addends(n: Node): Node[] {
  return flatten(n, 'Add');
}

/** The factors of a tree of Mults. */
function factors(n: Node): Node[] {
  return flatten(n, 'Mult');
}

type Found = { tag: RecognisedKernel['tag']; s: Scaled; negate?: boolean };

/** F with exp(F) = phi: -Sqrt(E) (laplace) or E (gaussian, s = -E). */
function logProfile(f: Node, cat: Cat): Found | null {
  const laplace = isOp(f, 'Minus') ? sqrtOf(f.args[0], cat) : null;
  if (laplace) return { tag: 'laplace', s: laplace };
  const gauss = scaled(f, cat);
  return gauss && { tag: 'gaussian', s: gauss, negate: true };
}

function single(phi: Node, cat: Cat): Found | null {
  if (isOp(phi, 'Exp')) return logProfile(phi.args[0], cat);
  if (isOp(phi, 'Inv')) {
    const s = onePlus(phi.args[0], cat);
    return s && { tag: 'cauchy', s, negate: false };
  }
  if (isOp(phi, 'Divide') && isOne(phi.args[0])) {
    const s = onePlus(phi.args[1], cat);
    return s && { tag: 'cauchy', s, negate: false };
  }
  if (isOp(phi, 'Rsqrt')) {
    const s = onePlus(phi.args[0], cat);
    return s && { tag: 'imq', s, negate: false };
  }
  return null;
}

/** The polynomial of a Matérn kernel: 1 + r (3/2) or 1 + r + r²/3 (5/2), r = Sqrt(E). */
function matern(poly: Node, expo: Node, cat: Cat): { tag: RecognisedKernel['tag']; s: Scaled } | null {
  const s = expMinusSqrt(expo, cat);
  if (s === null) return null;
  const terms = addends(poly);
  const isR = (t: Node): boolean => sqrtOf(t, cat)?.key === s.key;
  const isRSquaredOver3 = (t: Node): boolean => {
    if (!isOp(t, 'Divide') || !(t.args[1].kind === 'const' && t.args[1].value === 3 && t.args[1].dim === 1)) return false;
    const num = t.args[0];
    return structuralKey(num) === s.key || (isOp(num, 'Square') && isR(num.args[0]));
  };
  const count = (test: (t: Node) => boolean): number => terms.filter(test).length;
  if (terms.length === 2 && count(isOne) === 1 && count(isR) === 1) return { tag: 'matern32', s };
  if (terms.length === 3 && count(isOne) === 1 && count(isR) === 1 && count(isRSquaredOver3) === 1) {
    return { tag: 'matern52', s };
  }
  return null;
}

/**
 * Recognises F as one of the fused kernels, or returns null. `cat` gives each variable's
 * category after any axis swap; b is on the `bSide` side (j for a kernel sum).
 *
 * @example
 * recogniseKernel(parseFormula('Exp(-g*SqDist(x,y))*b', aliases).node, (v) => v.cat)?.tag; // 'gaussian'
 */
export function recogniseKernel(formula: Node, cat: Cat, bSide: VarCategory = 'j'): RecognisedKernel | null {
  if (formula.kind !== 'op' || formula.op !== 'Mult') return null;
  const all = factors(formula);
  const bs = all.filter((f): f is VarNode => f.kind === 'var' && cat(f) === bSide);
  if (bs.length !== 1) return null;
  const b = bs[0];
  const rest = all.filter((f) => f !== b);
  let found: Found | null = null;
  if (rest.length === 1) found = single(rest[0], cat);
  else if (rest.length === 2) found = matern(rest[0], rest[1], cat) ?? matern(rest[1], rest[0], cat);
  return found && kernelOf(found, b);
}

function kernelOf(found: Found, b: VarNode): RecognisedKernel {
  const { s } = found;
  const sign = found.negate ? (s.sign === 1 ? -1 : 1) : s.sign;
  return { tag: found.tag, x: s.x, y: s.y, b, factors: s.factors, sign };
}

/**
 * Recognises a SumSoftMaxWeight whose weights exp(F) are a Gaussian or Laplace kernel
 * (F = E or F = -Sqrt(E), spelled as for {@link recogniseKernel}) and whose values are one
 * j-variable, or returns null. The native engine uses it only to prune.
 *
 * @example
 * recogniseSoftmaxKernel(parseFormula('-g*SqDist(x,y)', aliases).node, v, (v) => v.cat)?.tag; // 'gaussian'
 */
export function recogniseSoftmaxKernel(formula: Node, weights: Node, cat: Cat): RecognisedKernel | null {
  if (weights.kind !== 'var' || cat(weights) !== 'j') return null;
  const found = logProfile(formula, cat);
  return found && kernelOf(found, weights);
}

const sameVar = (a: VarNode, b: VarNode): boolean => a.cat === b.cat && a.pos === b.pos;

/**
 * Recognises F as a fused kernel's gradient with respect to its row points: a node built
 * as Grad(phi(s)·b, x, e) (ir.ts, gradientOrigin), phi(s)·b a kernel spelled as for
 * {@link recogniseKernel} but with b on either side, x its i-variable, e a variable on
 * the side b is not, and b not x itself. Σ_k e_k ∂(phi·b_k)/∂x = phi'(s)·2·scale·(x − y)·⟨e, b⟩,
 * so the result is the kernel with b the j-side one of (b, e) and w the i-side one: both
 * KeOps' Grad(K·b, x, e) (w = e) and the gradient with respect to y, reduced over the
 * other axis (w = b), are the one native loop.
 *
 * @example
 * const { node } = parseFormula('Grad(Exp(-g*SqDist(x,y))*b, x, e)', [...aliases, 'e=Vi(1)']);
 * recogniseKernelGradient(node, (v) => v.cat)?.w?.name; // 'e'
 */
export function recogniseKernelGradient(formula: Node, cat: Cat): RecognisedKernel | null {
  const origin = gradientOrigin(formula);
  if (origin === undefined || origin.e.kind !== 'var') return null;
  const { F, v, e } = origin;
  const k = recogniseKernel(F, cat, 'j') ?? recogniseKernel(F, cat, 'i');
  const b = k?.b;
  if (k === null || b === undefined || !sameVar(v, k.x) || sameVar(b, v)) return null;
  const [u, w] = cat(b) === 'j' ? [b, e] : [e, b];
  if (cat(u) !== 'j' || cat(w) !== 'i') return null;
  return { ...k, b: u, w };
}

/**
 * Recognises F = E (`SqDist(x,y)` times at most one factor, with any `-` signs) as a
 * nearest-neighbour search, for the Min and KMin
 * reductions and their pairs; or returns null. The native engine prunes it (exactly)
 * where the scale is positive, and runs the generic code otherwise.
 *
 * @example
 * recogniseNearest(parseFormula('SqDist(x,y)', aliases).node, (v) => v.cat)?.tag; // 'sqdist'
 */
export function recogniseNearest(formula: Node, cat: Cat): RecognisedKernel | null {
  const s = scaled(formula, cat);
  // The engine multiplies the squared distance by one scale register: the same rounding
  // as the formula's own product only for one factor (or none), multiplied. Divisions
  // and products of several factors round differently, so a near tie could order
  // otherwise than the formula's own values: those run the generic code.
  if (s === null || s.factors.length > 1 || s.factors.some((f) => f.divide)) return null;
  return { tag: 'sqdist', x: s.x, y: s.y, factors: s.factors, sign: s.sign };
}

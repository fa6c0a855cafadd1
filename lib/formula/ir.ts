/**
 * The formula IR: immutable nodes with their output dimension, built only through the
 * factories below so that every node that exists has passed KeOps' dimension rules.
 *
 * One table (`OPS`) holds every operation: its KeOps name, how many formula operands and
 * integer parameters it takes, and its dimension rule. The parser, the printer, the
 * LazyTensor methods and the lowering all read that table, so a new operation is one
 * entry here plus one case in lower.ts.
 */
import { OptionError, ShapeError } from '../errors';

/** Where a variable's rows come from: the output side (i), the reduced side (j), or neither. */
export type VarCategory = 'i' | 'j' | 'param';

/** An argument of the formula: `Vi(pos, dim)`, `Vj(pos, dim)` or `Pm(pos, dim)`. */
export interface VarNode {
  readonly kind: 'var';
  readonly cat: VarCategory;
  /** The argument slot. */
  readonly pos: number;
  readonly dim: number;
  /** The alias name, for messages and printing; not part of the node's identity. */
  readonly name?: string;
}

/** A constant vector of `dim` equal values: `IntCst(n)`, `Zero(d)` or a number literal. */
export interface ConstNode {
  readonly kind: 'const';
  readonly value: number;
  readonly dim: number;
}

/** An operation of {@link OPS}. `ints` holds its integer parameters (Pow's exponent, Elem's index…). */
export interface OpNode {
  readonly kind: 'op';
  readonly op: OpName;
  readonly args: readonly Node[];
  readonly ints: readonly number[];
  readonly dim: number;
}

export type Node = VarNode | ConstNode | OpNode;

/**
 * The largest dimension a variable or an intermediate may have. It keeps every dimension
 * (and products such as TensorProd's) exactly representable in the program's Int32Array.
 */
export const MAX_DIM = 1 << 24;

/**
 * The most nodes a formula may have, a shared subformula counted once per use: its text
 * and structural key are about that long (a LazyTensor that squares itself 40 times
 * would print to 2^40 terms). Far beyond any real kernel.
 */
export const MAX_FORMULA_TERMS = 1 << 20;

/** Terms of each operation node, counted with repetition (set by {@link operation}). */
const termCounts = new WeakMap<Node, number>();

function termCount(n: Node): number {
  return n.kind === 'op' ? (termCounts.get(n) ?? 1) : 1;
}

/** How an operation prints: as a function call, or infix as KeOps' Python operators. */
type Printing = 'call' | 'prefix-minus' | { infix: string };

interface OpSpec {
  /** Number of formula operands. */
  readonly arity: number;
  /** Names of the integer parameters that follow the operands. */
  readonly ints: readonly string[];
  readonly printing: Printing;
  /** Output dimension from the operands' dimensions; throws ShapeError. */
  readonly dim: (args: readonly Node[], ints: readonly number[], name: string) => number;
  /** The dimension rule in words, and what the operation computes (docs/ops.md is made from these). */
  readonly rule: string;
  readonly about: string;
  /** The operands' names in `rule` and `about`, where not f, g or f, a, b. */
  readonly operands?: readonly string[];
  /** The integer parameters are one list literal of any length, `[k0,k1,…]` (Gather's indices). */
  readonly list?: boolean;
}

function same(args: readonly Node[]): number {
  return args[0].dim;
}

/** KeOps' element-wise rule: operands of equal dimension, or of dimension 1 (broadcast). */
function elementwise(args: readonly Node[], _ints: readonly number[], name: string): number {
  const dims = args.map((a) => a.dim);
  const out = Math.max(...dims);
  if (dims.some((d) => d !== 1 && d !== out)) {
    throw new ShapeError(
      `${name}: operands ${describeAll(args)} do not fit; element-wise operands need equal dimensions or dimension 1`,
    );
  }
  return out;
}

function equalDims(args: readonly Node[], _ints: readonly number[], name: string): number {
  if (args.some((a) => a.dim !== args[0].dim)) {
    throw new ShapeError(`${name}: operands ${describeAll(args)} must have equal dimensions`);
  }
  return 1;
}

const scalar = (): number => 1;

function weighted(w: Node, x: Node, name: string): number {
  const d = x.dim;
  if (w.dim !== 1 && w.dim !== d && w.dim !== d * d) {
    throw new ShapeError(
      `${name}: the weight ${describe(w)} must have dimension 1 (isotropic), ${d} (diagonal) ` +
        `or ${d * d} (full symmetric matrix) to match ${describe(x)}`,
    );
  }
  return 1;
}

/** The most cells (dim(x)·dim(y)) of a soft-DTW; native/ops.h's kMaxSoftDtwCells is the same bound. */
export const MAX_SOFTDTW_CELLS = 1 << 22;

function softDtwDims(out: (args: readonly Node[]) => number) {
  return (args: readonly Node[], _ints: readonly number[], name: string): number => {
    const [x, y, gamma] = args;
    if (gamma.dim !== 1) throw new ShapeError(`${name}: gamma ${describe(gamma)} must have dimension 1`);
    if (x.dim * y.dim > MAX_SOFTDTW_CELLS) throw new ShapeError(`${name}: series of ${x.dim} and ${y.dim} values have more than ${MAX_SOFTDTW_CELLS} cells`);
    return out(args);
  };
}

const SAME = 'dim(f)';
const ELEMENTWISE = 'the largest operand dim; each operand has that dim or 1 (broadcast)';
const EQUAL = '1; the operands have equal dims';
const unary = { arity: 1, ints: [], printing: 'call', dim: same, rule: SAME } as const;
const binaryElementwise = { arity: 2, ints: [], printing: 'call', dim: elementwise, rule: ELEMENTWISE } as const;

/** Every operation of the formula language, by its KeOps name. */
export const OPS = {
  Minus: { arity: 1, ints: [], printing: 'prefix-minus', dim: same, rule: SAME, about: '-f' },
  Add: { ...binaryElementwise, printing: { infix: '+' }, about: 'f + g' },
  Subtract: { ...binaryElementwise, printing: { infix: '-' }, about: 'f - g' },
  Mult: { ...binaryElementwise, printing: { infix: '*' }, about: 'f * g' },
  Divide: { ...binaryElementwise, printing: { infix: '/' }, about: 'f / g' },
  Exp: { ...unary, about: 'e^f' },
  Log: { ...unary, about: 'natural logarithm' },
  Sqrt: { ...unary, about: 'square root' },
  Rsqrt: { ...unary, about: '1 / sqrt(f), 0 where f = 0 (as KeOps)' },
  Square: { ...unary, about: 'f^2' },
  Inv: { ...unary, about: '1 / f' },
  Abs: { ...unary, about: '|f|' },
  Sign: { ...unary, about: '-1, 0 or 1' },
  Step: { ...unary, about: '1 where f >= 0, else 0' },
  ReLU: { ...unary, about: 'max(f, 0)' },
  Sin: { ...unary, about: 'sine' },
  Cos: { ...unary, about: 'cosine' },
  Atan: { ...unary, about: 'arc tangent' },
  Floor: { ...unary, about: 'largest integer <= f' },
  Atan2: { ...binaryElementwise, about: 'atan2(f, g), the angle of the point (g, f)' },
  Powf: { ...binaryElementwise, about: 'f^g = exp(g log f)' },
  Pow: { arity: 1, ints: ['exponent'], printing: 'call', dim: same, rule: SAME, about: 'f^n for an integer n' },
  Round: {
    arity: 1, ints: ['decimals'], printing: 'call', rule: SAME, about: 'f rounded to d decimals (d from -30 to 30)',
    dim: ([f], [decimals], name) => {
      // 10^±30 is finite in float32 as well; the engine rounds through that scale.
      if (decimals < -30 || decimals > 30) throw new OptionError(`${name}: decimals must be from -30 to 30, not ${decimals}`);
      return f.dim;
    },
  },
  Clamp: { arity: 3, ints: [], printing: 'call', dim: elementwise, rule: ELEMENTWISE, about: 'min(max(f, a), b)' },
  IfElse: { arity: 3, ints: [], printing: 'call', dim: elementwise, rule: ELEMENTWISE, about: 'a where f >= 0, else b' },
  Mod: { operands: ['f', 'n', 'offset'], arity: 3, ints: [], printing: 'call', dim: elementwise, rule: ELEMENTWISE, about: 'f - n floor((f - offset) / n)' },
  SqDist: { arity: 2, ints: [], printing: 'call', dim: equalDims, rule: EQUAL, about: 'squared Euclidean distance |f - g|^2' },
  Scalprod: { arity: 2, ints: [], printing: { infix: '|' }, dim: equalDims, rule: EQUAL, about: 'scalar product, written (f|g)' },
  SqNorm2: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'squared Euclidean norm' },
  Norm2: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'Euclidean norm' },
  Normalize: { ...unary, about: 'f / |f| (0 where f = 0)' },
  Sum: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'sum of the components' },
  Max: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'largest component' },
  Min: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'smallest component' },
  Elem: {
    arity: 1, ints: ['index'], printing: 'call', rule: '1', about: 'component k (from 0)',
    dim: ([f], [k], name) => {
      if (k < 0 || k >= f.dim) throw new ShapeError(`${name}: index ${k} is outside the ${f.dim} components of ${describe(f)}`);
      return 1;
    },
  },
  Extract: {
    arity: 1, ints: ['start', 'dim'], printing: 'call', rule: 'dim', about: 'components start .. start + dim - 1',
    dim: ([f], [start, d], name) => {
      if (start < 0 || d < 1 || start + d > f.dim) {
        throw new ShapeError(`${name}: components ${start}..${start + d - 1} are outside the ${f.dim} components of ${describe(f)}`);
      }
      return d;
    },
  },
  Concat: { arity: 2, ints: [], printing: 'call', dim: ([f, g]) => f.dim + g.dim, rule: 'dim(f) + dim(g)', about: 'f then g' },
  OneHot: {
    arity: 1, ints: ['dim'], printing: 'call', rule: 'dim; f has dim 1', about: 'the one-hot vector at round(f)',
    dim: ([f], [d], name) => {
      if (f.dim !== 1) throw new ShapeError(`${name}: ${describe(f)} must have dimension 1`);
      if (d < 1) throw new ShapeError(`${name}: the output dimension must be at least 1, not ${d}`);
      return d;
    },
  },
  WeightedSqNorm: {
    operands: ['w', 'x'], arity: 2, ints: [], printing: 'call', dim: ([w, x], _i, name) => weighted(w, x, name),
    rule: '1; dim(w) is 1, dim(x) or dim(x)^2', about: 'x^T W x, W = w I, diag(w) or the matrix w',
  },
  WeightedSqDist: {
    operands: ['w', 'x', 'y'], arity: 3, ints: [], printing: 'call', rule: '1; dim(x) = dim(y); dim(w) is 1, dim(x) or dim(x)^2',
    about: 'WeightedSqNorm(w, x - y)',
    dim: ([w, x, y], i, name) => {
      equalDims([x, y], i, name);
      return weighted(w, x, name);
    },
  },
  MatVecMult: {
    operands: ['A', 'v'], arity: 2, ints: [], printing: 'call', rule: 'dim(A) / dim(v)', about: 'A v, A a row-major matrix',
    dim: ([a, v], _i, name) => {
      if (a.dim % v.dim !== 0) throw new ShapeError(`${name}: the matrix ${describe(a)} is not a multiple of the vector ${describe(v)}`);
      return a.dim / v.dim;
    },
  },
  VecMatMult: {
    operands: ['v', 'B'], arity: 2, ints: [], printing: 'call', rule: 'dim(B) / dim(v)', about: 'v^T B, B a row-major matrix',
    dim: ([v, b], _i, name) => {
      if (b.dim % v.dim !== 0) throw new ShapeError(`${name}: the matrix ${describe(b)} is not a multiple of the vector ${describe(v)}`);
      return b.dim / v.dim;
    },
  },
  TensorProd: { arity: 2, ints: [], printing: 'call', dim: ([f, g]) => f.dim * g.dim, rule: 'dim(f) dim(g)', about: 'outer product, row-major' },
  Acos: { ...unary, about: 'arc cosine' },
  Asin: { ...unary, about: 'arc sine' },
  SinXDivX: { ...unary, about: 'sin(f) / f, 1 where f = 0' },
  XLogX: { ...unary, about: 'f log f, 0 where f = 0' },
  Equal: { ...binaryElementwise, about: '1 where f = g, else 0' },
  NotEqual: { ...binaryElementwise, about: '1 where f != g (or either is NaN), else 0' },
  LessThan: { ...binaryElementwise, about: '1 where f < g, else 0; also written f < g, and g > f' },
  LessOrEqual: { ...binaryElementwise, about: '1 where f <= g, else 0; also written f <= g, and g >= f' },
  ArgMax: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'index of the first largest component' },
  ArgMin: { arity: 1, ints: [], printing: 'call', dim: scalar, rule: '1', about: 'index of the first smallest component' },
  SoftDTW_SqDist: {
    operands: ['x', 'y', 'gamma'], arity: 3, ints: [], printing: 'call', rule: '1; gamma has dim 1',
    about: 'soft-DTW discrepancy of the series x and y under (x_i - y_j)^2, smoothing gamma',
    dim: softDtwDims(() => 1),
  },
  GradSoftDTW_SqDist: {
    operands: ['x', 'y', 'gamma'], arity: 3, ints: [], printing: 'call', rule: 'dim(x) + dim(y)',
    about: 'the gradient of SoftDTW_SqDist with respect to x, then y',
    dim: softDtwDims(([x, y]) => x.dim + y.dim),
  },
  GradSoftDTW_SqDist_Gamma: {
    operands: ['x', 'y', 'gamma'], arity: 3, ints: [], printing: 'call', rule: '1',
    about: 'the derivative of SoftDTW_SqDist with respect to gamma (lazykernel\'s; KeOps has none)',
    dim: softDtwDims(() => 1),
  },
  Gather: {
    arity: 1, ints: ['indices'], list: true, printing: 'call', rule: 'the number of indices',
    about: 'components k0, k1, … of f, in that order, repeats allowed (lazykernel\'s; KeOps has none)',
    dim: ([f], ks, name) => {
      const bad = ks.find((k) => k < 0 || k >= f.dim);
      if (bad !== undefined) throw new ShapeError(`${name}: index ${bad} is outside the ${f.dim} components of ${describe(f)}`);
      return ks.length;
    },
  },
} satisfies Record<string, OpSpec>;

export type OpName = keyof typeof OPS;

/** True when `name` is an operation of the formula language. */
export function isOpName(name: string): name is OpName {
  return Object.prototype.hasOwnProperty.call(OPS, name);
}

/** The spec of an operation (arity, integer parameter names). */
export function opSpec(name: OpName): OpSpec {
  return OPS[name];
}

function checkDim(dim: number, what: string): void {
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
    throw new ShapeError(`${what}: dimension ${dim} must be an integer from 1 to ${MAX_DIM}`);
  }
}

/**
 * A variable node.
 *
 * @example
 * const x = variable('i', 0, 3, 'x'); // x = Vi(0,3)
 * x.dim; // 3
 */
export function variable(cat: VarCategory, pos: number, dim: number, name?: string): VarNode {
  if (!Number.isInteger(pos) || pos < 0 || pos > 0x7fffffff) {
    throw new OptionError(`variable ${name ?? ''} position ${pos} must be a non-negative integer`);
  }
  checkDim(dim, `variable ${name ?? `${catName(cat)}(${pos})`}`);
  return name === undefined ? { kind: 'var', cat, pos, dim } : { kind: 'var', cat, pos, dim, name };
}

/**
 * A constant node: a finite scalar, or the zero vector `Zero(dim)` (KeOps has no other vector constant).
 *
 * @example
 * constant(2);       // IntCst(2)
 * constant(0, 3);    // Zero(3)
 */
export function constant(value: number, dim = 1): ConstNode {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new OptionError(`a constant must be a finite number, not ${String(value)}`);
  }
  checkDim(dim, 'constant');
  if (dim > 1 && value !== 0) throw new OptionError(`a vector constant must be Zero(${dim}); broadcast a scalar instead of ${value}`);
  // -0 and 0 are the same constant to every later stage; keep one spelling.
  return { kind: 'const', value: value === 0 ? 0 : value, dim };
}

/**
 * An operation node; checks the operand count, the integer parameters and the dimension
 * rule, and throws ShapeError naming the operands when the dimensions do not fit.
 *
 * @example
 * const d = operation('SqDist', [variable('i', 0, 3, 'x'), variable('j', 1, 3, 'y')]);
 * d.dim; // 1
 */
export function operation(op: OpName, args: readonly Node[], ints: readonly number[] = []): OpNode {
  const spec: OpSpec = OPS[op];
  if (args.length !== spec.arity) {
    throw new OptionError(`${op} takes ${spec.arity} operand${spec.arity === 1 ? '' : 's'}, got ${args.length}`);
  }
  if (spec.list === true ? ints.length < 1 : ints.length !== spec.ints.length) {
    throw new OptionError(spec.list === true ? `${op} takes a non-empty list of integers` : `${op} takes ${spec.ints.length} integer parameter(s), got ${ints.length}`);
  }
  ints.forEach((v, k) => {
    if (!Number.isInteger(v) || Math.abs(v) > 0x7fffffff) {
      throw new OptionError(`${op}: the ${spec.ints[k]} must be an integer of at most 31 bits, not ${v}`);
    }
  });
  const terms = args.reduce((sum, a) => sum + termCount(a), 1);
  if (terms > MAX_FORMULA_TERMS) {
    throw new OptionError(`${op}: the formula would have ${terms} terms written out (shared subformulas counted per use); at most ${MAX_FORMULA_TERMS} are allowed`);
  }
  const dim = spec.dim(args, ints, op);
  checkDim(dim, op);
  const node: OpNode = { kind: 'op', op, args: [...args], ints: [...ints], dim };
  termCounts.set(node, terms);
  return node;
}

/** How a category is called in formulas: Vi, Vj or Pm. */
export function catName(cat: VarCategory): string {
  return cat === 'i' ? 'Vi' : cat === 'j' ? 'Vj' : 'Pm';
}

/** A short description for messages: the formula text (truncated) and its dimension. */
export function describe(node: Node): string {
  return `${printText(node, false, 60)} (dimension ${node.dim})`;
}

function describeAll(nodes: readonly Node[]): string {
  return nodes.map(describe).join(', ');
}

export interface PrintOptions {
  /** Print every variable as `Vi(pos,dim)` even when it has an alias name. Default false. */
  positional?: boolean;
}

function printConst(node: ConstNode): string {
  if (node.dim > 1) return `Zero(${node.dim})`;
  // Integers use KeOps' IntCst; other numbers print as literals, which parse.ts accepts.
  return Number.isSafeInteger(node.value) ? `IntCst(${node.value})` : String(node.value);
}

/**
 * Calls `visit` on every distinct node of `root`, arguments before the node that uses
 * them, and returns its value for the root; `visit` gets a node and its arguments'
 * values. No recursion: formulas may nest thousands deep (a long chain of LazyTensor
 * calls, a flat sum of many terms), deeper than the JS stack. `memo` holds the values
 * found so far (pass one to share them between calls).
 *
 * @example
 * const size = foldNodes(node, (n, args: number[]) => 1 + args.reduce((a, b) => a + b, 0)); // nodes, shared ones counted per use
 */
export function foldNodes<R>(root: Node, visit: (node: Node, args: R[]) => R, memo: Map<Node, R> = new Map()): R {
  const done = memo.get(root);
  if (done !== undefined || memo.has(root)) return done as R;
  // Each entry is a node and whether its arguments have been pushed already.
  const stack: [Node, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, expanded] = top;
    if (memo.has(node)) {
      stack.pop();
      continue;
    }
    const args = node.kind === 'op' ? node.args : [];
    if (!expanded) {
      top[1] = true;
      for (let k = args.length - 1; k >= 0; k--) if (!memo.has(args[k])) stack.push([args[k], false]);
      continue;
    }
    stack.pop();
    memo.set(node, visit(node, args.map((a) => memo.get(a) as R)));
  }
  return memo.get(root) as R;
}

/**
 * Prints a node back in KeOps syntax. Binary operators are fully parenthesised, as
 * KeOps itself prints them, so the text parses back to the same IR (when it nests no
 * deeper than the parser allows).
 *
 * @example
 * printFormula(parseFormula('Exp(-g*SqDist(x,y))*b', aliases).node);
 * // '(Exp((-g*SqDist(x,y)))*b)'
 */
export function printFormula(node: Node, opts: PrintOptions = {}): string {
  return printText(node, opts.positional === true, Infinity);
}

/**
 * The text of printFormula, at most `limit` characters (then '...'). Written piece by
 * piece from an explicit stack, so time and memory are linear in the text, however deep
 * the formula (a text per subformula would cost the square of the depth).
 */
function printText(node: Node, positional: boolean, limit: number): string {
  const out: string[] = [];
  let length = 0;
  // Strings to emit, and nodes to expand, in reverse order.
  const stack: (string | Node)[] = [node];
  while (stack.length > 0 && length <= limit) {
    const item = stack.pop() as string | Node;
    if (typeof item === 'string') {
      out.push(item);
      length += item.length;
      continue;
    }
    const pieces = printPieces(item, positional);
    for (let k = pieces.length - 1; k >= 0; k--) stack.push(pieces[k]);
  }
  const text = out.join('');
  return text.length > limit ? `${text.slice(0, limit - 3)}...` : text;
}

/** One node as the strings and argument nodes it prints as, in order. */
function printPieces(n: Node, positional: boolean): (string | Node)[] {
  switch (n.kind) {
    case 'var':
      return [n.name !== undefined && !positional ? n.name : `${catName(n.cat)}(${n.pos},${n.dim})`];
    case 'const':
      return [printConst(n)];
    case 'op': {
      const printing: Printing = OPS[n.op].printing;
      const [a, b] = n.args;
      if (printing === 'prefix-minus') {
        // A literal after '-' would parse as a negative literal, a different node.
        return a.kind === 'const' && /^[0-9.]/.test(printConst(a)) ? ['-(', a, ')'] : ['-', a];
      }
      if (printing !== 'call') return ['(', a, printing.infix, b, ')'];
      const pieces: (string | Node)[] = [`${n.op}(`];
      n.args.forEach((arg, k) => pieces.push(...(k > 0 ? [',', arg] : [arg])));
      if ((OPS[n.op] as OpSpec).list === true) pieces.push(`,[${n.ints.join(',')}]`);
      else n.ints.forEach((v, k) => pieces.push(k > 0 || n.args.length > 0 ? `,${v}` : String(v)));
      pieces.push(')');
      return pieces;
    }
  }
}

/**
 * The distinct variables a node reads, by slot. Throws ShapeError when one slot is used
 * with two dimensions, OptionError when with two categories.
 */
export function collectVariables(nodes: readonly Node[]): VarNode[] {
  const bySlot = new Map<number, VarNode>();
  const seen = new Set<Node>();
  const stack = [...nodes];
  while (stack.length > 0) {
    const n = stack.pop() as Node;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n.kind === 'op') stack.push(...n.args);
    if (n.kind !== 'var') continue;
    const known = bySlot.get(n.pos);
    if (known === undefined) {
      bySlot.set(n.pos, n);
      continue;
    }
    if (known.cat !== n.cat) {
      throw new OptionError(`argument slot ${n.pos} is used both as ${describe(known)} in ${catName(known.cat)} and as ${describe(n)} in ${catName(n.cat)}`);
    }
    if (known.dim !== n.dim) {
      throw new ShapeError(`argument slot ${n.pos} is used with dimension ${known.dim} (${printFormula(known)}) and ${n.dim} (${printFormula(n)})`);
    }
  }
  return [...bySlot.values()].sort((a, b) => a.pos - b.pos);
}

const paramOnly = new WeakMap<Node, boolean>();

/** True when the node reads no i- or j-variable (only parameters and constants). */
export function isParamOnly(node: Node): boolean {
  const known = paramOnly.get(node);
  if (known !== undefined) return known;
  return foldNodes<boolean>(node, (n, inner) => {
    let only = paramOnly.get(n);
    if (only === undefined) {
      only = n.kind === 'var' ? n.cat === 'param' : inner.every((a) => a);
      paramOnly.set(n, only);
    }
    return only;
  });
}

/** Grad(F, v, e), for a node that is that gradient written out (see {@link markGradient}). */
export interface GradientOrigin { readonly F: Node; readonly v: VarNode; readonly e: Node }

const gradientOrigins = new WeakMap<Node, GradientOrigin>();

/**
 * Records that `node` is Grad(F, v, e) written out, so that the lowering may run it as
 * one fused loop (kernels.ts) rather than its expanded code. Kept beside the node, not in
 * it: the node's identity, printing and generic code stay those of the expanded formula.
 */
export function markGradient(node: OpNode, origin: GradientOrigin): void {
  gradientOrigins.set(node, origin);
}

/** The gradient `node` was built as, if {@link markGradient} recorded one. */
export function gradientOrigin(node: Node): GradientOrigin | undefined {
  return gradientOrigins.get(node);
}

/** The keys (category:slot) of the variables a node reads. */
function variableKeys(node: Node): Set<string> {
  const keys = new Set<string>();
  foldNodes<null>(node, (n) => {
    if (n.kind === 'var') keys.add(`${n.cat}:${n.pos}`);
    return null;
  });
  return keys;
}

/**
 * Rebuilds a node with each variable replaced by `map(variable)`; shares unchanged
 * subtrees. A rebuilt gradient keeps its origin, mapped alike, when the origin reads no
 * variable the gradient does not (`map` may number the variables it is shown: it must
 * see none that the formula lacks).
 */
export function mapVariables(node: Node, map: (v: VarNode) => VarNode, memo = new Map<Node, Node>()): Node {
  return foldNodes<Node>(node, (n, args) => {
    if (n.kind === 'var') return map(n);
    if (n.kind === 'const') return n;
    if (args.every((a, k) => a === n.args[k])) return n;
    const out = operation(n.op, args, n.ints);
    const origin = gradientOrigins.get(n);
    if (origin !== undefined) {
      const own = variableKeys(n);
      const read = [...variableKeys(origin.F), ...variableKeys(origin.e), `${origin.v.cat}:${origin.v.pos}`];
      if (read.every((k) => own.has(k))) {
        const mapped = (x: Node): Node => mapVariables(x, map, memo);
        markGradient(out, { F: mapped(origin.F), v: map(origin.v), e: mapped(origin.e) });
      }
    }
    return out;
  }, memo);
}

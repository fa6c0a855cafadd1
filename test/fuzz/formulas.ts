/**
 * Grammar-aware formulas: random ASTs built from the op table of lib/formula/ir.ts (names,
 * arity, integer parameters, and the dimension rule each op uses), printed in KeOps
 * syntax with random spellings; token-level mutations of such formulas; and deliberately
 * extreme formulas (deep nesting, long flat sums, odd literals, out-of-range integer
 * parameters, enormous dimensions).
 */
import { OPS } from '../../lib/formula/ir';
import type { Rng } from './rng';

export type Cat = 'i' | 'j' | 'param';

/** One declared variable (an alias). */
export interface Decl { name: string; cat: Cat; dim: number; pos: number }

export type Ast =
  | { t: 'var'; d: Decl }
  | { t: 'num'; v: number }
  | { t: 'zero'; dim: number }
  | { t: 'op'; op: string; args: Ast[]; ints: number[] }
  /** Grad(f, v, e) (e set) or Laplacian(f, v) (f scalar): derivatives expand into ops. */
  | { t: 'grad'; f: Ast; v: Decl; e?: Ast };

interface Spec { arity: number; ints: readonly string[]; dim: unknown }
const SPECS = OPS as unknown as Record<string, Spec>;
export const OP_NAMES = Object.keys(SPECS);

// The dimension rules, told apart by the function each entry of OPS uses.
const SAME = SPECS.Exp.dim;
const ELEMENTWISE = SPECS.Atan2.dim;
const EQUAL = SPECS.SqDist.dim;
const SCALAR = SPECS.SqNorm2.dim;

/** Largest dimension the generator builds on purpose (extreme inputs aside). */
const MAX_GEN_DIM = 16;

const NAME_POOL = ['x', 'y', 'b', 'g', 'p', 'q', 'w', 'v', 'a', 'c', 's', 't', 'u', 'z', 'h', 'k2', 'x_1', 'Y', 'beta', 'sigma'];

/** Random declarations: 1–5 variables, at least one i- and one j-variable when there are two or more. */
export function genDecls(rng: Rng, maxDim = 4): Decl[] {
  const count = rng.weighted([[1, 1], [2, 4], [3, 5], [4, 4], [5, 2], [7, 1]] as const);
  const names = rng.shuffle([...NAME_POOL]).slice(0, count);
  const cats: Cat[] = [];
  for (let k = 0; k < count; k++) cats.push(k === 0 ? 'i' : k === 1 ? 'j' : rng.pick(['i', 'j', 'param', 'j'] as const));
  const dims = [1, 2, 3, 4, 5, 8].filter((d) => d <= Math.max(1, maxDim));
  return names.map((name, pos) => ({ name, cat: cats[pos], dim: rng.chance(0.35) ? 1 : rng.pick(dims), pos }));
}

/** Prints declarations as KeOps aliases: `x = Vi(3)`, `x=Vi(0,3)`, `x = Var(0,3,0)`, sometimes shuffled. */
export function printAliases(rng: Rng, decls: readonly Decl[]): string[] {
  const explicit = rng.chance(0.3);
  const call = (d: Decl): string => (d.cat === 'i' ? 'Vi' : d.cat === 'j' ? 'Vj' : 'Pm');
  const out = decls.map((d) => {
    const sp = rng.chance(0.7) ? ' ' : '';
    if (explicit && rng.chance(0.15)) return `${d.name}${sp}=${sp}Var(${d.pos},${d.dim},${d.cat === 'i' ? 0 : d.cat === 'j' ? 1 : 2})`;
    return explicit ? `${d.name}${sp}=${sp}${call(d)}(${d.pos},${d.dim})` : `${d.name}${sp}=${sp}${call(d)}(${d.dim})`;
  });
  return explicit && rng.chance(0.5) ? rng.shuffle(out) : out;
}

const NUMBERS = [0, 1, 2, 3, 0.5, 0.25, -1, -2, 1.5, 10, 100, 1e-3, 1e-7, 1e5, 3.25, 7];

function numLeaf(rng: Rng): Ast {
  return { t: 'num', v: rng.chance(0.8) ? rng.pick(NUMBERS) : Math.round((rng.float() * 8 - 4) * 1000) / 1000 };
}

/** Type-directed AST generation: every AST it returns has the requested dimension. */
export class AstGen {
  private readonly dims: number[];

  constructor(private readonly rng: Rng, private readonly decls: readonly Decl[], private readonly maxDepth: number) {
    this.dims = [...new Set([1, ...decls.map((d) => d.dim).filter((d) => d <= MAX_GEN_DIM)])];
  }

  /** An AST of dimension `dim`. */
  gen(dim: number, depth = 0): Ast {
    const rng = this.rng;
    if (depth >= this.maxDepth || rng.chance(0.25 + 0.12 * depth)) return this.leaf(dim, depth);
    if (rng.chance(0.04)) {
      const wrt = this.decls.filter((d) => d.dim === dim);
      if (wrt.length > 0) {
        const fd = this.anyDim(4);
        return { t: 'grad', f: this.gen(fd, depth + 1), v: rng.pick(wrt), e: this.gen(fd, depth + 1) };
      }
      if (dim === 1 && this.decls.length > 0) return { t: 'grad', f: this.gen(1, depth + 1), v: rng.pick(this.decls) };
    }
    for (let tries = 0; tries < 6; tries++) {
      const op = rng.pick(OP_NAMES);
      const ast = this.build(op, dim, depth + 1);
      if (ast !== null) return ast;
    }
    return this.leaf(dim, depth);
  }

  private anyDim(max = MAX_GEN_DIM): number {
    const ok = this.dims.filter((d) => d <= max);
    return ok.length > 0 ? this.rng.pick(ok) : 1;
  }

  leaf(dim: number, depth = this.maxDepth): Ast {
    const rng = this.rng;
    const vars = this.decls.filter((d) => d.dim === dim);
    if (dim === 1 && (vars.length === 0 || rng.chance(0.2))) return numLeaf(rng);
    if (vars.length > 0) return { t: 'var', d: rng.pick(vars) };
    const wider = this.decls.filter((d) => d.dim > dim);
    if (wider.length > 0 && rng.chance(0.5)) {
      const d = rng.pick(wider);
      return { t: 'op', op: 'Extract', args: [{ t: 'var', d }], ints: [rng.int(0, d.dim - dim), dim] };
    }
    if (rng.chance(0.2)) return { t: 'zero', dim };
    // A dim-1 expression broadcast to `dim` by adding Zero(dim).
    return { t: 'op', op: 'Add', args: [{ t: 'zero', dim }, this.leaf(1, depth)], ints: [] };
  }

  private ints(op: string): number[] {
    const rng = this.rng;
    return SPECS[op].ints.map((name) => {
      if (name === 'exponent') return rng.int(-3, 6);
      if (name === 'decimals') return rng.int(-2, 5);
      return rng.int(0, 3);
    });
  }

  /** An operation `op` of output dimension `dim`, or null when `op` cannot produce it here. */
  private build(op: string, dim: number, depth: number): Ast | null {
    const rng = this.rng;
    const spec = SPECS[op];
    const node = (args: Ast[], ints: number[] = []): Ast => ({ t: 'op', op, args, ints });
    switch (op) {
      case 'Elem': {
        if (dim !== 1) return null;
        const e = this.anyDim();
        return node([this.gen(e, depth)], [rng.int(0, e - 1)]);
      }
      case 'Extract': {
        const wider = this.dims.filter((e) => e >= dim);
        if (wider.length === 0) return null;
        const e = rng.pick(wider);
        return node([this.gen(e, depth)], [rng.int(0, e - dim), dim]);
      }
      case 'Concat': {
        if (dim < 2) return null;
        const a = rng.int(1, dim - 1);
        return node([this.gen(a, depth), this.gen(dim - a, depth)]);
      }
      case 'OneHot':
        return node([this.gen(1, depth)], [dim]);
      case 'WeightedSqNorm':
      case 'WeightedSqDist': {
        if (dim !== 1) return null;
        const e = this.anyDim(4);
        const w = rng.pick([1, e, e * e]);
        const rest = op === 'WeightedSqNorm' ? [this.gen(e, depth)] : [this.gen(e, depth), this.gen(e, depth)];
        return node([this.gen(w, depth), ...rest]);
      }
      case 'MatVecMult':
      case 'VecMatMult': {
        const e = this.anyDim(4);
        if (dim * e > MAX_GEN_DIM) return null;
        const v = this.gen(e, depth);
        const m = this.gen(dim * e, depth);
        return node(op === 'MatVecMult' ? [m, v] : [v, m]);
      }
      case 'TensorProd': {
        const factors = [1, 2, 3, 4].filter((a) => dim % a === 0);
        const a = rng.pick(factors);
        return node([this.gen(a, depth), this.gen(dim / a, depth)]);
      }
      case 'Gather': {
        const e = this.anyDim();
        return node([this.gen(e, depth)], Array.from({ length: dim }, () => rng.int(0, e - 1)));
      }
      case 'SoftDTW_SqDist':
      case 'GradSoftDTW_SqDist': {
        if (op === 'SoftDTW_SqDist' ? dim !== 1 : dim < 3) return null;
        const a = op === 'SoftDTW_SqDist' ? this.anyDim(8) : rng.int(1, dim - 2);
        const b = op === 'SoftDTW_SqDist' ? this.anyDim(8) : dim - 1 - a;
        return node([this.gen(a, depth), this.gen(b, depth), this.gen(1, depth)]);
      }
      default:
        break;
    }
    if (spec.dim === SAME) return node(Array.from({ length: spec.arity }, () => this.gen(dim, depth)), this.ints(op));
    if (spec.dim === ELEMENTWISE) {
      const dims = Array.from({ length: spec.arity }, () => (dim === 1 || rng.chance(0.6) ? dim : 1));
      if (!dims.includes(dim)) dims[rng.int(0, dims.length - 1)] = dim;
      return node(dims.map((d) => this.gen(d, depth)), this.ints(op));
    }
    if (spec.dim === EQUAL) {
      if (dim !== 1) return null;
      const e = this.anyDim();
      return node(Array.from({ length: spec.arity }, () => this.gen(e, depth)), this.ints(op));
    }
    if (spec.dim === SCALAR) {
      if (dim !== 1) return null;
      return node(Array.from({ length: spec.arity }, () => this.gen(this.anyDim(), depth)), this.ints(op));
    }
    // An op this generator does not know yet: random operands, so new ops still get fuzzed.
    return node(Array.from({ length: spec.arity }, () => this.gen(rng.chance(0.5) ? dim : this.anyDim(), depth)), this.ints(op));
  }
}

function catCall(cat: Cat): string {
  return cat === 'i' ? 'Vi' : cat === 'j' ? 'Vj' : 'Pm';
}

/** Prints an AST in KeOps syntax, choosing among equivalent spellings at random. */
export function printAst(rng: Rng, ast: Ast): string {
  const sp = (): string => (rng.chance(0.15) ? ' ' : '');
  const p = (a: Ast): string => printAst(rng, a);
  switch (ast.t) {
    case 'var':
      return rng.chance(0.1) ? `${catCall(ast.d.cat)}(${ast.d.pos},${ast.d.dim})` : ast.d.name;
    case 'zero':
      return `Zero(${ast.dim})`;
    case 'num': {
      const v = ast.v;
      if (Number.isInteger(v) && rng.chance(0.4)) return `IntCst(${v})`;
      return v < 0 || Object.is(v, -0) ? `(${v})` : String(v);
    }
    case 'grad':
      return ast.e === undefined ? `Laplacian(${p(ast.f)},${sp()}${ast.v.name})` : `Grad(${p(ast.f)},${sp()}${ast.v.name},${sp()}${p(ast.e)})`;
    case 'op': {
      const infix: Record<string, string> = { Add: '+', Subtract: '-', Mult: '*', Divide: '/', Scalprod: '|' };
      if (infix[ast.op] !== undefined && rng.chance(0.75)) return `(${p(ast.args[0])}${sp()}${infix[ast.op]}${sp()}${p(ast.args[1])})`;
      if (ast.op === 'Minus' && rng.chance(0.7)) {
        const inner = p(ast.args[0]);
        return /^[0-9.]/.test(inner) ? `-(${inner})` : `-${inner}`;
      }
      const ints = ast.op === 'Gather' ? [`[${ast.ints.join(',')}]`] : ast.ints.map(String);
      return `${ast.op}(${[...ast.args.map(p), ...ints].join(`,${sp()}`)})`;
    }
  }
}

/** The radial kernels lib/formula/kernels.ts recognises, as formula templates over x (i), y (j), b (j), g (param). */
export const KERNEL_TEMPLATES = [
  'Exp(-g*SqDist(x,y))*b',
  'b*Exp(-SqDist(x,y)/g)',
  'Exp(g*SqDist(x,y))*b',
  'Exp(-Sqrt(g*SqDist(x,y)))*b',
  'Inv(IntCst(1)+g*SqDist(x,y))*b',
  '(IntCst(1)/(IntCst(1)+g*SqDist(x,y)))*b',
  'Rsqrt(1+g*SqDist(x,y))*b',
  '(IntCst(1)+Sqrt(g*SqDist(x,y)))*Exp(-Sqrt(g*SqDist(x,y)))*b',
  '(IntCst(1)+Sqrt(g*SqDist(x,y))+g*SqDist(x,y)/IntCst(3))*Exp(-Sqrt(g*SqDist(x,y)))*b',
  'Exp(-g*SqDist(x,y)-g*SqDist(x,y))*b',
];

/**
 * A kernel template's gradient with respect to x applied to e, the form the fused
 * gradient loop runs (native/cpu/radial_grad.h), with e declared (i, b's dimension).
 */
export function gradientTemplate(template: string, decls: Decl[]): { formula: string; decls: Decl[] } {
  const b = decls.find((d) => d.name === 'b') as Decl;
  return { formula: `Grad(${template}, x, e)`, decls: [...decls, { name: 'e', cat: 'i', dim: b.dim, pos: decls.length }] };
}

/** SumSoftMaxWeight formulas whose weights are a recognised kernel (formula, formula2). */
export const SOFTMAX_TEMPLATES: readonly [string, string][] = [
  ['-g*SqDist(x,y)', 'b'],
  ['-Sqrt(g*SqDist(x,y))', 'b'],
  ['SqDist(x,y)*g', 'b'],
];

/** The declarations of the templates: x = Vi(d), y = Vj(d), b = Vj(db), g = Pm(1). */
export function templateDecls(rng: Rng): Decl[] {
  const d = rng.pick([1, 2, 3, 3, 4]);
  const decls: Decl[] = [
    { name: 'x', cat: 'i', dim: d, pos: 0 },
    { name: 'y', cat: 'j', dim: d, pos: 1 },
    { name: 'b', cat: 'j', dim: rng.pick([1, 1, 2, 3]), pos: 2 },
    { name: 'g', cat: 'param', dim: 1, pos: 3 },
  ];
  return rng.chance(0.3) ? [decls[3], decls[0], decls[1], decls[2]].map((v, pos) => ({ ...v, pos })) : decls;
}

// ---------------------------------------------------------------------------------------
// Mutations of formula text.

const TOKEN_RE = /[A-Za-z_][A-Za-z0-9_]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\s+|./gsu;

export const ODD_NUMBERS = [
  '1e309', '1e-400', '-1e309', '1.7976931348623157e308', '2e308', '4.9e-324', '3.4028235e38', '3.5e38', '1e-46',
  '9007199254740993', '2147483648', '4294967296', '00', '0.', '.5', '0e0', '1e', '1e+', '1.2.3', '0x10', '1_000',
  '9'.repeat(400), `0.${'0'.repeat(500)}1`, 'Infinity', 'NaN', '-0', '1E5', '1e-5',
];

export const ODD_INTS = [
  '100', '-100', '31', '-31', '30', '1000', '2147483647', '-2147483648', '2147483648', '-2147483649',
  '9007199254740991', '9007199254740993', '16777216', '16777217', '33554432', '99999999999999999999', '-1', '0', '1.5', '1e3',
];

const INSERTS = [
  '(', ')', ',', '-', '+', '*', '/', '|', '=', '.', '#', '@', '"', '\u00e9', '\u0000', '\uD83D\uDE00', '\\', '[', ']',
  'Exp', 'SqDist', 'Vi', 'Vj', 'Pm', 'Var', 'IntCst', 'Zero', 'Pow', 'Round', 'Elem', 'Extract', 'OneHot', 'TensorProd',
  'Grad', 'Diff', 'GradMatrix', 'Divergence', 'Laplacian', 'Grad(', 'Laplacian(x,x)',
  'Vi(0,1)', 'Pm(9,1)', 'Vj(2147483647,1)', 'Vi(-1,1)', 'Zero(0)', 'IntCst()', 'Exp()', 'Sum(,)', 'x', 'y', 'g', 'undefined',
  'constructor', '__proto__', 'toString', 'hasOwnProperty', ' ', '\t', '\n', '1', '0', '-1',
];

/** 1–3 random token edits: delete, duplicate, swap, insert, odd literal, out-of-range integer. */
export function mutateFormula(rng: Rng, text: string): string {
  let tokens: string[] = [...(text.match(TOKEN_RE) ?? [])];
  const edits = rng.int(1, 3);
  for (let e = 0; e < edits; e++) {
    const k = tokens.length === 0 ? 0 : rng.int(0, tokens.length - 1);
    const kind = rng.weighted([['delete', 3], ['dup', 2], ['swap', 2], ['insert', 3], ['number', 3], ['int', 3], ['name', 1], ['truncate', 1]] as const);
    switch (kind) {
      case 'delete': tokens.splice(k, 1); break;
      case 'dup': tokens.splice(k, 0, tokens[k] ?? ''); break;
      case 'swap': if (k + 1 < tokens.length) [tokens[k], tokens[k + 1]] = [tokens[k + 1], tokens[k]]; break;
      case 'insert': tokens.splice(k, 0, rng.pick(INSERTS)); break;
      case 'number': {
        const nums = tokens.map((t, i) => (/^[0-9.]/.test(t) ? i : -1)).filter((i) => i >= 0);
        if (nums.length > 0) tokens[rng.pick(nums)] = rng.pick(ODD_NUMBERS);
        else tokens.splice(k, 0, '*', rng.pick(ODD_NUMBERS));
        break;
      }
      case 'int': {
        const ints = tokens.map((t, i) => (/^\d+$/.test(t) ? i : -1)).filter((i) => i >= 0);
        if (ints.length > 0) tokens[rng.pick(ints)] = rng.pick(ODD_INTS);
        break;
      }
      case 'name': {
        const names = tokens.map((t, i) => (/^[A-Za-z_]/.test(t) ? i : -1)).filter((i) => i >= 0);
        if (names.length > 0) tokens[rng.pick(names)] = rng.pick([...OP_NAMES, 'Vi', 'Var', 'IntCst', 'Zero', 'nope', 'x', 'y']);
        break;
      }
      case 'truncate': tokens = tokens.slice(0, k); break;
    }
  }
  return tokens.join('');
}

// ---------------------------------------------------------------------------------------
// Extreme formulas.

/** A formula meant to stress a limit, with the declarations it needs and a short note. */
export interface Extreme { formula: string; decls: Decl[]; note: string; formula2?: string }

const UNARY = OP_NAMES.filter((op) => SPECS[op].dim === SAME && SPECS[op].arity === 1 && SPECS[op].ints.length === 0);

/**
 * One deliberately extreme formula over `decls` (its first i-variable, or any variable):
 * thousands of nested calls or unary minuses, flat sums of thousands of terms, literals
 * out of float range, integer parameters out of range, dimensions near 2^24.
 */
export function extremeFormula(rng: Rng, decls: Decl[]): Extreme {
  const scalars = decls.filter((d) => d.dim === 1);
  const v = scalars.length > 0 ? rng.pick(scalars).name : `Sum(${decls[0].name})`;
  const any = rng.pick(decls).name;
  const n = rng.pick([300, 1000, 2000, 4000, 10000, 30000]);
  const kind = rng.weighted([
    ['nested', 3], ['minus', 2], ['flat', 3], ['parens', 2], ['rightnest', 2], ['literal', 2], ['ints', 4], ['wide', 3], ['many', 1], ['longname', 1],
  ] as const);
  switch (kind) {
    case 'nested': {
      const op = rng.chance(0.5) ? 'Exp' : rng.pick(UNARY);
      return { formula: `${op}(`.repeat(n) + v + ')'.repeat(n), decls, note: `${n} nested ${op}(` };
    }
    case 'minus':
      return { formula: '-'.repeat(n) + v, decls, note: `${n} unary minuses` };
    case 'flat': {
      const op = rng.pick(['+', '*', '-', '/', '|']);
      return { formula: Array.from({ length: n }, () => v).join(op), decls, note: `flat ${op} of ${n} terms` };
    }
    case 'parens':
      return { formula: '('.repeat(n) + v + ')'.repeat(n), decls, note: `${n} nested parentheses` };
    case 'rightnest': {
      const op = rng.pick(['Add', 'Mult', 'Concat', 'Max', 'IfElse']);
      if (op === 'Concat') {
        const m = Math.min(n, 2000);
        return { formula: `Sum(${'Concat(x1,'.repeat(m)}x1${')'.repeat(m)})`, decls: [{ name: 'x1', cat: 'i', dim: 1, pos: 0 }, { name: 'y1', cat: 'j', dim: 1, pos: 1 }], note: `${m} nested Concat` };
      }
      if (op === 'Max') return { formula: `${'Max('.repeat(n)}${any}${')'.repeat(n)}`, decls, note: `${n} nested Max` };
      if (op === 'IfElse') return { formula: `${`IfElse(${v},${v},`.repeat(n)}${v}${')'.repeat(n)}`, decls, note: `${n} nested IfElse` };
      return { formula: `${`${op}(${v},`.repeat(n)}${v}${')'.repeat(n)}`, decls, note: `${n} nested ${op}` };
    }
    case 'literal': {
      const lit = rng.pick(ODD_NUMBERS);
      return { formula: rng.pick([`${v}*${lit}`, `${lit}`, `-${lit}`, `${v}+(-${lit})`, `Exp(${lit}*${v})`, `IntCst(${lit})`]), decls, note: `odd literal ${lit.slice(0, 20)}` };
    }
    case 'ints': {
      const k = rng.pick(ODD_INTS);
      const f = rng.pick([
        `Round(${v},${k})`, `Pow(${v},${k})`, `Elem(${any},${k})`, `Extract(${any},${k},1)`, `Extract(${any},0,${k})`,
        `OneHot(${v},${k})`, `Zero(${k})`, `IntCst(${k})`, `${v}*Vi(${k},1)`, `${v}+Pm(0,${k})`, `Var(0,1,${k})`,
        `Round(${v},${k})+Pow(${v},${k})`,
      ]);
      return { formula: f, decls, note: `integer parameter ${k}` };
    }
    case 'wide': {
      const dim = rng.pick([4097, 8192, 65536, 1 << 20, (1 << 24) - 1, 1 << 24, (1 << 24) + 1, 2147483647, 2147483648]);
      const wide: Decl[] = [
        { name: 'x', cat: 'i', dim, pos: 0 },
        { name: 'y', cat: 'j', dim: rng.chance(0.5) ? dim : 3, pos: 1 },
      ];
      const f = rng.pick(['TensorProd(x,x)', 'TensorProd(x,y)', 'SqDist(x,y)', 'Sum(x)', 'Concat(x,x)', 'x', 'MatVecMult(x,y)', 'Exp(x)']);
      return { formula: f, decls: wide, note: `variables of dimension ${dim}` };
    }
    case 'many': {
      const count = rng.pick([300, 2000]);
      const many: Decl[] = Array.from({ length: count }, (_, pos) => ({ name: `v${pos}`, cat: pos % 2 === 0 ? 'i' : 'j', dim: 1, pos }));
      return { formula: many.map((d) => d.name).join('+'), decls: many, note: `${count} variables` };
    }
    case 'longname': {
      const name = `x${'a'.repeat(rng.pick([1000, 100000]))}`;
      return { formula: `Exp(${name})`, decls: [{ name, cat: 'i', dim: 1, pos: 0 }], note: 'a long alias name' };
    }
  }
}

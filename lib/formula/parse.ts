/**
 * KeOps formula strings and aliases -> IR.
 *
 * Grammar (Python's precedence, as KeOps formulas are Python expressions):
 *   compare := expr [('<' | '<=' | '>' | '>=') expr]    LessThan / LessOrEqual, operands swapped for > and >=
 *   expr    := sum ('|' sum)*                 scalar product
 *   sum     := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := '-' unary | power               '-' before a number literal gives a negative literal
 *   power   := primary ['**' unary]            an integer exponent is Pow (Square for 2, as KeOps), any other Powf
 *   primary := number | name | name '(' arguments ')' | '(' compare ')'
 * Arguments may end with a trailing comma; list parameters are literals such as [2,3].
 *
 * Besides KeOps' `IntCst(n)`, plain number literals (`2`, `0.5`, `1e-3`) are accepted as
 * dim-1 constants: `2` and `IntCst(2)` are the same node. Variables are alias names or
 * positional `Vi(pos,dim)`, `Vj(pos,dim)`, `Pm(pos,dim)` (and KeOps' `Var(pos,dim,cat)`).
 */
import { FormulaSyntaxError, LazyKernelError, OptionError, ShapeError } from '../errors';
import { diff, divergence, grad, gradMatrix, laplacian } from './derivative';
import { composite, COMPOSITES, compositeSignature, isCompositeName, ParamValue } from './composite';
import { K_REDUCTIONS, ReductionName, WEIGHTED_REDUCTIONS } from './program';
import {
  collectVariables, constant, isOpName, Node, OPS, operation, opSpec, VarCategory, VarNode, variable,
} from './ir';

type TokenKind = 'name' | 'number' | 'punct' | 'end';
interface Token { kind: TokenKind; text: string; pos: number }

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s+|([A-Za-z_][A-Za-z0-9_]*)|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(\*\*|<=|>=|[-+*/|(),=<>[\]])/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) throw new FormulaSyntaxError(`unexpected character '${text[pos]}'`, pos, text);
    if (m[1] !== undefined) tokens.push({ kind: 'name', text: m[1], pos });
    else if (m[2] !== undefined) tokens.push({ kind: 'number', text: m[2], pos });
    else if (m[3] !== undefined) tokens.push({ kind: 'punct', text: m[3], pos });
    pos = re.lastIndex;
  }
  tokens.push({ kind: 'end', text: '', pos: text.length });
  return tokens;
}

const CATEGORY_OF: Record<string, VarCategory> = { Vi: 'i', Vj: 'j', Pm: 'param' };
const VAR_CALLS = new Set(['Vi', 'Vj', 'Pm', 'Var']);
const CONST_CALLS = new Set(['IntCst', 'Zero']);

/**
 * KeOps' autodiff operations: expanded into ordinary formulas as they are read
 * (formula/derivative.ts). The second operand is the variable differentiated against.
 */
export const AUTODIFF: Record<string, { args: string[]; about: string; build: (a: Node[]) => Node }> = {
  Grad: { args: ['F', 'v', 'e'], about: 'Σ_k e_k ∂F_k/∂v, of dim(v)', build: ([f, v, e]) => grad(f, v, e) },
  Diff: { args: ['F', 'v', 'u'], about: 'Σ_k u_k ∂F/∂v_k, of dim(F)', build: ([f, v, u]) => diff(f, v, u) },
  GradMatrix: { args: ['F', 'v'], about: 'the Jacobian transposed, dim(F)·dim(v)', build: ([f, v]) => gradMatrix(f, v) },
  Divergence: { args: ['F', 'v'], about: 'Σ_k ∂F_k/∂v_k, for dim(F) = dim(v)', build: ([f, v]) => divergence(f, v) },
  Laplacian: { args: ['F', 'v'], about: 'Σ_k ∂²F/∂v_k², for a scalar F', build: ([f, v]) => laplacian(f, v) },
};

/** Reads tokens of one string; every error carries the offending token's offset. */
class Reader {
  private k = 0;
  constructor(readonly text: string, private readonly tokens: Token[]) {}

  peek(ahead = 0): Token {
    return this.tokens[Math.min(this.k + ahead, this.tokens.length - 1)];
  }
  next(): Token {
    return this.tokens[this.k++];
  }
  fail(message: string, token: Token = this.peek()): never {
    throw new FormulaSyntaxError(message, token.pos, this.text);
  }
  describe(t: Token): string {
    return t.kind === 'end' ? 'the end of the formula' : `'${t.text}'`;
  }
  accept(punct: string): boolean {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === punct) {
      this.k++;
      return true;
    }
    return false;
  }
  expect(punct: string, context: string): Token {
    const t = this.peek();
    if (!this.accept(punct)) this.fail(`expected '${punct}' ${context}, found ${this.describe(t)}`);
    return t;
  }
  /** True when the next token closes an argument list: after a trailing comma, or at once. */
  closes(): boolean {
    const t = this.peek();
    return t.kind === 'punct' && (t.text === ')' || t.text === ']');
  }
  /** A list literal of signed integers, `[a, b, …]` (possibly empty, trailing comma allowed). */
  integerList(what: string): number[] {
    this.expect('[', `to open ${what}, a list such as [2,3]`);
    const out: number[] = [];
    while (!this.closes()) {
      out.push(this.integer(`an entry of ${what}`));
      if (!this.accept(',')) break;
    }
    this.expect(']', `to close ${what}`);
    return out;
  }
  /** A signed integer literal (an optional '-' then digits). */
  integer(what: string): number {
    const start = this.peek();
    const negative = this.accept('-');
    const t = this.next();
    if (t.kind !== 'number' || !/^\d+$/.test(t.text)) this.fail(`${what} must be an integer literal`, t);
    const value = (negative ? -1 : 1) * Number(t.text);
    if (!Number.isSafeInteger(value)) this.fail(`${what} ${t.text} is too large`, start);
    return value;
  }
}

/** A variable declared by an alias, or by a positional `Vi(pos,dim)` in the formula. */
export interface VarDecl extends VarNode {}

/**
 * Parses KeOps aliases such as `'x = Vi(3)'`, `'y = Vj(1,3)'`, `'g = Pm(1)'`. An alias
 * without a position takes its index in the list.
 *
 * @example
 * parseAliases(['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)']);
 * // [{ name: 'x', cat: 'i', pos: 0, dim: 3 }, …]
 */
export function parseAliases(aliases: readonly string[]): VarDecl[] {
  if (!Array.isArray(aliases)) throw new OptionError('aliases must be an array of strings such as "x = Vi(3)"');
  const decls: VarDecl[] = [];
  const byName = new Map<string, VarDecl>();
  const bySlot = new Map<number, VarDecl>();
  aliases.forEach((alias, index) => {
    if (typeof alias !== 'string') throw new OptionError(`alias ${index} must be a string such as "x = Vi(3)", not ${typeof alias}`);
    const r = new Reader(alias, tokenize(alias));
    const nameToken = r.next();
    if (nameToken.kind !== 'name') r.fail(`an alias starts with a name, as in "x = Vi(3)"`, nameToken);
    const name = nameToken.text;
    if (isOpName(name) || isCompositeName(name) || VAR_CALLS.has(name) || CONST_CALLS.has(name)) {
      r.fail(`'${name}' is an operation name and cannot name a variable`, nameToken);
    }
    if (byName.has(name)) r.fail(`'${name}' is declared twice`, nameToken);
    r.expect('=', 'after the alias name');
    const callToken = r.peek();
    if (callToken.kind !== 'name' || !VAR_CALLS.has(callToken.text)) r.fail(`expected Vi(…), Vj(…) or Pm(…)`, callToken);
    const decl = readVariable(r, name, index);
    if (r.peek().kind !== 'end') r.fail(`unexpected ${r.describe(r.peek())} after the alias`);
    const other = bySlot.get(decl.pos);
    if (other !== undefined) r.fail(`argument slot ${decl.pos} is already taken by '${other.name}'`, callToken);
    byName.set(name, decl);
    bySlot.set(decl.pos, decl);
    decls.push(decl);
  });
  return decls.sort((a, b) => a.pos - b.pos);
}

/** `Vi(dim)` / `Vi(pos,dim)` / `Var(pos,dim,cat)`; `defaultPos` < 0 forbids the short form. */
function readVariable(r: Reader, name: string | undefined, defaultPos: number): VarNode {
  const call = r.next();
  r.expect('(', `after ${call.text}`);
  const numbers = [r.integer('a variable position or dimension')];
  while (r.accept(',')) numbers.push(r.integer('a variable position or dimension'));
  r.expect(')', `to close ${call.text}(`);
  let cat: VarCategory;
  let pos: number;
  let dim: number;
  if (call.text === 'Var') {
    if (numbers.length !== 3 || numbers[2] < 0 || numbers[2] > 2) r.fail('Var takes (position, dimension, category 0|1|2)', call);
    [pos, dim] = numbers;
    cat = (['i', 'j', 'param'] as const)[numbers[2]];
  } else {
    cat = CATEGORY_OF[call.text];
    if (numbers.length === 1 && defaultPos >= 0) [pos, dim] = [defaultPos, numbers[0]];
    else if (numbers.length === 2) [pos, dim] = numbers;
    else if (defaultPos < 0) r.fail(`inside a formula, write ${call.text}(position, dimension)`, call);
    else r.fail(`${call.text} takes (dimension) or (position, dimension)`, call);
  }
  if (pos < 0) r.fail(`a variable position must be non-negative, not ${pos}`, call);
  if (dim < 1) r.fail(`a variable dimension must be at least 1, not ${dim}`, call);
  return withPosition(r, call, () => variable(cat, pos, dim, name));
}

/** Runs a node factory; its ShapeError gets the formula and the offset appended. */
function withPosition<T>(r: Reader, at: Token, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`${e.message}, at position ${at.pos} of "${r.text}"`);
    if (e instanceof LazyKernelError && !(e instanceof FormulaSyntaxError)) r.fail(e.message, at);
    throw e;
  }
}

/**
 * How deep parentheses and calls may nest in a formula string. The parser recurses once
 * per level (about ten frames), so this keeps it far from the JS stack's end; KeOps
 * formulas nest a few levels. Longer chains of operators are not nesting: `a+b+…` and
 * `-…-x` are read in loops, and LazyTensor builds formulas of any depth.
 */
export const MAX_NESTING = 256;

class FormulaParser {
  private depth = 0;
  constructor(private readonly r: Reader, private readonly names: Map<string, VarDecl>) {}

  /** Runs `read` one nesting level deeper; `at` opens the level. */
  private nested<T>(at: Token, read: () => T): T {
    if (++this.depth > MAX_NESTING) this.r.fail(`the formula nests deeper than ${MAX_NESTING} levels of parentheses and calls`, at);
    try {
      return read();
    } finally {
      this.depth--;
    }
  }

  formula(): Node {
    const node = this.compare();
    const t = this.r.peek();
    if (t.kind !== 'end') this.r.fail(`unexpected ${this.r.describe(t)}; expected an operator or the end of the formula`);
    return node;
  }

  private binary(sub: () => Node, ops: Record<string, 'Add' | 'Subtract' | 'Mult' | 'Divide' | 'Scalprod'>): Node {
    let left = sub();
    for (;;) {
      const t = this.r.peek();
      const op = t.kind === 'punct' ? ops[t.text] : undefined;
      if (op === undefined) return left;
      this.r.next();
      const right = sub();
      const l = left;
      left = withPosition(this.r, t, () => operation(op, [l, right]));
    }
  }

  /** One comparison at most: Python would chain `a < b < c` into a conjunction KeOps cannot build. */
  private compare(): Node {
    const left = this.expr();
    const t = this.r.peek();
    const ops: Record<string, ['LessThan' | 'LessOrEqual', boolean]> = { '<': ['LessThan', false], '<=': ['LessOrEqual', false], '>': ['LessThan', true], '>=': ['LessOrEqual', true] };
    const found = t.kind === 'punct' ? ops[t.text] : undefined;
    if (found === undefined) return left;
    this.r.next();
    const right = this.expr();
    const after = this.r.peek();
    if (after.kind === 'punct' && ops[after.text] !== undefined) this.r.fail('comparisons do not chain; write one comparison and combine results with * (and)', after);
    const [name, swap] = found;
    return withPosition(this.r, t, () => operation(name, swap ? [right, left] : [left, right]));
  }

  private expr(): Node {
    return this.binary(() => this.sum(), { '|': 'Scalprod' });
  }
  private sum(): Node {
    return this.binary(() => this.term(), { '+': 'Add', '-': 'Subtract' });
  }
  private term(): Node {
    return this.binary(() => this.unary(), { '*': 'Mult', '/': 'Divide' });
  }

  /** Leading minuses, counted in a loop (thousands of them must not recurse). */
  private unary(): Node {
    const minuses: Token[] = [];
    while (this.r.peek().kind === 'punct' && this.r.peek().text === '-') minuses.push(this.r.next());
    let node: Node;
    const next = this.r.peek();
    const powerFollows = this.r.peek(1).kind === 'punct' && this.r.peek(1).text === '**';
    if (minuses.length > 0 && next.kind === 'number' && !powerFollows) {
      // '-' right before a number literal makes a negative literal (but -2**2 is -(2**2)).
      this.r.next();
      node = this.literal(next, -1);
      minuses.pop();
    } else {
      node = this.power();
    }
    for (let k = minuses.length - 1; k >= 0; k--) {
      const inner = node;
      node = withPosition(this.r, minuses[k], () => operation('Minus', [inner]));
    }
    return node;
  }

  /**
   * primary ['**' unary]: an exponent that is an integer constant (2, -3, 2.0, (2)) gives
   * Square(f) for 2 and Pow(f, n) otherwise, as KeOps' f**n; any other exponent is Powf.
   */
  private power(): Node {
    const base = this.primary();
    const t = this.r.peek();
    if (!(t.kind === 'punct' && t.text === '**')) return base;
    this.r.next();
    const exponent = this.nested(t, () => this.unary());
    const n = integerConstant(exponent);
    return withPosition(this.r, t, () => (n === 2 ? operation('Square', [base]) : n !== undefined ? operation('Pow', [base], [n]) : operation('Powf', [base, exponent])));
  }

  /** A number literal, times `sign`; out of float64's range is a syntax error. */
  private literal(t: Token, sign: 1 | -1): Node {
    const value = sign * Number(t.text);
    if (!Number.isFinite(value)) this.r.fail(`the number ${sign < 0 ? '-' : ''}${t.text} is out of range`, t);
    return constant(value);
  }

  private primary(): Node {
    const t = this.r.peek();
    if (t.kind === 'number') {
      this.r.next();
      return this.literal(t, 1);
    }
    if (this.r.accept('(')) {
      const inner = this.nested(t, () => this.compare());
      this.r.expect(')', 'to close the parenthesis');
      return inner;
    }
    if (t.kind !== 'name') this.r.fail(`expected a variable, a number, an operation or '(', found ${this.r.describe(t)}`);
    const after = this.r.peek(1);
    if (!(after.kind === 'punct' && after.text === '(')) {
      this.r.next();
      const decl = this.names.get(t.text);
      if (decl === undefined) {
        const known = [...this.names.keys()];
        this.r.fail(
          isOpName(t.text) || isCompositeName(t.text) || VAR_CALLS.has(t.text) || CONST_CALLS.has(t.text) || t.text in AUTODIFF
            ? `${t.text} is an operation and needs arguments in parentheses`
            : `unknown variable '${t.text}'${known.length ? ` (the aliases declare ${known.join(', ')})` : ' (no aliases were given)'}`,
          t,
        );
      }
      return decl;
    }
    if (VAR_CALLS.has(t.text)) return readVariable(this.r, undefined, -1);
    if (t.text === 'IntCst' || t.text === 'Zero') return this.constantCall();
    if (Object.prototype.hasOwnProperty.call(AUTODIFF, t.text)) return this.nested(t, () => this.autodiff(t.text));
    if (isCompositeName(t.text)) return this.nested(t, () => this.compositeCall(t.text));
    const refused = refusedOperation(t.text);
    if (refused !== undefined) this.r.fail(refused, t);
    if (!isOpName(t.text)) this.r.fail(`unknown operation '${t.text}'`, t);
    const op = t.text;
    return this.nested(t, () => this.call(op));
  }

  private constantCall(): Node {
    const t = this.r.next();
    this.r.expect('(', `after ${t.text}`);
    const n = this.r.integer(t.text === 'IntCst' ? 'IntCst takes an integer;' : 'Zero takes a dimension;');
    if (this.r.peek().kind === 'punct' && this.r.peek().text === ',') this.r.fail(`${t.text} takes 1 argument, got more`, t);
    this.r.expect(')', `to close ${t.text}(`);
    return withPosition(this.r, t, () => (t.text === 'IntCst' ? constant(n) : constant(0, n)));
  }

  private autodiff(name: string): Node {
    const t = this.r.next();
    const { args: names, build } = AUTODIFF[name];
    this.r.expect('(', `after ${name}`);
    const args: Node[] = [];
    while (!this.r.closes()) {
      const at = this.r.peek();
      const arg = this.compare();
      if (args.length === 1 && arg.kind !== 'var') this.r.fail(`${name} differentiates with respect to a variable (an alias or Vi/Vj/Pm), not a formula`, at);
      args.push(arg);
      if (!this.r.accept(',')) break;
    }
    this.r.expect(')', `to close ${name}(`);
    if (args.length !== names.length) this.r.fail(`${name} takes ${names.length} arguments (${name}(${names.join(', ')})), got ${args.length}`, t);
    return withPosition(this.r, t, () => build(args));
  }

  private call(op: keyof typeof OPS): Node {
    const t = this.r.next();
    const spec = opSpec(op);
    this.r.expect('(', `after ${op}`);
    const args: Node[] = [];
    const ints: number[] = [];
    const total = spec.arity + spec.ints.length;
    let count = 0;
    while (!this.r.closes()) {
      if (count < spec.arity) args.push(this.compare());
      else if (count < total && spec.list === true) ints.push(...this.r.integerList(`the ${spec.ints[0]} of ${op}`));
      else if (count < total) ints.push(this.r.integer(`the ${spec.ints[count - spec.arity]} of ${op}`));
      else this.compare();
      count++;
      if (!this.r.accept(',')) break;
    }
    this.r.expect(')', `to close ${op}(`);
    if (count !== total) {
      const wanted = [...Array.from({ length: spec.arity }, (_, k) => `f${k + 1}`), ...spec.ints].join(', ');
      this.r.fail(`${op} takes ${total} argument${total === 1 ? '' : 's'} (${op}(${wanted})), got ${count}`, t);
    }
    return withPosition(this.r, t, () => operation(op, args, ints));
  }

  /** A composite operation (composite.ts): operands, then integer and list parameters. */
  private compositeCall(name: string): Node {
    const t = this.r.next();
    const spec = COMPOSITES[name];
    this.r.expect('(', `after ${name}`);
    const args: Node[] = [];
    const params: ParamValue[] = [];
    while (!this.r.closes()) {
      const k = args.length + params.length;
      if (k < spec.operands.length) args.push(this.compare());
      else if (k - spec.operands.length < spec.params.length) {
        const [pname, kind] = spec.params[k - spec.operands.length];
        params.push(kind === 'int' ? this.r.integer(`the ${pname} of ${name}`) : this.r.integerList(`the ${pname} of ${name}`));
      } else {
        this.r.fail(`${name} takes at most ${spec.operands.length + spec.params.length} arguments (${compositeSignature(name)})`);
      }
      if (!this.r.accept(',')) break;
    }
    this.r.expect(')', `to close ${name}(`);
    // composite() checks the count: a missing argument is a FormulaSyntaxError at the call.
    return withPosition(this.r, t, () => composite(name, args, params));
  }
}

/**
 * KeOps names that are internals of its own code generation, not operations a formula
 * means: why each is refused. Factorize and AutoFactorize are plain rewrites (the value
 * is the formula's own), accepted below by their meaning.
 */
export const REFUSED_OPERATIONS: Readonly<Record<string, string>> = {
  AdjointOperator: "AdjointOperator is a KeOps autodiff internal (the adjoint of a linear operator in its gradient code); write the formula it stands for, or use Grad",
  SumLinOperator: "SumLinOperator is a KeOps autodiff internal (the sum of a linear operator's entries); write the formula it stands for, or use Grad",
  TraceOperator: "TraceOperator is a KeOps autodiff internal (the trace of a linear operator); write the formula it stands for, or use Divergence",
  Grad_WithSavedForward: 'Grad_WithSavedForward is a KeOps internal of the gradients of reductions (it takes a reduction and its saved output); use Genred.vjp, or Grad on the formula',
  Diff_WithSavedForward: 'Diff_WithSavedForward is a KeOps internal of the gradients of reductions (it takes a reduction and its saved output); use Diff on the formula',
};

function refusedOperation(name: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(REFUSED_OPERATIONS, name) ? REFUSED_OPERATIONS[name] : undefined;
}

/** The result of parsing: the formula's IR and every argument slot, in slot order. */
export interface ParsedFormula {
  node: Node;
  /**
   * The variables of the aliases and of the formula, by slot. A positional formula may
   * skip slots (`Vi(0,3)+Pm(3,1)`); Genred and KernelSolve reject that (completeSlots).
   */
  vars: VarDecl[];
}

/**
 * Parses a KeOps formula string with its aliases. Syntax errors, unknown operations or
 * variables and wrong argument counts throw FormulaSyntaxError with `.position`;
 * dimension mismatches throw ShapeError naming the operands.
 *
 * @example
 * const { node, vars } = parseFormula('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)']);
 * node.dim;    // 1
 * vars.length; // 4
 */
export function parseFormula(formula: string, aliases: readonly string[] = []): ParsedFormula {
  const decls = parseAliases(aliases);
  const node = parseWith(formula, decls);
  return { node, vars: mergeSlots(decls, [node], formula) };
}

/** Parses one formula string against already parsed aliases (e.g. Genred's formula2). */
export function parseWith(formula: string, decls: readonly VarDecl[]): Node {
  if (typeof formula !== 'string') throw new OptionError(`a formula must be a string, not ${typeof formula}`);
  const names = new Map(decls.map((d) => [d.name as string, d]));
  const r = new Reader(formula, tokenize(formula));
  if (r.peek().kind === 'end') r.fail('the formula is empty');
  return new FormulaParser(r, names).formula();
}

/**
 * Merges the aliases with the positional variables of the formulas into one variable per
 * used slot, in slot order; a slot used with two categories is a FormulaSyntaxError.
 */
export function mergeSlots(decls: readonly VarDecl[], nodes: readonly Node[], formula: string): VarDecl[] {
  let used: VarNode[];
  try {
    used = collectVariables([...nodes, ...decls]);
  } catch (e) {
    if (e instanceof OptionError) throw new FormulaSyntaxError(e.message, 0, formula);
    throw e;
  }
  const named = new Map(decls.map((d) => [d.pos, d]));
  return used.map((v) => named.get(v.pos) ?? v);
}

/**
 * {@link mergeSlots}, and the slots must be 0..n-1 without gaps: a call passes one array
 * per slot, in order.
 */
export function completeSlots(decls: readonly VarDecl[], nodes: readonly Node[], formula: string): VarDecl[] {
  const vars = mergeSlots(decls, nodes, formula);
  vars.forEach((v, slot) => {
    if (v.pos !== slot) {
      throw new FormulaSyntaxError(`argument slot ${slot} is never declared (the variables use slots ${vars.map((u) => u.pos).join(', ')})`, 0, formula);
    }
  });
  return vars;
}

/** A whole-formula reduction as keopscore writes it: `Sum_Reduction(F, 0)`. */
export interface ReductionSpelling {
  reduction: string;
  axis: 0 | 1;
  k?: number;
  formula: string;
  formula2?: string;
}

/** The value of a scalar integer constant, or of its negation (`-(1)`); undefined otherwise. */
function integerConstant(node: Node): number | undefined {
  const negated = node.kind === 'op' && node.op === 'Minus' && node.args[0].kind === 'const';
  const c = negated ? (node as { args: readonly Node[] }).args[0] : node;
  if (c.kind !== 'const' || c.dim !== 1 || !Number.isInteger(c.value) || Math.abs(c.value) > 0x7fffffff) return undefined;
  return negated ? -c.value : c.value;
}

/** True when the parentheses of `inner` never close before its end (`F) * G(…` does). */
function closesAtEnd(inner: string): boolean {
  let depth = 0;
  for (const ch of inner) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/**
 * Reads keopscore's whole-formula spelling `<Reduction>_Reduction(F[, K], tag[, G])`,
 * where tag 0 gives outputs indexed by i (axis 1, the reduction over j) and 1 the other
 * way; null when the text is an ordinary formula.
 *
 * @example
 * readReductionSpelling('Sum_Reduction(Exp(-SqDist(x,y))*b,0)');
 * // { reduction: 'Sum', axis: 1, formula: 'Exp(-SqDist(x,y))*b' }
 */
export function readReductionSpelling(text: string): ReductionSpelling | null {
  const m = /^\s*([A-Za-z][A-Za-z_]*?)_Reduction\s*\(([\s\S]*)\)\s*$/.exec(text);
  if (m === null) return null;
  const [, spelled, inner] = m;
  if (!closesAtEnd(inner)) throw new FormulaSyntaxError(`${spelled}_Reduction(…) must be the whole formula`, 0, text);
  // Zero_Reduction(dim, tag): KeOps' reduction of a formula that is zero.
  const zero = spelled === 'Zero' ? /^\s*(\d+)\s*,([\s\S]*)$/.exec(inner) : null;
  if (spelled === 'Zero' && zero === null) throw new FormulaSyntaxError('Zero_Reduction(dim, tag) takes a dimension, then the tag', 0, text);
  const named = zero === null ? spelled : 'Sum';
  const parts: string[] = zero === null ? [] : ['0'];
  const rest = zero === null ? inner : zero[2];
  let depth = 0;
  let start = 0;
  for (let k = 0; k < rest.length; k++) {
    const ch = rest[k];
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(rest.slice(start, k));
      start = k + 1;
    }
  }
  parts.push(rest.slice(start));
  if (parts.length > 1 && parts[parts.length - 1].trim() === '') parts.pop();
  // keopscore's Max_SumShiftExp_Reduction takes an optional weight formula G.
  const reduction = named === 'Max_SumShiftExp' && parts.length === 3 ? 'Max_SumShiftExpWeight' : named;
  const wantK = K_REDUCTIONS.has(reduction as ReductionName);
  const wantG = WEIGHTED_REDUCTIONS.has(reduction as ReductionName);
  const expected = 2 + (wantK ? 1 : 0) + (wantG ? 1 : 0);
  const usage = zero !== null ? 'Zero_Reduction(dim, tag)' : `${reduction}_Reduction(F${wantK ? ', K' : ''}, tag${wantG ? ', G' : ''})`;
  if (parts.length !== expected) throw new FormulaSyntaxError(`${usage} takes ${expected} arguments, got ${parts.length}`, 0, text);
  const tagText = parts[wantK ? 2 : 1].trim();
  if (tagText !== '0' && tagText !== '1') throw new FormulaSyntaxError(`the tag of ${usage} is 0 (outputs indexed by i) or 1 (by j), not '${tagText}'`, 0, text);
  const out: ReductionSpelling = { reduction, axis: tagText === '0' ? 1 : 0, formula: zero === null ? parts[0] : `Zero(${zero[1]})` };
  if (wantK) {
    const kText = parts[1].trim();
    if (!/^\d+$/.test(kText)) throw new FormulaSyntaxError(`K of ${usage} must be an integer literal, not '${kText}'`, 0, text);
    out.k = Number(kText);
  }
  if (wantG) out.formula2 = parts[parts.length - 1];
  return out;
}

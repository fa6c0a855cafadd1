/**
 * KeOps formula strings and aliases -> IR.
 *
 * Grammar (Python's precedence, as KeOps formulas are Python expressions):
 *   expr    := sum ('|' sum)*                 scalar product, lowest precedence
 *   sum     := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := '-' unary | primary             '-' before a number literal gives a negative literal
 *   primary := number | name | name '(' arguments ')' | '(' expr ')'
 *
 * Besides KeOps' `IntCst(n)`, plain number literals (`2`, `0.5`, `1e-3`) are accepted as
 * dim-1 constants: `2` and `IntCst(2)` are the same node. Variables are alias names or
 * positional `Vi(pos,dim)`, `Vj(pos,dim)`, `Pm(pos,dim)` (and KeOps' `Var(pos,dim,cat)`).
 */
import { FormulaSyntaxError, LazyKernelError, OptionError, ShapeError } from '../errors';
import { diff, divergence, grad, gradMatrix, laplacian } from './derivative';
import {
  collectVariables, constant, isOpName, Node, OPS, operation, opSpec, VarCategory, VarNode, variable,
} from './ir';

type TokenKind = 'name' | 'number' | 'punct' | 'end';
interface Token { kind: TokenKind; text: string; pos: number }

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s+|([A-Za-z_][A-Za-z0-9_]*)|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|([-+*/|(),=])/y;
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
    if (isOpName(name) || VAR_CALLS.has(name) || CONST_CALLS.has(name)) {
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
    const node = this.expr();
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
    if (minuses.length > 0 && next.kind === 'number') {
      // '-' right before a number literal makes a negative literal.
      this.r.next();
      node = this.literal(next, -1);
      minuses.pop();
    } else {
      node = this.primary();
    }
    for (let k = minuses.length - 1; k >= 0; k--) {
      const inner = node;
      node = withPosition(this.r, minuses[k], () => operation('Minus', [inner]));
    }
    return node;
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
      const inner = this.nested(t, () => this.expr());
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
          isOpName(t.text) || VAR_CALLS.has(t.text) || CONST_CALLS.has(t.text) || t.text in AUTODIFF
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
    if (!(this.r.peek().kind === 'punct' && this.r.peek().text === ')')) {
      do {
        const at = this.r.peek();
        const arg = this.expr();
        if (args.length === 1 && arg.kind !== 'var') this.r.fail(`${name} differentiates with respect to a variable (an alias or Vi/Vj/Pm), not a formula`, at);
        args.push(arg);
      } while (this.r.accept(','));
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
    if (!(this.r.peek().kind === 'punct' && this.r.peek().text === ')')) {
      do {
        if (count < spec.arity) args.push(this.expr());
        else if (count < total) ints.push(this.r.integer(`the ${spec.ints[count - spec.arity]} of ${op}`));
        else this.expr();
        count++;
      } while (this.r.accept(','));
    }
    this.r.expect(')', `to close ${op}(`);
    if (count !== total) {
      const wanted = [...Array.from({ length: spec.arity }, (_, k) => `f${k + 1}`), ...spec.ints].join(', ');
      this.r.fail(`${op} takes ${total} argument${total === 1 ? '' : 's'} (${op}(${wanted})), got ${count}`, t);
    }
    return withPosition(this.r, t, () => operation(op, args, ints));
  }
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

import { FormulaSyntaxError, OptionError, ShapeError } from '../lib/errors';
import {
  constant, Node, operation, OPS, printFormula, variable,
} from '../lib/formula/ir';
import { formulaHash, structuralKey } from '../lib/formula/keys';
import { parseAliases, parseFormula } from '../lib/formula/parse';
import { Genred } from '../lib/genred';

const ALIASES = [
  'x = Vi(3)', 'y = Vj(3)', 'b = Vj(2)', 'g = Pm(1)', 'w = Pm(3)', 'W = Pm(9)', 'a = Vi(1)', 'M = Vj(6)', 'c = Vj(1)',
];

/** One formula per operation (and then some), each with its expected dimension. */
const EVERY_OPERATION: [string, number][] = [
  ['-x', 3], ['x+y', 3], ['x-y', 3], ['x*y', 3], ['x/y', 3], ['Add(x,g)', 3], ['Subtract(g,x)', 3],
  ['Mult(x,y)', 3], ['Divide(x,y)', 3], ['Minus(x)', 3],
  ['Exp(x)', 3], ['Log(x)', 3], ['Sqrt(x)', 3], ['Rsqrt(x)', 3], ['Square(x)', 3], ['Inv(x)', 3],
  ['Abs(x)', 3], ['Sign(x)', 3], ['Step(x)', 3], ['ReLU(x)', 3], ['Sin(x)', 3], ['Cos(x)', 3],
  ['Atan(x)', 3], ['Atan2(x,y)', 3], ['Pow(x,3)', 3], ['Pow(x,-2)', 3], ['Powf(x,g)', 3],
  ['Clamp(x,g,IntCst(2))', 3], ['IfElse(a,x,y)', 3], ['Round(x,2)', 3], ['Floor(x)', 3], ['Mod(x,g,IntCst(0))', 3],
  ['SqDist(x,y)', 1], ['SqNorm2(x)', 1], ['Norm2(x-y)', 1], ['Normalize(x)', 3], ['(x|y)', 1], ['Scalprod(x,y)', 1],
  ['Sum(x)', 1], ['Max(x)', 1], ['Min(x)', 1], ['Elem(x,2)', 1], ['Extract(x,1,2)', 2], ['Concat(x,b)', 5],
  ['OneHot(a,4)', 4], ['WeightedSqNorm(g,x)', 1], ['WeightedSqNorm(w,x)', 1], ['WeightedSqNorm(W,x)', 1],
  ['WeightedSqDist(g,x,y)', 1], ['WeightedSqDist(w,x,y)', 1], ['WeightedSqDist(W,x,y)', 1],
  ['MatVecMult(M,b)', 3], ['VecMatMult(b,M)', 3], ['TensorProd(x,b)', 6],
  ['IntCst(7)', 1], ['Zero(4)', 4], ['2.5*x', 3], ['x*-0.125', 3], ['1e-3+x', 3],
  ['Exp(-g*SqDist(x,y))*b', 2], ['Vi(0,3)+Vj(1,3)', 3], ['Var(0,3,0)*Var(3,1,2)', 3],
  ['Acos(x)', 3], ['Asin(x)', 3], ['SinXDivX(x)', 3], ['XLogX(x)', 3], ['Equal(x,y)', 3], ['NotEqual(x,g)', 3],
  ['LessThan(x,y)', 3], ['LessOrEqual(g,x)', 3], ['x < y', 3], ['x >= g', 3], ['ArgMax(x)', 1], ['ArgMin(b)', 1],
  ['Gather(x,[2,0,0,1])', 4], ['SoftDTW_SqDist(x,y,g)', 1], ['GradSoftDTW_SqDist(x,b,g)', 5], ['GradSoftDTW_SqDist_Gamma(x,b,g)', 1],
  // Composites expand into the operations above.
  ['x**2', 3], ['x**-3', 3], ['x**g', 3], ['ComplexMult(b,Extract(M,0,2))', 2], ['Kron(x,b,[3],[2])', 6],
  ['TensorDot(M,x,[2,3],[3],[1],[0])', 2], ['BSpline(M,a,2)', 3], ['SumT(a,3)', 3], ['ElemT(g,4,1)', 4],
];

function opsIn(node: Node, into = new Set<string>()): Set<string> {
  if (node.kind === 'op') {
    into.add(node.op);
    node.args.forEach((a) => opsIn(a, into));
  }
  return into;
}

function syntaxError(formula: string, aliases: string[] = ALIASES): FormulaSyntaxError {
  try {
    parseFormula(formula, aliases);
  } catch (e) {
    if (e instanceof FormulaSyntaxError) return e;
    throw e;
  }
  throw new Error(`${formula} parsed without error`);
}

describe('parsing and printing KeOps formulas', () => {
  test.each(EVERY_OPERATION)('%s parses, prints and parses back to the same IR', (formula) => {
    const first = parseFormula(formula, ALIASES).node;
    const printed = printFormula(first);
    const again = parseFormula(printed, ALIASES).node;
    expect(structuralKey(again)).toBe(structuralKey(first));
    expect(printFormula(again)).toBe(printed);
  });

  test.each(EVERY_OPERATION)('%s printed positionally parses without aliases to the same IR', (formula) => {
    const first = parseFormula(formula, ALIASES).node;
    const again = parseFormula(printFormula(first, { positional: true })).node;
    expect(formulaHash(again)).toBe(formulaHash(first));
  });

  test.each(EVERY_OPERATION)('%s has dimension %d', (formula, dim) => {
    expect(parseFormula(formula, ALIASES).node.dim).toBe(dim);
  });

  test('the round-trip list covers every operation of the language', () => {
    const seen = new Set<string>();
    EVERY_OPERATION.forEach(([f]) => opsIn(parseFormula(f, ALIASES).node, seen));
    expect([...seen].sort()).toEqual(Object.keys(OPS).sort());
  });

  test('the scalar product binds loosest, as | does in Python', () => {
    const { node } = parseFormula('x|y+y*g', ALIASES);
    expect(printFormula(node)).toBe('(x|(y+(y*g)))');
  });

  test('unary minus binds tighter than multiplication', () => {
    expect(printFormula(parseFormula('-g*x', ALIASES).node)).toBe('(-g*x)');
    expect(structuralKey(parseFormula('-g*x', ALIASES).node)).toBe(structuralKey(parseFormula('(-g)*x', ALIASES).node));
  });

  test('subtraction and division associate to the left', () => {
    expect(printFormula(parseFormula('x-y-x', ALIASES).node)).toBe('((x-y)-x)');
    expect(printFormula(parseFormula('x/y/x', ALIASES).node)).toBe('((x/y)/x)');
  });

  test('a number literal and IntCst of the same integer are the same node', () => {
    expect(formulaHash(parseFormula('2*x', ALIASES).node)).toBe(formulaHash(parseFormula('IntCst(2)*x', ALIASES).node));
  });

  test('a minus before a literal makes a negative constant, and Minus of a literal survives printing', () => {
    const negative = parseFormula('-2.5', ALIASES).node;
    expect(negative).toEqual(constant(-2.5));
    const minus = operation('Minus', [constant(2.5)]);
    expect(structuralKey(parseFormula(printFormula(minus)).node)).toBe(structuralKey(minus));
  });

  test('alias names do not change the hash: x and Vi(0,3) are the same variable', () => {
    expect(formulaHash(parseFormula('Exp(x)', ALIASES).node)).toBe(formulaHash(parseFormula('Exp(Vi(0,3))').node));
  });

  test('different formulas have different hashes', () => {
    const hashes = EVERY_OPERATION.map(([f]) => formulaHash(parseFormula(f, ALIASES).node));
    expect(new Set(hashes).size).toBe(new Set(EVERY_OPERATION.map(([f]) => structuralKey(parseFormula(f, ALIASES).node))).size);
  });

  test('the hash is 16 hex digits and the same from run to run', () => {
    const h = formulaHash(parseFormula('Exp(-g*SqDist(x,y))*b', ALIASES).node);
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(formulaHash(parseFormula('Exp(-g*SqDist(x,y))*b', ALIASES).node)).toBe(h);
  });

  test('the parse result lists every argument slot, named by its alias', () => {
    const { vars } = parseFormula('x+Vi(3,3)', ['x = Vi(3)', 'y = Vj(3)', 'g = Pm(1)']);
    expect(vars.map((v) => [v.name, v.cat, v.pos, v.dim])).toEqual([
      ['x', 'i', 0, 3], ['y', 'j', 1, 3], ['g', 'param', 2, 1], [undefined, 'i', 3, 3],
    ]);
  });
});

describe('aliases', () => {
  test('an alias without a position takes its index in the list', () => {
    expect(parseAliases(['x = Vi(3)', 'y = Vj(2)', 'g = Pm(1)']).map((v) => [v.name, v.cat, v.pos, v.dim])).toEqual([
      ['x', 'i', 0, 3], ['y', 'j', 1, 2], ['g', 'param', 2, 1],
    ]);
  });

  test('positional aliases and KeOps Var(pos,dim,cat) give their own slot', () => {
    expect(parseAliases(['y = Vj(1,2)', 'x=Vi(0,3)', 'g = Var(2,1,2)']).map((v) => [v.name, v.cat, v.pos])).toEqual([
      ['x', 'i', 0], ['y', 'j', 1], ['g', 'param', 2],
    ]);
  });

  test.each([
    ['x Vi(3)', 2, /expected '='/],
    ['x = Vk(3)', 4, /expected Vi/],
    ['Exp = Vi(3)', 0, /operation name/],
    ['x = Vi(3', 8, /expected '\)'/],
    ['x = Vi(2.5)', 7, /integer literal/],
    ['x = Vi(0)', 4, /dimension must be at least 1/],
    ['x = Vi(1,2,3)', 4, /takes \(dimension\) or \(position, dimension\)/],
  ])('the malformed alias %j fails at position %d', (alias, position, message) => {
    let error: unknown;
    try {
      parseAliases([alias]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FormulaSyntaxError);
    expect((error as FormulaSyntaxError).position).toBe(position);
    expect((error as Error).message).toMatch(message);
  });

  test('an alias name declared twice is a syntax error', () => {
    expect(() => parseAliases(['x = Vi(3)', 'x = Vj(3)'])).toThrow(/'x' is declared twice/);
  });

  test('two aliases on one slot are a syntax error naming the first', () => {
    expect(() => parseAliases(['x = Vi(0,3)', 'y = Vj(0,3)'])).toThrow(/slot 0 is already taken by 'x'/);
  });

  test('aliases that are not strings are an option error', () => {
    expect(() => parseAliases([3 as unknown as string])).toThrow(OptionError);
  });
});

describe('syntax errors', () => {
  test.each([
    ['Exp(-g*SqDist(x,y)', 18, /expected '\)'/],
    ['Exp(x,y)', 0, /Exp takes 1 argument/],
    ['Foo(x)', 0, /unknown operation 'Foo'/],
    ['x+z', 2, /unknown variable 'z'/],
    ['x $ y', 2, /unexpected character '\$'/],
    ['x y', 2, /unexpected 'y'/],
    ['x+', 2, /expected a variable/],
    ['', 0, /empty/],
    ['Vi(3)+x', 0, /Vi\(position, dimension\)/],
    ['Pow(x,2.5)', 6, /integer literal/],
    ['Pow(x)', 0, /Pow takes 2 arguments/],
    ['Elem(x,1,2)', 0, /Elem takes 2 arguments/],
    ['IntCst(x)', 7, /integer literal/],
    ['Exp', 0, /needs arguments/],
    ['(x+y', 4, /close the parenthesis/],
    ['x+y)', 3, /unexpected '\)'/],
  ])('%j fails at position %d', (formula, position, message) => {
    const e = syntaxError(formula);
    expect(e.position).toBe(position);
    expect(Number.isInteger(e.position)).toBe(true);
    expect(e.message).toMatch(message);
  });

  test('the message quotes the formula and points at the fault', () => {
    const e = syntaxError('x+z');
    expect(e.message).toContain('x+z\n    ^');
    expect(e.formula).toBe('x+z');
  });

  test('unknown variables without aliases say that no alias was given', () => {
    expect(syntaxError('x', []).message).toMatch(/no aliases were given/);
  });

  test('Genred rejects a slot used by no alias and no variable: its arguments come one per slot', () => {
    expect(() => new Genred('Vi(0,3)+Vi(2,3)', [], { reduction: 'Sum', axis: 1 })).toThrow(FormulaSyntaxError);
    expect(() => new Genred('Vi(0,3)+Vi(2,3)', [], { reduction: 'Sum', axis: 1 })).toThrow(/slot 1 is never declared/);
  });

  test('a slot used with two categories is a syntax error', () => {
    expect(() => parseFormula('x+Vj(0,3)', ['x = Vi(3)'])).toThrow(FormulaSyntaxError);
  });
});

describe('dimension inference', () => {
  test('element-wise operands broadcast a dimension-1 operand', () => {
    expect(parseFormula('x*g+IntCst(1)', ALIASES).node.dim).toBe(3);
  });

  test.each([
    ['x+b', /Add: operands x \(dimension 3\), b \(dimension 2\) do not fit/],
    ['SqDist(x,b)', /SqDist: operands x \(dimension 3\), b \(dimension 2\) must have equal dimensions/],
    ['(x|b)', /Scalprod/],
    ['Elem(x,3)', /index 3 is outside the 3 components of x/],
    ['Extract(x,2,2)', /components 2..3 are outside the 3 components of x/],
    ['OneHot(x,4)', /x \(dimension 3\) must have dimension 1/],
    ['WeightedSqNorm(b,x)', /weight b \(dimension 2\) must have dimension 1 \(isotropic\), 3 \(diagonal\) or 9/],
    ['MatVecMult(W,b)', /the matrix W \(dimension 9\) is not a multiple of the vector b/],
    ['VecMatMult(b,W)', /VecMatMult/],
    ['Clamp(x,b,g)', /Clamp/],
    ['SqNorm2(x)+SqNorm2(Vi(0,2))', /slot 0 is used with dimension 3 \(x\) and 2/],
  ])('%j is a ShapeError naming the operands', (formula, message) => {
    expect(() => parseFormula(formula, ALIASES)).toThrow(ShapeError);
    expect(() => parseFormula(formula, ALIASES)).toThrow(message);
  });

  test('a shape error inside a formula gives the position of the operation', () => {
    expect(() => parseFormula('Exp(x)+b', ALIASES)).toThrow(/at position 6 of "Exp\(x\)\+b"/);
  });

  test('composite formulas get their dimension from their parts', () => {
    expect(parseFormula('TensorProd(Extract(x,0,2),Concat(b,a))*Elem(y,1)', ALIASES).node.dim).toBe(6);
  });

  test('the IR factories check operand counts and integer parameters', () => {
    const x = variable('i', 0, 3, 'x');
    expect(() => operation('Exp', [x, x])).toThrow(OptionError);
    expect(() => operation('Pow', [x], [1.5])).toThrow(/exponent must be an integer/);
    expect(() => constant(Number.NaN)).toThrow(OptionError);
    expect(() => constant(2, 3)).toThrow(/Zero\(3\)/);
    expect(() => variable('i', 0, 0)).toThrow(ShapeError);
  });
});

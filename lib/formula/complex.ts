/**
 * KeOps' complex operations (composite.ts lists them), written out over the primitives.
 * Complex values are KeOps' interleaved pairs: a complex vector of n entries has
 * dimension 2n, (re0, im0, re1, im1, …); a complex operand of dimension 2 (one complex
 * number) broadcasts against a longer one.
 */
import { ShapeError } from '../errors';
import { gather, op, range } from './build';
import type { CompositeSpec } from './composite';
import { constant, describe, Node } from './ir';

function even(f: Node, name: string): number {
  if (f.dim % 2 !== 0) throw new ShapeError(`${name}: ${describe(f)} is not complex: a complex vector has an even dimension (re, im pairs)`);
  return f.dim / 2;
}
const re = (z: Node, name: string): Node => gather(z, range(even(z, name), (k) => 2 * k));
const im = (z: Node, name: string): Node => gather(z, range(even(z, name), (k) => 2 * k + 1));
/** (a0, b0, a1, b1, …) from a and b of equal dimension. */
const interleave = (a: Node, b: Node): Node => gather(op('Concat', [a, b]), range(2 * a.dim, (k) => (k % 2 === 0 ? k / 2 : a.dim + (k - 1) / 2)));
/** f as complex numbers with a zero imaginary (or real, `imag`) part. */
function toComplex(f: Node, imag: boolean): Node {
  const n = f.dim;
  return gather(op('Concat', [f, constant(0)]), range(2 * n, (k) => ((k % 2 === 1) === imag ? k >> 1 : n)));
}

/** KeOps' complex broadcast: both of one dimension, or one of them a single complex number (dimension 2). */
function complexPair(f: Node, g: Node, name: string): [Node, Node] {
  even(f, name);
  even(g, name);
  if (f.dim === g.dim) return [f, g];
  if (f.dim === 2) return [gather(f, range(g.dim, (k) => k % 2)), g];
  if (g.dim === 2) return [f, gather(g, range(f.dim, (k) => k % 2))];
  throw new ShapeError(`${name}: complex operands ${describe(f)} and ${describe(g)} need equal dimensions, or one of dimension 2`);
}

function complexMult(f: Node, g: Node, name: string): Node {
  const [a, b] = complexPair(f, g, name);
  const [ar, ai, br, bi] = [re(a, name), im(a, name), re(b, name), im(b, name)];
  return interleave(op('Subtract', [op('Mult', [ar, br]), op('Mult', [ai, bi])]), op('Add', [op('Mult', [ar, bi]), op('Mult', [ai, br])]));
}
const squareAbs = (z: Node, name: string): Node => op('Add', [op('Square', [re(z, name)]), op('Square', [im(z, name)])]);
const conj = (z: Node, name: string): Node => interleave(re(z, name), op('Minus', [im(z, name)]));

const unaryComplex = (about: string, rule: string, build: (z: Node, name: string) => Node): CompositeSpec =>
  ({ operands: ['z'], params: [], rule, about, build: ([z], _p, name) => build(z, name) });
const binaryComplex = (about: string, build: (f: Node, g: Node, name: string) => Node): CompositeSpec =>
  ({ operands: ['f', 'g'], params: [], rule: 'the larger dim; equal dims or one of them 2', about, build: ([f, g], _p, name) => build(f, g, name) });

/** The complex operations, by KeOps name. */
export const COMPLEX_OPS: Readonly<Record<string, CompositeSpec>> = {
  Real2Complex: { operands: ['f'], params: [], rule: '2 dim(f)', about: 'f as complex numbers (zero imaginary parts)', build: ([f]) => toComplex(f, false) },
  Imag2Complex: { operands: ['f'], params: [], rule: '2 dim(f)', about: 'i f as complex numbers (zero real parts)', build: ([f]) => toComplex(f, true) },
  ComplexReal: unaryComplex('the real parts', 'dim(z) / 2', re),
  ComplexImag: unaryComplex('the imaginary parts', 'dim(z) / 2', im),
  Conj: unaryComplex('the complex conjugates', 'dim(z)', conj),
  ComplexAbs: unaryComplex('the moduli', 'dim(z) / 2', (z, name) => op('Sqrt', [squareAbs(z, name)])),
  ComplexSquareAbs: unaryComplex('the squared moduli', 'dim(z) / 2', squareAbs),
  ComplexAngle: unaryComplex('the arguments, atan2(im, re)', 'dim(z) / 2', (z, name) => op('Atan2', [im(z, name), re(z, name)])),
  ComplexExp: unaryComplex('the complex exponentials', 'dim(z)', (z, name) => {
    const r = op('Exp', [re(z, name)]);
    return interleave(op('Mult', [r, op('Cos', [im(z, name)])]), op('Mult', [r, op('Sin', [im(z, name)])]));
  }),
  ComplexExp1j: { operands: ['f'], params: [], rule: '2 dim(f)', about: 'exp(i f) = cos f + i sin f, for real f', build: ([f]) => interleave(op('Cos', [f]), op('Sin', [f])) },
  ComplexSum: unaryComplex('the sum of the complex entries', '2', (z, name) => op('Concat', [op('Sum', [re(z, name)]), op('Sum', [im(z, name)])])),
  ComplexSumT: {
    operands: ['z'], params: [['dim', 'int']], rule: 'dim; z has dim 2', about: 'the complex number z repeated dim / 2 times',
    build: ([z], [d], name) => {
      if (z.dim !== 2) throw new ShapeError(`${name}: repeats one complex number (dimension 2), not ${describe(z)}`);
      if ((d as number) % 2 !== 0) throw new ShapeError(`${name}: the output dimension ${String(d)} must be even (re, im pairs)`);
      return gather(z, range(d as number, (k) => k % 2));
    },
  },
  ComplexAdd: binaryComplex('f + g', (f, g, name) => op('Add', complexPair(f, g, name))),
  ComplexSubtract: binaryComplex('f - g', (f, g, name) => op('Subtract', complexPair(f, g, name))),
  ComplexMult: binaryComplex('the complex products', complexMult),
  ComplexDivide: binaryComplex('the complex quotients f / g', (f, g, name) =>
    complexMult(toComplex(op('Inv', [squareAbs(g, name)]), false), complexMult(f, conj(g, name), name), name)),
  ComplexRealScal: {
    operands: ['r', 'z'], params: [], rule: 'dim(z); r has dim 1', about: 'the real scalar r times the complex vector z (either order)',
    build: ([f, g], _p, name) => {
      const [r, z] = f.dim === 1 ? [f, g] : [g, f];
      if (r.dim !== 1) throw new ShapeError(`${name}: one operand must be a real scalar (dimension 1), not ${describe(f)} and ${describe(g)}`);
      even(z, name);
      return op('Mult', [r, z]);
    },
  },
};

/**
 * KeOps operations that are compositions of the primitive ones (ir.ts OPS): each is
 * expanded into primitives when it is built, so the lowering, the derivatives, the
 * device path and every later stage see only primitives, and a new composite is one
 * entry here (the complex ones in complex.ts, the tensor and spline expansions in their
 * files). A formula prints back in its expanded form.
 */
import { OptionError, ShapeError } from '../errors';
import { bSpline } from './bspline';
import { c, concat, gather, op, range } from './build';
import { COMPLEX_OPS } from './complex';
import { constant, describe, MAX_DIM, Node } from './ir';
import { kron, tensorDot } from './tensordot';

/** A parameter after the operands: an integer, a list literal `[…]`, or an optional list. */
export type ParamKind = 'int' | 'list' | 'list?';
export type ParamValue = number | readonly number[];

export interface CompositeSpec {
  /** The operands' names, in order (they name them in `rule` and `about`). */
  readonly operands: readonly string[];
  /** The parameters after the operands, by name and kind. */
  readonly params: readonly (readonly [string, ParamKind])[];
  /** The output dimension in words, and what it computes (docs/ops.md is made from these). */
  readonly rule: string;
  readonly about: string;
  readonly build: (args: Node[], params: ParamValue[], name: string) => Node;
}

function int(v: ParamValue): number {
  return v as number;
}
function list(v: ParamValue): readonly number[] {
  return v as readonly number[];
}

/** KeOps operations written as compositions of the primitives, by KeOps name. */
export const COMPOSITES: Readonly<Record<string, CompositeSpec>> = {
  ClampInt: {
    operands: ['f'], params: [['a', 'int'], ['b', 'int']], rule: 'dim(f)', about: 'Clamp(f, a, b) with integer bounds',
    build: ([f], [a, b]) => op('Clamp', [f, c(int(a)), c(int(b))]),
  },
  DiffClampInt: {
    operands: ['f'], params: [['a', 'int'], ['b', 'int']], rule: 'dim(f)', about: '1 where a <= f <= b (or f is NaN), else 0: ClampInt\'s derivative',
    build: ([f], [a, b]) => op('Mult', [op('Subtract', [c(1), op('LessThan', [f, c(int(a))])]), op('Subtract', [c(1), op('LessThan', [c(int(b)), f])])]),
  },
  ElemT: {
    operands: ['f'], params: [['n', 'int'], ['m', 'int']], rule: 'n; f has dim 1', about: 'the vector of n zeros with f at component m (Elem\'s transpose)',
    build: ([f], [n, m], name) => {
      if (f.dim !== 1) throw new ShapeError(`${name}: ${describe(f)} must have dimension 1`);
      if (int(m) < 0 || int(m) >= int(n)) throw new ShapeError(`${name}: component ${int(m)} is outside 0..${int(n) - 1}`);
      return extractT(f, int(m), int(n));
    },
  },
  ExtractT: {
    operands: ['f'], params: [['start', 'int'], ['dim', 'int']], rule: 'dim', about: 'zeros of dimension dim with f at components start.. (Extract\'s transpose)',
    build: ([f], [start, d], name) => {
      if (int(start) < 0 || int(start) + f.dim > int(d)) throw new ShapeError(`${name}: ${describe(f)} at component ${int(start)} does not fit in dimension ${int(d)}`);
      return extractT(f, int(start), int(d));
    },
  },
  SumT: {
    operands: ['f'], params: [['dim', 'int']], rule: 'dim; f has dim 1', about: 'f repeated dim times (Sum\'s transpose)',
    build: ([f], [d], name) => {
      if (f.dim !== 1) throw new ShapeError(`${name}: ${describe(f)} must have dimension 1`);
      return gather(f, range(int(d), () => 0));
    },
  },
  IntInv: {
    operands: [], params: [['divisor', 'int']], rule: '1', about: 'the constant 1/divisor',
    build: (_a, [n], name) => {
      if (int(n) === 0) throw new OptionError(`${name}: 1/0 is not a constant`);
      return c(1 / int(n));
    },
  },
  RatCst: {
    operands: [], params: [['p', 'int'], ['q', 'int']], rule: '1', about: 'the constant p/q, rounded once in float64 (KeOps rounds it to float32 first)',
    build: (_a, [p, q], name) => {
      if (int(q) === 0) throw new OptionError(`${name}: ${int(p)}/0 is not a constant`);
      return c(int(p) / int(q));
    },
  },
  SqNormDiag: {
    operands: ['s', 'x'], params: [], rule: '1', about: 'Σ_k s_k x_k², s of dim 1 or dim(x)',
    build: ([s, x]) => op('Sum', [op('Mult', [s, op('Square', [x])])]),
  },
  SqNormIso: {
    operands: ['s', 'x'], params: [], rule: 'dim(s)', about: 's |x|²',
    build: ([s, x]) => op('Mult', [s, op('SqNorm2', [x])]),
  },
  SymSqNorm: {
    operands: ['A', 'x'], params: [], rule: '1; dim(A) = dim(x)²', about: 'xᵀ A x = Σ_kl A_kl x_k x_l',
    build: ([a, x]) => op('Sum', [op('Mult', [a, op('TensorProd', [x, x])])]),
  },
  TensorDot: {
    operands: ['a', 'b'], params: [['dimsA', 'list'], ['dimsB', 'list'], ['contA', 'list'], ['contB', 'list'], ['permute', 'list?']],
    rule: 'the product of the kept axes', about: 'the tensors a, b (row-major, shapes dimsA, dimsB) contracted over axes contA of a with contB of b; optionally permuted',
    build: ([a, b], [da, db, ca, cb, perm], name) => tensorDot(a, b, list(da), list(db), list(ca), list(cb), perm === undefined ? undefined : list(perm), name),
  },
  Kron: {
    operands: ['a', 'b'], params: [['dimsA', 'list'], ['dimsB', 'list']], rule: 'dim(a) dim(b)', about: 'the Kronecker product of tensors of shapes dimsA and dimsB (as np.kron)',
    build: ([a, b], [da, db], name) => kron(a, b, list(da), list(db), name),
  },
  BSpline: {
    operands: ['knots', 'x'], params: [['order', 'int']], rule: 'dim(knots) - order - 1; x has dim 1',
    about: 'the B-spline basis functions of the given order at x, on those knots (written out: knots · 2^order at most 65536)',
    build: ([knots, x], [order], name) => bSpline(knots, x, int(order), name),
  },
  Factorize: {
    operands: ['f', 'g'], params: [], rule: 'dim(f)', about: 'f: KeOps\' hint to compute the subformula g once; here common subformulas are shared anyway',
    build: ([f]) => f,
  },
  AutoFactorize: { operands: ['f'], params: [], rule: 'dim(f)', about: 'f (a KeOps code-generation hint, as Factorize)', build: ([f]) => f },
  ...COMPLEX_OPS,
};

/** f placed at components start.. of a zero vector of dimension d. */
function extractT(f: Node, start: number, d: number): Node {
  const parts = [...(start > 0 ? [constant(0, start)] : []), f, ...(start + f.dim < d ? [constant(0, d - start - f.dim)] : [])];
  return concat(parts);
}

/** A composite's call as the docs and errors write it, list parameters in brackets (an optional one with `?`). */
export function compositeSignature(name: string): string {
  const spec = COMPOSITES[name];
  const params = spec.params.map(([p, kind]) => (kind === 'int' ? p : kind === 'list' ? `[${p}]` : `[${p}]?`));
  return `${name}(${[...spec.operands, ...params].join(', ')})`;
}

/** True when `name` is a composite operation. */
export function isCompositeName(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(COMPOSITES, name);
}

/**
 * Builds composite `name` from its operands and parameters, checking their count and
 * kinds (OptionError) and the dimensions (ShapeError).
 *
 * @example
 * const z = composite('ComplexMult', [u, v], []); // u, v of dimension 2n
 */
export function composite(name: string, args: Node[], params: ParamValue[]): Node {
  const spec = COMPOSITES[name];
  const required = spec.params.filter(([, kind]) => kind !== 'list?').length;
  if (args.length !== spec.operands.length || params.length < required || params.length > spec.params.length) {
    throw new OptionError(`${compositeSignature(name)}: got ${args.length} operand(s) and ${params.length} parameter(s)`);
  }
  params.forEach((v, k) => {
    const [pname, kind] = spec.params[k];
    if (kind === 'int' ? typeof v !== 'number' : !Array.isArray(v)) {
      throw new OptionError(`${name}: ${pname} must be ${kind === 'int' ? 'an integer' : 'a list of integers such as [2,3]'}`);
    }
    for (const x of kind === 'int' ? [v as number] : (v as readonly number[])) {
      if (!Number.isInteger(x) || Math.abs(x) > 0x7fffffff) throw new OptionError(`${name}: ${pname} must hold integers of at most 31 bits, not ${String(x)}`);
    }
    // An output dimension is built as an array of that length: check it first.
    if ((pname === 'dim' || pname === 'n') && ((v as number) < 1 || (v as number) > MAX_DIM)) {
      throw new ShapeError(`${name}: ${pname} ${String(v)} must be from 1 to ${MAX_DIM}`);
    }
  });
  return spec.build(args, params, name);
}

/**
 * KeOps' BSpline(knots, x, order), written out as Cox-de Boor's recursion over the
 * primitives (composite.ts lists it): the basis functions of the given order at the
 * scalar x.
 */
import { ShapeError, OptionError } from '../errors';
import { c, concat, op, range } from './build';
import { describe, MAX_FORMULA_TERMS, Node } from './ir';

/**
 * The recursion as KeOps runs it: order-0 indicators t_j <= x < t_j+1, then
 * B_i,k+1 = w_i,k B_i,k + (1 - w_i+1,k) B_i+1,k with w_i,k = (x - t_i) / (t_i+k - t_i), 0
 * where the two knots coincide. Each level reads the one below twice, so the written-out
 * formula has about knots · 2^order terms.
 *
 * @example
 * bSpline(knots, x, 3, 'BSpline'); // dim(knots) - 4 cubic basis functions
 */
export function bSpline(knots: Node, x: Node, order: number, name: string): Node {
  if (!Number.isInteger(order) || order < 0) throw new OptionError(`${name}: the order must be a non-negative integer, not ${order}`);
  if (x.dim !== 1) throw new ShapeError(`${name}: a spline is sampled at a scalar, not at ${describe(x)}`);
  if (knots.dim < order + 2) throw new ShapeError(`${name}: order ${order} needs at least ${order + 2} knots, not ${knots.dim}`);
  // 16 terms or so per basis function and level: refuse what would pass the formula size anyway.
  if (order > 16 || knots.dim * 2 ** order * 16 > MAX_FORMULA_TERMS) {
    throw new ShapeError(`${name}: order ${order} on ${knots.dim} knots writes out to more than ${MAX_FORMULA_TERMS} terms; keep knots · 2^order within ${MAX_FORMULA_TERMS / 16}`);
  }
  const t = range(knots.dim).map((k) => op('Elem', [knots], [k]));
  let B = range(knots.dim - 1).map((j) => op('Mult', [op('LessOrEqual', [t[j], x]), op('LessThan', [x, t[j + 1]])]));
  const ratio = (i: number, k: number): Node => {
    const distinct = op('Subtract', [op('LessThan', [t[i], t[i + k]]), c(0.5)]);
    // Divides by 1 where the knots coincide, so that the ratio's derivative there is 0, not 0·∞.
    const span = op('IfElse', [distinct, op('Subtract', [t[i + k], t[i]]), c(1)]);
    return op('IfElse', [distinct, op('Divide', [op('Subtract', [x, t[i]]), span]), c(0)]);
  };
  for (let k = 1; k <= order; k++) {
    B = range(B.length - 1).map((i) =>
      op('Add', [op('Mult', [ratio(i, k), B[i]]), op('Mult', [op('Subtract', [c(1), ratio(i + 1, k)]), B[i + 1]])]));
  }
  return concat(B);
}

/**
 * KeOps' TensorDot and Kron written out over the primitives (composite.ts lists them):
 * gathers that lay each operand out as a matrix, one TensorProd per contracted index,
 * and a gather for the output's permutation.
 */
import { ShapeError } from '../errors';
import { gather, op, product, range } from './build';
import { describe, MAX_DIM, MAX_FORMULA_TERMS, Node } from './ir';

/** Row-major strides of a shape. */
function strides(dims: readonly number[]): number[] {
  const s = dims.map(() => 1);
  for (let k = dims.length - 2; k >= 0; k--) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

/** Every multi-index of a shape, row-major (one empty index for the empty shape). */
function multiIndices(dims: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const d of dims) out = out.flatMap((m) => range(d, (k) => [...m, k]));
  return out;
}

function checkAxes(axes: readonly number[], rank: number, what: string, name: string): void {
  if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= rank) || new Set(axes).size !== axes.length) {
    throw new ShapeError(`${name}: ${what} [${axes.join(',')}] must be distinct axes from 0 to ${rank - 1}`);
  }
}

/**
 * KeOps' TensorDot: a and b are row-major tensors of shapes dimsA and dimsB; axes contA
 * of a are contracted with axes contB of b; the kept axes of a then of b form the output,
 * whose axis p is kept axis q where permute[q] = p (KeOps' convention).
 *
 * @example
 * tensorDot(A, B, [2, 3], [3, 2], [1], [0], undefined, 'TensorDot'); // a 2×2 matrix product
 */
export function tensorDot(a: Node, b: Node, dimsA: readonly number[], dimsB: readonly number[], contA: readonly number[], contB: readonly number[],
  permute: readonly number[] | undefined, name: string): Node {
  for (const [f, dims, which] of [[a, dimsA, 'first'], [b, dimsB, 'second']] as const) {
    if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1) || product(dims) !== f.dim) {
      throw new ShapeError(`${name}: the ${which} operand ${describe(f)} does not have the shape [${dims.join(',')}]`);
    }
  }
  checkAxes(contA, dimsA.length, 'the contracted axes of the first operand', name);
  checkAxes(contB, dimsB.length, 'the contracted axes of the second operand', name);
  if (contA.length !== contB.length || contA.some((ax, t) => dimsA[ax] !== dimsB[contB[t]])) {
    throw new ShapeError(`${name}: the contracted axes [${contA.join(',')}] of [${dimsA.join(',')}] and [${contB.join(',')}] of [${dimsB.join(',')}] must have equal lengths`);
  }
  const keepA = range(dimsA.length).filter((ax) => !contA.includes(ax));
  const keepB = range(dimsB.length).filter((ax) => !contB.includes(ax));
  const keepDims = [...keepA.map((ax) => dimsA[ax]), ...keepB.map((ax) => dimsB[ax])];
  // The expansion gathers K·(kept of a + kept of b) components: keep it a formula's size.
  const [K, KA, KB] = [product(contA.map((ax) => dimsA[ax])), product(keepA.map((ax) => dimsA[ax])), product(keepB.map((ax) => dimsB[ax]))];
  if (KA * KB > MAX_DIM || K * (KA + KB) > MAX_FORMULA_TERMS) {
    throw new ShapeError(`${name}: a result of ${KA * KB} values summing ${K} products is beyond the formula sizes lazykernel builds`);
  }
  if (permute !== undefined && permute.length > 0 && (permute.length !== keepDims.length || [...permute].sort((x, y) => x - y).some((p, k) => p !== k))) {
    throw new ShapeError(keepDims.length === 0
      ? `${name}: every axis is contracted, so there is nothing for the permutation [${permute.join(',')}] to order`
      : `${name}: the permutation [${permute.join(',')}] must order the ${keepDims.length} kept axes 0..${keepDims.length - 1}`);
  }
  const [sa, sb] = [strides(dimsA), strides(dimsB)];
  const flat = (s: number[], axes: readonly number[], m: readonly number[]): number => axes.reduce((f, ax, k) => f + s[ax] * m[k], 0);
  const keptA = multiIndices(keepA.map((ax) => dimsA[ax]));
  const keptB = multiIndices(keepB.map((ax) => dimsB[ax]));
  let sum: Node | null = null;
  for (const g of multiIndices(contA.map((ax) => dimsA[ax]))) {
    const pa = gather(a, keptA.map((m) => flat(sa, keepA, m) + flat(sa, contA, g)));
    const pb = gather(b, keptB.map((m) => flat(sb, keepB, m) + flat(sb, contB, g)));
    const term = op('TensorProd', [pa, pb]);
    sum = sum === null ? term : op('Add', [sum, term]);
  }
  const out = sum as Node;
  if (permute === undefined || permute.every((p, q) => p === q)) return out;
  // Output axis p is kept axis q with permute[q] = p: walk the output row-major and read
  // each value's place in the kept order, one index at a time.
  const axisOf = range(keepDims.length).sort((x, y) => permute[x] - permute[y]);
  const outDims = axisOf.map((q) => keepDims[q]);
  const keepStrides = strides(keepDims);
  const indices = new Array<number>(KA * KB);
  const digit = new Array<number>(outDims.length).fill(0);
  for (let o = 0; o < indices.length; o++) {
    indices[o] = digit.reduce((f, v, p) => f + keepStrides[axisOf[p]] * v, 0);
    for (let p = outDims.length - 1; p >= 0 && ++digit[p] === outDims[p]; p--) digit[p] = 0;
  }
  return gather(out, indices);
}

/**
 * KeOps' Kron: np.kron of row-major tensors of equal rank, a TensorDot without
 * contraction whose output interleaves the axes of a and b.
 *
 * @example
 * kron(A, B, [2, 2], [2, 3], 'Kron'); // dimension 24
 */
export function kron(a: Node, b: Node, dimsA: readonly number[], dimsB: readonly number[], name: string): Node {
  const r = dimsA.length;
  if (r !== dimsB.length) throw new ShapeError(`${name}: the shapes [${dimsA.join(',')}] and [${dimsB.join(',')}] must have equal ranks`);
  return tensorDot(a, b, dimsA, dimsB, [], [], range(2 * r, (q) => (q < r ? 2 * q : 2 * (q - r) + 1)), name);
}

/**
 * LazyTensor, Vi, Vj, Pm: formulas built by method calls on the data they will read.
 * Nothing is computed until a reduction; a reduction renumbers the variables in order of
 * first appearance, so the same formula on other data reuses its lowered program.
 */
import { OptionError, ShapeError } from './errors';
import { refuseDisposed } from './dataset';
import {
  catName, constant, mapVariables, Node, OpName, operation, printFormula, variable, VarCategory, VarNode,
} from './formula/ir';
import { composite, ParamValue } from './formula/composite';
import { diff, divergence, grad, gradMatrix, laplacian } from './formula/derivative';
import { sameFormula, structuralKey } from './formula/keys';
import { CompiledReduction, BoundCall, ReductionOptions, checkReductionOptions, ValuesAndIndices } from './reduction';
import { Genred, GenredOptions } from './genred';
import type { ReductionName } from './formula/program';
import type { RunOptions } from './run';
import { vjp, vjpSync, VjpOptions } from './vjp';
import { solveBound, solveBoundSync, SolveOptions, SolveResult } from './solve';
import {
  checkDimension, FloatArray, FloatTypeOf, readMatrix, readParam, Tensor,
} from './tensor';

/** The data behind one variable of a LazyTensor. */
export interface Leaf {
  cat: VarCategory;
  dim: number;
  /** A float array for Vi/Vj; a float array or plain numbers for Pm; empty for a placeholder. */
  data: FloatArray | number[];
  rows: number;
  /** A placeholder's argument index (`Vi(0, 3)`): data comes with each call of its Genred. */
  placeholder?: number;
}

/** A LazyTensor operand: another LazyTensor, or a number (a constant). */
export type Operand<T extends FloatArray = FloatArray> = LazyTensor<T> | number;

/**
 * The float type of a formula over two operands: a formula without data of its own (a
 * Pm of plain numbers, typed FloatArray) takes the other's.
 */
export type Joined<T extends FloatArray, U extends FloatArray> = FloatArray extends T ? U : T;

// Leaves are told apart by an id stored as the variable's position until a reduction
// renumbers them 0..n-1.
let nextLeafId = 0;

function leafTensor(cat: VarCategory, data: FloatArray | number[], dim: number, rows: number, placeholder?: number): LazyTensor {
  const id = nextLeafId++;
  if (nextLeafId > 0x7fffffff) nextLeafId = 0;
  const leaf: Leaf = placeholder === undefined ? { cat, dim, data, rows } : { cat, dim, data, rows, placeholder };
  return new LazyTensor(variable(cat, id, dim), new Map([[id, leaf]]));
}

/** Programs lowered for LazyTensor reductions, by formula structure and reduction. */
const compiledCache = new Map<string, CompiledReduction>();
const CACHE_SIZE = 256;

/** A formula with its variables numbered 0..n-1, and the arrays of those slots. */
interface Numbered {
  formula: Node;
  weights?: Node;
  vars: VarNode[];
  args: (FloatArray | number[])[];
  /** Leaf ids by slot. */
  ids: number[];
}

function numberLeaves(formula: LazyTensor, weights?: LazyTensor): Numbered {
  refusePlaceholders(formula, weights);
  const leaves = new Map([...formula.leaves, ...(weights?.leaves ?? [])]);
  const slots = new Map<number, number>();
  const order: number[] = [];
  const memo = new Map<Node, Node>();
  const renumber = (v: VarNode): VarNode => {
    let slot = slots.get(v.pos);
    if (slot === undefined) {
      slot = order.length;
      slots.set(v.pos, slot);
      order.push(v.pos);
    }
    return variable(v.cat, slot, v.dim);
  };
  const f = mapVariables(formula.node, renumber, memo);
  const w = weights === undefined ? undefined : mapVariables(weights.node, renumber, memo);
  const used = order.map((id) => leaves.get(id) as Leaf);
  return {
    formula: f,
    weights: w,
    vars: used.map((leaf, slot) => variable(leaf.cat, slot, leaf.dim)),
    args: used.map((leaf) => leaf.data),
    ids: order,
  };
}

function compile(n: Numbered, opts: ReductionOptions): CompiledReduction {
  const key = [structuralKey(n.formula), n.weights ? structuralKey(n.weights) : '', opts.reduction, opts.axis, opts.k ?? '',
    n.vars.map((v) => `${v.cat}${v.dim}`).join(',')].join('|');
  let compiled = compiledCache.get(key);
  // Keys are hashes: a hit must be the same formula, node by node, to be used.
  const same = (a: Node | undefined, b: Node | undefined): boolean => (a === undefined ? b === undefined : b !== undefined && sameFormula(a, b));
  if (compiled !== undefined && !(same(compiled.formula, n.formula) && same(compiled.weights, n.weights))) compiled = undefined;
  if (compiled === undefined) {
    compiled = new CompiledReduction(n.formula, n.vars, opts, n.weights);
    if (compiledCache.size >= CACHE_SIZE && !compiledCache.has(key)) compiledCache.delete(compiledCache.keys().next().value as string);
    compiledCache.set(key, compiled);
  }
  return compiled;
}

/** A checked call of a LazyTensor reduction: the program, its arrays, and the reduction. */
export interface LazyCall extends BoundCall {
  compiled: CompiledReduction;
}

/**
 * Checks and lowers a LazyTensor reduction and binds its arrays, without running it.
 *
 * @example
 * const call = bindReduction(K, { reduction: 'Sum', axis: 1 });
 * await execute(call.program, call.args);
 */
export function bindReduction(formula: LazyTensor, opts: ReductionOptions, weights?: LazyTensor): LazyCall {
  if (!(formula instanceof LazyTensor)) throw new OptionError('a reduction needs a LazyTensor formula');
  if (weights !== undefined && !(weights instanceof LazyTensor)) throw new OptionError('the weights must be a LazyTensor');
  refuseDisposedLeaves(formula, weights);
  return bindNumbered(numberLeaves(formula, weights), opts);
}

/** Refuses placeholder variables where data is needed (OptionError): they hold none. */
function refusePlaceholders(...tensors: (LazyTensor | undefined)[]): void {
  for (const t of tensors) {
    if (t === undefined) continue;
    const held = [...t.leaves.values()].filter((l) => l.placeholder !== undefined);
    if (held.length === 0) continue;
    const names = held.map((l) => `${catName(l.cat)}(${l.placeholder},${l.dim})`);
    throw new OptionError(`the formula has placeholder variables (${names.join(', ')}) and no data for them: make a Genred with .genred({ reduction, axis }) and run it with the arrays`);
  }
}

/**
 * Refuses LazyTensors built on a dataset disposed since (OptionError), whether or not
 * their formula still reads it: a LazyTensor holds the values, not the right to use them.
 * Placeholders are refused too: they hold no values at all.
 */
function refuseDisposedLeaves(...tensors: (LazyTensor | undefined)[]): void {
  refusePlaceholders(...tensors);
  for (const t of tensors) if (t !== undefined) refuseDisposed([...t.leaves.values()].map((l) => l.data));
}

function bindNumbered(n: Numbered, opts: ReductionOptions): LazyCall {
  const compiled = compile(n, checkReductionOptions(opts));
  return { ...compiled.bind(n.args), compiled };
}

/**
 * The program and arrays of K·v: Σ_j K_ij v_j over j for a scalar formula K, with v of
 * the j-variables' rows. `vSlot` is v's argument slot, where KernelSolve puts its vectors.
 *
 * @example
 * const K = Vi(x, 3).sqdist(Vj(x, 3)).neg().exp();
 * const { program, args, vSlot } = bindMatvec(K, b); // args[vSlot] is b's data
 */
export function bindMatvec(K: LazyTensor, v: FloatArray | Tensor): LazyCall & { vSlot: number } {
  if (!(K instanceof LazyTensor)) throw new OptionError('matvec needs a LazyTensor kernel');
  if (K.dim !== 1) throw new ShapeError(`matvec needs a scalar formula K, not one of dimension ${K.dim}: ${K.formula}`);
  const jRows = new Set([...K.leaves.values()].filter((l) => l.cat === 'j').map((l) => l.rows));
  if (jRows.size === 0) throw new ShapeError(`matvec needs a formula with j-variables: ${K.formula}`);
  if (jRows.size > 1) throw new ShapeError(`the j-variables of ${K.formula} have different row counts: ${[...jRows].join(', ')}`);
  const rows = [...jRows][0];
  const b = readMatrix(v, 'matvec vector', { rows });
  refuseDisposedLeaves(K);
  const vj = leafTensor('j', b.data, b.cols, b.rows);
  const numbered = numberLeaves(K.mul(vj));
  const call = bindNumbered(numbered, { reduction: 'Sum', axis: 1 });
  return { ...call, vSlot: numbered.ids.indexOf((vj.node as VarNode).pos) };
}

function toNode(x: Operand, what: string): { node: Node; leaves: ReadonlyMap<number, Leaf> } {
  if (x instanceof LazyTensor) return x;
  if (typeof x === 'number') return { node: constant(x), leaves: new Map() };
  throw new OptionError(`${what}: an operand must be a LazyTensor or a finite number, not ${x === null ? 'null' : typeof x}`);
}

/**
 * A symbolic formula over i-variables, j-variables and parameters, run by a reduction.
 *
 * @example
 * const K = Vi(x, 3).sqdist(Vj(y, 3)).mul(-0.5).exp();
 * const out = await K.mul(Vj(b, 1)).sum(1); // Tensor [M, 1], of x's float type
 *
 * `T` is the float type of the data the formula reads, which types what its reductions
 * return; one call takes one float type (mixing them is a DTypeError when it runs).
 */
export class LazyTensor<T extends FloatArray = FloatArray> {
  /** @internal Use Vi, Vj, Pm and the operations. */
  constructor(
    /** The formula's IR; variables are numbered by leaf until a reduction. */
    readonly node: Node,
    /** @internal The data of each variable, by leaf id. */
    readonly leaves: ReadonlyMap<number, Leaf>,
  ) {}

  /** The formula's output dimension. */
  get dim(): number {
    return this.node.dim;
  }

  /** The formula in KeOps syntax, variables numbered as a reduction would pass them (placeholders by their index). */
  get formula(): string {
    const placeholders = [...this.leaves.values()].some((l) => l.placeholder !== undefined);
    return placeholders ? placeholderFormula(this) : printFormula(numberLeaves(this).formula);
  }

  /**
   * A Genred for this formula of placeholder variables (`Vi(index, dim)`, `Vj`, `Pm`),
   * run with one array per index, as pykeops' reductions of placeholder LazyTensors.
   * `weights` is formula2 (SumSoftMaxWeight and the weighted exponential sums).
   *
   * @example
   * const K = Vi(0, 3).sqdist(Vj(1, 3)).neg().exp().mul(Vj(2, 1));
   * const gauss = K.genred({ reduction: 'Sum', axis: 1 });
   * const out = await gauss.run([x, y, b]);
   */
  genred<R extends ReductionName>(opts: GenredOptions<R> & { weights?: LazyTensor }): Genred<R> {
    if (typeof opts !== 'object' || opts === null) throw new OptionError('genred needs options { reduction, axis }');
    const { weights, ...rest } = opts;
    if (weights !== undefined && !(weights instanceof LazyTensor)) throw new OptionError('the weights must be a LazyTensor');
    if ('formula2' in rest) throw new OptionError('pass the weights as a LazyTensor, { weights }, not formula2');
    const formula2 = weights === undefined ? {} : { formula2: placeholderFormula(weights) };
    return new Genred(placeholderFormula(this), [], { ...rest, ...formula2 } as GenredOptions<R>);
  }

  private apply<R extends FloatArray = T>(op: OpName, operands: Operand[], ints: number[] = []): LazyTensor<R> {
    return this.combine(op, operands, (self, others) => operation(op, [self, ...others], ints));
  }

  /** A composite operation of composite.ts (KeOps' names), this formula its first operand. */
  private composite<R extends FloatArray = T>(name: string, operands: Operand[], params: ParamValue[] = []): LazyTensor<R> {
    return this.combine(name, operands, (self, others) => composite(name, [self, ...others], params));
  }

  /** A formula built from this one and `operands` (LazyTensors or numbers), with all their data. */
  private combine<R extends FloatArray>(what: string, operands: Operand[], build: (self: Node, others: Node[]) => Node): LazyTensor<R> {
    const all = operands.map((o) => toNode(o, what));
    const leaves = new Map(this.leaves);
    all.forEach((a) => a.leaves.forEach((leaf, id) => leaves.set(id, leaf)));
    return new LazyTensor(build(this.node, all.map((a) => a.node)), leaves);
  }

  // Arithmetic
  add<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Add', [other]); }
  sub<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Subtract', [other]); }
  mul<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Mult', [other]); }
  div<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Divide', [other]); }
  neg(): LazyTensor<T> { return this.apply('Minus', []); }

  // Element-wise maths
  exp(): LazyTensor<T> { return this.apply('Exp', []); }
  log(): LazyTensor<T> { return this.apply('Log', []); }
  sqrt(): LazyTensor<T> { return this.apply('Sqrt', []); }
  rsqrt(): LazyTensor<T> { return this.apply('Rsqrt', []); }
  square(): LazyTensor<T> { return this.apply('Square', []); }
  inv(): LazyTensor<T> { return this.apply('Inv', []); }
  abs(): LazyTensor<T> { return this.apply('Abs', []); }
  sign(): LazyTensor<T> { return this.apply('Sign', []); }
  /** 1 where the value is ≥ 0, else 0. */
  step(): LazyTensor<T> { return this.apply('Step', []); }
  relu(): LazyTensor<T> { return this.apply('ReLU', []); }
  sin(): LazyTensor<T> { return this.apply('Sin', []); }
  cos(): LazyTensor<T> { return this.apply('Cos', []); }
  atan(): LazyTensor<T> { return this.apply('Atan', []); }
  floor(): LazyTensor<T> { return this.apply('Floor', []); }
  /** atan2(this, x). */
  atan2<U extends FloatArray = T>(x: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Atan2', [x]); }
  /** this^n for an integer n (KeOps Pow). */
  pow(n: number): LazyTensor<T> { return this.apply('Pow', [], [n]); }
  /** this^p = exp(p log this) (KeOps Powf). */
  powf<U extends FloatArray = T>(p: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Powf', [p]); }
  /** min(max(this, a), b). */
  clamp(a: Operand, b: Operand): LazyTensor<T> { return this.apply('Clamp', [a, b]); }
  /** a where this ≥ 0, else b. */
  ifelse(a: Operand, b: Operand): LazyTensor<T> { return this.apply('IfElse', [a, b]); }
  /** Rounded to `decimals` decimals. */
  round(decimals: number): LazyTensor<T> { return this.apply('Round', [], [decimals]); }
  /** this - n·floor((this - offset) / n) (KeOps Mod). */
  mod(n: Operand, offset: Operand = 0): LazyTensor<T> { return this.apply('Mod', [n, offset]); }

  /** The arc cosine, NaN outside [-1, 1]. */
  acos(): LazyTensor<T> { return this.apply('Acos', []); }
  /** The arc sine, NaN outside [-1, 1]. */
  asin(): LazyTensor<T> { return this.apply('Asin', []); }
  /** sin(this) / this, 1 where this = 0 (KeOps SinXDivX). */
  sinxdivx(): LazyTensor<T> { return this.apply('SinXDivX', []); }
  /** sin(π this) / (π this), as pykeops' sinc. */
  sinc(): LazyTensor<T> { return this.mul(Math.PI).sinxdivx(); }
  /** this · log(this), 0 where this = 0. */
  xlogx(): LazyTensor<T> { return this.apply('XLogX', []); }

  // Comparisons: 1 where true, else 0 (false with a NaN, except ne).
  /**
   * 1 where this < other, else 0 (KeOps LessThan); `x < y` in a formula string.
   *
   * @example
   * const inside = Vi(x, 3).sqdist(Vj(y, 3)).lt(0.01); // 1 for the pairs closer than 0.1
   */
  lt<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('LessThan', [other]); }
  /** this <= other (KeOps LessOrEqual). */
  le<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('LessOrEqual', [other]); }
  /** this > other. */
  gt<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return toLazy(other, 'gt').apply('LessThan', [this]); }
  /** this >= other. */
  ge<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return toLazy(other, 'ge').apply('LessOrEqual', [this]); }
  /** this == other (KeOps Equal). */
  eq<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Equal', [other]); }
  /** this != other (KeOps NotEqual). */
  ne<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('NotEqual', [other]); }

  // Vectors
  sqdist<U extends FloatArray = T>(y: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('SqDist', [y]); }
  sqnorm2(): LazyTensor<T> { return this.apply('SqNorm2', []); }
  norm2(): LazyTensor<T> { return this.apply('Norm2', []); }
  normalize(): LazyTensor<T> { return this.apply('Normalize', []); }
  /** The scalar product (KeOps `(x|y)`). */
  dot<U extends FloatArray = T>(y: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Scalprod', [y]); }
  /** The sum of the components (KeOps Sum). */
  sumDims(): LazyTensor<T> { return this.apply('Sum', []); }
  /** The largest component (KeOps Max). */
  maxDims(): LazyTensor<T> { return this.apply('Max', []); }
  /** The smallest component (KeOps Min). */
  minDims(): LazyTensor<T> { return this.apply('Min', []); }
  elem(k: number): LazyTensor<T> { return this.apply('Elem', [], [k]); }
  extract(start: number, dim: number): LazyTensor<T> { return this.apply('Extract', [], [start, dim]); }
  concat<U extends FloatArray = T>(other: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('Concat', [other]); }
  /** The one-hot vector of dimension `dim` at round(this). */
  onehot(dim: number): LazyTensor<T> { return this.apply('OneHot', [], [dim]); }
  /** WeightedSqNorm(w, this): w of dimension 1, dim or dim² (isotropic, diagonal, full). */
  weightedSqNorm(w: Operand): LazyTensor<T> { return toLazy(w, 'weightedSqNorm').apply('WeightedSqNorm', [this]); }
  /** WeightedSqDist(w, this, y). */
  weightedSqDist(y: Operand, w: Operand): LazyTensor<T> { return toLazy(w, 'weightedSqDist').apply('WeightedSqDist', [this, y]); }
  /** this (a row-major matrix) times v. */
  matvecmult<U extends FloatArray = T>(v: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('MatVecMult', [v]); }
  /** this (a vector) times B (a row-major matrix). */
  vecmatmult<U extends FloatArray = T>(B: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('VecMatMult', [B]); }
  /** The outer product, row-major: out[k·dim(y)+l] = this_k y_l. */
  tensorprod<U extends FloatArray = T>(y: Operand<U>): LazyTensor<Joined<T, U>> { return this.apply('TensorProd', [y]); }
  /** The index of the first largest component (KeOps ArgMax). */
  argmaxDims(): LazyTensor<T> { return this.apply('ArgMax', []); }
  /** The index of the first smallest component (KeOps ArgMin). */
  argminDims(): LazyTensor<T> { return this.apply('ArgMin', []); }
  /**
   * Components k0, k1, … of this, in that order (repeats allowed; lazykernel's Gather).
   *
   * @example
   * const yx = Vi(xy, 2).gather([1, 0]); // the coordinates swapped
   */
  gather(indices: readonly number[]): LazyTensor<T> {
    if (!Array.isArray(indices)) throw new OptionError('gather takes an array of component indices, such as [1, 0]');
    return this.apply('Gather', [], [...indices]);
  }
  /**
   * KeOps' TensorDot: this and b are row-major tensors of shapes dimsA and dimsB,
   * contracted over axes contA of this with contB of b (pykeops' keops_tensordot).
   *
   * @example
   * const AB = A.tensordot(B, [2, 3], [3, 2], [1], [0]); // a 2×3 times 3×2 matrix product, dim 4
   */
  tensordot<U extends FloatArray = T>(b: Operand<U>, dimsA: readonly number[], dimsB: readonly number[], contA: readonly number[], contB: readonly number[], permute?: readonly number[]): LazyTensor<Joined<T, U>> {
    return this.composite('TensorDot', [b], [dimsA, dimsB, contA, contB, ...(permute === undefined ? [] : [permute])]);
  }
  /** The Kronecker product of row-major tensors of shapes dimsA and dimsB (pykeops' keops_kron). */
  kron<U extends FloatArray = T>(b: Operand<U>, dimsA: readonly number[], dimsB: readonly number[]): LazyTensor<Joined<T, U>> {
    return this.composite('Kron', [b], [dimsA, dimsB]);
  }
  /** The B-spline basis functions of the given order at the scalar x, on these knots (pykeops' bspline). */
  bspline<U extends FloatArray = T>(x: Operand<U>, order = 0): LazyTensor<Joined<T, U>> { return this.composite('BSpline', [x], [order]); }
  /** The soft-DTW discrepancy between this series and y under the squared difference, with smoothing gamma. */
  softdtwSqdist<U extends FloatArray = T>(y: Operand<U>, gamma: Operand): LazyTensor<Joined<T, U>> { return this.apply('SoftDTW_SqDist', [y, gamma]); }

  // Complex numbers: interleaved (re, im) pairs, as KeOps stores them (docs/ops.md).
  /** This (real) as complex numbers with zero imaginary parts. */
  real2complex(): LazyTensor<T> { return this.composite('Real2Complex', []); }
  /** i · this (real): complex numbers with zero real parts. */
  imag2complex(): LazyTensor<T> { return this.composite('Imag2Complex', []); }
  /** exp(i · this) for real this: (cos, sin) pairs. */
  exp1j(): LazyTensor<T> { return this.composite('ComplexExp1j', []); }
  /** The real parts of this complex vector. */
  real(): LazyTensor<T> { return this.composite('ComplexReal', []); }
  /** The imaginary parts of this complex vector. */
  imag(): LazyTensor<T> { return this.composite('ComplexImag', []); }
  /** The complex conjugates. */
  conj(): LazyTensor<T> { return this.composite('Conj', []); }
  /** The moduli of this complex vector. */
  complexAbs(): LazyTensor<T> { return this.composite('ComplexAbs', []); }
  /** The squared moduli, re² + im². */
  complexSquareAbs(): LazyTensor<T> { return this.composite('ComplexSquareAbs', []); }
  /** The arguments atan2(im, re) (pykeops' angle). */
  angle(): LazyTensor<T> { return this.composite('ComplexAngle', []); }
  /** The complex exponentials, e^re (cos im, sin im). */
  complexExp(): LazyTensor<T> { return this.composite('ComplexExp', []); }
  /** The sum of the complex entries (dim 2). */
  complexSum(): LazyTensor<T> { return this.composite('ComplexSum', []); }
  /** this + z, complex (z may be one complex number, broadcast). */
  complexAdd<U extends FloatArray = T>(z: Operand<U>): LazyTensor<Joined<T, U>> { return this.composite('ComplexAdd', [z]); }
  /** this - z, complex (z may be one complex number, broadcast). */
  complexSub<U extends FloatArray = T>(z: Operand<U>): LazyTensor<Joined<T, U>> { return this.composite('ComplexSubtract', [z]); }
  /**
   * The complex products of this and z, entry by entry (z may be one complex number).
   *
   * @example
   * const zw = Vi(z, 4).complexMul(Vj(w, 4)); // two complex entries per row: (re, im, re, im)
   */
  complexMul<U extends FloatArray = T>(z: Operand<U>): LazyTensor<Joined<T, U>> { return this.composite('ComplexMult', [z]); }
  /** The complex quotients this / z (z may be one complex number). */
  complexDiv<U extends FloatArray = T>(z: Operand<U>): LazyTensor<Joined<T, U>> { return this.composite('ComplexDivide', [z]); }
  /** This complex vector times a real scalar r. */
  complexScale<U extends FloatArray = T>(r: Operand<U>): LazyTensor<Joined<T, U>> { return this.composite('ComplexRealScal', [r]); }

  // Derivatives (formula/derivative.ts): formulas like any other, reduced like any other.
  /**
   * Grad(this, v, e): Σ_k e_k ∂this_k/∂v, of v's dimension; v is a variable (Vi, Vj or Pm)
   * and e has this formula's dimension.
   *
   * @example
   * const x = Vi(pts, 3), y = Vj(pts, 3);
   * const K = x.sqdist(y).mul(-10).exp();
   * const force = await K.mul(Vj(b, 1)).grad(x, Vi(e, 1)).sum(1); // Σ_j ∂(K_ij b_j)/∂x_i · e_i
   */
  grad<U extends FloatArray = T>(v: LazyTensor<U>, e: Operand<U>): LazyTensor<Joined<T, U>> { return this.derive((f, [vn, en]) => grad(f, vn, en), [v, e]); }
  /** Diff(this, v, u): the differential with respect to v in the direction u (of v's dimension). */
  diff<U extends FloatArray = T>(v: LazyTensor<U>, u: Operand<U>): LazyTensor<Joined<T, U>> { return this.derive((f, [vn, un]) => diff(f, vn, un), [v, u]); }
  /** GradMatrix(this, v): the Jacobian's transpose, dim(this)·dim(v) values, row by row. */
  gradMatrix(v: LazyTensor): LazyTensor<T> { return this.derive((f, [vn]) => gradMatrix(f, vn), [v]); }
  /** Divergence(this, v) = Σ_k ∂this_k/∂v_k, for this of v's dimension. */
  divergence(v: LazyTensor): LazyTensor<T> { return this.derive((f, [vn]) => divergence(f, vn), [v]); }
  /** Laplacian(this, v) = Σ_k ∂²this/∂v_k², for a scalar formula. */
  laplacian(v: LazyTensor): LazyTensor<T> { return this.derive((f, [vn]) => laplacian(f, vn), [v]); }

  private derive<R extends FloatArray>(build: (f: Node, others: Node[]) => Node, others: Operand[]): LazyTensor<R> {
    if (!(others[0] instanceof LazyTensor) || others[0].node.kind !== 'var') {
      throw new OptionError('derivatives are taken with respect to a variable: a LazyTensor made by Vi, Vj or Pm');
    }
    return this.combine('grad', others, build);
  }

  // Reductions
  private run<R>(opts: ReductionOptions, run: RunOptions | undefined, weights?: LazyTensor): Promise<R> {
    try {
      const call = bindReduction(this, opts, weights);
      return call.compiled.run(call.args, run) as Promise<R>;
    } catch (e) {
      return Promise.reject(e);
    }
  }
  private runSync<R>(opts: ReductionOptions, run: RunOptions | undefined, weights?: LazyTensor): R {
    const call = bindReduction(this, opts, weights);
    return call.compiled.runSync(call.args, run) as R;
  }

  /** Σ over j (axis 1) or i (axis 0). */
  sum(axis: 0 | 1, opts?: RunOptions): Promise<Tensor<T>> { return this.run({ reduction: 'Sum', axis }, opts); }
  sumSync(axis: 0 | 1, opts?: RunOptions): Tensor<T> { return this.runSync({ reduction: 'Sum', axis }, opts); }
  min(axis: 0 | 1, opts?: RunOptions): Promise<Tensor<T>> { return this.run({ reduction: 'Min', axis }, opts); }
  minSync(axis: 0 | 1, opts?: RunOptions): Tensor<T> { return this.runSync({ reduction: 'Min', axis }, opts); }
  max(axis: 0 | 1, opts?: RunOptions): Promise<Tensor<T>> { return this.run({ reduction: 'Max', axis }, opts); }
  maxSync(axis: 0 | 1, opts?: RunOptions): Tensor<T> { return this.runSync({ reduction: 'Max', axis }, opts); }
  argmin(axis: 0 | 1, opts?: RunOptions): Promise<Tensor<Int32Array>> { return this.run({ reduction: 'ArgMin', axis }, opts); }
  argminSync(axis: 0 | 1, opts?: RunOptions): Tensor<Int32Array> { return this.runSync({ reduction: 'ArgMin', axis }, opts); }
  argmax(axis: 0 | 1, opts?: RunOptions): Promise<Tensor<Int32Array>> { return this.run({ reduction: 'ArgMax', axis }, opts); }
  argmaxSync(axis: 0 | 1, opts?: RunOptions): Tensor<Int32Array> { return this.runSync({ reduction: 'ArgMax', axis }, opts); }
  /**
   * log Σ exp(this), this scalar; with `weight` V, log Σ exp(this)·V per component of V
   * (pykeops' logsumexp(weight=…), KeOps' LogSumExpWeight).
   *
   * @example
   * const lse = await x.sqdist(y).neg().logsumexp(1, { weight: Vj(w, 2) }); // [M, 2]
   */
  logsumexp(axis: 0 | 1, opts?: RunOptions & { weight?: LazyTensor }): Promise<Tensor<T>> { return this.runWeighted('LogSumExp', 'LogSumExpWeight', axis, opts); }
  logsumexpSync(axis: 0 | 1, opts?: RunOptions & { weight?: LazyTensor }): Tensor<T> { return this.runWeightedSync('LogSumExp', 'LogSumExpWeight', axis, opts); }
  /**
   * The max-shifted exponential sums of KeOps' Max_SumShiftExp(Weight): per row
   * [m, Σ exp(this - m)·V…] with m the max of this scalar formula (V = 1 without `weight`).
   */
  maxSumShiftExp(axis: 0 | 1, opts?: RunOptions & { weight?: LazyTensor }): Promise<Tensor<T>> { return this.runWeighted('Max_SumShiftExp', 'Max_SumShiftExpWeight', axis, opts); }
  maxSumShiftExpSync(axis: 0 | 1, opts?: RunOptions & { weight?: LazyTensor }): Tensor<T> { return this.runWeightedSync('Max_SumShiftExp', 'Max_SumShiftExpWeight', axis, opts); }
  /** Reduction `plain`, or `weighted` when the options hold a weight. */
  private runWeighted(plain: ReductionName, weighted: ReductionName, axis: 0 | 1, opts: (RunOptions & { weight?: LazyTensor }) | undefined): Promise<Tensor<T>> {
    try {
      const { weight, run } = splitWeight(opts);
      return this.run({ reduction: weight === undefined ? plain : weighted, axis }, run, weight);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  private runWeightedSync(plain: ReductionName, weighted: ReductionName, axis: 0 | 1, opts: (RunOptions & { weight?: LazyTensor }) | undefined): Tensor<T> {
    const { weight, run } = splitWeight(opts);
    return this.runSync({ reduction: weight === undefined ? plain : weighted, axis }, run, weight);
  }
  /** The k smallest values per row, ascending: shape [rows, k·dim]. */
  kmin(k: number, axis: 0 | 1, opts?: RunOptions): Promise<Tensor<T>> { return this.run({ reduction: 'KMin', axis, k }, opts); }
  kminSync(k: number, axis: 0 | 1, opts?: RunOptions): Tensor<T> { return this.runSync({ reduction: 'KMin', axis, k }, opts); }
  argkmin(k: number, axis: 0 | 1, opts?: RunOptions): Promise<Tensor<Int32Array>> { return this.run({ reduction: 'ArgKMin', axis, k }, opts); }
  argkminSync(k: number, axis: 0 | 1, opts?: RunOptions): Tensor<Int32Array> { return this.runSync({ reduction: 'ArgKMin', axis, k }, opts); }
  minArgmin(axis: 0 | 1, opts?: RunOptions): Promise<ValuesAndIndices<T>> { return this.run({ reduction: 'Min_ArgMin', axis }, opts); }
  minArgminSync(axis: 0 | 1, opts?: RunOptions): ValuesAndIndices<T> { return this.runSync({ reduction: 'Min_ArgMin', axis }, opts); }
  /** The largest value per row and its index (pykeops' `max_argmax`). */
  maxArgmax(axis: 0 | 1, opts?: RunOptions): Promise<ValuesAndIndices<T>> { return this.run({ reduction: 'Max_ArgMax', axis }, opts); }
  maxArgmaxSync(axis: 0 | 1, opts?: RunOptions): ValuesAndIndices<T> { return this.runSync({ reduction: 'Max_ArgMax', axis }, opts); }
  kminArgkmin(k: number, axis: 0 | 1, opts?: RunOptions): Promise<ValuesAndIndices<T>> { return this.run({ reduction: 'KMin_ArgKMin', axis, k }, opts); }
  kminArgkminSync(k: number, axis: 0 | 1, opts?: RunOptions): ValuesAndIndices<T> { return this.runSync({ reduction: 'KMin_ArgKMin', axis, k }, opts); }
  /** Σ softmax(this) · weights, this scalar. */
  sumSoftmaxWeight(weights: LazyTensor, axis: 0 | 1, opts?: RunOptions): Promise<Tensor<T>> {
    return this.run({ reduction: 'SumSoftMaxWeight', axis }, opts, weights);
  }
  sumSoftmaxWeightSync(weights: LazyTensor, axis: 0 | 1, opts?: RunOptions): Tensor<T> {
    return this.runSync({ reduction: 'SumSoftMaxWeight', axis }, opts, weights);
  }
  /**
   * The gradient of a loss with respect to variables of this formula, given the loss's
   * gradient with respect to a reduction's output (see {@link Genred.vjp}: the same
   * reductions, both axes). `wrt` holds the Vi, Vj or Pm LazyTensors to differentiate;
   * the gradients come back in that order, each shaped as its variable's data (a Pm:
   * [1, dim]). `reduction.weights` is SumSoftMaxWeight's weights formula.
   *
   * @example
   * const x = Vi(pts, 3), y = Vj(pts, 3), g = Pm(2);
   * const K = x.sqdist(y).mul(g).neg().exp().mul(Vj(b, 1));
   * const out = await K.sum(1);
   * const [gx, gg] = await K.vjp({ reduction: 'Sum', axis: 1 }, out.data.map((v) => 2 * v), [x, g]);
   */
  vjp(
    reduction: ReductionOptions & { weights?: LazyTensor },
    outputGradient: T | Tensor<T>,
    wrt: readonly LazyTensor[],
    opts: VjpOptions = {},
  ): Promise<Tensor<T>[]> {
    try {
      const { call, names } = this.bindVjp(reduction, wrt);
      return vjp(call.compiled, call.args, outputGradient, names, opts).then((g) => names.map((n) => g[n] as Tensor<T>));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** The same as {@link LazyTensor.vjp}, blocking. */
  vjpSync(
    reduction: ReductionOptions & { weights?: LazyTensor },
    outputGradient: T | Tensor<T>,
    wrt: readonly LazyTensor[],
    opts: VjpOptions = {},
  ): Tensor<T>[] {
    const { call, names } = this.bindVjp(reduction, wrt);
    const g = vjpSync(call.compiled, call.args, outputGradient, names, opts);
    return names.map((n) => g[n] as Tensor<T>);
  }
  private bindVjp(reduction: ReductionOptions & { weights?: LazyTensor }, wrt: readonly LazyTensor[]): { call: LazyCall; names: string[] } {
    if (typeof reduction !== 'object' || reduction === null) throw new OptionError('vjp needs the reduction: { reduction, axis }');
    const { weights, ...opts } = reduction;
    if (weights !== undefined && !(weights instanceof LazyTensor)) throw new OptionError('the weights must be a LazyTensor');
    if (!Array.isArray(wrt) || wrt.length === 0) throw new OptionError('vjp needs the variables to differentiate: Vi, Vj or Pm LazyTensors of the formula');
    refuseDisposedLeaves(this, weights);
    const numbered = numberLeaves(this, weights);
    const call = bindNumbered(numbered, opts);
    const names = wrt.map((v) => {
      const slot = v instanceof LazyTensor && v.node.kind === 'var' ? numbered.ids.indexOf(v.node.pos) : -1;
      if (slot < 0) throw new OptionError('vjp differentiates with respect to Vi, Vj or Pm LazyTensors that the formula reads');
      return call.compiled.specs[slot].name;
    });
    return { call, names };
  }

  /** Σ_j K_ij b_j for a scalar K; b has the j-variables' rows. */
  matvec(b: T | Tensor<T>, opts?: RunOptions): Promise<Tensor<T>> {
    try {
      const call = bindMatvec(this, b);
      return call.compiled.run(call.args, opts) as Promise<Tensor<T>>;
    } catch (e) {
      return Promise.reject(e);
    }
  }
  matvecSync(b: T | Tensor<T>, opts?: RunOptions): Tensor<T> {
    const call = bindMatvec(this, b);
    return call.compiled.runSync(call.args, opts) as Tensor<T>;
  }
  /**
   * Solves (αI + K) x = b by conjugate gradients in native code, for a scalar symmetric
   * kernel K built on Vi(x) and Vj(x) (the same points: i- and j-rows must be equal).
   * b is n × dv (a flat array is n × 1); see {@link SolveOptions} and {@link SolveResult}.
   *
   * @example
   * const K = Vi(x, 3).sqdist(Vj(x, 3)).mul(-1e4).exp();
   * const { x: a, iterations, converged } = await K.solve(b, { alpha: 0.8, tol: 1e-6 });
   */
  solve(b: T | Tensor<T>, opts: SolveOptions): Promise<SolveResult> {
    try {
      const call = bindMatvec(this, b);
      return solveBound(call, call.compiled.specs, call.vSlot, opts);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** The same as {@link LazyTensor.solve}, blocking; no onProgress, no abort. */
  solveSync(b: T | Tensor<T>, opts: SolveOptions): SolveResult {
    const call = bindMatvec(this, b);
    return solveBoundSync(call, call.compiled.specs, call.vSlot, opts);
  }
}

/** A reduction's weight option apart from its run options. */
function splitWeight(opts: (RunOptions & { weight?: LazyTensor }) | undefined): { weight?: LazyTensor; run?: RunOptions } {
  if (opts === undefined || opts === null || typeof opts !== 'object' || !('weight' in opts)) return { run: opts };
  const { weight, ...run } = opts;
  if (weight !== undefined && !(weight instanceof LazyTensor)) throw new OptionError('weight must be a LazyTensor');
  return { weight, run };
}

/** The formula with each placeholder at its index, as positional KeOps text; other data is refused. */
function placeholderFormula(t: LazyTensor): string {
  const data = [...t.leaves.values()].filter((l) => l.placeholder === undefined);
  if (data.length > 0) throw new OptionError('a formula of placeholder variables cannot also hold data: make every variable a placeholder, Vi(index, dim)');
  const node = mapVariables(t.node, (v) => variable(v.cat, (t.leaves.get(v.pos) as Leaf).placeholder as number, v.dim));
  return printFormula(node, { positional: true });
}

function placeholder(cat: VarCategory, index: number, dim: unknown): LazyTensor {
  const name = catName(cat);
  if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) throw new OptionError(`${name}(index, dim): the index must be a non-negative integer, not ${index}`);
  return leafTensor(cat, [], checkDimension(dim, name), 0, index);
}

function toLazy(x: Operand, what: string): LazyTensor {
  if (x instanceof LazyTensor) return x;
  const { node, leaves } = toNode(x, what);
  return new LazyTensor(node, leaves);
}

function dataVariable(cat: 'i' | 'j', data: unknown, dim: unknown): LazyTensor {
  const name = cat === 'i' ? 'Vi' : 'Vj';
  const m = dim === undefined ? readMatrix(data, name, {}) : readMatrix(data, name, { dim: checkDimension(dim, name) });
  return leafTensor(cat, m.data, m.cols, m.rows);
}

/**
 * An i-variable: row i of an M×dim array (the rows of the result for axis 1).
 *
 * @example
 * const x = Vi(new Float64Array([0, 0, 1, 1]), 2); // 2 points in 2-D
 */
export function Vi<T extends FloatArray>(data: T, dim: number): LazyTensor<FloatTypeOf<T>>;
export function Vi<T extends FloatArray>(t: Tensor<T>): LazyTensor<FloatTypeOf<T>>;
/** A placeholder i-variable: argument `index` of the Genred that {@link LazyTensor.genred} makes. */
export function Vi(index: number, dim: number): LazyTensor;
export function Vi(data: FloatArray | Tensor<FloatArray> | number, dim?: number): LazyTensor {
  return typeof data === 'number' ? placeholder('i', data, dim) : dataVariable('i', data, dim);
}

/**
 * A j-variable: row j of an N×dim array (the reduced rows for axis 1).
 *
 * @example
 * const y = Vj({ data: new Float32Array(6), shape: [3, 2] });
 */
export function Vj<T extends FloatArray>(data: T, dim: number): LazyTensor<FloatTypeOf<T>>;
export function Vj<T extends FloatArray>(t: Tensor<T>): LazyTensor<FloatTypeOf<T>>;
/** A placeholder j-variable: argument `index` of the Genred that {@link LazyTensor.genred} makes. */
export function Vj(index: number, dim: number): LazyTensor;
export function Vj(data: FloatArray | Tensor<FloatArray> | number, dim?: number): LazyTensor {
  return typeof data === 'number' ? placeholder('j', data, dim) : dataVariable('j', data, dim);
}

/**
 * A parameter: the same vector for every pair (a number, numbers, or a float array).
 *
 * @example
 * const g = Pm(0.5);
 * const K = Vi(x, 3).sqdist(Vj(y, 3)).mul(g).neg().exp();
 */
export function Pm<T extends FloatArray>(value: T): LazyTensor<FloatTypeOf<T>>;
export function Pm(value: number | readonly number[]): LazyTensor;
/** A placeholder parameter: argument `index` of the Genred that {@link LazyTensor.genred} makes. */
export function Pm(index: number, dim: number): LazyTensor;
export function Pm(value: number | readonly number[] | FloatArray, dim?: number): LazyTensor {
  if (dim !== undefined) {
    if (typeof value !== 'number') throw new OptionError('Pm(index, dim) makes a placeholder: the index must be a number');
    return placeholder('param', value, dim);
  }
  const values = readParam(value, 'Pm');
  return leafTensor('param', Array.isArray(values) ? values : (values as FloatArray), values.length, 1);
}

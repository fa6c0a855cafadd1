/**
 * IR -> the flat program of program.ts. Composite operations become the primitive ops of
 * native/ops.h; equal instructions are emitted once (hash-consing on op and operand
 * registers, so common subexpressions share a register); registers are numbered in
 * execution order (SSA). An axis-0 reduction becomes an axis-1 one by swapping the i and
 * j categories in the variable table: the engine only ever reduces over j.
 */
import { OptionError, ShapeError } from '../errors';
import { foldNodes, Node, OpNode, VarCategory, VarNode } from './ir';
import { recogniseKernel, recogniseKernelGradient, recogniseNearest, recogniseSoftmaxKernel, RecognisedKernel } from './kernels';
import {
  Category, INSTR_FIELDS, K_REDUCTIONS, Kernel, Op, OpName as InstrName, Program, PROGRAM_VERSION, Reduction, ReductionName, SCALAR_REDUCTIONS,
  WEIGHTED_REDUCTIONS,
} from './program';

/** What to lower: the formula, SumSoftMaxWeight's weights, every argument slot, the reduction. */
export interface LowerRequest {
  formula: Node;
  /** formula2 of the weighted reductions (the weights V); absent otherwise. */
  weights?: Node;
  /** One variable per argument slot 0..n-1, in slot order. */
  vars: readonly VarNode[];
  reduction: ReductionName;
  axis: 0 | 1;
  /** k of KMin / ArgKMin / KMin_ArgKMin. */
  k?: number;
}

/** A program without its sizes and dtype: cacheable, completed per call by {@link withSizes}. */
export type LoweredProgram = Omit<Program, 'dtype' | 'm' | 'n'>;

const COMMUTATIVE = new Set<number>([Op.ADD, Op.MUL, Op.DOT]);

/** The reductions a nearest-neighbour search ('sqdist') may carry (native/program.cc). */
const NEAREST_REDUCTIONS = new Set<ReductionName>(['Min', 'ArgMin', 'Min_ArgMin', 'KMin', 'ArgKMin', 'KMin_ArgKMin']);

/** Emits instructions with hash-consing; one builder per program. */
class ProgramBuilder {
  readonly regDims: number[] = [];
  readonly code: number[] = [];
  readonly consts: number[] = [];
  private readonly constSlots = new Map<number, number>();
  private readonly tableSlots = new Map<string, number>();
  private readonly emitted = new Map<string, number>();
  private readonly lowered = new Map<Node, number>();

  emit(op: InstrName, dim: number, a = -1, b = -1, c = -1, imm = -1): number {
    const code = Op[op];
    const [x, y] = COMMUTATIVE.has(code) && b < a ? [b, a] : [a, b];
    const key = `${code},${x},${y},${c},${imm},${dim}`;
    const known = this.emitted.get(key);
    if (known !== undefined) return known;
    const out = this.regDims.length;
    this.regDims.push(dim);
    this.code.push(code, out, a, b, c, imm);
    this.emitted.set(key, out);
    return out;
  }

  constant(value: number, dim = 1): number {
    let slot = this.constSlots.get(value);
    if (slot === undefined) {
      slot = this.consts.length;
      this.consts.push(value);
      this.constSlots.set(value, slot);
    }
    return this.emit('CONST', dim, -1, -1, -1, slot);
  }

  /** GATHER of `indices` from register a; its index table lives among the constants, shared by equal tables. */
  gather(a: number, indices: readonly number[]): number {
    const key = indices.join(',');
    let slot = this.tableSlots.get(key);
    if (slot === undefined) {
      slot = this.consts.length;
      for (const k of indices) this.consts.push(k);
      this.tableSlots.set(key, slot);
    }
    return this.emit('GATHER', indices.length, a, -1, -1, slot);
  }

  /** The register of node n, lowering what it needs first (arguments before uses, no recursion). */
  node(n: Node): number {
    return foldNodes<number>(n, (m) => this.lowerNode(m), this.lowered);
  }

  private lowerNode(n: Node): number {
    if (n.kind === 'var') return this.emit('LOAD', n.dim, -1, -1, -1, n.pos);
    if (n.kind === 'const') return this.constant(n.value, n.dim);
    return this.lowerOp(n);
  }

  /**
   * An element-wise op; native broadcasts its dim-1 operands itself (program.cc's rule),
   * so a -0 stays -0 (widening by adding Zero(d) made it +0).
   */
  private elementwise(op: InstrName, n: OpNode, imm = -1): number {
    const regs = n.args.map((a) => this.node(a));
    return this.emit(op, n.dim, regs[0], regs[1] ?? -1, regs[2] ?? -1, imm);
  }

  private sqNorm(reg: number): number {
    return this.emit('DOT', 1, reg, reg);
  }

  private weightedSqNorm(w: number, x: number): number {
    const d = this.regDims[x];
    const dw = this.regDims[w];
    // KeOps picks the weight's meaning by its dimension; 1 wins when d == 1 (all agree then).
    if (dw === 1) return this.emit('MUL', 1, w, this.sqNorm(x));
    if (dw === d) return this.emit('DOT', 1, w, this.emit('SQUARE', d, x));
    return this.emit('DOT', 1, x, this.emit('MATVEC', d, w, x));
  }

  private lowerOp(n: OpNode): number {
    const arg = (k: number): number => this.node(n.args[k]);
    const unaryOp = (op: InstrName, imm = -1): number => this.emit(op, n.dim, arg(0), -1, -1, imm);
    const binaryOp = (op: InstrName): number => this.emit(op, n.dim, arg(0), arg(1));
    switch (n.op) {
      case 'Minus': return unaryOp('NEG');
      case 'Add': return binaryOp('ADD');
      case 'Subtract': return binaryOp('SUB');
      case 'Mult': return binaryOp('MUL');
      case 'Divide': return binaryOp('DIV');
      case 'Exp': return unaryOp('EXP');
      case 'Log': return unaryOp('LOG');
      case 'Sqrt': return unaryOp('SQRT');
      case 'Rsqrt': return unaryOp('RSQRT');
      case 'Square': return unaryOp('SQUARE');
      case 'Inv': return unaryOp('INV');
      case 'Abs': return unaryOp('ABS');
      case 'Sign': return unaryOp('SIGN');
      case 'Step': return unaryOp('STEP');
      case 'ReLU': return unaryOp('RELU');
      case 'Sin': return unaryOp('SIN');
      case 'Cos': return unaryOp('COS');
      case 'Atan': return unaryOp('ATAN');
      case 'Floor': return unaryOp('FLOOR');
      case 'Pow': return unaryOp('POWI', n.ints[0]);
      case 'Round': return unaryOp('ROUND', n.ints[0]);
      case 'Atan2': return this.elementwise('ATAN2', n);
      case 'Powf': return this.elementwise('POWF', n);
      case 'Clamp': return this.elementwise('CLAMP', n);
      case 'IfElse': return this.elementwise('IFELSE', n);
      case 'Mod': return this.elementwise('MOD', n);
      case 'Sum': return unaryOp('SUM');
      case 'Max': return unaryOp('MAXC');
      case 'Min': return unaryOp('MINC');
      case 'Scalprod': return binaryOp('DOT');
      case 'SqNorm2': return this.sqNorm(arg(0));
      case 'Norm2': return this.emit('SQRT', 1, this.sqNorm(arg(0)));
      case 'Normalize': {
        const x = arg(0);
        return this.emit('MUL', n.dim, x, this.emit('RSQRT', 1, this.sqNorm(x)));
      }
      case 'SqDist': return this.sqNorm(this.emit('SUB', n.args[0].dim, arg(0), arg(1)));
      case 'WeightedSqNorm': return this.weightedSqNorm(arg(0), arg(1));
      case 'WeightedSqDist': return this.weightedSqNorm(arg(0), this.emit('SUB', n.args[1].dim, arg(1), arg(2)));
      case 'Elem': return unaryOp('ELEM', n.ints[0]);
      case 'Extract': return unaryOp('EXTRACT', n.ints[0]);
      case 'Concat': return binaryOp('CONCAT');
      case 'OneHot': return unaryOp('ONEHOT');
      case 'MatVecMult': return binaryOp('MATVEC');
      case 'VecMatMult': return binaryOp('VECMAT');
      case 'TensorProd': return binaryOp('TENSORPROD');
      case 'Acos': return unaryOp('ACOS');
      case 'Asin': return unaryOp('ASIN');
      case 'SinXDivX': return unaryOp('SINXDIVX');
      case 'XLogX': return unaryOp('XLOGX');
      case 'Equal': return this.elementwise('EQUAL', n);
      case 'NotEqual': return this.elementwise('NOTEQUAL', n);
      case 'LessThan': return this.elementwise('LESS', n);
      case 'LessOrEqual': return this.elementwise('LESSEQ', n);
      case 'ArgMax': return unaryOp('ARGMAXC');
      case 'ArgMin': return unaryOp('ARGMINC');
      case 'Gather': return this.gather(arg(0), n.ints);
      case 'SoftDTW_SqDist': return this.emit('SOFTDTW', 1, arg(0), arg(1), arg(2));
      // One native gradient (x, y, then gamma) serves both: equal instructions are emitted once.
      case 'GradSoftDTW_SqDist': return this.emit('EXTRACT', n.dim, this.softDtwGrad(n), -1, -1, 0);
      case 'GradSoftDTW_SqDist_Gamma': return this.emit('ELEM', 1, this.softDtwGrad(n), -1, -1, n.args[0].dim + n.args[1].dim);
    }
  }

  /** SOFTDTW_GRAD of a gradient node's operands: dim(x) + dim(y) + 1 values. */
  private softDtwGrad(n: OpNode): number {
    const [x, y, gamma] = n.args.map((a) => this.node(a));
    return this.emit('SOFTDTW_GRAD', n.args[0].dim + n.args[1].dim + 1, x, y, gamma);
  }

  /** The register of a recognised kernel's scale: sign * Π factors (× or ÷). */
  scale(kernel: RecognisedKernel): number {
    let reg = -1;
    for (const f of kernel.factors) {
      const r = this.node(f.node);
      if (reg < 0) reg = f.divide ? this.emit('INV', 1, r) : r;
      else reg = this.emit(f.divide ? 'DIV' : 'MUL', 1, reg, r);
    }
    if (reg < 0) reg = this.constant(1);
    return kernel.sign === -1 ? this.emit('NEG', 1, reg) : reg;
  }
}

function swapped(cat: VarCategory, axis: 0 | 1): VarCategory {
  if (axis === 1 || cat === 'param') return cat;
  return cat === 'i' ? 'j' : 'i';
}

/** Dimension rules of the reductions on the formula (and weights). */
function checkReduction(req: LowerRequest): void {
  const { reduction, formula, weights, k } = req;
  if (!Object.prototype.hasOwnProperty.call(Reduction, reduction)) {
    throw new OptionError(`unknown reduction ${String(reduction)}; expected one of ${Object.keys(Reduction).join(', ')}`);
  }
  if (SCALAR_REDUCTIONS.has(reduction) && formula.dim !== 1) {
    throw new ShapeError(`${reduction} needs a formula of dimension 1, not ${formula.dim}`);
  }
  if (WEIGHTED_REDUCTIONS.has(reduction) !== (weights !== undefined)) {
    throw new OptionError(weights === undefined ? `${reduction} needs the weights formula (formula2)` : `formula2 only applies to ${[...WEIGHTED_REDUCTIONS].join(', ')}, not ${reduction}`);
  }
  const needsK = K_REDUCTIONS.has(reduction);
  if (needsK && !(Number.isInteger(k) && (k as number) >= 1 && (k as number) <= 0x7fffffff)) {
    throw new OptionError(`${reduction} needs k, a positive integer, not ${String(k)}`);
  }
  if (!needsK && k !== undefined) throw new OptionError(`k only applies to KMin, ArgKMin and KMin_ArgKMin, not ${reduction}`);
}

/**
 * Lowers a checked formula to a program without sizes; see {@link withSizes}.
 *
 * @example
 * const { node, vars } = parseFormula('Exp(-g*SqDist(x,y))*b', ['x=Vi(3)', 'y=Vj(3)', 'b=Vj(1)', 'g=Pm(1)']);
 * const p = lowerFormula({ formula: node, vars, reduction: 'Sum', axis: 1 });
 * p.kernel[0] === Kernel.gaussian; // true
 */
export function lowerFormula(req: LowerRequest): LoweredProgram {
  const { axis, vars } = req;
  if (axis !== 0 && axis !== 1) throw new OptionError(`axis must be 0 or 1, not ${String(axis)}`);
  checkReduction(req);
  vars.forEach((v, slot) => {
    if (v.pos !== slot) throw new OptionError(`the variable table must list slots 0..${vars.length - 1} in order; slot ${slot} holds position ${v.pos}`);
  });
  const builder = new ProgramBuilder();
  const result = builder.node(req.formula);
  const weights = req.weights === undefined ? -1 : builder.node(req.weights);
  const cat = (v: VarNode): VarCategory => swapped(vars[v.pos]?.cat ?? v.cat, axis);
  const recognised = req.reduction === 'Sum'
    ? recogniseKernel(req.formula, cat) ?? recogniseKernelGradient(req.formula, cat)
    : req.reduction === 'SumSoftMaxWeight' && req.weights !== undefined
      ? recogniseSoftmaxKernel(req.formula, req.weights, cat)
      : NEAREST_REDUCTIONS.has(req.reduction)
        ? recogniseNearest(req.formula, cat)
        : null;
  const kernel = recognised === null
    ? new Int32Array(0)
    : Int32Array.from([Kernel[recognised.tag], recognised.x.pos, recognised.y.pos, recognised.b?.pos ?? -1, builder.scale(recognised), recognised.w?.pos ?? -1]);
  const table = new Int32Array(vars.length * 3);
  vars.forEach((v, slot) => table.set([Category[swapped(v.cat, axis)], v.dim, v.pos], slot * 3));
  return {
    version: PROGRAM_VERSION,
    vars: table,
    regDims: Int32Array.from(builder.regDims),
    code: Int32Array.from(builder.code),
    consts: Float64Array.from(builder.consts),
    result,
    weights,
    reduction: Reduction[req.reduction],
    k: req.k ?? 0,
    kernel,
  };
}

/**
 * Completes a lowered program for one call: its dtype and sizes (m output rows, n reduced
 * rows, both after any axis swap). The lowered program is shared, not copied.
 */
export function withSizes(p: LoweredProgram, dtype: Program['dtype'], m: number, n: number): Program {
  return { ...p, dtype, m, n };
}

/** The number of instructions of a program (for tests and diagnostics). */
export function instructionCount(p: Pick<Program, 'code'>): number {
  return p.code.length / INSTR_FIELDS;
}

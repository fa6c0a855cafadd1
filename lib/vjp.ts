/**
 * Gradients of reductions (vector-Jacobian products): given a reduction's arguments and
 * the gradient of a loss with respect to its output, the gradient with respect to any of
 * its inputs. Each is itself a reduction of a Grad formula (formula/derivative.ts):
 *
 * - an input on the output's side (x_i for axis 1): Σ over the reduced side, same axis;
 * - an input on the reduced side (y_j): Σ over the output's side, the other axis;
 * - a parameter: Σ over both (the same axis, then the rows, in float64).
 *
 * The output gradient e enters as a new variable of the output's side. LogSumExp and
 * SumSoftMaxWeight weigh it by the softmax probabilities (one forward reduction first);
 * Min, Max and KMin pass it to the selected terms only, through their indices (one
 * forward reduction for the indices, then a mask 1 − Sign|j − index|).
 */
import { DTypeError, LazyKernelError, OptionError } from './errors';
import { add, dot, grad, isZero, mul, op, sub, zero } from './formula/derivative';
import { constant, Node, variable, VarCategory, VarNode } from './formula/ir';
import type { ReductionName } from './formula/program';
import { checkRunOptions, CompiledReduction, ReductionResult } from './reduction';
import type { RunOptions } from './run';
import { DType, dtypeOf, FloatArray, floats, makeTensor, readMatrix, Tensor } from './tensor';

/** A reduction to run for the plan, and what comes back. */
interface Request { compiled: CompiledReduction; args: FloatArray[] }

type Plan = Generator<Request, Record<string, Tensor>, ReductionResult>;

const isValues = (r: ReductionResult): r is { values: Tensor; indices: Tensor } => 'indices' in r && 'values' in r;

/** Index data (0, 1, …, n − 1) as floats of the call's type: exact up to 2^24 in float32. */
function indexColumn(n: number, dtype: DType): FloatArray {
  if (dtype === 'float32' && n > 1 << 24) {
    throw new OptionError(`the gradient of a Min, Max or KMin selects among ${n} rows, more than float32 numbers index exactly (2^24): use float64 data`);
  }
  const out = floats(dtype, n);
  for (let k = 0; k < n; k++) out[k] = k;
  return out;
}


/**
 * The plan of one vector-Jacobian product: the reductions it needs, in order, and the
 * gradients it makes of their results.
 */
function* plan(c: CompiledReduction, args: unknown, outputGradient: unknown, wrt: readonly string[]): Plan {
  if (!Array.isArray(wrt) || wrt.length === 0 || !wrt.every((w) => typeof w === 'string')) {
    throw new OptionError(`vjp needs the names of the inputs to differentiate, e.g. ['x', 'g'] (the variables are ${c.specs.map((s) => s.name).join(', ')})`);
  }
  const slots = wrt.map((name) => c.slotOf(name));
  const call = c.bind(args);
  const e = readMatrix(outputGradient, 'the output gradient', { rows: call.rows, dim: call.cols });
  if (dtypeOf(e.data) !== call.dtype) throw new DTypeError(`the output gradient is ${dtypeOf(e.data)}; the arguments are ${call.dtype}`);
  const outSide: VarCategory = c.axis === 1 ? 'i' : 'j';
  const reducedSide: VarCategory = c.axis === 1 ? 'j' : 'i';
  const [rowsOut, rowsReduced] = [call.rows, call.program.n];
  const F = c.formula;
  const extra: { node: VarNode; data: FloatArray }[] = [];
  const extraVar = (cat: VarCategory, dim: number, name: string, data: FloatArray): VarNode => {
    const node = variable(cat, c.vars.length + extra.length, dim, name);
    extra.push({ node, data });
    return node;
  };
  const eNode = extraVar(outSide, call.cols, 'output gradient', e.data);

  // The cotangent of each term F (and of the weights V for SumSoftMaxWeight).
  let cotF: Node;
  let cotV: Node | null = null;
  const reduction: ReductionName = c.reduction;
  const forward = (r: ReductionName, k?: number): CompiledReduction => new CompiledReduction(F, c.vars, { reduction: r, axis: c.axis, k }, undefined);
  switch (reduction) {
    case 'Sum':
      cotF = eNode;
      break;
    case 'LogSumExp': {
      const out = (yield { compiled: c, args: call.args }) as Tensor;
      const o = extraVar(outSide, 1, 'output', out.data as FloatArray);
      cotF = mul(eNode, op('Exp', [sub(F, o)]));
      break;
    }
    case 'SumSoftMaxWeight': {
      const V = c.weights as Node;
      const out = (yield { compiled: c, args: call.args }) as Tensor;
      const lse = (yield { compiled: forward('LogSumExp'), args: call.args }) as Tensor;
      const o = extraVar(outSide, V.dim, 'output', out.data as FloatArray);
      const l = extraVar(outSide, 1, 'log-sum-exp', lse.data as FloatArray);
      const p = op('Exp', [sub(F, l)]);
      cotV = mul(eNode, p);
      cotF = mul(p, dot(sub(V, o), eNode));
      break;
    }
    case 'Min': case 'Max': case 'Min_ArgMin': case 'Max_ArgMax': case 'KMin': case 'KMin_ArgKMin': {
      const k = c.k ?? 1;
      const selector: ReductionName = reduction.startsWith('Min') ? 'Min_ArgMin' : reduction.startsWith('Max') ? 'Max_ArgMax' : 'KMin_ArgKMin';
      const selected = (yield { compiled: forward(selector, c.k), args: call.args });
      if (!isValues(selected)) throw new LazyKernelError(`internal: ${selector} returned no indices`);
      const d = F.dim;
      const index = extraVar(outSide, k * d, 'selected indices', floats(call.dtype, selected.indices.data));
      const row = extraVar(reducedSide, 1, 'row index', indexColumn(rowsReduced, call.dtype));
      let sum: Node = zero(d);
      for (let l = 0; l < k; l++) {
        const part = (n: VarNode): Node => (k === 1 ? n : op('Extract', [n], [l * d, d]));
        const mask = sub(constant(1), op('Sign', [op('Abs', [sub(row, part(index))])]));
        sum = add(sum, mul(part(eNode), mask));
      }
      cotF = sum;
      break;
    }
    case 'LogSumExpWeight': case 'Max_SumShiftExp': case 'Max_SumShiftExpWeight':
      throw new OptionError(`the gradient of ${reduction} is not built; differentiate a LogSumExp or SumSoftMaxWeight, or the Sum of the formula, instead`);
    default:
      throw new OptionError(`${reduction} returns indices, which have no gradient; differentiate a Min_ArgMin / KMin_ArgKMin's values instead`);
  }

  const vars = [...c.vars, ...extra.map((x) => x.node)];
  const allArgs = [...call.args, ...extra.map((x) => x.data)];
  const out: Record<string, Tensor> = {};
  for (const slot of slots) {
    const v = c.vars[slot];
    const spec = c.specs[slot];
    let g: Node = grad(F, v, cotF);
    if (cotV !== null) g = add(g, grad(c.weights as Node, v, cotV));
    const rows = spec.cat === 'param' ? 1 : spec.cat === outSide ? rowsOut : rowsReduced;
    if (isZero(g)) {
      out[spec.name] = makeTensor(floats(call.dtype, rows * spec.dim), rows, spec.dim);
      continue;
    }
    const axis: 0 | 1 = spec.cat === reducedSide ? (c.axis === 1 ? 0 : 1) : c.axis;
    const compiled = new CompiledReduction(g, vars, { reduction: 'Sum', axis });
    const r = (yield { compiled, args: allArgs }) as Tensor;
    if (spec.cat !== 'param') {
      out[spec.name] = r;
      continue;
    }
    const sums = new Float64Array(spec.dim);
    const data = r.data as FloatArray;
    for (let i = 0; i < r.shape[0]; i++) for (let k = 0; k < spec.dim; k++) sums[k] += data[i * spec.dim + k];
    out[spec.name] = makeTensor(call.dtype === 'float32' ? floats('float32', sums) : sums, 1, spec.dim);
  }
  return out;
}

/** Options of a gradient: those of a run, without explicit ranges (they do not transpose). */
export type VjpOptions = Omit<RunOptions, 'ranges'>;

function checkVjpOptions(opts: unknown): asserts opts is VjpOptions {
  checkRunOptions(opts);
  if ((opts as RunOptions).ranges !== undefined) throw new OptionError('vjp does not take explicit ranges: the gradient of a j-variable reduces over i, where the ranges do not apply');
}

/** Runs a plan off the event loop. */
export async function vjp(c: CompiledReduction, args: unknown, outputGradient: unknown, wrt: readonly string[], opts: VjpOptions = {}): Promise<Record<string, Tensor>> {
  checkVjpOptions(opts);
  const steps = plan(c, args, outputGradient, wrt);
  let next = steps.next(undefined as unknown as ReductionResult);
  while (!next.done) next = steps.next(await next.value.compiled.run(next.value.args, opts));
  return next.value;
}

/** Runs a plan on the calling thread. */
export function vjpSync(c: CompiledReduction, args: unknown, outputGradient: unknown, wrt: readonly string[], opts: VjpOptions = {}): Record<string, Tensor> {
  checkVjpOptions(opts);
  const steps = plan(c, args, outputGradient, wrt);
  let next = steps.next(undefined as unknown as ReductionResult);
  while (!next.done) next = steps.next(next.value.compiled.runSync(next.value.args, opts));
  return next.value;
}

/**
 * Genred: a reduction described by a KeOps formula string and its aliases, checked at
 * construction (syntax, dimensions, reduction, axis, k) and lowered once.
 */
import { OptionError } from './errors';
import { parseAliases, parseWith, completeSlots, readReductionSpelling } from './formula/parse';
import { ReductionName, WEIGHTED_REDUCTIONS } from './formula/program';
import { checkReductionOptions, CompiledReduction, ResultOf } from './reduction';
import type { RunOptions } from './run';
import type { Arg, CallFloat, Tensor } from './tensor';
import { vjp, vjpSync, VjpOptions } from './vjp';

/** Genred's options; `R` is the reduction's name, which types what `run` returns. */
export interface GenredOptions<R extends ReductionName = ReductionName> {
  reduction: R;
  axis: 0 | 1;
  /** k of KMin / ArgKMin / KMin_ArgKMin. */
  k?: number;
  /** The weights V of SumSoftMaxWeight, LogSumExpWeight and Max_SumShiftExpWeight, a formula over the same aliases. */
  formula2?: string;
}

/**
 * Parses and checks a formula string with its aliases and lowers it for one reduction.
 * KernelSolve uses this too (with `reduction: 'Sum'`), then `slotOf(varName)`.
 *
 * @example
 * const r = compileFormula('Exp(-g*SqDist(x,y))*b', ['x=Vi(3)', 'y=Vj(3)', 'b=Vj(1)', 'g=Pm(1)'],
 *   { reduction: 'Sum', axis: 1 });
 * const call = r.bind([x, y, b, 0.5]); // { program, args, dtype, rows, cols }
 */
export function compileFormula(text: string, aliases: readonly string[], options: GenredOptions | undefined): CompiledReduction {
  const { formula, opts } = readSpelling(text, options);
  let checked = checkReductionOptions(opts, ['formula2']);
  const { formula2 } = opts;
  // pykeops' LogSumExp with a formula2 is the weighted one, log Σ exp(F)·V.
  if (checked.reduction === 'LogSumExp' && formula2 !== undefined) checked = { ...checked, reduction: 'LogSumExpWeight' };
  if (WEIGHTED_REDUCTIONS.has(checked.reduction) !== (formula2 !== undefined)) {
    throw new OptionError(formula2 === undefined
      ? `${checked.reduction} needs formula2, the weights formula`
      : `formula2 only applies to ${[...WEIGHTED_REDUCTIONS].join(', ')} (and LogSumExp, as LogSumExpWeight), not ${checked.reduction}`);
  }
  const decls = parseAliases(aliases);
  const node = parseWith(formula, decls);
  const weights = formula2 === undefined ? undefined : parseWith(formula2, decls);
  const vars = completeSlots(decls, weights === undefined ? [node] : [node, weights], formula);
  return new CompiledReduction(node, vars, checked, weights);
}

/**
 * keopscore's whole-formula spelling (`Sum_Reduction(F, 0)`) carries the reduction, the
 * axis, K and formula2 itself; options that say otherwise are an error, not a choice.
 */
function readSpelling(text: string, opts: GenredOptions | undefined): { formula: string; opts: GenredOptions } {
  const spelled = typeof text === 'string' ? readReductionSpelling(text) : null;
  if (spelled === null) return { formula: text, opts: opts as GenredOptions };
  const { formula, reduction, axis, k, formula2 } = spelled;
  const fromText: Record<string, unknown> = { reduction, axis, k, formula2 };
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null) throw new OptionError('Genred options must be an object');
    for (const [key, value] of Object.entries(opts)) {
      if (value !== undefined && key in fromText && value !== fromText[key]) {
        throw new OptionError(`${reduction}_Reduction(…) sets ${key} to ${JSON.stringify(fromText[key])}; the options say ${JSON.stringify(value)}`);
      }
    }
  }
  return { formula, opts: { ...(opts ?? {}), reduction, axis, ...(k === undefined ? {} : { k }), ...(formula2 === undefined ? {} : { formula2 }) } as GenredOptions };
}

/**
 * A generic reduction from a KeOps formula string. The result's type follows the
 * reduction and the data: a Sum of Float32Arrays is a `Tensor<Float32Array>`, an ArgKMin
 * a `Tensor<Int32Array>`, a Min_ArgMin `{ values, indices }` (see {@link ResultOf}).
 *
 * @example
 * const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'],
 *   { reduction: 'Sum', axis: 1 });
 * const out = await gauss.run([x, y, b, 0.5]); // Tensor<Float32Array> for Float32Array x, y, b; shape [M, 1]
 */
export class Genred<R extends ReductionName = ReductionName> {
  readonly formula: string;
  readonly aliases: readonly string[];
  readonly reduction: R;
  readonly axis: 0 | 1;
  /** The checked, lowered reduction (its `lowered` program is reused by every call). */
  readonly compiled: CompiledReduction;

  /** keopscore's whole-formula spelling names the reduction, so the result's type follows it. */
  constructor(formula: `${R}_Reduction(${string}`, aliases: readonly string[], opts?: Partial<GenredOptions<R>>);
  constructor(formula: string, aliases: readonly string[], opts?: GenredOptions<R>);
  constructor(formula: string, aliases: readonly string[], opts?: GenredOptions<R>) {
    this.compiled = compileFormula(formula, aliases, opts);
    this.formula = formula;
    this.aliases = [...aliases];
    this.reduction = this.compiled.reduction as R;
    this.axis = this.compiled.axis;
  }

  /** Output dimension per row (columns of the result). */
  get cols(): number {
    return this.compiled.cols;
  }

  /**
   * Runs the reduction off the event loop; `args` come in alias (slot) order: float
   * arrays or Tensors for the variables (one float type per call), numbers or float
   * arrays for the parameters.
   */
  run<A extends readonly Arg[]>(args: A, opts: RunOptions = {}): Promise<ResultOf<R, CallFloat<A>>> {
    return this.compiled.run(args, opts) as Promise<ResultOf<R, CallFloat<A>>>;
  }

  /**
   * The gradient of a loss with respect to inputs of this reduction, given the loss's
   * gradient with respect to the output (a vector-Jacobian product): one Tensor per name
   * in `wrt`, shaped as that input (a parameter: [1, dim]). For Sum, LogSumExp,
   * SumSoftMaxWeight, Min, Max, KMin and the values of Min_ArgMin, Max_ArgMax,
   * KMin_ArgKMin (through the selected indices), on either axis. Each gradient is a
   * reduction of a Grad formula, run off the event loop like `run`.
   *
   * @example
   * const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'],
   *   { reduction: 'Sum', axis: 1 });
   * const out = await gauss.run([x, y, b, 2]);
   * // loss = Σ_i out_i²: its gradient with respect to out is 2·out
   * const { x: gx, g: gg } = await gauss.vjp([x, y, b, 2], out.data.map((v) => 2 * v), ['x', 'g']);
   */
  vjp<A extends readonly Arg[]>(args: A, outputGradient: CallFloat<A> | Tensor<CallFloat<A>>, wrt: readonly string[], opts: VjpOptions = {}): Promise<Record<string, Tensor<CallFloat<A>>>> {
    return vjp(this.compiled, args, outputGradient, wrt, opts) as Promise<Record<string, Tensor<CallFloat<A>>>>;
  }

  /** The same as {@link Genred.vjp}, blocking. */
  vjpSync<A extends readonly Arg[]>(args: A, outputGradient: CallFloat<A> | Tensor<CallFloat<A>>, wrt: readonly string[], opts: VjpOptions = {}): Record<string, Tensor<CallFloat<A>>> {
    return vjpSync(this.compiled, args, outputGradient, wrt, opts) as Record<string, Tensor<CallFloat<A>>>;
  }

  /** The same as {@link Genred.run}, blocking; for scripts. */
  runSync<A extends readonly Arg[]>(args: A, opts: RunOptions = {}): ResultOf<R, CallFloat<A>> {
    return this.compiled.runSync(args, opts) as ResultOf<R, CallFloat<A>>;
  }
}

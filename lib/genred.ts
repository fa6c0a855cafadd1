/**
 * Genred: a reduction described by a KeOps formula string and its aliases, checked at
 * construction (syntax, dimensions, reduction, axis, k) and lowered once.
 */
import { OptionError } from './errors';
import { parseAliases, parseWith, completeSlots } from './formula/parse';
import { ReductionName } from './formula/program';
import { checkReductionOptions, CompiledReduction, ReductionResult } from './reduction';
import type { RunOptions } from './run';

/** Genred's options. */
export interface GenredOptions {
  reduction: ReductionName;
  axis: 0 | 1;
  /** k of KMin / ArgKMin / KMin_ArgKMin. */
  k?: number;
  /** The weights V of SumSoftMaxWeight, a formula over the same aliases. */
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
export function compileFormula(formula: string, aliases: readonly string[], opts: GenredOptions): CompiledReduction {
  const checked = checkReductionOptions(opts);
  const { formula2 } = opts;
  if ((checked.reduction === 'SumSoftMaxWeight') !== (formula2 !== undefined)) {
    throw new OptionError(checked.reduction === 'SumSoftMaxWeight'
      ? 'SumSoftMaxWeight needs formula2, the weights formula'
      : `formula2 only applies to SumSoftMaxWeight, not ${checked.reduction}`);
  }
  const decls = parseAliases(aliases);
  const node = parseWith(formula, decls);
  const weights = formula2 === undefined ? undefined : parseWith(formula2, decls);
  const vars = completeSlots(decls, weights === undefined ? [node] : [node, weights], formula);
  return new CompiledReduction(node, vars, checked, weights);
}

/**
 * A generic reduction from a KeOps formula string.
 *
 * @example
 * const gauss = new Genred('Exp(-g*SqDist(x,y))*b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)', 'g = Pm(1)'],
 *   { reduction: 'Sum', axis: 1 });
 * const out = await gauss.run([x, y, b, 0.5]); // Tensor, shape [M, 1]
 */
export class Genred {
  readonly formula: string;
  readonly aliases: readonly string[];
  readonly reduction: ReductionName;
  readonly axis: 0 | 1;
  /** The checked, lowered reduction (its `lowered` program is reused by every call). */
  readonly compiled: CompiledReduction;

  constructor(formula: string, aliases: readonly string[], opts: GenredOptions) {
    this.compiled = compileFormula(formula, aliases, opts);
    this.formula = formula;
    this.aliases = [...aliases];
    this.reduction = this.compiled.reduction;
    this.axis = this.compiled.axis;
  }

  /** Output dimension per row (columns of the result). */
  get cols(): number {
    return this.compiled.cols;
  }

  /** Runs the reduction off the event loop; `args` come in alias (slot) order. */
  run(args: readonly unknown[], opts: RunOptions = {}): Promise<ReductionResult> {
    return this.compiled.run(args, opts);
  }

  /** The same as {@link Genred.run}, blocking; for scripts. */
  runSync(args: readonly unknown[], opts: RunOptions = {}): ReductionResult {
    return this.compiled.runSync(args, opts);
  }
}

/**
 * Inputs of the `api` target, as JSON (codec.ts): Genred calls (random formulas from the op
 * table, the recognised kernel templates, mutated and extreme formulas), KernelSolve calls,
 * LazyTensor chains with a reduction (deep method chains included), the cluster helpers
 * with ordinary and extreme arguments, and the documented ranges workflow. api.ts runs them.
 * Genred, KernelSolve and LazyTensor inputs may hold some of their arguments as datasets
 * (`datasets`, DatasetUse): the child awaits `dataset()` for them before the calls.
 */
import {
  badArg, DTypeName, floatArray, genArgs, genRunOptions, genSignal, genSizes, genSolveOptions, Json, taJson,
} from './args';
import {
  Ast, AstGen, Decl, extremeFormula, genDecls, gradientTemplate, KERNEL_TEMPLATES, mutateFormula, printAliases, printAst, SOFTMAX_TEMPLATES, templateDecls,
} from './formulas';
import type { Rng } from './rng';

const REDUCTIONS = ['Sum', 'Min', 'Max', 'ArgMin', 'ArgMax', 'Min_ArgMin', 'Max_ArgMax', 'KMin', 'ArgKMin', 'KMin_ArgKMin', 'LogSumExp', 'SumSoftMaxWeight'];
const K_REDUCTIONS = new Set(['KMin', 'ArgKMin', 'KMin_ArgKMin']);

export type Order = 'async-first' | 'sync-first' | 'overlap' | 'double' | 'burst';

/**
 * An argument held as a dataset (lib/dataset.ts): before the input's calls, the child
 * (api.ts) awaits `dataset(value, dim)` for it, and the calls get the Dataset in place of
 * the plain value (where dataset() fails, a typed error recorded as a call of its own, they
 * get the plain value).
 */
export interface DatasetUse {
  /** 'arg': args[at] (Genred, KernelSolve; a LazyTensor's matvec/solve vector, at 0); 'leaf': leaves[at] (LazyTensor). */
  in: 'arg' | 'leaf';
  at: number;
  /** dataset()'s dim: the declared one, none (a Tensor carries its shape), or a wrong one. */
  dim?: Json;
  /** One dataset for all the input's calls (clusters built by one call, reused by the next), or one per call. */
  shared: boolean;
  /**
   * When it is disposed: 'end' after the input's calls; 'gc' never (left to the garbage
   * collector); 'before' as a call takes it, before the call (the call must be a typed
   * error); 'built' (LazyTensor) after the call's LazyTensor is built from it, before the
   * reduction; 'during' right after the async call started (it must finish as if not).
   */
  dispose: 'end' | 'gc' | 'before' | 'built' | 'during';
  /** The dataset of uses[same] in this slot too (x and y of one set of points), instead of a new one. */
  same?: number;
}

export interface GenredInput {
  kind: 'genred';
  note?: string;
  formula: Json;
  aliases: Json;
  opts: Json;
  args: Json;
  runOpts: Json;
  order: Order;
  mutateAfter: boolean;
  datasets?: DatasetUse[];
}

export interface SolveInput {
  kind: 'solve';
  note?: string;
  formula: Json;
  aliases: Json;
  varName: Json;
  ctorOpts: Json;
  args: Json;
  solveOpts: Json;
  order: Order;
  datasets?: DatasetUse[];
}

/** A LazyTensor expression as JSON. */
export type LazyNode =
  | { t: 'leaf'; k: number }
  | { t: 'num'; v: Json }
  | { t: 'pm'; v: Json }
  | { t: 'raw'; v: Json }
  | { t: 'm'; m: string; self: LazyNode; args: LazyNode[] }
  | { t: 'rep'; m: string; n: number; self: LazyNode; args: LazyNode[] };

export interface LazyLeaf { cat: 'Vi' | 'Vj' | 'Pm'; data: Json; dim?: Json }

export interface LazyInput {
  kind: 'lazy';
  note?: string;
  leaves: LazyLeaf[];
  expr: LazyNode;
  /** The reduction: a LazyTensor method (its Sync twin is method + 'Sync'); `args` may hold lazy nodes. */
  method: string;
  args: (Json | { lazy: LazyNode })[];
  order: Order;
  datasets?: DatasetUse[];
}

export interface ClusterInput {
  kind: 'cluster';
  note?: string;
  fn: string;
  args: Json;
}

/** The documented ranges workflow: gridCluster → sortClusters → clusterRanges → clusterCentroids → fromMatrix → run. */
export interface PipelineInput {
  kind: 'pipeline';
  note?: string;
  dim: number;
  x: Json;
  y: Json;
  b: Json;
  g: Json;
  size: Json;
  cutoff: number;
  reduction: string;
  axis: number;
  order: Order;
}

export type ApiInput = (GenredInput | SolveInput | LazyInput | ClusterInput | PipelineInput) & { target: 'api' };

function pickOrder(rng: Rng): Order {
  return rng.weighted([['async-first', 4], ['sync-first', 3], ['overlap', 3], ['double', 1], ['burst', 1]] as const);
}

function pickDtype(rng: Rng): DTypeName {
  return rng.chance(0.6) ? 'float32' : 'float64';
}

function pickAxis(rng: Rng): Json {
  return rng.weighted<Json>([[1, 12], [0, 7], [2, 1], ['1', 1], [{ $: 'undef' }, 1], [-1, 1], [1.5, 1]]);
}

function pickK(rng: Rng, reducedRows: number): Json {
  return rng.weighted<Json>([
    [rng.int(1, Math.max(1, Math.min(reducedRows, 4))), 14], [reducedRows, 2], [reducedRows + 1, 2], [0, 1], [-1, 1], [1.5, 1],
    [2 ** 31 - 1, 2], [2 ** 31, 1], [{ $: 'num', v: 'NaN' }, 1], ['2', 1], [{ $: 'undef' }, 1], [1e300, 1],
  ]);
}

/** Aliases, sometimes damaged. */
function aliasesJson(rng: Rng, decls: Decl[]): Json {
  const aliases: Json[] = printAliases(rng, decls);
  if (!rng.chance(0.08)) return aliases;
  const k = rng.int(0, Math.max(0, aliases.length - 1));
  switch (rng.int(0, 4)) {
    case 0: return aliases.slice(1);
    case 1: return [...aliases, aliases[k]];
    case 2: aliases[k] = rng.pick<Json>([null, 5, '', 'x =', 'x = Vi(0)', 'x = Vi(-1)', 'Exp = Vi(1)', 'x = Vi(2147483648)', 'x = Vi(16777217)', 'x = Vi(1,2,3)', 'x = Vk(1)', 'x = Var(0,1,3)', 'x = Vi(1) + 2']); return aliases;
    case 3: return rng.pick<Json>([null, 'x = Vi(1)', { 0: 'x = Vi(1)' }, { $: 'undef' }]);
    default: return aliases.map((a) => (typeof a === 'string' ? a.replace('=', rng.pick(['==', ':', ' = = '])) : a));
  }
}

function genGenred(rng: Rng): GenredInput {
  const variant = rng.weighted([['random', 50], ['template', 18], ['mutated', 15], ['extreme', 8], ['softmax', 4]] as const);
  let decls: Decl[];
  let formula: string;
  let formula2: string | undefined;
  let reduction: Json = rng.weighted<Json>([...REDUCTIONS.map((r) => [r, r === 'Sum' ? 6 : 2] as [Json, number]), ['Avg', 1], [5, 1]]);
  let note: string | undefined;
  if (variant === 'template' || variant === 'softmax') {
    decls = templateDecls(rng);
    if (variant === 'softmax') {
      [formula, formula2] = rng.pick(SOFTMAX_TEMPLATES);
      reduction = 'SumSoftMaxWeight';
    } else {
      formula = rng.pick(KERNEL_TEMPLATES);
      if (rng.chance(0.3)) ({ formula, decls } = gradientTemplate(formula, decls));
      if (rng.chance(0.75)) reduction = 'Sum';
    }
  } else if (variant === 'extreme') {
    const e = extremeFormula(rng, genDecls(rng));
    ({ decls, formula, note } = e);
    formula2 = e.formula2;
  } else {
    decls = genDecls(rng);
    const gen = new AstGen(rng, decls, rng.int(1, 5));
    const scalar = reduction === 'LogSumExp' || reduction === 'SumSoftMaxWeight' || rng.chance(0.6);
    formula = printAst(rng, gen.gen(scalar ? 1 : rng.pick([...new Set(decls.map((d) => d.dim))])));
    if (reduction === 'SumSoftMaxWeight' || rng.chance(0.03)) formula2 = printAst(rng, gen.gen(rng.pick([1, 1, 2, 3])));
    if (variant === 'mutated') formula = mutateFormula(rng, formula);
  }
  if (variant === 'template' && rng.chance(0.2)) formula = mutateFormula(rng, formula);
  const sizes = genSizes(rng);
  if (decls.length > 50) [sizes.m, sizes.n] = [Math.min(sizes.m, 4), Math.min(sizes.n, 4)]; // hundreds of variables, little data
  const axis = pickAxis(rng);
  const opts: Record<string, Json> = { reduction, axis };
  if (typeof reduction === 'string' && K_REDUCTIONS.has(reduction)) opts.k = pickK(rng, axis === 0 ? sizes.m : sizes.n);
  else if (rng.chance(0.03)) opts.k = 2;
  if (formula2 !== undefined) opts.formula2 = formula2;
  const dtype = pickDtype(rng);
  return withSlots(decls, {
    kind: 'genred',
    note,
    formula: rng.chance(0.01) ? rng.pick<Json>([null, 5, { $: 'undef' }]) : formula,
    aliases: aliasesJson(rng, decls),
    opts: rng.chance(0.02) ? rng.pick<Json>([null, { $: 'undef' }, 'Sum', {}]) : opts,
    args: genArgs(rng, decls, sizes, dtype, rng.chance(0.3)),
    runOpts: genRunOptions(rng, sizes),
    order: pickOrder(rng),
    mutateAfter: rng.chance(0.1),
  });
}

/** A scalar kernel over x (i), y (j) and g (param), as formula text. */
function kernelText(rng: Rng, decls: Decl[]): string {
  if (rng.chance(0.5)) {
    return rng.pick(KERNEL_TEMPLATES).replace(/\*b$|^b\*/, '');
  }
  const gen = new AstGen(rng, decls.filter((d) => d.name !== 'a'), rng.int(1, 4));
  return printAst(rng, gen.gen(1));
}

function genSolve(rng: Rng): SolveInput {
  const axis = rng.chance(0.85) ? 1 : 0;
  const d = rng.pick([1, 2, 3]);
  const dv = rng.pick([1, 1, 1, 2, 3]);
  const decls: Decl[] = [
    { name: 'x', cat: 'i', dim: d, pos: 0 },
    { name: 'y', cat: 'j', dim: d, pos: 1 },
    { name: 'a', cat: axis === 1 ? 'j' : 'i', dim: dv, pos: 2 },
    { name: 'g', cat: 'param', dim: 1, pos: 3 },
  ];
  let formula = `(${kernelText(rng, decls)})*a`;
  let note: string | undefined;
  if (rng.chance(0.1)) formula = mutateFormula(rng, formula);
  if (rng.chance(0.04)) {
    const e = extremeFormula(rng, decls);
    formula = `(${e.formula})*a`;
    note = e.note;
  }
  const sizes = genSizes(rng);
  if (rng.chance(0.85)) sizes.n = sizes.m;
  const dtype = pickDtype(rng);
  const args = genArgs(rng, decls, sizes, dtype, rng.chance(0.2));
  if (Array.isArray(args) && typeof args[3] === 'number' && rng.chance(0.7)) args[3] = rng.pick([1, 10, 100, 1e4]);
  // A NaN in the points or in b: the solve breaks down, and its failure path runs (async: after the job started).
  const target = Array.isArray(args) ? (args[rng.pick([0, 2])] as { $?: string; v?: unknown[] } | undefined) : undefined;
  if (rng.chance(0.15) && target?.$ === 'ta' && Array.isArray(target.v) && target.v.length > 0) target.v[rng.int(0, target.v.length - 1)] = 'NaN';
  const n = axis === 1 ? sizes.n : sizes.m;
  return withSlots(decls, {
    kind: 'solve',
    note,
    formula,
    aliases: aliasesJson(rng, decls),
    varName: rng.weighted<Json>([['a', 20], ['x', 1], ['g', 1], ['nope', 1], [5, 1]]),
    ctorOpts: rng.chance(0.95) ? { axis: rng.chance(0.95) ? axis : pickAxis(rng) } : rng.pick<Json>([null, {}, 'axis']),
    args,
    solveOpts: genSolveOptions(rng, sizes, n, dv, dtype),
    order: rng.pick(['async-first', 'sync-first', 'overlap', 'burst'] as const),
  });
}

const METHOD: Record<string, string> = {
  Minus: 'neg', Add: 'add', Subtract: 'sub', Mult: 'mul', Divide: 'div', Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Rsqrt: 'rsqrt',
  Square: 'square', Inv: 'inv', Abs: 'abs', Sign: 'sign', Step: 'step', ReLU: 'relu', Sin: 'sin', Cos: 'cos', Atan: 'atan',
  Floor: 'floor', Atan2: 'atan2', Powf: 'powf', Pow: 'pow', Round: 'round', Clamp: 'clamp', IfElse: 'ifelse', Mod: 'mod',
  SqDist: 'sqdist', Scalprod: 'dot', SqNorm2: 'sqnorm2', Norm2: 'norm2', Normalize: 'normalize', Sum: 'sumDims', Max: 'maxDims',
  Min: 'minDims', Elem: 'elem', Extract: 'extract', Concat: 'concat', OneHot: 'onehot', MatVecMult: 'matvecmult',
  VecMatMult: 'vecmatmult', TensorProd: 'tensorprod',
};

/** An AST as LazyTensor method calls; `asSelf` turns constants into Pm leaves (a receiver must be a LazyTensor). */
function astToLazy(ast: Ast, leafOf: Map<Decl, number>, asSelf = true): LazyNode {
  switch (ast.t) {
    case 'var': return { t: 'leaf', k: leafOf.get(ast.d) as number };
    case 'num': return asSelf ? { t: 'pm', v: ast.v } : { t: 'num', v: ast.v };
    case 'zero': return { t: 'pm', v: new Array(ast.dim).fill(0) };
    case 'grad': {
      const v: LazyNode = { t: 'leaf', k: leafOf.get(ast.v) as number };
      if (ast.e === undefined) return { t: 'm', m: 'laplacian', self: astToLazy(ast.f, leafOf), args: [v] };
      return { t: 'm', m: 'grad', self: astToLazy(ast.f, leafOf), args: [v, astToLazy(ast.e, leafOf, false)] };
    }
    case 'op': {
      const ints = ast.ints.map((v): LazyNode => ({ t: 'raw', v }));
      if (ast.op === 'WeightedSqNorm') return { t: 'm', m: 'weightedSqNorm', self: astToLazy(ast.args[1], leafOf), args: [astToLazy(ast.args[0], leafOf, false)] };
      if (ast.op === 'WeightedSqDist') {
        return { t: 'm', m: 'weightedSqDist', self: astToLazy(ast.args[1], leafOf), args: [astToLazy(ast.args[2], leafOf, false), astToLazy(ast.args[0], leafOf, false)] };
      }
      const m = METHOD[ast.op];
      if (m === undefined) return astToLazy(ast.args[0], leafOf, asSelf);
      return { t: 'm', m, self: astToLazy(ast.args[0], leafOf), args: [...ast.args.slice(1).map((a) => astToLazy(a, leafOf, false)), ...ints] };
    }
  }
}

function genLazy(rng: Rng): LazyInput {
  const decls = genDecls(rng);
  const sizes = genSizes(rng);
  const dtype = pickDtype(rng);
  const method = rng.weighted([
    ['sum', 6], ['min', 2], ['max', 1], ['argmin', 2], ['argmax', 1], ['logsumexp', 2], ['kmin', 2], ['argkmin', 2], ['minArgmin', 1],
    ['kminArgkmin', 1], ['sumSoftmaxWeight', 2], ['matvec', 2], ['solve', 3],
  ] as const);
  if (method === 'solve') sizes.n = sizes.m;
  const values = genArgs(rng, decls, sizes, dtype, false) as Json[];
  if (rng.chance(0.15)) {
    const k = rng.int(0, decls.length - 1);
    values[k] = badArg(rng, decls[k], decls[k].cat === 'i' ? sizes.m : sizes.n, dtype);
  }
  const leaves: LazyLeaf[] = decls.map((d, k) => {
    const cat = d.cat === 'i' ? 'Vi' : d.cat === 'j' ? 'Vj' : 'Pm';
    const data = values[k] ?? floatArray(rng, 3, dtype);
    if (cat === 'Pm') return { cat, data };
    const isTensor = typeof data === 'object' && data !== null && 'shape' in (data as object);
    return isTensor || rng.chance(0.03) ? { cat, data } : { cat, data, dim: rng.chance(0.97) ? d.dim : rng.pick<Json>([0, -1, 1.5, 2 ** 31, 16777216, '3']) };
  });
  const leafOf = new Map(decls.map((d, k) => [d, k]));
  const gen = new AstGen(rng, decls, rng.int(1, 5));
  const scalar = ['logsumexp', 'sumSoftmaxWeight', 'matvec', 'solve'].includes(method) || rng.chance(0.5);
  let expr = astToLazy(gen.gen(scalar ? 1 : rng.pick([...new Set(decls.map((d) => d.dim))])), leafOf);
  let note: string | undefined;
  if (rng.chance(0.08)) {
    // Deep chains: thousands of method calls, or garbage operands.
    const m = rng.pick(['exp', 'neg', 'add', 'mul', 'sqrt', 'abs', 'sub', 'concat', 'sqnorm2']);
    const n = rng.pick([500, 2000, 4000, 10000, 30000]);
    const operand: LazyNode[] = ['add', 'mul', 'sub'].includes(m) ? [rng.chance(0.5) ? expr : { t: 'num', v: 1 }] : m === 'concat' ? [expr] : [];
    expr = { t: 'rep', m, n, self: expr, args: operand };
    note = `${n} chained .${m}()`;
  } else if (rng.chance(0.05)) {
    expr = { t: 'm', m: rng.pick(['add', 'mul', 'pow', 'round', 'elem', 'extract', 'onehot', 'clamp', 'mod', 'sqdist']), self: expr, args: [{ t: 'raw', v: rng.pick<Json>([null, 'x', { $: 'num', v: 'NaN' }, 2 ** 31, 100, -100, 1.5, {}, { $: 'undef' }, 16777217, 2147483647]) }] };
    note = 'an odd operand';
  }
  const axis = pickAxis(rng);
  const opts = genRunOptions(rng, sizes);
  const reduced = axis === 0 ? sizes.m : sizes.n;
  let args: (Json | { lazy: LazyNode })[];
  switch (method) {
    case 'kmin': case 'argkmin': case 'kminArgkmin': args = [pickK(rng, reduced), axis, opts]; break;
    case 'sumSoftmaxWeight': args = [{ lazy: astToLazy(gen.gen(rng.pick([1, 1, 2])), leafOf) }, axis, opts]; break;
    case 'matvec': args = [rng.chance(0.85) ? floatArray(rng, sizes.n * rng.pick([1, 1, 2]), dtype) : badArg(rng, decls[0], sizes.n, dtype), opts]; break;
    case 'solve': {
      const dv = rng.pick([1, 1, 2]);
      args = [rng.chance(0.85) ? floatArray(rng, sizes.n * dv, dtype) : badArg(rng, { ...decls[0], dim: dv }, sizes.n, dtype), genSolveOptions(rng, sizes, sizes.n, dv, dtype)];
      break;
    }
    default: args = [axis, opts];
  }
  return { kind: 'lazy', note, leaves, expr, method, args, order: pickOrder(rng) };
}

function labelsJson(rng: Rng, rows: number): Json {
  const nl = rng.int(1, Math.max(1, rows));
  const labels = Array.from({ length: rows }, () => rng.int(0, nl - 1)).sort((a, b) => a - b);
  const kind = rng.weighted([['good', 10], ['unsorted', 2], ['negative', 2], ['short', 2], ['huge', 3], ['float', 1], ['plain', 1], ['null', 1]] as const);
  switch (kind) {
    case 'good': return taJson('Int32Array', labels);
    case 'unsorted': return taJson('Int32Array', rng.shuffle(labels));
    case 'negative': return taJson('Int32Array', labels.map((l, k) => (k === 0 ? -1 : l)));
    case 'short': return taJson('Int32Array', labels.slice(1));
    case 'huge': return taJson('Int32Array', labels.map((l, k) => (k === labels.length - 1 ? rng.pick([2 ** 31 - 1, 2 ** 30, 1 << 24]) : l)));
    case 'float': return taJson('Float64Array', labels);
    case 'plain': return labels;
    case 'null': return null;
  }
}

function genCluster(rng: Rng): ClusterInput {
  const dim = rng.pick([1, 2, 3]);
  const rows = rng.chance(0.1) ? rng.int(100, 600) : rng.int(0, 40);
  const dtype = pickDtype(rng);
  const x = rng.chance(0.9) ? floatArray(rng, rows * dim, dtype) : badArg(rng, { name: 'x', cat: 'i', dim, pos: 0 }, rows, dtype);
  const dimJson = rng.weighted<Json>([[dim, 20], [0, 1], [-1, 1], [1.5, 1], [2 ** 31, 1], [16777216, 1], [{ $: 'num', v: 'NaN' }, 1], ['3', 1]]);
  const nlab = rng.weighted<Json>([
    [{ $: 'undef' }, 10], [rows + 2, 3], [1000, 1], [2 ** 31, 2], [2 ** 31 - 1, 1], [2 ** 32, 1], [1e300, 1], [{ $: 'num', v: 'Infinity' }, 1],
    [{ $: 'num', v: 'NaN' }, 1], [-1, 1], [1.5, 1], [0, 1],
  ]);
  const fn = rng.weighted([['gridCluster', 3], ['sortClusters', 2], ['clusterRanges', 3], ['clusterCentroids', 2], ['fromMatrix', 2]] as const);
  switch (fn) {
    case 'gridCluster':
      return { kind: 'cluster', fn, args: [x, dimJson, rng.weighted<Json>([[0.1, 4], [0.5, 3], [1, 2], [1e-300, 1], [0, 1], [-1, 1], [{ $: 'num', v: 'NaN' }, 1], [{ $: 'num', v: 'Infinity' }, 1], [1e300, 1], ['0.1', 1]])] };
    case 'sortClusters':
      return { kind: 'cluster', fn, args: [x, dimJson, labelsJson(rng, rows)] };
    case 'clusterRanges':
      return { kind: 'cluster', fn, args: [labelsJson(rng, rows), nlab] };
    case 'clusterCentroids':
      return { kind: 'cluster', fn, args: [x, dimJson, labelsJson(rng, rows), nlab] };
    case 'fromMatrix': {
      const nI = rng.int(0, 6);
      const nJ = rng.int(0, 6);
      const r = (n: number): Json => taJson('Int32Array', Array.from({ length: 2 * n }, (_, k) => (k === 0 ? 0 : Math.floor(k / 2) * 3)));
      const keepLen = rng.chance(0.85) ? nI * nJ : nI * nJ + rng.pick([-1, 1, 5]);
      const keep = rng.chance(0.5) ? Array.from({ length: Math.max(0, keepLen) }, () => rng.chance(0.5)) : taJson('Uint8Array', Array.from({ length: Math.max(0, keepLen) }, () => rng.int(0, 1)));
      const odd = rng.chance(0.1) ? rng.pick<Json>([null, taJson('Int32Array', [0]), taJson('Float64Array', [0, 1]), [0, 1]]) : undefined;
      return { kind: 'cluster', fn, args: [odd ?? r(nI), r(nJ), rng.chance(0.05) ? rng.pick<Json>([null, 'keep', 5]) : keep] };
    }
  }
}

function genPipeline(rng: Rng): PipelineInput {
  const dim = rng.pick([1, 2, 3]);
  const m = rng.int(1, 120);
  const n = rng.chance(0.5) ? m : rng.int(1, 120);
  const dtype = pickDtype(rng);
  const points = (rows: number): Json => taJson(dtype === 'float32' ? 'Float32Array' : 'Float64Array', Array.from({ length: rows * dim }, () => Math.fround(rng.float())));
  return {
    kind: 'pipeline',
    dim,
    x: points(m),
    y: points(n),
    b: floatArray(rng, n, dtype, 0.02),
    g: rng.pick([1, 10, 100, 1e4]),
    size: rng.pick([0.05, 0.1, 0.25, 0.5, 2]),
    cutoff: rng.pick([0, 0.1, 0.3, 1, 10]),
    reduction: rng.pick(['Sum', 'Sum', 'Min', 'ArgKMin', 'LogSumExp', 'Max_ArgMax']),
    axis: rng.chance(0.7) ? 1 : 0,
    order: pickOrder(rng),
  };
}

export function genApiInput(rng: Rng): ApiInput {
  const kind = rng.weighted([['genred', 40], ['lazy', 25], ['solve', 15], ['cluster', 12], ['pipeline', 5]] as const);
  const input = kind === 'genred' ? genGenred(rng) : kind === 'lazy' ? genLazy(rng) : kind === 'solve' ? genSolve(rng) : kind === 'cluster' ? genCluster(rng) : genPipeline(rng);
  // Signals (real or posing as one) on otherwise plain calls, for the abort and cancel paths.
  if (rng.chance(0.08)) {
    const isOptions = (o: Json): o is Record<string, Json> => typeof o === 'object' && o !== null && !Array.isArray(o) && !('$' in o) && !('lazy' in o);
    const opts = input.kind === 'genred' ? input.runOpts : input.kind === 'solve' ? input.solveOpts : input.kind === 'lazy' ? input.args[input.args.length - 1] : undefined;
    if (isOptions(opts)) opts.signal = genSignal(rng);
  }
  // Drawn last, so that the rest of an input is what it was before datasets came in.
  if ((input.kind === 'genred' || input.kind === 'solve' || input.kind === 'lazy') && rng.chance(0.3)) {
    const uses = genDatasets(rng, input);
    if (uses.length > 0) input.datasets = uses;
  }
  return { target: 'api', ...input };
}

/** The declarations of a Genred or KernelSolve input's argument slots, in slot order (for genDatasets). */
const slotDecls = new WeakMap<object, Decl[]>();

function withSlots<T extends object>(decls: Decl[], input: T): T {
  slotDecls.set(input, [...decls].sort((a, b) => a.pos - b.pos));
  return input;
}

function isTensorJson(v: Json): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !('$' in v) && 'shape' in v;
}

/** The number of values of a typed-array argument's JSON, or -1. */
function lengthOf(v: Json): number {
  const o = v as { $?: string; v?: unknown[] } | null;
  return typeof o === 'object' && o !== null && o.$ === 'ta' && Array.isArray(o.v) ? o.v.length : -1;
}

/** dataset()'s dim for data of dimension `dim`: mostly that one (none for a Tensor), sometimes wrong. */
function datasetDim(rng: Rng, value: Json, dim: Json): Json {
  if (rng.chance(0.05)) return rng.pick<Json>([0, -1, 1.5, { $: 'num', v: 'NaN' }, '3', typeof dim === 'number' ? dim + 1 : 2]);
  if (isTensorJson(value)) return rng.chance(0.8) ? undefined : dim;
  return dim;
}

/** Which arguments of a Genred, KernelSolve or LazyTensor input are held as datasets, and how. */
function genDatasets(rng: Rng, input: GenredInput | SolveInput | LazyInput): DatasetUse[] {
  const shared = rng.chance(0.4);
  const dispose = (lazy: boolean): DatasetUse['dispose'] => rng.weighted<DatasetUse['dispose']>([
    ['end', 6], ['gc', 2], ['before', 1], ['during', 3], ['built', lazy ? 1 : 0],
  ]);
  const uses: DatasetUse[] = [];
  const add = (use: Omit<DatasetUse, 'shared' | 'dispose'>, lazy: boolean): void => {
    uses.push({ ...use, shared: rng.chance(0.9) ? shared : !shared, dispose: dispose(lazy) });
  };
  if (input.kind === 'lazy') {
    const rows = new Map<string, number>();
    input.leaves.forEach((leaf, k) => {
      if (typeof leaf.dim === 'number' && lengthOf(leaf.data) >= 0) rows.set(leaf.cat, lengthOf(leaf.data) / leaf.dim);
      const p = leaf.cat === 'Pm' ? 0.03 : 0.5;
      if (rng.chance(p)) add({ in: 'leaf', at: k, dim: leaf.cat === 'Pm' ? lengthOf(leaf.data) : datasetDim(rng, leaf.data, leaf.dim) }, true);
    });
    // One dataset for an i- and a j-variable of the same dimension (a solve's x and y).
    const i = uses.find((u) => input.leaves[u.at].cat === 'Vi');
    const j = input.leaves.findIndex((l, k) => l.cat === 'Vj' && l.dim === input.leaves[i?.at ?? -1]?.dim && !uses.some((u) => u.at === k));
    if (i !== undefined && j >= 0 && rng.chance(0.3)) uses.push({ in: 'leaf', at: j, shared: i.shared, dispose: 'end', same: uses.indexOf(i) });
    // The vector of matvec / solve: the weights of the docs' service example.
    const b = input.args[0];
    if ((input.method === 'matvec' || input.method === 'solve') && rng.chance(0.4)) {
      const n = rows.get('Vj');
      const dv = n !== undefined && n > 0 && Number.isInteger(lengthOf(b) / n) ? lengthOf(b) / n : 1;
      add({ in: 'arg', at: 0, dim: datasetDim(rng, b as Json, Math.max(1, dv)) }, true);
    }
    return uses;
  }
  const decls = slotDecls.get(input);
  if (decls === undefined || !Array.isArray(input.args)) return uses;
  const args = input.args as Json[];
  args.forEach((value, k) => {
    const d = decls[k];
    if (d === undefined) return;
    if (rng.chance(d.cat === 'param' ? 0.03 : 0.6)) add({ in: 'arg', at: k, dim: datasetDim(rng, value, d.dim) }, false);
  });
  // Hundreds of variables (an extreme Genred): a few of them held.
  while (uses.length > 16) uses.splice(rng.int(0, uses.length - 1), 1);
  // A solve's x and y: the same held points.
  if (input.kind === 'solve') {
    const x = uses.findIndex((u) => u.at === 0);
    const y = uses.findIndex((u) => u.at === 1);
    if (x >= 0 && y >= 0 && rng.chance(0.4)) uses[y] = { in: 'arg', at: 1, shared: uses[x].shared, dispose: 'end', same: x };
  }
  return uses;
}

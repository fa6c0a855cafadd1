/**
 * lazykernel: symbolic kernel reductions for Node.js. The public API, each export with
 * its TSDoc; this file only re-exports.
 */
export { Genred } from './genred';
export type { GenredOptions } from './genred';
export { KernelSolve } from './solve';
export type { SolveOptions, SolveResult, SolveProgress, PreconditionerKind } from './solve';
export { LazyTensor, Vi, Vj, Pm } from './lazy';
export type { ValuesAndIndices } from './lazy';
export type { ReductionResult } from './reduction';
export type { RunOptions } from './run';
export type { Ranges } from './ranges';
export { gridCluster, sortClusters, clusterRanges, clusterCentroids, fromMatrix } from './cluster';
export type { Tensor, FloatArray, DType } from './tensor';
export { info, setNumThreads } from './info';
export type { Info } from './info';
export {
  LazyKernelError, FormulaSyntaxError, ShapeError, DTypeError, OptionError, MemoryError, AbortError,
} from './errors';

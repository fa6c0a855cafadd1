/**
 * lazykernel: symbolic kernel reductions for Node.js. The public API, each export with
 * its TSDoc; this file only re-exports.
 */
export { Genred } from './genred';
export type { GenredOptions } from './genred';
export { KernelSolve } from './solve';
export type { SolveOptions, SolveResult, SolveProgress, PreconditionerKind } from './solve';
export { LazyTensor, Vi, Vj, Pm } from './lazy';
export type { Operand, Joined } from './lazy';
export type { ReductionResult, ResultOf, ValuesAndIndices } from './reduction';
export type { ReductionName } from './formula/program';
export type { RunOptions } from './run';
export type { VjpOptions } from './vjp';
export type { Ranges } from './ranges';
export { gridCluster, sortClusters, clusterRanges, clusterCentroids, fromMatrix } from './cluster';
export type { Tensor, FloatArray, FloatTypeOf, DType, Arg, CallFloat } from './tensor';
export { info, setNumThreads } from './info';
export type { Info } from './info';
export { setQueueLimit } from './queue';
export { dataset, Dataset } from './dataset';
export type { QueueInfo, LaneInfo } from './queue';
export type { LoadedBinary } from './addon';
export {
  LazyKernelError, FormulaSyntaxError, ShapeError, DTypeError, OptionError, MemoryError, AbortError, QueueFullError,
} from './errors';

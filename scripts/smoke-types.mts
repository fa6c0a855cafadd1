// Compiled (not run) in a project that installed lazykernel, as an ES module with
// node16 resolution: the package's types reach an importer and type its results.
import { Genred, Vi, Vj, type Tensor } from 'lazykernel';

const x = new Float32Array(30);
const sum = new Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 });
export const s: Promise<Tensor<Float32Array>> = sum.run([x, x]);
export const knn: Promise<Tensor<Int32Array>> = Vi(x, 3).sqdist(Vj(x, 3)).argkmin(2, 1);

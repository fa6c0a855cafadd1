// The same from CommonJS (import = require).
import lk = require('lazykernel');

const x = new Float64Array(30);
export const s: lk.Tensor<Float64Array> = new lk.Genred('SqDist(x,y)', ['x = Vi(3)', 'y = Vj(3)'], { reduction: 'Sum', axis: 1 }).runSync([x, x]);

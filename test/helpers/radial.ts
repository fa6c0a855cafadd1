/**
 * The recognised radial kernels (lib/formula/kernels.ts) as the pruning and fused-gradient
 * tests spell them, and the float constants their error bounds use.
 */
import type { DType } from './reference';

export type KernelName = 'gaussian' | 'laplace' | 'cauchy' | 'imq' | 'matern32' | 'matern52';
export const KERNELS: readonly KernelName[] = ['gaussian', 'laplace', 'cauchy', 'imq', 'matern32', 'matern52'];

const E = 'g*SqDist(x,y)';
/** phi(g·|x − y|²)·b over x (i or j), y (the other side), b (y's side) and g (a parameter). */
export const FORMULA: Record<KernelName, string> = {
  gaussian: 'Exp(-g*SqDist(x,y))*b',
  laplace: `Exp(-Sqrt(${E}))*b`,
  cauchy: `Inv(IntCst(1)+${E})*b`,
  imq: `Rsqrt(IntCst(1)+${E})*b`,
  matern32: `(IntCst(1)+Sqrt(${E}))*Exp(-Sqrt(${E}))*b`,
  matern52: `(IntCst(1)+Sqrt(${E})+${E}/IntCst(3))*Exp(-Sqrt(${E}))*b`,
};

// Module bindings: global lookups are slow inside jest's sandbox (see reference.ts).
const { exp: mExp, sqrt: mSqrt } = Math;

/** phi(s), s = g·|x − y|², in float64. */
export function phi(kernel: KernelName, s: number): number {
  switch (kernel) {
    case 'gaussian': return mExp(-s);
    case 'laplace': return mExp(-mSqrt(s));
    case 'cauchy': return 1 / (1 + s);
    case 'imq': return 1 / mSqrt(1 + s);
    case 'matern32': {
      const r = mSqrt(s);
      return (1 + r) * mExp(-r);
    }
    case 'matern52': {
      const r = mSqrt(s);
      return (1 + r + s / 3) * mExp(-r);
    }
  }
}

/** The unit roundoff of each dtype. */
export const U: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };
/** exp flushes to 0 below 2^-125.5 (float32) and 2^-1021.5 (float64), native/maths/exp.h: the largest term lost that way, per unit weight. */
export const FLUSH: Record<DType, number> = { float32: 1.7e-38, float64: 3.2e-308 };

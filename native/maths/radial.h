// The radial kernels phi(s), s = scale·|x - y|², written once for the CPU engine's fused
// loops, its generic interpreter's tests and the CUDA plugin. The tag numbering is
// ops.h's LK_KERNELS.
#pragma once
#include <math.h>

#include "../ops.h"
#include "exp.h"
#include "hd.h"

namespace lk {

// Compile-time tag: the CPU loops are instantiated per kernel so the lane loop has no switch.
template <int Tag, typename T>
LK_HD T radial(T s) {
  if (Tag == KERNEL_gaussian) return expNeg(s);
  if (Tag == KERNEL_laplace) return expNeg(sqrt(s));
  if (Tag == KERNEL_cauchy) return T(1) / (T(1) + s);
  if (Tag == KERNEL_imq) return T(1) / sqrt(T(1) + s);
  // Matérn's polynomial times its exponential is inf·0 at s = inf (scale·|x - y|² past
  // the type's range): s is held below where exp(-sqrt(s)) is already 0 in both types,
  // so phi is 0 there as every other kernel's; NaN stays NaN.
  s = s > T(640000) ? T(640000) : s;
  if (Tag == KERNEL_matern32) {
    T r = sqrt(s);
    return (T(1) + r) * expNeg(r);
  }
  // matern52
  T r = sqrt(s);
  return (T(1) + r + s / T(3)) * expNeg(r);
}

// The fused sums' split of phi(scale·q), q = |x - y|²: radialFactor(scale) once per
// call, radialScaled(factor·q) per pair. The Gaussian's factor carries log2(e), so that
// its pairs run exp2Neg: three multiplies fewer than expNeg(scale·q) on the two FMA
// pipes that bound a dense product (AVX-512 float: 15 of 24 vector operations per step
// ran there, now 12 of 23; N = 20000, 2 Zen 5 cores: 0.048 -> 0.040 s).
// The factor is rounded once, from double. A finite scale whose factor would overflow
// (|scale| > 2.36e38 in float) is held at the largest finite value, so that the diagonal
// stays scale·0 = 0 and phi = 1 rather than 0·inf = NaN (off only where t < 150, that is
// for |x - y|² < 6e-37); an infinite or NaN scale passes through, as in expNeg(scale·q).
template <int Tag, typename T>
LK_HD T radialFactor(T scale) {
  if (Tag != KERNEL_gaussian) return scale;
  const double largest = sizeof(T) == sizeof(float) ? 3.4028234663852886e38 : 1.7976931348623157e308;
  double f = static_cast<double>(scale) * 1.4426950408889634074;
  if (scale - scale == 0) f = f > largest ? largest : f < -largest ? -largest : f;  // finite scale
  return static_cast<T>(f);
}

template <int Tag, typename T>
LK_HD T radialScaled(T t) {
  return Tag == KERNEL_gaussian ? exp2Neg(t) : radial<Tag>(t);
}

// phi'(s), for the fused gradient loops: ∇_x phi(scale·|x - y|²) = phi'(s)·2·scale·(x - y).
// Laplace's slope is infinite at s = 0, where its gradient is undefined; it is 0 there, as
// the symbolic derivative gives it (Sqrt's derivative at 0 is 0, KeOps' convention), and
// the factor x - y is 0 anyway.
template <int Tag, typename T>
LK_HD T radialSlope(T s) {
  if (Tag == KERNEL_gaussian) return -expNeg(s);
  if (Tag == KERNEL_laplace) {
    T r = sqrt(s);
    return r > T(0) ? -expNeg(r) / (T(2) * r) : T(0);
  }
  if (Tag == KERNEL_cauchy) {
    T q = T(1) / (T(1) + s);
    return -q * q;
  }
  if (Tag == KERNEL_imq) {
    T q = T(1) / (T(1) + s);
    return T(-0.5) * q * sqrt(q);
  }
  // The Matérn slopes are smooth at 0: d/ds of (1 + r)e^-r is -e^-r / 2, of
  // (1 + r + r²/3)e^-r is -(1 + r)e^-r / 6.
  if (Tag == KERNEL_matern32) return T(-0.5) * expNeg(sqrt(s));
  T r = sqrt(s);
  return -(T(1) + r) * expNeg(r) / T(6);
}

// log phi(s) for the kernels that are exponentials of s: the log-weights of a
// softmax-weighted sum (SumSoftMaxWeight with F = -scale·SqDist or -Sqrt(scale·SqDist)),
// which are shifted by their row maximum before exp, as phi itself would underflow.
template <int Tag, typename T>
LK_HD T logRadial(T s) {
  static_assert(Tag == KERNEL_gaussian || Tag == KERNEL_laplace, "only exponential profiles have a softmax form");
  return Tag == KERNEL_gaussian ? -s : -sqrt(s);
}

// Run-time tags, for code that picks the kernel per call (the CUDA plugin).
template <typename T>
LK_HD T radialPhi(int tag, T s) {
  switch (tag) {
    case KERNEL_gaussian: return radial<KERNEL_gaussian>(s);
    case KERNEL_laplace: return radial<KERNEL_laplace>(s);
    case KERNEL_cauchy: return radial<KERNEL_cauchy>(s);
    case KERNEL_imq: return radial<KERNEL_imq>(s);
    case KERNEL_matern32: return radial<KERNEL_matern32>(s);
    default: return radial<KERNEL_matern52>(s);
  }
}

template <typename T>
LK_HD T radialFactorOf(int tag, T scale) {
  return tag == KERNEL_gaussian ? radialFactor<KERNEL_gaussian>(scale) : scale;
}

template <typename T>
LK_HD T radialScaledOf(int tag, T t) {
  return tag == KERNEL_gaussian ? radialScaled<KERNEL_gaussian>(t) : radialPhi(tag, t);
}

}  // namespace lk

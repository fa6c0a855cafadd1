// exp for float and double without libm: Cody–Waite range reduction, a polynomial on
// |r| <= ln2/2, and the scale 2^n built in the exponent bits. Branch-free, so loops over
// lanes vectorise at every instruction-set level (baseline SSE2 included: the rounding
// uses the 1.5·2^k trick, not roundps).
//
// Why not libm: glibc's expf/vector expf take a slow path for the deep negative
// arguments a narrow Gaussian produces all the time (measured: 52–155 M pairs/s).
// Accuracy: about 1 ulp in the normal range. True values below 2^-125.5 in float
// (x < -86.99, 1.7e-38) or 2^-1021.5 in double (x < -708.05, 3.2e-308) are 0, and nothing
// returned is subnormal; x above the largest finite result is +inf; NaN stays NaN. The
// rounding trick needs IEEE arithmetic: never -ffast-math.
#pragma once
#include <stdint.h>
#include <string.h>

#include "hd.h"

namespace lk {

LK_HD float bitsToFloat(int32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
LK_HD int32_t floatToBits(float f) {
  int32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}
LK_HD double bitsToDouble(int64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}
LK_HD int64_t doubleToBits(double d) {
  int64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

// The bounds of the argument's clamp, read from memory in the CPU builds. GCC 12
// compiles a vectorised clamp against a literal into a compare and a blend (two clamps
// into five operations), but against a value it cannot see into one minps or maxps,
// whose IEEE rule (the second operand when either is NaN) keeps a NaN argument NaN with
// no select at the end. A dense Gaussian product ran 31 vector operations per step,
// now 24 (maths/exp.cc defines the copies read). Device code may read a host constexpr
// of scalar type only, so the plugin's are constexpr scalars. The values, once for both:
// float: exp(-s) is 0 past s = 100 (true values below 2^-125.5 already are) and +inf
// before -89; double: 0 past 800, +inf before -710.
constexpr float kExpFloatBounds[2] = {-89.0f, 100.0f};
constexpr double kExpDoubleBounds[2] = {-710.0, 800.0};
#if defined(__CUDACC__)
constexpr float kExpFloatLow = kExpFloatBounds[0], kExpFloatHigh = kExpFloatBounds[1];
constexpr double kExpDoubleLow = kExpDoubleBounds[0], kExpDoubleHigh = kExpDoubleBounds[1];
#else
__attribute__((visibility("hidden"))) extern const float kExpFloatLow, kExpFloatHigh;
__attribute__((visibility("hidden"))) extern const double kExpDoubleLow, kExpDoubleHigh;
#endif

// exp(-s), the form every kernel needs (phi = exp(-scale·|x - y|²)), so that no lane
// negates its argument. The argument is clamped to [low, high] (NaN passes); the scale
// 2^(-m-1) is built from the rounded integer m = round(s / ln2) with an integer max at 0,
// so m >= 126 (double: 1022) flushes to 0 without a select of its own; the polynomial is
// 2·exp(-u), so m = -128 (-1024) at the bottom of the range still has an exponent field,
// and the lower bound sits past the overflow threshold so that overflow is the
// multiply's own, to +inf.
LK_HD float expNeg(float s) {
  float sc = kExpFloatHigh < s ? kExpFloatHigh : s;
  sc = kExpFloatLow > sc ? kExpFloatLow : sc;
  // m = round(s / ln2): adding 1.5·2^23 rounds to an integer held in the low mantissa bits.
  const float shifted = fmadd(sc, 1.44269504088896341f, 12582912.0f);
  const float mf = shifted - 12582912.0f;
  // u = s - m ln2, with ln2 split so that m·ln2hi is exact (Cody–Waite).
  float u = fmadd(mf, -0.693359375f, sc);
  u = fmadd(mf, 2.12194440e-4f, u);
  // 2·exp(-u) on |u| <= 0.347: the degree-6 Chebyshev interpolant of 2·exp, its odd
  // coefficients negated. Within 1.07 ulp of exp on every third float in [-87, 88.7]
  // (measured against double exp), and bit for bit the value exp(x) had when it was
  // written for x = -s (a NaN's sign and payload aside).
  float p = 2.78823215e-3f;
  p = fmadd(p, u, -1.67503366e-2f);
  p = fmadd(p, u, 8.33327045e-2f);
  p = fmadd(p, u, -3.33328300e-1f);
  p = fmadd(p, u, 1.00000001f);
  p = fmadd(p, u, -2.0f);
  p = fmadd(p, u, 2.0f);
  int32_t e = (0x4B400000 + 126) - floatToBits(shifted);
  e = e > 0 ? e : 0;
  // Unsigned: a NaN's bits shift past the sign (the result is NaN whatever the scale).
  return p * bitsToFloat(static_cast<int32_t>(static_cast<uint32_t>(e) << 23));
}

LK_HD double expNeg(double s) {
  double sc = kExpDoubleHigh < s ? kExpDoubleHigh : s;
  sc = kExpDoubleLow > sc ? kExpDoubleLow : sc;
  const double shifted = fmadd(sc, 1.4426950408889634074, 6755399441055744.0);
  const double mf = shifted - 6755399441055744.0;
  double u = fmadd(mf, -6.93147180369123816490e-01, sc);
  u = fmadd(mf, -1.90821492927058770002e-10, u);
  // 2·exp(-u): the degree-11 Chebyshev interpolant of 2·exp, odd coefficients negated;
  // within 1.03 ulp of long double exp on 2e8 random arguments in [-710, 710] and [-1, 1].
  double p = -5.02029536493646443588e-08;
  p = fmadd(p, u, 5.52652567401902226567e-07);
  p = fmadd(p, u, -5.51145745786050574477e-06);
  p = fmadd(p, u, 4.96029710849236978726e-05);
  p = fmadd(p, u, -3.96825396080439000806e-04);
  p = fmadd(p, u, 2.77777779044700113468e-03);
  p = fmadd(p, u, -1.66666666667744893639e-02);
  p = fmadd(p, u, 8.33333333329768848155e-02);
  p = fmadd(p, u, -3.33333333333329378525e-01);
  p = fmadd(p, u, 1.00000000000000366851e+00);
  p = fmadd(p, u, -2.0);
  p = fmadd(p, u, 2.0);
  int64_t e = (0x4338000000000000LL + 1022) - doubleToBits(shifted);
  e = e > 0 ? e : 0;
  // Unsigned: a NaN's bits shift past the sign (the result is NaN whatever the scale).
  return p * bitsToDouble(static_cast<int64_t>(static_cast<uint64_t>(e) << 52));
}

// exp(x), for the formulas' Exp.
LK_HD float fastExp(float x) { return expNeg(-x); }
LK_HD double fastExp(double x) { return expNeg(-x); }

}  // namespace lk

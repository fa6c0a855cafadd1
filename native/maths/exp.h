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
// exp2Neg's (2^-t), by the same rules: 0 past t = 150 (true values below 2^-125.5, or
// 2^-1021.5, already are), +inf before -128.25 (-1024.25), where the rounded exponent
// still has a field.
constexpr float kExp2FloatBounds[2] = {-128.25f, 150.0f};
constexpr double kExp2DoubleBounds[2] = {-1024.25, 1100.0};
#if defined(__CUDACC__)
constexpr float kExpFloatLow = kExpFloatBounds[0], kExpFloatHigh = kExpFloatBounds[1];
constexpr double kExpDoubleLow = kExpDoubleBounds[0], kExpDoubleHigh = kExpDoubleBounds[1];
constexpr float kExp2FloatLow = kExp2FloatBounds[0], kExp2FloatHigh = kExp2FloatBounds[1];
constexpr double kExp2DoubleLow = kExp2DoubleBounds[0], kExp2DoubleHigh = kExp2DoubleBounds[1];
#else
__attribute__((visibility("hidden"))) extern const float kExpFloatLow, kExpFloatHigh, kExp2FloatLow, kExp2FloatHigh;
__attribute__((visibility("hidden"))) extern const double kExpDoubleLow, kExpDoubleHigh, kExp2DoubleLow, kExp2DoubleHigh;
#endif

// s clamped to [low, high], a NaN passing through (the comparisons are false for it).
template <typename T>
LK_HD T clampArgument(T s, T low, T high) {
  const T c = high < s ? high : s;
  return low > c ? low : c;
}

// p·2^(-m-1) for the integer m that `shifted` = m + 1.5·2^23 holds in its low mantissa
// bits; 0 for m >= 126, from an integer max at 0. Unsigned shift: a NaN's bits shift
// past the sign (the result is NaN whatever the scale).
LK_HD float timesPow2(float p, float shifted) {
  int32_t e = (0x4B400000 + 126) - floatToBits(shifted);
  e = e > 0 ? e : 0;
  return p * bitsToFloat(static_cast<int32_t>(static_cast<uint32_t>(e) << 23));
}

// The same with m + 1.5·2^52, 0 for m >= 1022.
LK_HD double timesPow2(double p, double shifted) {
  int64_t e = (0x4338000000000000LL + 1022) - doubleToBits(shifted);
  e = e > 0 ? e : 0;
  return p * bitsToDouble(static_cast<int64_t>(static_cast<uint64_t>(e) << 52));
}

// exp(-s), the form every kernel needs (phi = exp(-scale·|x - y|²)), so that no lane
// negates its argument. The argument is clamped to [low, high] (NaN passes); the scale
// 2^(-m-1) is built from the rounded integer m = round(s / ln2) with an integer max at 0,
// so m >= 126 (double: 1022) flushes to 0 without a select of its own; the polynomial is
// 2·exp(-u), so m = -128 (-1024) at the bottom of the range still has an exponent field,
// and the lower bound sits past the overflow threshold so that overflow is the
// multiply's own, to +inf.
LK_HD float expNeg(float s) {
  const float sc = clampArgument(s, kExpFloatLow, kExpFloatHigh);
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
  return timesPow2(p, shifted);
}

LK_HD double expNeg(double s) {
  const double sc = clampArgument(s, kExpDoubleLow, kExpDoubleHigh);
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
  return timesPow2(p, shifted);
}

// exp2Neg's polynomials, 2·2^-f on |f| <= 1/2, by degree k: named once for the scalar
// form and the AVX-512 one (cpu/exp2_avx512.h). A function, not an array, because device
// code reads only scalar constexprs.
// float: the degree-6 Chebyshev interpolant, within 0.98 ulp of 2^-t on every third float
// t in [-128, 125.5] (measured against long double exp2).
constexpr int kExp2NegFloatDegree = 6;
LK_HD constexpr float exp2NegFloatCoefficient(int k) {
  return k == 6 ? 3.0922889709472656e-4f
       : k == 5 ? -2.6800855994224548e-3f
       : k == 4 ? 1.9236113876104355e-2f
       : k == 3 ? -1.1100654304027557e-1f
       : k == 2 ? 4.804530143737793e-1f
       : k == 1 ? -1.3862943649291992f
                : 2.0f;
}
// double: degree 11; within 0.90 ulp of long double exp2 on 2e7 random t in [-1020, 1020]
// and [-1, 1].
constexpr int kExp2NegDoubleDegree = 11;
LK_HD constexpr double exp2NegDoubleCoefficient(int k) {
  return k == 11 ? -8.911635816672129e-10
       : k == 10 ? 1.4148388594577042e-08
       : k == 9 ? -2.0356114175467881e-07
       : k == 8 ? 2.6430865071824751e-06
       : k == 7 ? -3.0505467683113547e-05
       : k == 6 ? 3.0807060927448706e-04
       : k == 5 ? -2.6667116292812942e-03
       : k == 4 ? 1.9236258215174513e-02
       : k == 3 ? -1.1100821732964325e-01
       : k == 2 ? 4.8045301391820316e-01
       : k == 1 ? -1.3862943611198906
                : 2.0;
}

// 2^-t, for the fused Gaussian loops, which fold log2(e) into their scale
// (radial.h's radialFactor): exp(-s) as 2^-t with t = s·log2(e) needs no Cody–Waite
// reduction, since f = t - round(t) is exact, and so two multiply-adds fewer per pair
// than expNeg (a third, s·log2(e) itself, goes into the factor). The rounding of t adds
// a relative error of at most |s|·2^-24 (double: 2^-53), the size of the rounding already
// in s = scale·|x - y|².
// Same clamp, flush and overflow rules as expNeg, in powers of 2.
LK_HD float exp2Neg(float t) {
  const float tc = clampArgument(t, kExp2FloatLow, kExp2FloatHigh);
  const float shifted = tc + 12582912.0f;
  const float mf = shifted - 12582912.0f;
  const float f = tc - mf;
  static_assert(kExp2NegFloatDegree == 6, "the Horner chain below has degree 6");
  float p = exp2NegFloatCoefficient(6);
  p = fmadd(p, f, exp2NegFloatCoefficient(5));
  p = fmadd(p, f, exp2NegFloatCoefficient(4));
  p = fmadd(p, f, exp2NegFloatCoefficient(3));
  p = fmadd(p, f, exp2NegFloatCoefficient(2));
  p = fmadd(p, f, exp2NegFloatCoefficient(1));
  p = fmadd(p, f, exp2NegFloatCoefficient(0));
  return timesPow2(p, shifted);
}

LK_HD double exp2Neg(double t) {
  const double tc = clampArgument(t, kExp2DoubleLow, kExp2DoubleHigh);
  const double shifted = tc + 6755399441055744.0;
  const double mf = shifted - 6755399441055744.0;
  const double f = tc - mf;
  static_assert(kExp2NegDoubleDegree == 11, "the Horner chain below has degree 11");
  double p = exp2NegDoubleCoefficient(11);
  p = fmadd(p, f, exp2NegDoubleCoefficient(10));
  p = fmadd(p, f, exp2NegDoubleCoefficient(9));
  p = fmadd(p, f, exp2NegDoubleCoefficient(8));
  p = fmadd(p, f, exp2NegDoubleCoefficient(7));
  p = fmadd(p, f, exp2NegDoubleCoefficient(6));
  p = fmadd(p, f, exp2NegDoubleCoefficient(5));
  p = fmadd(p, f, exp2NegDoubleCoefficient(4));
  p = fmadd(p, f, exp2NegDoubleCoefficient(3));
  p = fmadd(p, f, exp2NegDoubleCoefficient(2));
  p = fmadd(p, f, exp2NegDoubleCoefficient(1));
  p = fmadd(p, f, exp2NegDoubleCoefficient(0));
  return timesPow2(p, shifted);
}

// exp(x), for the formulas' Exp.
LK_HD float fastExp(float x) { return expNeg(-x); }
LK_HD double fastExp(double x) { return expNeg(-x); }

}  // namespace lk

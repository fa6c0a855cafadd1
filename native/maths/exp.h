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

// The argument is clamped from below and above before the rounding trick. The scale
// 2^(n-1) is built from the rounded integer's bits with an integer max at 0, so n <= -126
// (double: -1022) flushes to 0 without a select of its own; the polynomial is 2·exp(r), so
// n = 128 (1024) at the top of the range still has an exponent field, and the upper clamp
// sits past the overflow threshold so that overflow is the multiply's own, to +inf.
// Selects cost the most here (a compare and a blend per vector, and GCC fuses two float
// clamps into three compares and two blends), so the float clamps are integer minima on
// the bits: signed, a positive float's bits grow with it and sit above every negative
// one; unsigned, a negative float's bits grow with its magnitude and sit above every
// positive one. NaN is clamped too, and restored by the one select at the end.
LK_HD float fastExp(float x) {
  const uint32_t lo = 0xC2C80000u;  // -100.0f
  const int32_t hi = 0x42B20000;     // 89.0f
  // Signed first: GCC then makes the pair a compare, a minimum and a blend, where the other
  // order took two minima, a compare and a blend (AVX2, a dense Gaussian product at
  // N = 2e4: 0.1395 -> 0.136 s).
  int32_t sbits = floatToBits(x);
  sbits = sbits < hi ? sbits : hi;
  uint32_t bits = static_cast<uint32_t>(sbits);
  bits = bits < lo ? bits : lo;
  const float xc = bitsToFloat(static_cast<int32_t>(bits));
  // n = round(x / ln2): adding 1.5·2^23 rounds to an integer held in the low mantissa bits.
  float shifted = fmadd(xc, 1.44269504088896341f, 12582912.0f);
  float nf = shifted - 12582912.0f;
  // r = x - n ln2, with ln2 split so that n·ln2hi is exact (Cody–Waite).
  float r = fmadd(nf, -0.693359375f, xc);
  r = fmadd(nf, 2.12194440e-4f, r);
  // 2·exp(r) on |r| <= 0.347: the degree-6 Chebyshev interpolant. fastExp is within 1.07
  // ulp of exp on every third float in [-87, 88.7] (measured against double exp).
  float p = 2.78823215e-3f;
  p = fmadd(p, r, 1.67503366e-2f);
  p = fmadd(p, r, 8.33327045e-2f);
  p = fmadd(p, r, 3.33328300e-1f);
  p = fmadd(p, r, 1.00000001f);
  p = fmadd(p, r, 2.0f);
  p = fmadd(p, r, 2.0f);
  int32_t e = floatToBits(shifted) - (0x4B400000 - 126);
  e = e > 0 ? e : 0;
  const float y = p * bitsToFloat(e << 23);
  return x != x ? x : y;
}

// Float compares here: 64-bit integer minima need AVX-512.
LK_HD double fastExp(double x) {
  double xc = -800.0 > x ? -800.0 : x;
  xc = 710.0 < xc ? 710.0 : xc;
  double shifted = fmadd(xc, 1.4426950408889634074, 6755399441055744.0);
  double nf = shifted - 6755399441055744.0;
  double r = fmadd(nf, -6.93147180369123816490e-01, xc);
  r = fmadd(nf, -1.90821492927058770002e-10, r);
  // 2·exp(r): the degree-11 Chebyshev interpolant; within 1.03 ulp of long double exp on
  // 2e8 random arguments in [-710, 710] and [-1, 1].
  double p = 5.02029536493646443588e-08;
  p = fmadd(p, r, 5.52652567401902226567e-07);
  p = fmadd(p, r, 5.51145745786050574477e-06);
  p = fmadd(p, r, 4.96029710849236978726e-05);
  p = fmadd(p, r, 3.96825396080439000806e-04);
  p = fmadd(p, r, 2.77777779044700113468e-03);
  p = fmadd(p, r, 1.66666666667744893639e-02);
  p = fmadd(p, r, 8.33333333329768848155e-02);
  p = fmadd(p, r, 3.33333333333329378525e-01);
  p = fmadd(p, r, 1.00000000000000366851e+00);
  p = fmadd(p, r, 2.0);
  p = fmadd(p, r, 2.0);
  int64_t e = doubleToBits(shifted) - (0x4338000000000000LL - 1022);
  e = e > 0 ? e : 0;
  // Unsigned: a NaN's bits shift past the sign (the result is NaN whatever the scale).
  return p * bitsToDouble(static_cast<int64_t>(static_cast<uint64_t>(e) << 52));
}

}  // namespace lk

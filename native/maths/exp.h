// exp for float and double without libm: Cody–Waite range reduction, a polynomial on
// |r| <= ln2/2, and the scale 2^n built in the exponent bits. Branch-free, so loops over
// lanes vectorise at every instruction-set level (baseline SSE2 included: the rounding
// uses the 1.5·2^k trick, not roundps).
//
// Why not libm: glibc's expf/vector expf take a slow path for the deep negative
// arguments a narrow Gaussian produces all the time (measured: 52–155 M pairs/s).
// Accuracy: about 1 ulp in the normal range. Results below the smallest normal number
// (x < -86.6 in float, x < -708 in double) are 0; x above the largest finite result is
// +inf; NaN stays NaN. The rounding trick needs IEEE arithmetic: never -ffast-math.
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

LK_HD float fastExp(float x) {
  const float lo = -86.6f, hi = 88.72f;
  // NaN compares false and is replaced by lo here; the last select restores it.
  float xc = x >= lo ? (x <= hi ? x : hi) : lo;
  // n = round(x / ln2): adding 1.5·2^23 rounds to an integer held in the low mantissa bits.
  float shifted = fmadd(xc, 1.44269504088896341f, 12582912.0f);
  int32_t n = floatToBits(shifted) - 0x4B400000;
  float nf = shifted - 12582912.0f;
  // r = x - n ln2, with ln2 split so that n·ln2hi is exact (Cody–Waite).
  float r = fmadd(nf, -0.693359375f, xc);
  r = fmadd(nf, 2.12194440e-4f, r);
  // exp(r) on |r| <= 0.347: Taylor to degree 7 (truncation below 6e-9).
  float p = 1.98412698e-4f;
  p = fmadd(p, r, 1.38888889e-3f);
  p = fmadd(p, r, 8.33333333e-3f);
  p = fmadd(p, r, 4.16666667e-2f);
  p = fmadd(p, r, 1.66666667e-1f);
  p = fmadd(p, r, 0.5f);
  p = fmadd(p, r, 1.0f);
  p = fmadd(p, r, 1.0f);
  // 2^n as 2·2^(n-1): n reaches 128 near the top of the range, one past the largest exponent.
  float y = (p + p) * bitsToFloat((n + 126) << 23);
  y = x < lo ? 0.0f : y;
  y = x > hi ? bitsToFloat(0x7F800000) : y;
  return x != x ? x : y;
}

LK_HD double fastExp(double x) {
  const double lo = -708.3, hi = 709.78;
  double xc = x >= lo ? (x <= hi ? x : hi) : lo;
  double shifted = fmadd(xc, 1.4426950408889634074, 6755399441055744.0);
  int64_t n = doubleToBits(shifted) - 0x4338000000000000LL;
  double nf = shifted - 6755399441055744.0;
  double r = fmadd(nf, -6.93147180369123816490e-01, xc);
  r = fmadd(nf, -1.90821492927058770002e-10, r);
  // exp(r) on |r| <= 0.347: Taylor to degree 12 (truncation below 2e-16).
  double p = 2.08767569878680989792e-09;
  p = fmadd(p, r, 2.50521083854417187751e-08);
  p = fmadd(p, r, 2.75573192239858906526e-07);
  p = fmadd(p, r, 2.75573192239858906526e-06);
  p = fmadd(p, r, 2.48015873015873015873e-05);
  p = fmadd(p, r, 1.98412698412698412698e-04);
  p = fmadd(p, r, 1.38888888888888888889e-03);
  p = fmadd(p, r, 8.33333333333333333333e-03);
  p = fmadd(p, r, 4.16666666666666666667e-02);
  p = fmadd(p, r, 1.66666666666666666667e-01);
  p = fmadd(p, r, 0.5);
  p = fmadd(p, r, 1.0);
  p = fmadd(p, r, 1.0);
  double y = (p + p) * bitsToDouble((n + 1022) << 52);
  y = x < lo ? 0.0 : y;
  y = x > hi ? bitsToDouble(0x7FF0000000000000LL) : y;
  return x != x ? x : y;
}

}  // namespace lk

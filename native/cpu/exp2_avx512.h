// exp2Neg (maths/exp.h) on a whole AVX-512 register with the instruction set's own
// rounding and scaling, bit for bit the scalar function's values. The scalar form,
// vectorised by the compiler, clamps twice, rounds by the 1.5·2^k trick (an add and a
// subtract) and builds 2^-m in the exponent bits (an integer subtract, max and shift,
// then a multiply): 15 vector operations a step in float. Here vrndscale rounds and
// vscalef scales, with a compare's mask for the values the scalar form flushes to 0: 10
// or 11. Used by the Gaussian plan rows (radial_plan.h), the loop a solve spends most
// of its time in, whose products it made 12-19% faster (reference problem, N = 1e6,
// float32 half plan, medians of 21 products alternated in one process: 0.81 of the time
// on 2 threads, 0.875 on 1; AMD EPYC Zen 4). The dense fused row (radial_sum.h) keeps
// the scalar form: it is bound by its two FMA pipes, which this does not unload, and
// measured the same (3.6 G pairs/s a core either way).
// Included only by the AVX-512 build.
#pragma once
#include <immintrin.h>

#include "../maths/exp.h"

namespace lk {
namespace LK_ISA_NS {

template <typename T>
struct Avx512;

template <>
struct Avx512<float> {
  using V = __m512;
  static constexpr int kLanes = 16, kDegree = kExp2NegFloatDegree;
  // The scalar form's bounds for tn = -t: tn held at or below -kExp2FloatBounds[0], and
  // m = -round(tn) at 126 and beyond flushed to 0.
  static constexpr float kHigh = -kExp2FloatBounds[0], kFlush = -126.0f;
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  // The all-lanes mask forms: GCC 12's unmasked ones read an undefined register and warn
  // that it may be used uninitialised.
  static V min(V a, V b) { return _mm512_mask_min_ps(b, 0xffff, a, b); }
  static V round(V a) { return _mm512_mask_roundscale_ps(a, 0xffff, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V scaleUnless(V p, V mn) {
    return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(mn, set1(kFlush), _CMP_NLE_UQ), p, mn);
  }
  static constexpr float coefficient(int k) { return exp2NegFloatCoefficient(k); }
};

template <>
struct Avx512<double> {
  using V = __m512d;
  static constexpr int kLanes = 8, kDegree = kExp2NegDoubleDegree;
  static constexpr double kHigh = -kExp2DoubleBounds[0], kFlush = -1022.0;
  static V set1(double v) { return _mm512_set1_pd(v); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V abs(V a) { return _mm512_abs_pd(a); }
  static V min(V a, V b) { return _mm512_mask_min_pd(b, 0xff, a, b); }
  static V round(V a) { return _mm512_mask_roundscale_pd(a, 0xff, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V scaleUnless(V p, V mn) {
    return _mm512_maskz_scalef_pd(_mm512_cmp_pd_mask(mn, set1(kFlush), _CMP_NLE_UQ), p, mn);
  }
  static constexpr double coefficient(int k) { return exp2NegDoubleCoefficient(k); }
};

// exp2Neg(t) from tn = -t (a negated factor gives tn at no cost). Why the same bits:
// round-to-nearest-even is symmetric, so mn = round(tn) = -m and fn = tn - mn = -f
// exactly; Horner's steps on fn with the odd coefficients negated give the scalar steps'
// values exactly (each fma's rounding is symmetric too), and with every coefficient
// halved (exact) the polynomial is p/2, so p·2^(-m-1) = (p/2)·2^mn, which vscalef forms
// exactly (the scalar form's results are never subnormal). Bounds: tn above -low is held
// there (t below low is, in the scalar form: the overflow to +inf), and m >= 126 (1022),
// an infinite t included, gives 0. A NaN passes every step (min returns its second
// operand when either is NaN) and the unordered compare keeps it. Callers whose tn is
// never above 0 or NaN (a positive factor times |x - y|²) pass Positive and save the min.
template <typename T, bool Positive>
inline typename Avx512<T>::V exp2NegNegated(typename Avx512<T>::V tn) {
  using A = Avx512<T>;
  if (!Positive) tn = A::min(A::set1(A::kHigh), tn);
  const typename A::V mn = A::round(tn);
  const typename A::V fn = A::sub(tn, mn);
  // Coefficient k halved, and negated where k is odd.
  auto c = [](int k) { return A::set1(A::coefficient(k) / 2 * (k % 2 ? -1 : 1)); };
  typename A::V p = c(A::kDegree);
#pragma GCC unroll 16
  for (int k = A::kDegree - 1; k >= 0; --k) p = A::fmadd(p, fn, c(k));
  return A::scaleUnless(p, mn);
}

}  // namespace LK_ISA_NS
}  // namespace lk

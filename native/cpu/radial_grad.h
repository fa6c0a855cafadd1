// The fused gradient of a radial-kernel sum with respect to its row points (the "force"):
//   out_i = 2·scale·Σ_c w_ic Σ_j phi'(scale·|x_i - y_j|²)·(x_i - y_j)·u_jc.
// KeOps' Grad(phi(s)·b, x, e) is this with w = e (i) and u = b (j); the gradient with
// respect to the column points, which reduces over the other axis, is the same sum with
// the roles swapped: w = b, u = e. The loop adds Σ_j phi'·(x_i - y_j)·u_jc per row and
// write() applies w and 2·scale once per row. With Abs, absAcc[r][c] also gets
// Σ_j |phi'·u_jc|·|x_i - y_j|, the scale pruning budgets against (cluster.h).
// The same interface as RadialSum: reduce.cc runs any of the fused loops, pruned or not.
// Included only by the per-instruction-set sources, inside their namespace.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "../maths/radial.h"
#include "radial_sum.h"

namespace lk {
namespace LK_ISA_NS {

// One row and one tile for a small, fixed D and one column of u: the differences and
// their D sums stay in registers.
template <int Tag, int D, typename T, bool Abs>
void radialGradRow(const T* xi, const T* y, std::size_t n, const T* u, int len, T scale, double* g, double* absSum) {
  T xk[D];
  for (int k = 0; k < D; ++k) xk[k] = xi[k];
  T g0 = 0, g1 = 0, g2 = 0, g3 = 0, asum = 0;
#pragma omp simd reduction(+ : g0, g1, g2, g3, asum)
  for (int t = 0; t < len; ++t) {
    T diff[4];
    diff[0] = xk[0] - y[t];
    T q = diff[0] * diff[0];  // as radialAt's
    for (int k = 1; k < D; ++k) {
      diff[k] = xk[k] - y[k * n + t];
      q = fmadd(diff[k], diff[k], q);
    }
    const T f = radialSlope<Tag>(scale * q) * u[t];
    g0 = fmadd(f, diff[0], g0);
    if (D > 1) g1 = fmadd(f, diff[1], g1);
    if (D > 2) g2 = fmadd(f, diff[2], g2);
    if (D > 3) g3 = fmadd(f, diff[3], g3);
    if (Abs) asum = fmadd(std::fabs(f), std::sqrt(q), asum);
  }
  const T sums[4] = {g0, g1, g2, g3};
  for (int k = 0; k < D; ++k) g[k] += sums[k];
  if (Abs) *absSum += asum;
}

template <typename T>
using GradRowFn = void (*)(const T*, const T*, std::size_t, const T*, int, T, double*, double*);

template <int Tag, typename T, bool Abs>
GradRowFn<T> fixedGradRow(int d) {
  switch (d) {
    case 1: return radialGradRow<Tag, 1, T, Abs>;
    case 2: return radialGradRow<Tag, 2, T, Abs>;
    case 3: return radialGradRow<Tag, 3, T, Abs>;
    case 4: return radialGradRow<Tag, 4, T, Abs>;
  }
  return nullptr;
}

template <int Tag, typename T>
struct RadialGrad {
  int d, dv, tile;                  // dv: columns of u (and of w)
  const int32_t* cancel = nullptr;  // checked once per tile
  const T* w = nullptr;             // row weights, row-major, dv per row, in the caller's row order
  double twiceScale = 0;
  std::vector<double> acc, absAcc;  // rows × d × dv, rows × dv
  std::vector<T> dist, slope, weighted;
  GradRowFn<T> fixed, fixedAbs;
  RadialGrad(int rows, int d, int dv, int tile)
      : d(d), dv(dv), tile(tile), acc(static_cast<std::size_t>(rows) * d * dv), absAcc(static_cast<std::size_t>(rows) * dv),
        dist(tile), slope(tile), weighted(tile), fixed(dv == 1 ? fixedGradRow<Tag, T, false>(d) : nullptr),
        fixedAbs(dv == 1 ? fixedGradRow<Tag, T, true>(d) : nullptr) {}

  void clear(int rows) {
    std::fill(acc.begin(), acc.begin() + static_cast<std::size_t>(rows) * d * dv, 0.0);
    std::fill(absAcc.begin(), absAcc.begin() + static_cast<std::size_t>(rows) * dv, 0.0);
  }

  double shift(int) const { return 0; }

  template <bool Abs>
  void span(int r, const T* xi, const T* y, const T* u, std::size_t n, std::size_t j0, int len, T scale) {
    double* a = &acc[static_cast<std::size_t>(r) * d * dv];
    double* aa = &absAcc[static_cast<std::size_t>(r) * dv];
    if (fixed) return (Abs ? fixedAbs : fixed)(xi, y + j0, n, u + j0, len, scale, a, aa);
    T* __restrict s = dist.data();
    T* __restrict f = slope.data();
    T* __restrict wt = weighted.data();
    squaredDistances(xi, y, n, j0, len, d, s);
    for (int t = 0; t < len; ++t) f[t] = radialSlope<Tag>(scale * s[t]);
    for (int c = 0; c < dv; ++c) {
      const T* __restrict uc = u + c * n + j0;
      for (int t = 0; t < len; ++t) wt[t] = f[t] * uc[t];
      for (int k = 0; k < d; ++k) {
        const T xk = xi[k];
        const T* __restrict yk = y + k * n + j0;
        T sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int t = 0; t < len; ++t) sum = fmadd(wt[t], xk - yk[t], sum);
        a[k * dv + c] += sum;
      }
      if (Abs) {
        T asum = 0;
#pragma omp simd reduction(+ : asum)
        for (int t = 0; t < len; ++t) asum = fmadd(std::fabs(wt[t]), std::sqrt(s[t]), asum);
        aa[c] += asum;
      }
    }
  }

  // out_i = 2·scale·Σ_c w_ic·acc[r][·][c], for row r of the block, caller's row `row`.
  template <typename Out>
  void write(int r, std::size_t row, Out* values) const {
    const double* a = &acc[static_cast<std::size_t>(r) * d * dv];
    const T* wr = w + row * dv;
    Out* out = values + row * d;
    for (int k = 0; k < d; ++k) {
      double s = 0;
      for (int c = 0; c < dv; ++c) s += static_cast<double>(wr[c]) * a[k * dv + c];
      out[k] = static_cast<Out>(twiceScale * s);
    }
  }
};

}  // namespace LK_ISA_NS
}  // namespace lk

// The fused loop of a softmax-weighted sum whose log-weights are a radial profile:
// out_i = Σ_j w_ij·V_j / Σ_j w_ij with w_ij = exp(F_ij), F_ij = logRadial(scale·|x_i - y_j|²)
// (Gaussian: -scale·d², Laplace: -sqrt(scale·d²)). As in the generic SoftmaxAcc, each
// tile is shifted by its own maximum and merged into the row's running (max, sums) in
// float64, so nothing overflows or underflows before the shift. The same interface as
// RadialSum (reduce.cc runs either, pruned or not), with b's last column all ones (its
// sum is the denominator) and shift(r) the row's log-scale.
// Included only by the per-instruction-set sources, inside their namespace.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../maths/radial.h"
#include "accumulators.h"
#include "parallel.h"
#include "radial_sum.h"

namespace lk {
namespace LK_ISA_NS {

template <int Tag, typename T>
struct RadialSoftmax {
  int d, dv, tile;                      // dv counts b's columns, the ones column included
  const int32_t* cancel = nullptr;      // checked once per tile
  std::vector<double> mx, acc, absAcc;  // acc, absAcc: rows × dv, relative to exp(mx[r])
  std::vector<T> f, e;
  RadialSoftmax(int rows, int d, int dv, int tile)
      : d(d), dv(dv), tile(tile), mx(rows), acc(static_cast<std::size_t>(rows) * dv), absAcc(acc.size()), f(tile),
        e(tile) {}

  void clear(int rows) {
    std::fill(mx.begin(), mx.begin() + rows, -std::numeric_limits<double>::infinity());
    std::fill(acc.begin(), acc.begin() + static_cast<std::size_t>(rows) * dv, 0.0);
    std::fill(absAcc.begin(), absAcc.begin() + static_cast<std::size_t>(rows) * dv, 0.0);
  }

  double shift(int r) const { return mx[r]; }

  template <bool Abs>
  void span(int r, const T* xi, const T* y, const T* b, std::size_t n, std::size_t j0, int len, T scale) {
    T* __restrict fl = f.data();
    T* __restrict el = e.data();
    squaredDistances(xi, y, n, j0, len, d, fl);
    for (int t = 0; t < len; ++t) fl[t] = logRadial<Tag>(scale * fl[t]);
    T m = -std::numeric_limits<T>::infinity();
    bool nan = false;
    for (int t = 0; t < len; ++t) {
      m = fl[t] > m ? fl[t] : m;
      nan |= fl[t] != fl[t];
    }
    double* a = &acc[static_cast<std::size_t>(r) * dv];
    double* aa = &absAcc[static_cast<std::size_t>(r) * dv];
    if (nan) {  // a NaN log-weight poisons the row, as in the generic path
      std::fill(a, a + dv, std::numeric_limits<double>::quiet_NaN());
      return;
    }
    if (m == -std::numeric_limits<T>::infinity()) return;  // every weight is exp(-inf) = 0
    for (int t = 0; t < len; ++t) el[t] = expNeg(m - fl[t]);
    const auto [old, add] = mergeShift(mx[r], m);
    for (int c = 0; c < dv; ++c) {
      const auto [sum, asum] = weightedSum<Abs>(el, b + c * n + j0, len);
      a[c] = a[c] * old + sum * add;
      if (Abs) aa[c] = aa[c] * old + asum * add;
    }
  }

  // out[c] = Σ w·V_c / Σ w for the dv - 1 columns of V; row r of the block is the
  // caller's row `row`.
  template <typename Out>
  void write(int r, std::size_t row, Out* values) const {
    Out* out = values + row * (dv - 1);
    const double* a = &acc[static_cast<std::size_t>(r) * dv];
    for (int c = 0; c + 1 < dv; ++c) out[c] = static_cast<Out>(a[c] / a[dv - 1]);
  }
};

}  // namespace LK_ISA_NS
}  // namespace lk

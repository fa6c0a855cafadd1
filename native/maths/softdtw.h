// Soft dynamic time warping between two series under the squared difference (KeOps'
// SoftDTW_SqDist), and its gradient, on one pair: the CPU interpreter runs it lane by
// lane, the device interpreter pair by pair. The recursion is KeOps': the first row and
// column are plain cumulative sums; inner cells add the soft minimum (smoothing gamma) of
// their three predecessors.
#pragma once
#include <math.h>

#include "hd.h"

namespace lk {

// Component k of a register whose components lie `stride` apart.
template <typename T>
struct Strided {
  const T* p;
  long long stride;
  LK_HDM T operator[](int k) const { return p[k * stride]; }
};

// min(a, b, c) - gamma log Σ exp((min - v) / gamma): the soft minimum, and (through p)
// each predecessor's weight exp((softmin - v) / gamma).
template <typename T>
LK_HD T softMin3(T a, T b, T c, T gamma, T* p) {
  const T m = fmin(fmin(a, b), c);
  const T ea = exp((m - a) / gamma), eb = exp((m - b) / gamma), ec = exp((m - c) / gamma);
  const T s = m - gamma * log(ea + eb + ec);
  if (p) {
    p[0] = exp((s - a) / gamma);
    p[1] = exp((s - b) / gamma);
    p[2] = exp((s - c) / gamma);
  }
  return s;
}

// The cost matrix r (n × m, row i = x_i) of the recursion; returns r[n-1][m-1].
template <typename T, typename S>
LK_HD T softDtwForward(S x, int n, S y, int m, T gamma, T* r) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) {
      const T d = (x[i] - y[j]) * (x[i] - y[j]);
      T prev = 0;
      if (i > 0 && j > 0)
        prev = softMin3<T>(r[(i - 1) * m + j - 1], r[(i - 1) * m + j], r[i * m + j - 1], gamma, nullptr);
      else if (i > 0)
        prev = r[(i - 1) * m];
      else if (j > 0)
        prev = r[j - 1];
      r[i * m + j] = d + prev;
    }
  return r[n * m - 1];
}

// The gradient of r[n-1][m-1] with respect to x (out[0..n)), y (out[n..n+m)) and gamma
// (out[n+m]). `work` holds 2·n·m values: the costs, then each cell's adjoint.
template <typename T, typename S>
LK_HD void softDtwGradient(S x, int n, S y, int m, T gamma, T* out, T* work) {
  T* r = work;
  T* e = work + n * m;
  softDtwForward<T>(x, n, y, m, gamma, r);
  for (int k = 0; k < n + m + 1; ++k) out[k] = 0;
  for (int c = 0; c < n * m; ++c) e[c] = 0;
  e[n * m - 1] = 1;
  for (int i = n - 1; i >= 0; --i)
    for (int j = m - 1; j >= 0; --j) {
      const T ec = e[i * m + j];
      const T diff = x[i] - y[j];
      out[i] += 2 * diff * ec;
      out[n + j] -= 2 * diff * ec;
      if (i > 0 && j > 0) {
        T p[3];
        const T a = r[(i - 1) * m + j - 1], b = r[(i - 1) * m + j], c = r[i * m + j - 1];
        const T s = softMin3<T>(a, b, c, gamma, p);
        e[(i - 1) * m + j - 1] += ec * p[0];
        e[(i - 1) * m + j] += ec * p[1];
        e[i * m + j - 1] += ec * p[2];
        // ∂softmin/∂gamma at fixed predecessors: (softmin - Σ p_k v_k) / gamma.
        out[n + m] += ec * (s - (p[0] * a + p[1] * b + p[2] * c)) / gamma;
      } else if (i > 0) {
        e[(i - 1) * m] += ec;
      } else if (j > 0) {
        e[j - 1] += ec;
      }
    }
}

}  // namespace lk

// The fused loops of the recognised radial kernels: out_i = Σ_j phi(scale·|x_i - y_j|²)·b_j
// over given j ranges, with the squared distance kept in registers for small D.
// Included only by the per-instruction-set sources, inside their namespace.
#pragma once
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../maths/radial.h"
#include "parallel.h"

namespace lk {
namespace LK_ISA_NS {

// One row of the fused sum for a small, fixed D and one column of b: the squared
// distance stays in registers, one pass over the tile (y and b already offset to it).
// With Abs, also adds Σ |phi·b| to *absSum (the pruning walk's scale).
// Lanes of the last, padded step of radialRow: one vector of this build's instruction
// set, so the step runs as a whole vector (a scalar tail costs more than a vector per
// column, and pruned runs are short: a strip's run is tens of columns).
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX2__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif

// phi(scale·|xk - y_t|²) for column t of component-major y (`stride` values per
// component), D fixed, factor = radialFactor<Tag>(scale): the distance stays in
// registers. Inlined into each lane loop.
template <int Tag, int D, typename T>
inline __attribute__((always_inline)) T radialAt(const T* xk, const T* y, std::size_t stride, int t, T factor) {
  // The first square is a product, not an fma with 0: the same value, one operation less.
  const T d0 = xk[0] - y[t];
  T q = d0 * d0;
  for (int k = 1; k < D; ++k) {
    const T diff = xk[k] - y[k * stride + t];
    q = fmadd(diff, diff, q);
  }
  return radialScaled<Tag>(factor * q);
}

template <int Tag, int D, typename T, bool Abs>
T radialRow(const T* xi, const T* y, std::size_t n, const T* b, int len, T scale, T* absSum) {
  T xk[D];
  for (int k = 0; k < D; ++k) xk[k] = xi[k];
  const T factor = radialFactor<Tag>(scale);
  constexpr int kRowTail = kVectorBytes / sizeof(T);
  T sum = 0, asum = 0;
  const int body = len - len % kRowTail;
#pragma omp simd reduction(+ : sum, asum)
  for (int t = 0; t < body; ++t) {
    // Fused: a tiny kernel value times a small b would round to a subnormal first, and
    // subnormal arithmetic runs many times slower (a KernelSolve's late directions are
    // small: its 1e5 solve took 1.0 s instead of 0.7). phi >= 0, so |phi·b| = phi·|b|.
    const T phi = radialAt<Tag, D>(xk, y, n, t, factor);
    sum = fmadd(phi, b[t], sum);
    if (Abs) asum = fmadd(phi, std::fabs(b[t]), asum);
  }
  if (body < len) {
    // The rest, padded with columns at the row itself. The padded lanes are masked out
    // rather than given b = 0: phi·0 is NaN where phi is not finite (an infinite row makes
    // x - x NaN, a negative scale makes phi infinite).
    alignas(64) T ty[D][kRowTail], tb[kRowTail];
    alignas(64) int32_t real[kRowTail];
    for (int t = 0; t < kRowTail; ++t) {
      real[t] = body + t < len;
      for (int k = 0; k < D; ++k) ty[k][t] = real[t] ? y[k * n + body + t] : xk[k];
      tb[t] = real[t] ? b[body + t] : T(0);
    }
#pragma omp simd reduction(+ : sum, asum)
    for (int t = 0; t < kRowTail; ++t) {
      const T phi = radialAt<Tag, D>(xk, &ty[0][0], kRowTail, t, factor);
      sum = real[t] ? fmadd(phi, tb[t], sum) : sum;
      if (Abs) asum = real[t] ? fmadd(phi, std::fabs(tb[t]), asum) : asum;
    }
  }
  if (Abs) *absSum += asum;
  return sum;
}

template <typename T>
using RadialRowFn = T (*)(const T*, const T*, std::size_t, const T*, int, T, T*);

template <int Tag, typename T, bool Abs>
RadialRowFn<T> fixedRadialRow(int d) {
  switch (d) {
    case 1: return radialRow<Tag, 1, T, Abs>;
    case 2: return radialRow<Tag, 2, T, Abs>;
    case 3: return radialRow<Tag, 3, T, Abs>;
    case 4: return radialRow<Tag, 4, T, Abs>;
  }
  return nullptr;
}

// s[t] = |xi - y_{j0+t}|² for a tile of len columns of component-major y (n per component).
template <typename T>
void squaredDistances(const T* xi, const T* y, std::size_t n, std::size_t j0, int len, int d, T* __restrict s) {
  {
    const T xk = xi[0];
    const T* __restrict yk = y + j0;
    for (int t = 0; t < len; ++t) {
      const T diff = xk - yk[t];
      s[t] = diff * diff;
    }
  }
  for (int c = 1; c < d; ++c) {
    const T xk = xi[c];
    const T* __restrict yk = y + c * n + j0;
    for (int t = 0; t < len; ++t) {
      const T diff = xk - yk[t];
      s[t] = fmadd(diff, diff, s[t]);
    }
  }
}

// f(j0, len) for the tiles of at most `tile` columns that cover the j ranges, in order;
// stops early once `cancel` is set (parallelFor then throws Cancelled).
template <typename Range, typename F>
void forEachTile(const Range* j, std::size_t count, int tile, const int32_t* cancel, F&& f) {
  for (std::size_t k = 0; k < count; ++k)
    for (std::size_t j0 = j[k].first; j0 < j[k].second; j0 += tile) {
      if (cancelled(cancel)) return;
      f(j0, static_cast<int>(std::min<std::size_t>(tile, j[k].second - j0)));
    }
}

// {Σ w[t]·b[t], Σ |w[t]·b[t]| (with Abs, else 0)} over a tile, in T, for weights w >= 0
// (kernel values, softmax weights), fused as radialRow's.
template <bool Abs, typename T>
std::pair<T, T> weightedSum(const T* __restrict w, const T* __restrict b, int len) {
  T sum = 0, asum = 0;
#pragma omp simd reduction(+ : sum, asum)
  for (int t = 0; t < len; ++t) {
    sum = fmadd(w[t], b[t], sum);
    if (Abs) asum = fmadd(w[t], std::fabs(b[t]), asum);
  }
  return {sum, asum};
}

// The fused radial-kernel sum: out_i = Σ_j phi(scale·|x_i - y_j|²)·b_j, for one block
// of rows at a time (acc holds their sums). y and b are component-major with n values
// per component; spans of j are at most one tile long.
template <int Tag, typename T>
struct RadialSum {
  int d, dv, tile;
  const int32_t* cancel = nullptr;  // checked once per tile
  std::vector<double> acc, absAcc;  // rows × dv
  std::vector<T> dist, phi;
  RadialRowFn<T> fixed, fixedAbs;
  RadialSum(int rows, int d, int dv, int tile)
      : d(d), dv(dv), tile(tile), acc(static_cast<std::size_t>(rows) * dv), absAcc(acc.size()), dist(tile), phi(tile),
        fixed(dv == 1 ? fixedRadialRow<Tag, T, false>(d) : nullptr),
        fixedAbs(dv == 1 ? fixedRadialRow<Tag, T, true>(d) : nullptr) {}

  void clear(int rows) {
    std::fill(acc.begin(), acc.begin() + static_cast<std::size_t>(rows) * dv, 0.0);
    std::fill(absAcc.begin(), absAcc.begin() + static_cast<std::size_t>(rows) * dv, 0.0);
  }

  double shift(int) const { return 0; }  // sums are not rescaled (RadialSoftmax's are)

  // Row r of the block is the caller's row `row`.
  template <typename Out>
  void write(int r, std::size_t row, Out* values) const {
    Out* out = values + row * dv;
    for (int c = 0; c < dv; ++c) out[c] = static_cast<Out>(acc[static_cast<std::size_t>(r) * dv + c]);
  }

  // acc[r] += Σ_{j0 <= j < j0 + len} phi(scale·|xi - y_j|²)·b_j, len <= tile; with Abs,
  // absAcc[r] += Σ |phi·b_j| too.
  template <bool Abs>
  void span(int r, const T* xi, const T* y, const T* b, std::size_t n, std::size_t j0, int len, T scale) {
    if (fixed) {
      T asum = 0;
      acc[r] += (Abs ? fixedAbs : fixed)(xi, y + j0, n, b + j0, len, scale, &asum);
      if (Abs) absAcc[r] += asum;
      return;
    }
    T* __restrict s = dist.data();
    T* __restrict f = phi.data();
    squaredDistances(xi, y, n, j0, len, d, s);
    const T factor = radialFactor<Tag>(scale);
    for (int t = 0; t < len; ++t) f[t] = radialScaled<Tag>(factor * s[t]);
    for (int c = 0; c < dv; ++c) {
      const auto [sum, asum] = weightedSum<Abs>(f, b + c * n + j0, len);
      acc[r * dv + c] += sum;
      if (Abs) absAcc[r * dv + c] += asum;
    }
  }
};

// Adds the j ranges [first, second) for rows i0 .. i0 + rows of x (row-major) to a fused
// loop (RadialSum, RadialSoftmax, RadialGrad), tile by tile. Returns the pairs added.
template <bool Abs, typename Loop, typename T>
uint64_t addRanges(Loop& loop, const T* x, const T* y, const T* b, std::size_t n, T scale, std::size_t i0, int rows,
                   const JRange* j, std::size_t count) {
  uint64_t pairs = 0;
  forEachTile(j, count, loop.tile, loop.cancel, [&](std::size_t j0, int len) {
    for (int r = 0; r < rows; ++r) loop.template span<Abs>(r, x + (i0 + r) * loop.d, y, b, n, j0, len, scale);
    pairs += static_cast<uint64_t>(len) * static_cast<uint64_t>(rows);
  });
  return pairs;
}


}  // namespace LK_ISA_NS
}  // namespace lk

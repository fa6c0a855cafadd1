// The reductions over j: per output row, a state that folds one tile of lanes at a time
// and is written out at the end. Semantics (API.md, test/helpers/reference.ts):
// - Sum: float32 data is summed in float32 within a tile and in float64 across tiles.
// - Min/Max and their args: strict comparison, so the lowest j wins ties; NaN wins and
//   sticks. Empty: ±Infinity and index -1.
// - KMin family: the k smallest, ascending, ties in increasing j; missing entries
//   +Infinity and -1.
// - LogSumExp and SumSoftMaxWeight: online max-shift, tile by tile; empty: -Infinity and
//   NaN (0/0).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "../maths/kmin.h"
#include "../maths/shift.h"
#include "lanes.h"

namespace lk {
namespace LK_ISA_NS {

template <typename T>
struct SumAcc {
  int dim;
  std::vector<double> acc;  // rows × dim
  SumAcc(int rows, int dim, int) : dim(dim), acc(static_cast<std::size_t>(rows) * dim) {}
  void reset(int r) {
    for (int c = 0; c < dim; ++c) acc[r * dim + c] = 0;
  }
  void fold(int r, const Ref<T>& f, const Ref<T>&, int len, int64_t) {
    for (int c = 0; c < dim; ++c) {
      const T* p = f.comp(c);
      if (!f.lane) {
        acc[r * dim + c] += static_cast<double>(p[0]) * len;
        continue;
      }
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int t = 0; t < len; ++t) s += p[t];
      acc[r * dim + c] += s;
    }
  }
  void write(int r, std::size_t i, T* values, int32_t*) const {
    for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(acc[r * dim + c]);
  }
};

template <typename T, bool Max>
struct ExtremumAcc {
  int dim;
  std::vector<T> best;
  std::vector<int32_t> arg;
  ExtremumAcc(int rows, int dim, int) : dim(dim), best(static_cast<std::size_t>(rows) * dim), arg(best.size()) {}
  void reset(int r) {
    for (int c = 0; c < dim; ++c) {
      best[r * dim + c] = Max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
      arg[r * dim + c] = -1;
    }
  }
  void fold(int r, const Ref<T>& f, const Ref<T>&, int len, int64_t j0) {
    for (int c = 0; c < dim; ++c) {
      const T* p = f.comp(c);
      const int step = f.lane;
      T b = best[r * dim + c];
      int32_t a = arg[r * dim + c];
      if (b != b) continue;
      for (int t = 0; t < len; ++t) {
        const T v = p[t * step];
        if (v != v || a < 0 || (Max ? v > b : v < b)) {
          b = v;
          a = static_cast<int32_t>(j0 + t);
          if (v != v) break;
        }
      }
      best[r * dim + c] = b;
      arg[r * dim + c] = a;
    }
  }
  void write(int r, std::size_t i, T* values, int32_t* indices) const {
    for (int c = 0; c < dim; ++c) {
      if (values) values[i * dim + c] = best[r * dim + c];
      if (indices) indices[i * dim + c] = arg[r * dim + c];
    }
  }
};

template <typename T>
struct KMinAcc {
  int dim, k;
  std::vector<T> vals;        // rows × dim × k, ascending
  std::vector<int32_t> idx;
  std::vector<int> count;     // rows × dim
  KMinAcc(int rows, int dim, int k)
      : dim(dim), k(k), vals(static_cast<std::size_t>(rows) * dim * k), idx(vals.size()),
        count(static_cast<std::size_t>(rows) * dim) {}
  void reset(int r) {
    for (int c = 0; c < dim; ++c) {
      T* v = &vals[(static_cast<std::size_t>(r) * dim + c) * k];
      int32_t* x = &idx[(static_cast<std::size_t>(r) * dim + c) * k];
      for (int l = 0; l < k; ++l) {
        v[l] = std::numeric_limits<T>::infinity();
        x[l] = -1;
      }
      count[r * dim + c] = 0;
    }
  }
  void fold(int r, const Ref<T>& f, const Ref<T>&, int len, int64_t j0) {
    for (int c = 0; c < dim; ++c) {
      const T* p = f.comp(c);
      const int step = f.lane;
      T* v = &vals[(static_cast<std::size_t>(r) * dim + c) * k];
      int32_t* x = &idx[(static_cast<std::size_t>(r) * dim + c) * k];
      int n = count[r * dim + c];
      for (int t = 0; t < len; ++t) n = insertKMin(v, x, n, k, p[t * step], static_cast<int32_t>(j0 + t));
      count[r * dim + c] = n;
    }
  }
  void write(int r, std::size_t i, T* values, int32_t* indices) const {
    for (int c = 0; c < dim; ++c)
      for (int l = 0; l < k; ++l) {
        std::size_t from = (static_cast<std::size_t>(r) * dim + c) * k + l;
        std::size_t to = (i * k + l) * dim + c;
        if (values) values[to] = vals[from];
        if (indices) indices[to] = idx[from];
      }
  }
};

// log Σ exp(f) and Σ exp(f)·w / Σ exp(f): the running (max, Σ exp(f - max), Σ exp(f - max)·w).
template <typename T, bool Weighted>
struct SoftmaxAcc {
  int dim;  // 1 for LogSumExp, dim(w) for SumSoftMaxWeight
  std::vector<double> mx, s, a;
  std::vector<T> scratch;  // exp(f - tile max), one tile
  SoftmaxAcc(int rows, int dim, int, int tile = 0)
      : dim(dim), mx(rows), s(rows), a(static_cast<std::size_t>(rows) * dim), scratch(tile) {}
  void reset(int r) {
    mx[r] = -std::numeric_limits<double>::infinity();
    s[r] = 0;
    for (int c = 0; c < dim; ++c) a[r * dim + c] = 0;
  }
  void fold(int r, const Ref<T>& f, const Ref<T>& w, int len, int64_t) {
    const T* p = f.p;
    const int step = f.lane;
    T m = -std::numeric_limits<T>::infinity();
    bool sawNaN = false;
    for (int t = 0; t < len; ++t) {
      const T v = p[t * step];
      m = v > m ? v : m;
      sawNaN |= v != v;
    }
    if (sawNaN) {
      s[r] = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    if (m == -std::numeric_limits<T>::infinity()) return;  // every term is exp(-inf) = 0
    T* e = scratch.data();
    T ts = 0;
    for (int t = 0; t < len; ++t) {
      e[t] = fastExp(p[t * step] - m);
      ts += e[t];
    }
    const auto [old, add] = mergeShift(mx[r], m);
    s[r] = s[r] * old + ts * add;
    if (Weighted) {
      for (int c = 0; c < dim; ++c) {
        const T* q = w.comp(c);
        const int ws = w.lane;
        T ta = 0;
        for (int t = 0; t < len; ++t) ta += e[t] * q[t * ws];
        a[r * dim + c] = a[r * dim + c] * old + ta * add;
      }
    }
  }
  void write(int r, std::size_t i, T* values, int32_t*) const {
    if (!Weighted) {
      values[i] = static_cast<T>(mx[r] + std::log(s[r]));
      return;
    }
    for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(a[r * dim + c] / s[r]);
  }
};

}  // namespace LK_ISA_NS
}  // namespace lk

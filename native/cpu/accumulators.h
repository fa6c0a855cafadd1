// The reductions over j: per output row, a state that folds one tile of lanes at a time
// and is written out at the end. Semantics (README, "What the reductions return";
// test/helpers/reference.ts):
// - Sum: float32 data is summed in float32 within a tile and in float64 across tiles.
// - Min/Max and their args: strict comparison, so the lowest j wins ties; NaN wins and
//   sticks. Empty: ±Infinity and index -1.
// - KMin family: the k smallest, ascending, ties in increasing j; missing entries
//   +Infinity and -1.
// - LogSumExp and SumSoftMaxWeight: online max-shift, tile by tile; empty: -Infinity and
//   NaN (0/0).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "../maths/kmin.h"
#include "../maths/shift.h"
#include "lanes.h"
#include "parallel.h"
#include "sizes.h"

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

// The k smallest per component. Small k: each value goes straight into the sorted list
// (insertKMin). Large k (sizes.h): values below the current k-th wait in a buffer that
// is sorted and merged into the list when full, which keeps the list exactly what
// one-by-one insertion would give (the k smallest by (value, index)) at O(log) per
// value. A NaN has no place in that order: at the first one the buffer is merged and
// the component goes on one value at a time, as the small-k path (and the device) do.
template <typename T>
struct KMinAcc {
  int dim, k;
  const int32_t* cancel;      // checked within a tile when one-by-one insertion is slow
  bool batched;
  std::size_t cap;            // buffer entries per component (batched)
  std::vector<T> vals;        // rows × dim × k, ascending
  std::vector<int32_t> idx;
  std::vector<int> count;     // rows × dim
  std::vector<T> pendV;       // rows × dim × cap, arrival order
  std::vector<int32_t> pendI;
  std::vector<std::size_t> pending;  // rows × dim
  std::vector<char> oneByOne;        // rows × dim: a NaN arrived
  std::vector<std::pair<T, int32_t>> sorted;  // one component's buffer, being merged
  std::vector<T> mergedV;
  std::vector<int32_t> mergedI;

  // The bytes one row's state takes (forEachBlock caps a block's rows with it).
  static std::size_t rowBytes(int dim, int k) {
    const std::size_t entries = static_cast<std::size_t>(k) + (k > kKMinInsertMax ? kMinPending(k) : 0);
    return static_cast<std::size_t>(dim) * entries * (sizeof(T) + sizeof(int32_t));
  }

  KMinAcc(int rows, int dim, int k, const int32_t* cancel = nullptr)
      : dim(dim), k(k), cancel(cancel), batched(k > kKMinInsertMax), cap(batched ? kMinPending(k) : 0),
        vals(static_cast<std::size_t>(rows) * dim * k), idx(vals.size()), count(static_cast<std::size_t>(rows) * dim) {
    if (!batched) return;
    pendV.resize(static_cast<std::size_t>(rows) * dim * cap);
    pendI.resize(pendV.size());
    pending.resize(count.size());
    oneByOne.resize(count.size());
    sorted.reserve(cap);
    mergedV.resize(k);
    mergedI.resize(k);
  }
  void reset(int r) {
    for (int c = 0; c < dim; ++c) {
      const std::size_t s = static_cast<std::size_t>(r) * dim + c;
      std::fill(&vals[s * k], &vals[s * k] + k, std::numeric_limits<T>::infinity());
      std::fill(&idx[s * k], &idx[s * k] + k, -1);
      count[s] = 0;
      if (!batched) continue;
      pending[s] = 0;
      oneByOne[s] = 0;
    }
  }
  void fold(int r, const Ref<T>& f, const Ref<T>&, int len, int64_t j0) {
    for (int c = 0; c < dim; ++c) {
      const T* p = f.comp(c);
      const int step = f.lane;
      const std::size_t s = static_cast<std::size_t>(r) * dim + c;
      T* v = &vals[s * k];
      int32_t* x = &idx[s * k];
      int t = 0;
      if (batched && !oneByOne[s]) {
        T* pv = &pendV[s * cap];
        int32_t* pi = &pendI[s * cap];
        for (; t < len; ++t) {
          const T q = p[t * step];
          if (q != q) {  // from here on, one by one
            merge(s);
            oneByOne[s] = 1;
            break;
          }
          // Below the k-th of the merged list, or the list is not full: a candidate.
          if (count[s] == k && !(q < v[k - 1])) continue;
          pv[pending[s]] = q;
          pi[pending[s]] = static_cast<int32_t>(j0 + t);
          if (++pending[s] == cap) merge(s);
        }
      }
      int n = count[s];
      for (; t < len; ++t) {
        // One-by-one insertion moves up to k entries: with a large k, check the flag often.
        if (batched && (t & 15) == 0 && cancelled(cancel)) break;
        n = insertKMin(v, x, n, k, p[t * step], static_cast<int32_t>(j0 + t));
      }
      count[s] = n;
    }
  }
  void write(int r, std::size_t i, T* values, int32_t* indices) {
    for (int c = 0; c < dim; ++c) {
      const std::size_t s = static_cast<std::size_t>(r) * dim + c;
      if (batched) merge(s);
      for (int l = 0; l < k; ++l) {
        std::size_t from = s * k + l;
        std::size_t to = (i * k + l) * dim + c;
        if (values) values[to] = vals[from];
        if (indices) indices[to] = idx[from];
      }
    }
  }

 private:
  // Sorts component s's buffer by (value, index) and merges it into its list, keeping
  // the k smallest; on equal values the list's entries (earlier j) come first.
  void merge(std::size_t s) {
    const std::size_t np = pending[s];
    if (np == 0) return;
    const T* pv = &pendV[s * cap];
    const int32_t* pi = &pendI[s * cap];
    sorted.clear();
    for (std::size_t e = 0; e < np; ++e) sorted.emplace_back(pv[e], pi[e]);
    // No NaN here: a strict weak order. Indices arrive increasing, so a stable sort by
    // value would do the same.
    std::sort(sorted.begin(), sorted.end(), [](const std::pair<T, int32_t>& a, const std::pair<T, int32_t>& b) {
      return a.first < b.first || (!(b.first < a.first) && a.second < b.second);
    });
    T* v = &vals[s * k];
    int32_t* x = &idx[s * k];
    const std::size_t n = static_cast<std::size_t>(count[s]);
    const std::size_t out = std::min<std::size_t>(k, n + np);
    std::size_t a = 0, b = 0;
    for (std::size_t o = 0; o < out; ++o) {
      if (b >= np || (a < n && !(sorted[b].first < v[a]))) {
        mergedV[o] = v[a];
        mergedI[o] = x[a++];
      } else {
        mergedV[o] = sorted[b].first;
        mergedI[o] = sorted[b++].second;
      }
    }
    std::copy(mergedV.begin(), mergedV.begin() + out, v);
    std::copy(mergedI.begin(), mergedI.begin() + out, x);
    count[s] = static_cast<int>(out);
    pending[s] = 0;
  }
};

// The exponential sums (ops.h, isSoftmaxFamily): the running (max, Σ exp(f - max),
// Σ exp(f - max)·w), written out as the reduction asks.
template <typename T, bool Weighted>
struct SoftmaxAcc {
  int dim;  // 1, or dim(w) for the weighted ones
  int reduction;
  std::vector<double> mx, s, a;
  std::vector<T> scratch;  // exp(f - tile max), one tile
  SoftmaxAcc(int rows, int dim, int reduction, int tile = 0)
      : dim(dim), reduction(reduction), mx(rows), s(rows), a(static_cast<std::size_t>(rows) * dim), scratch(tile) {}
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
      e[t] = expNeg(m - p[t * step]);
      ts += e[t];
    }
    const auto [old, add] = mergeShift(mx[r], m);
    s[r] = s[r] * old + ts * add;
    if (Weighted) {
      for (int c = 0; c < dim; ++c) {
        const T* q = w.comp(c);
        const int ws = w.lane;
        T ta = 0;
        for (int t = 0; t < len; ++t) ta = fmadd(e[t], q[t * ws], ta);
        a[r * dim + c] = a[r * dim + c] * old + ta * add;
      }
    }
  }
  void write(int r, std::size_t i, T* values, int32_t*) const {
    const double* ar = Weighted ? &a[static_cast<std::size_t>(r) * dim] : &s[r];
    switch (reduction) {
      case RED_LogSumExp:
      case RED_LogSumExpWeight:
        // A NaN term leaves s NaN, and the weighted sums must say so too.
        for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(mx[r] + std::log(s[r] != s[r] ? s[r] : ar[c]));
        return;
      case RED_Max_SumShiftExp:
      case RED_Max_SumShiftExpWeight: {
        // A NaN term makes the max NaN as well: which tile saw it must not matter.
        T* out = values + i * (dim + 1);
        out[0] = static_cast<T>(s[r] != s[r] ? s[r] : mx[r]);
        for (int c = 0; c < dim; ++c) out[1 + c] = static_cast<T>(s[r] != s[r] ? s[r] : ar[c]);
        return;
      }
      default:  // SumSoftMaxWeight
        for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(ar[c] / s[r]);
    }
  }
};

}  // namespace LK_ISA_NS
}  // namespace lk

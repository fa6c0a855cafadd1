// One output row's reduction state on the device path, for every reduction: fed
// one pair at a time (fold), closed at each tile's end (flush: float32 partial sums go
// into float64, as on the CPU), merged with the state of a later j-range (merge: the
// 2D-split kernel's second pass) and written in the CPU engine's layout (write).
// Host and device compile it (LK_HD), so the emulated-kernel tests run this code.
#pragma once
#include <math.h>
#include <stdint.h>

#include "../../cuda/plugin_abi.h"
#include "../maths/exp.h"
#include "../maths/hd.h"
#include "../maths/kmin.h"
#include "../maths/shift.h"
#include "../ops.h"

namespace lk {

template <typename T>
struct RowAcc {
  int reduction, dim, k;  // dim: of the formula, or of the weights for SumSoftMaxWeight
  T val[LK_DEV_MAX_ACC];         // Sum: the tile's partial sums; extrema: best values; LSE: Σ exp(f - tileMax)·w
  double acc[LK_DEV_MAX_ACC];    // Sum: the total; LSE/softmax: Σ exp(f - mx)·w
  int32_t idx[LK_DEV_MAX_ACC];   // extrema: the arguments, -1 before any
  int32_t count[LK_DEV_MAX_ACC]; // KMin: entries held per component
  T tileMax, tileSum;            // LSE/softmax, within the current tile
  double mx, sum;                // LSE/softmax, across tiles
  bool nan;

  LK_HDM bool isKMin() const { return reduction == RED_KMin || reduction == RED_ArgKMin || reduction == RED_KMin_ArgKMin; }
  LK_HDM bool isMax() const { return reduction == RED_Max || reduction == RED_ArgMax || reduction == RED_Max_ArgMax; }
  LK_HDM bool isExtremum() const {
    return reduction >= RED_Min && reduction <= RED_Max_ArgMax;
  }
  LK_HDM bool isSoftmax() const { return isSoftmaxFamily(reduction); }

  LK_HDM void reset(const lk_dev_program& p) {
    reduction = p.reduction;
    k = p.k;
    dim = p.code[hasWeights(reduction) ? p.weights : p.result].dim;
    const int slots = isKMin() ? dim * k : dim;
    const T start = isMax() ? T(-INFINITY) : isExtremum() || isKMin() ? T(INFINITY) : T(0);
    for (int s = 0; s < slots; ++s) {
      val[s] = start;
      acc[s] = 0;
      idx[s] = -1;
    }
    for (int c = 0; c < dim; ++c) count[c] = 0;
    tileMax = T(-INFINITY);
    tileSum = 0;
    mx = -INFINITY;
    sum = 0;
    nan = false;
  }

  // f: the formula's values for pair (i, j); w: the weights' (SumSoftMaxWeight only).
  LK_HDM void fold(const T* f, const T* w, int32_t j) {
    if (reduction == RED_Sum) {
      for (int c = 0; c < dim; ++c) val[c] += f[c];
    } else if (isExtremum()) {
      const bool mxr = isMax();
      for (int c = 0; c < dim; ++c) {
        const T v = f[c];
        if (val[c] != val[c]) continue;  // a NaN wins and sticks
        if (v != v || idx[c] < 0 || (mxr ? v > val[c] : v < val[c])) {
          val[c] = v;
          idx[c] = j;
        }
      }
    } else if (isKMin()) {
      for (int c = 0; c < dim; ++c) insert(c, f[c], j);
    } else {
      const T x = f[0];
      if (x != x) {
        nan = true;
      } else if (x > tileMax) {
        // The new maximum: rescale what the tile holds so far.
        const T scale = expNeg(x - tileMax);
        tileSum = tileSum * scale + T(1);
        if (hasWeights(reduction))
          for (int c = 0; c < dim; ++c) val[c] = val[c] * scale + w[c];
        tileMax = x;
      } else if (x != T(-INFINITY)) {
        const T e = expNeg(tileMax - x);
        tileSum += e;
        if (hasWeights(reduction))
          for (int c = 0; c < dim; ++c) val[c] = fmadd(e, w[c], val[c]);
      }
    }
  }

  // Fused kernel sums: adds phi·b_c straight into the tile's partial sums.
  LK_HDM void addScaled(T phi, const T* b) {
    for (int c = 0; c < dim; ++c) val[c] = fmadd(phi, b[c], val[c]);
  }

  // The end of a tile.
  LK_HDM void flush() {
    if (reduction == RED_Sum) {
      for (int c = 0; c < dim; ++c) {
        acc[c] += val[c];
        val[c] = 0;
      }
    } else if (isSoftmax()) {
      if (tileMax != T(-INFINITY)) mergeTotals(tileMax, tileSum, val);
      tileMax = T(-INFINITY);
      tileSum = 0;
      for (int c = 0; c < dim; ++c) val[c] = 0;
    }
  }

  // Takes in the (flushed) state of a later range of j.
  LK_HDM void merge(const RowAcc& o) {
    if (reduction == RED_Sum) {
      for (int c = 0; c < dim; ++c) acc[c] += o.acc[c];
    } else if (isExtremum()) {
      const bool mxr = isMax();
      for (int c = 0; c < dim; ++c) {
        if (val[c] != val[c] || o.idx[c] < 0) continue;
        if (o.val[c] != o.val[c] || idx[c] < 0 || (mxr ? o.val[c] > val[c] : o.val[c] < val[c])) {
          val[c] = o.val[c];
          idx[c] = o.idx[c];
        }
      }
    } else if (isKMin()) {
      for (int c = 0; c < dim; ++c)
        for (int l = 0; l < o.count[c]; ++l) insert(c, o.val[c * k + l], o.idx[c * k + l]);
    } else {
      nan = nan || o.nan;
      if (o.mx != -INFINITY) mergeTotals(o.mx, o.sum, o.acc);
    }
  }

  // Row i's outputs, in the CPU engine's layout (KMin: [i, l·dim + c]).
  LK_HDM void write(long long i, T* values, int32_t* indices) const {
    if (reduction == RED_Sum) {
      for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(acc[c]);
    } else if (isExtremum()) {
      for (int c = 0; c < dim; ++c) {
        if (values) values[i * dim + c] = val[c];
        if (indices) indices[i * dim + c] = idx[c];
      }
    } else if (isKMin()) {
      for (int c = 0; c < dim; ++c)
        for (int l = 0; l < k; ++l) {
          const long long to = (i * k + l) * dim + c;
          if (values) values[to] = val[c * k + l];
          if (indices) indices[to] = idx[c * k + l];
        }
    } else {
      const double s = nan ? static_cast<double>(NAN) : sum;
      // The unweighted ones read Σ exp(f - mx) as their one weighted sum.
      const double* a = hasWeights(reduction) ? acc : &s;
      auto term = [&](int c) { return nan ? s : a[c]; };
      if (reduction == RED_LogSumExp || reduction == RED_LogSumExpWeight) {
        for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(mx + log(term(c)));
      } else if (reduction == RED_Max_SumShiftExp || reduction == RED_Max_SumShiftExpWeight) {
        values[i * (dim + 1)] = static_cast<T>(nan ? s : mx);
        for (int c = 0; c < dim; ++c) values[i * (dim + 1) + 1 + c] = static_cast<T>(term(c));
      } else {
        for (int c = 0; c < dim; ++c) values[i * dim + c] = static_cast<T>(a[c] / s);
      }
    }
  }

 private:
  LK_HDM void insert(int c, T q, int32_t j) { count[c] = insertKMin(val + c * k, idx + c * k, count[c], k, q, j); }

  // Merges a shifted (max m, Σ, Σ·w) into the running totals.
  template <typename U>
  LK_HDM void mergeTotals(double m, double s, const U* a) {
    const ShiftFactors f = mergeShift(mx, m);
    sum = sum * f.old + s * f.add;
    if (hasWeights(reduction))
      for (int c = 0; c < dim; ++c) acc[c] = acc[c] * f.old + static_cast<double>(a[c]) * f.add;
  }
};

}  // namespace lk

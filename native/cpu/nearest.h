// Exact k-nearest searches on the cluster trees (cluster.h): F = scale·|x_i − y_j|²,
// scale > 0, reduced by Min, ArgMin, KMin and their pairs. For one cluster of rows, the
// column tree is walked best first (nodes by their box's squared distance to the rows'
// box); a node is skipped once its distance, times scale, exceeds every row's current
// k-th value: nothing inside can enter any row's list. Each row keeps the k smallest by
// (value, column index), the order the unpruned loop's insertion gives (ties to the lower
// index), so the answer is the same whatever order the clusters are visited in.
//
// Why the skip is safe in floating point: the engine's value fl(scale·fl(Σ (x − y)²)) is
// at least the exact one times (1 − (d + 3)·u) (u the unit roundoff of T), less a few of
// T's smallest normals where terms underflow; the box distance, computed in double from
// the points' own values, errs by up to (d + 3)·u too where T is double. The skip test
// takes four times that and the underflow slack off first.
// Included only by the per-instruction-set sources, inside their namespace.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "../maths/hd.h"
#include "../maths/kmin.h"
#include "cluster.h"

namespace lk {
namespace LK_ISA_NS {

// One thread's search state; reuse it across row clusters (its vectors keep their capacity).
template <typename T>
class NearestSearch {
 public:
  NearestSearch(int maxRows, int k, int d) : k_(k), d_(d), vals_(static_cast<std::size_t>(maxRows) * k),
      idx_(vals_.size()), count_(maxRows), dist_(kLeafSize) {  // column leaves hold at most kLeafSize
    const double u = std::numeric_limits<T>::epsilon() / 2;
    shrink_ = 1 - 4 * (d + 3) * u;
    slack_ = 4 * (d + 2) * static_cast<double>(std::numeric_limits<T>::min());
  }

  // Sized up front for a column tree, so that searches never allocate (they run in
  // parallel code): the heap holds at most every node.
  void reserve(const ClusterTree& cols) { heap_.reserve(cols.begin.size()); }

  // Searches the columns (tree `cols`, points `ys` sorted component-major) for `rows`
  // rows (`xs`, row-major, sorted like the row tree) in the box [lo, hi].
  void search(const ClusterTree& cols, const T* ys, const T* xs, int rows, const double* lo, const double* hi,
              T scale) {
    rows_ = rows;
    for (int r = 0; r < rows; ++r) {
      std::fill_n(&vals_[static_cast<std::size_t>(r) * k_], k_, std::numeric_limits<T>::infinity());
      std::fill_n(&idx_[static_cast<std::size_t>(r) * k_], k_, -1);
      count_[r] = 0;
    }
    if (cols.count == 0) return;
    const double s = static_cast<double>(scale);
    heap_.clear();
    heap_.emplace_back(gap(cols, 0, lo, hi), 0);
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      const auto [g, node] = heap_.back();
      heap_.pop_back();
      // The nearest node left is too far for every row: so is every other.
      if (tooFar(g, s, worst())) break;
      if (cols.left[node] >= 0) {
        for (int child : {cols.left[node], cols.right[node]}) {
          heap_.emplace_back(gap(cols, child, lo, hi), child);
          std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
        }
        continue;
      }
      visit(cols, ys, xs, node, scale);
    }
  }

  // Row r's list: k values ascending (infinity past the columns found) and their columns
  // in the caller's order (−1 past them).
  const T* values(int r) const { return &vals_[static_cast<std::size_t>(r) * k_]; }
  const int32_t* indices(int r) const { return &idx_[static_cast<std::size_t>(r) * k_]; }

 private:
  static double gap(const ClusterTree& cols, int node, const double* lo, const double* hi) {
    const std::size_t at = static_cast<std::size_t>(node) * cols.dim;
    return boxGap(cols.dim, lo, hi, &cols.lo[at], &cols.hi[at]);
  }

  // Whether points at squared distance at least g from a row are all above its k-th
  // value `kth`, in the engine's arithmetic (see the top of this file).
  bool tooFar(double g, double scale, double kth) const { return g * scale * shrink_ - slack_ * (1 + scale) > kth; }

  // The largest k-th value over the rows (infinity while some list is not full).
  double worst() const {
    double w = -INFINITY;
    for (int r = 0; r < rows_; ++r)
      w = std::max(w, count_[r] < k_ ? INFINITY : static_cast<double>(vals_[static_cast<std::size_t>(r) * k_ + k_ - 1]));
    return w;
  }

  void visit(const ClusterTree& cols, const T* ys, const T* xs, int node, T scale) {
    const std::size_t b = cols.begin[node], n = cols.count;
    const int len = static_cast<int>(cols.end[node] - b);
    const double* lo = &cols.lo[static_cast<std::size_t>(node) * d_];
    const double* hi = &cols.hi[static_cast<std::size_t>(node) * d_];
    T* dist = dist_.data();
    for (int r = 0; r < rows_; ++r) {
      const T* xr = xs + static_cast<std::size_t>(r) * d_;
      // The rows' box is near the leaf; this row may not be (point to box).
      if (count_[r] == k_ && tooFar(boxGap(d_, xr, xr, lo, hi), static_cast<double>(scale),
                                    static_cast<double>(vals_[static_cast<std::size_t>(r) * k_ + k_ - 1])))
        continue;
      std::fill_n(dist, len, T(0));
      // Component by component, in the generic loop's order and arithmetic (its Dot is
      // fused multiply-adds): bit for bit the unpruned loop's value.
      for (int c = 0; c < d_; ++c) {
        const T xc = xr[c];
        const T* yc = ys + c * n + b;
#pragma omp simd
        for (int t = 0; t < len; ++t) {
          const T e = xc - yc[t];
          dist[t] = fmadd(e, e, dist[t]);
        }
      }
      T* v = &vals_[static_cast<std::size_t>(r) * k_];
      int32_t* x = &idx_[static_cast<std::size_t>(r) * k_];
      int count = count_[r];
      for (int t = 0; t < len; ++t) {
        const T q = dist[t] * scale;
        if (count == k_ && q > v[k_ - 1]) continue;  // the common case, settled without the index
        // By (value, index): the order the unpruned loop's insertion gives, visiting indices
        // in increasing order.
        count = insertSorted<true>(v, x, count, k_, q, static_cast<int32_t>(cols.order[b + t]));
      }
      count_[r] = count;
    }
  }

  int k_, d_, rows_ = 0;
  double shrink_, slack_;
  std::vector<T> vals_;
  std::vector<int32_t> idx_;
  std::vector<int> count_;
  std::vector<T> dist_;
  std::vector<std::pair<double, int>> heap_;
};

}  // namespace LK_ISA_NS
}  // namespace lk

// Block-sparse pruning for the radial kernels (and the trees the nearest-neighbour
// searches walk, cpu/nearest.h): points sorted into spatial clusters (a k-d tree whose
// leaves hold at most kLeafSize points, any dimension), and for each cluster of rows the
// clusters of columns that must be computed.
//
// What is dropped, and why it is safe. For rows in a cluster A and a node B of the column
// tree whose boxes are at least d_min apart, every term of a row satisfies
//   |K_ij b_j| <= phi(s·d_min²)·|b_j|        (phi decreasing, scale s > 0),
// so B's whole subtree adds at most phi(s·d_min²)·Σ_B |b_j| to any row of A. For each
// row cluster the engine first computes the column clusters whose boxes touch A's (the
// rows' own neighbourhood): that gives every row i of A part of Σ_j |K_ij b_j| exactly,
// and L, the smallest such part over the rows. It then keeps every other cluster unless
// it lies in a dropped subtree: B is dropped when phi(s·d_min²) <= theta. The bounds of
// the dropped subtrees (disjoint) are added up as the walk goes, per column c of b, and
// a theta is accepted only if that sum is at most tol·L_c; theta = tol·L_c / Σ_all |b_jc|
// always is, larger ones (tried first) often are. So for every row i and column c the
// terms dropped add up to at most tol·Σ_j |K_ij b_jc|. The default tol is the unit
// roundoff of the data's type (2^-24 for float32, 2^-53 for float64): below the
// first-order bound on the rounding error of the sum itself, which is at least
// u·Σ_j |K_ij b_jc| for two or more terms. pruneTolerance sets tol.
//
// A softmax-weighted sum out_i = Σ_j w_ij V_j / Σ_j w_ij with w_ij = exp(F_ij) = phi(s·d²)
// (Gaussian or Laplace) is the same walk with b = [V, 1]: the ones column makes the
// denominator one more column of the budget. Writing S for the dropped set,
// out' − out = Σ_S w_ij (out'_i − V_j) / Σ_j w_ij, so with Σ_S w ≤ tol·Σ w and
// Σ_S w|V_c| ≤ tol·Σ w|V_c| the result moves by at most tol·(Σ_j p_ij|V_jc| + |out'_ic|),
// p = w / Σ w. Each row's weights are kept relative to its largest (they would underflow
// otherwise); budgets and bounds are compared in units of exp(the least shift of the
// cluster's rows), computed in logs.
//
// A kernel sum's gradient, Σ_j phi'(s·d_ij²)·(x_i − y_j)·b_j (times 2s and the row's
// weights, the same for every term of a row), is the same walk over the terms' norms
// |phi'(s·d²)|·d·|b_j| = g(s·d²)·|b_j| / √s, g(σ) = |phi'(σ)|·√σ. g is not decreasing:
// it rises from 0 (Laplace: from 1/2) to a peak σ*, then decays, so the bound of a
// subtree at least d_min away is sup over σ ≥ s·d_min² of g, that is g(max(s·d_min², σ*)).
// Rows' budgets are tol times their partial Σ_j |phi'|·d_ij·|b_j|, so each row's gradient
// moves by at most tol·Σ_j |its terms| (in norm), as a sum's does.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "strips.h"

namespace lk {

// Points per cluster. Measured on the Gaussian matvec, gamma = 1e4, D = 3, float32, 2
// threads (speed-up over prune: false at N = 5e4 / 2e5): 16 points 8x / 21x, 32 points
// 10x / -, 64 points 13x / 39x, 128 points 10.5x / 39x, 256 points 8.6x / 26x.
constexpr int kLeafSize = 64;

struct ClusterTree {
  int dim = 0;
  std::size_t count = 0;
  // Sorted position -> row of the caller's array.
  std::vector<uint32_t> order;
  // Node k covers sorted positions [begin[k], end[k]); children left/right, -1 for a leaf.
  // Nodes are stored parent before children.
  std::vector<std::size_t> begin, end;
  std::vector<int> left, right;
  // Bounding boxes, dim values per node.
  std::vector<double> lo, hi;
  std::vector<int> leaves;  // node ids of the leaves, in sorted order
};

// Builds the tree of `count` points of `dim` coordinates (row-major, float or double),
// leaves of at most `leaf` points. Points that change meanwhile (another thread's) can
// make a poor tree but never a broken one. Throws Cancelled once `cancel` is set.
template <typename T>
ClusterTree buildClusterTree(const T* points, std::size_t count, int dim, const int32_t* cancel = nullptr,
                             int leaf = kLeafSize);

// The bounding box of `count` points of `dim` coordinates (row-major): lo and hi, dim
// values each; NaN in both for a coordinate that is NaN at some point.
template <typename T>
void boundingBox(const T* points, std::size_t count, int dim, double* lo, double* hi);

// The squared distance between the boxes [alo, ahi] and [blo, bhi] of `dim` coordinates
// (0 where they touch or overlap).
template <typename A, typename B>
inline double boxGap(int dim, const A* alo, const A* ahi, const B* blo, const B* bhi) {
  double g = 0;
  for (int c = 0; c < dim; ++c) {
    const double e = std::max({0.0, static_cast<double>(blo[c]) - static_cast<double>(ahi[c]),
                               static_cast<double>(alo[c]) - static_cast<double>(bhi[c])});
    g += e * e;
  }
  return g;
}

// Gathers rows of a row-major array into sorted order: out[k] = in[order[k]].
template <typename T>
void gatherRows(const std::vector<uint32_t>& order, const T* in, int width, T* out);
template <typename T>
void gatherRows(const ClusterTree& tree, const T* in, int width, T* out) {
  gatherRows(tree.order, in, width, out);
}

// Gathers rows of a row-major array into component-major sorted order:
// out[c·count + k] = in[order[k]·width + c], count = order.size().
template <typename T>
void gatherColumns(const std::vector<uint32_t>& order, const T* in, int width, T* out);
template <typename T>
void gatherColumns(const ClusterTree& tree, const T* in, int width, T* out) {
  gatherColumns(tree.order, in, width, out);
}

// Per node of the column tree, Σ |b| over its points for each of the dv columns of b
// (b in sorted, component-major order), NaN left out: node·dv + c.
template <typename T>
std::vector<double> absoluteSums(const ClusterTree& cols, const T* sortedB, int dv);

// The walks of one row cluster over the column tree, depth first. Reuse one per thread:
// its vectors keep their capacity.
class PruneWalk {
 public:
  // Starts the walks for the rows in the box [rowLo, rowHi]; phi(tag, ·) is the kernel
  // profile (decreasing), scale > 0. With `slope`, the terms bounded are a gradient's,
  // |phi'(scale·d²)|·d·|b_j| (cpu/radial_grad.h), and so are the sums budgeted against.
  void start(const ClusterTree& cols, const std::vector<double>& absB, int dv, const double* rowLo,
             const double* rowHi, int tag, double scale, bool slope);
  // Keeps the column clusters whose boxes touch the rows' box, or, when none does, one
  // leaf near it: never none (unless there are no columns).
  void keepTouching();
  // Keeps the other column clusters, but for subtrees where phi(scale·d_min²)·exp(-logShift)
  // <= theta (logShift: a softmax's weights are relative to its shift; 0 for a sum);
  // dropped() is then the sum of the dropped subtrees' bounds, per column of b.
  void keepAbove(double theta, double logShift);
  const std::vector<double>& dropped() const { return dropped_; }
  // The column ranges [first, second) kept by the last keep call, in order, merged where
  // adjacent.
  const std::vector<std::pair<std::size_t, std::size_t>>& kept() const { return kept_; }
  // Sized up front for a tree, so that the walks never allocate (they run in parallel code).
  void reserve(const ClusterTree& cols, int dv);

 private:
  double gap(int node) const;  // squared distance between the rows' box and the node's
  // phi(scale·gap)·exp(-logShift), or with slope_ the gradient terms' envelope, with a
  // safety margin.
  double bound(double gap, double logShift) const;
  void keep(int node);

  const ClusterTree* cols_ = nullptr;
  const std::vector<double>* absB_ = nullptr;
  int dv_ = 1;
  int tag_ = 0;
  double scale_ = 0;
  bool slope_ = false;
  int nearest_ = -1;  // the leaf keepTouching kept without touching, or -1
  const double* rowLo_ = nullptr;
  const double* rowHi_ = nullptr;
  std::vector<int> stack_;
  std::vector<std::pair<std::size_t, std::size_t>> kept_;
  std::vector<double> dropped_;
};

// The state that outlives one product: both trees and the sorted points, kept by a solve
// across all its products (the points do not change, only b does).
struct PruneCache {
  const void* x = nullptr;  // the arrays the trees were built from
  const void* y = nullptr;
  ClusterTree rows, cols;
  std::vector<unsigned char> sortedX, sortedY;  // row-major x, component-major y, in the data's type
  // The same for strips (strips.h), which a narrow kernel's sums use instead of the trees.
  const void* stripX = nullptr;
  const void* stripY = nullptr;
  StripIndex stripRows, stripCols;
  std::vector<unsigned char> stripSortedX, stripSortedY;
  StripHistory stripHistory;
  StripPlan stripPlan;
  PlanBuffers planBuffers;
};

}  // namespace lk

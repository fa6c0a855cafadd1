#include "cluster.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "../errors.h"
#include "../maths/radial.h"

namespace lk {
namespace {

// A safety margin on the bounds: the engine computes phi in float arithmetic from
// coordinates rounded to the data type, a relative wobble far below this.
constexpr double kUpperMargin = 1.0 + 1e-3;

// Nodes above this many points move their points into their children's order as they
// split, so that the next levels read memory in order; smaller ones (their points then
// sit together, in cache) only permute positions. Measured building trees of uniform
// points in [0,1]^3 (float32, one thread, 2-core AMD EPYC): 10^7 points 7.5-11 s with
// positions alone, 5.5 s moving nodes above 2^20 points, 5.2 s above 2^16; 2e5 points 46
// and 73 ms alone and above 2^16 (the copy does not pay while the points fit in cache).
constexpr std::size_t kMoveAbove = std::size_t(1) << 20;

// The state of one tree build: the points (a large tree's copied once from the caller's
// array, with where each came from), the tree's order as positions into them, and scratch.
template <typename T>
struct Build {
  ClusterTree& t;
  const T* points;              // the copy's data, or the caller's points for a small tree
  std::vector<T> copy;          // count × dim, for a tree with nodes above kMoveAbove
  std::vector<uint32_t> origin; // per point of the copy: its row in the caller's array
  std::vector<uint32_t>& idx;   // sorted position -> point of the copy
  std::vector<std::pair<double, uint32_t>> keys;  // a node's split keys and points
  std::vector<T> moved;
  std::vector<uint32_t> movedOrigin;
  const int32_t* cancel;
  std::size_t leaf;
};

template <typename T>
void split(Build<T>& bd, std::size_t b, std::size_t e) {
  if (bd.cancel && __atomic_load_n(bd.cancel, __ATOMIC_RELAXED)) throw Cancelled();
  ClusterTree& t = bd.t;
  const int node = static_cast<int>(t.begin.size());
  const int d = t.dim;
  const T* points = bd.points;
  std::vector<uint32_t>& idx = bd.idx;
  t.begin.push_back(b);
  t.end.push_back(e);
  t.left.push_back(-1);
  t.right.push_back(-1);
  t.lo.resize(t.lo.size() + d);
  t.hi.resize(t.hi.size() + d);
  double* lo = &t.lo[static_cast<std::size_t>(node) * d];
  double* hi = &t.hi[static_cast<std::size_t>(node) * d];
  for (int c = 0; c < d; ++c) {
    lo[c] = INFINITY;
    hi[c] = -INFINITY;
  }
  bool nan = false;
  for (std::size_t k = b; k < e; ++k)
    for (int c = 0; c < d; ++c) {
      const double v = points[static_cast<std::size_t>(idx[k]) * d + c];
      lo[c] = v < lo[c] ? v : lo[c];
      hi[c] = v > hi[c] ? v : hi[c];
      nan |= v != v;
    }
  // A point with a NaN coordinate is at no distance: its cluster touches everything and
  // is never pruned, so its NaN reaches the rows as it would without pruning.
  if (nan)
    for (int c = 0; c < d; ++c) {
      lo[c] = -INFINITY;
      hi[c] = INFINITY;
    }
  if (e - b <= bd.leaf) {
    t.leaves.push_back(node);
    return;
  }
  // Split the widest side at the median: balanced, so the depth is log2(count / leaf).
  int axis = 0;
  for (int c = 1; c < d; ++c)
    if (hi[c] - lo[c] > hi[axis] - lo[axis]) axis = c;
  const std::size_t mid = b + (e - b) / 2;
  // The comparison must stay a strict weak order, or nth_element may run past the range:
  // NaN sorts last.
  std::vector<std::pair<double, uint32_t>>& keys = bd.keys;
  keys.clear();
  for (std::size_t k = b; k < e; ++k) {
    const double v = points[static_cast<std::size_t>(idx[k]) * d + axis];
    keys.emplace_back(v != v ? INFINITY : v, idx[k]);
  }
  std::nth_element(keys.begin(), keys.begin() + (mid - b), keys.end(),
                   [](const std::pair<double, uint32_t>& p, const std::pair<double, uint32_t>& q) {
                     return p.first < q.first;
                   });
  if (e - b > kMoveAbove) {
    // A large node's points are those of the copy's [b, e) (its parent moved them there):
    // move them into the new order, through the scratch.
    bd.moved.resize((e - b) * d);
    bd.movedOrigin.resize(e - b);
    for (std::size_t k = 0; k < e - b; ++k) {
      std::copy_n(points + static_cast<std::size_t>(keys[k].second) * d, d, &bd.moved[k * d]);
      bd.movedOrigin[k] = bd.origin[keys[k].second];
    }
    std::copy(bd.moved.begin(), bd.moved.begin() + (e - b) * d, bd.copy.begin() + b * d);
    std::copy(bd.movedOrigin.begin(), bd.movedOrigin.begin() + (e - b), bd.origin.begin() + b);
    for (std::size_t k = b; k < e; ++k) idx[k] = static_cast<uint32_t>(k);
  } else {
    for (std::size_t k = b; k < e; ++k) idx[k] = keys[k - b].second;
  }
  t.left[node] = static_cast<int>(t.begin.size());
  split(bd, b, mid);
  t.right[node] = static_cast<int>(t.begin.size());
  split(bd, mid, e);
}

}  // namespace

template <typename T>
ClusterTree buildClusterTree(const T* points, std::size_t count, int dim, const int32_t* cancel, int leaf) {
  ClusterTree t;
  t.dim = dim;
  t.count = count;
  std::vector<uint32_t> idx(count);
  std::iota(idx.begin(), idx.end(), 0u);
  // A large tree's points are read once, into the copy it sorts (kMoveAbove); a small
  // one reads the caller's through positions.
  // Each coordinate is read once per level into the node's own keys, so points that
  // change meanwhile (another thread's) can make a poor tree but never a broken one.
  Build<T> bd{t, points, {}, {}, idx, {}, {}, {}, cancel, static_cast<std::size_t>(std::max(leaf, 1))};
  if (count > kMoveAbove) {
    bd.copy.assign(points, points + count * static_cast<std::size_t>(dim));
    bd.points = bd.copy.data();
    bd.origin = idx;
  }
  bd.keys.reserve(count);
  if (count > 0) split(bd, 0, count);
  if (!bd.origin.empty())
    for (uint32_t& k : idx) k = bd.origin[k];
  t.order = std::move(idx);
  return t;
}

template <typename T>
void boundingBox(const T* points, std::size_t count, int dim, double* lo, double* hi) {
  for (int c = 0; c < dim; ++c) {
    lo[c] = INFINITY;
    hi[c] = -INFINITY;
    bool nan = false;
    for (std::size_t j = 0; j < count; ++j) {
      const double v = points[j * dim + c];
      lo[c] = v < lo[c] ? v : lo[c];
      hi[c] = v > hi[c] ? v : hi[c];
      nan |= v != v;
    }
    if (nan) lo[c] = hi[c] = NAN;
  }
}

template <typename T>
void gatherRows(const std::vector<uint32_t>& order, const T* in, int width, T* out) {
  for (std::size_t k = 0; k < order.size(); ++k)
    for (int c = 0; c < width; ++c)
      out[k * width + c] = in[static_cast<std::size_t>(order[k]) * width + c];
}

template <typename T>
void gatherColumns(const std::vector<uint32_t>& order, const T* in, int width, T* out) {
  const std::size_t count = order.size();
  for (std::size_t k = 0; k < count; ++k)
    for (int c = 0; c < width; ++c)
      out[c * count + k] = in[static_cast<std::size_t>(order[k]) * width + c];
}

template <typename T>
std::vector<double> absoluteSums(const ClusterTree& cols, const T* sortedB, int dv) {
  const std::size_t nodes = cols.begin.size();
  std::vector<double> sums(nodes * dv, 0.0);
  // Children come after their parent: a reverse sweep sees both before the parent.
  for (std::size_t k = nodes; k-- > 0;) {
    double* s = &sums[k * dv];
    if (cols.left[k] >= 0) {
      for (int c = 0; c < dv; ++c) s[c] = sums[cols.left[k] * dv + c] + sums[cols.right[k] * dv + c];
      continue;
    }
    for (int c = 0; c < dv; ++c)
      for (std::size_t j = cols.begin[k]; j < cols.end[k]; ++j) {
        const double v = std::fabs(static_cast<double>(sortedB[c * cols.count + j]));
        if (v == v) s[c] += v;
      }
  }
  return sums;
}

void PruneWalk::reserve(const ClusterTree& cols, int dv) {
  // A depth-first walk holds at most one pending sibling per level.
  int depth = 1;
  for (std::size_t n = cols.count; n > static_cast<std::size_t>(kLeafSize); n = (n + 1) / 2) ++depth;
  stack_.reserve(2 * depth + 2);
  kept_.reserve(cols.leaves.size());
  dropped_.reserve(dv);
}

void PruneWalk::start(const ClusterTree& cols, const std::vector<double>& absB, int dv, const double* rowLo,
                      const double* rowHi, int tag, double scale, bool slope) {
  slope_ = slope;
  cols_ = &cols;
  absB_ = &absB;
  dv_ = dv;
  tag_ = tag;
  scale_ = scale;
  rowLo_ = rowLo;
  rowHi_ = rowHi;
}

namespace {

// sup over σ' >= σ of g(σ') = |phi'(σ')|·√σ', for a decreasing profile phi (cluster.h):
// g at max(σ, σ*), σ* where g peaks (from g'(σ) = 0 for each profile).
double slopeEnvelope(int tag, double sigma) {
  constexpr double kGoldenSquared = 2.6180339887498949;  // ((1 + √5)/2)², Matérn 5/2's peak
  const double peak = tag == KERNEL_gaussian   ? 0.5
                      : tag == KERNEL_laplace  ? 0.0
                      : tag == KERNEL_cauchy   ? 1.0 / 3.0
                      : tag == KERNEL_imq      ? 0.5
                      : tag == KERNEL_matern32 ? 1.0
                                               : kGoldenSquared;
  const double s = std::max(sigma, peak), r = std::sqrt(s);
  switch (tag) {
    case KERNEL_gaussian: return std::exp(-s) * r;
    case KERNEL_laplace: return 0.5 * std::exp(-r);
    case KERNEL_cauchy: return r / ((1 + s) * (1 + s));
    case KERNEL_imq: return 0.5 * r / ((1 + s) * std::sqrt(1 + s));
    case KERNEL_matern32: return 0.5 * r * std::exp(-r);
    default: return (1 + r) * r * std::exp(-r) / 6;
  }
}

}  // namespace

double PruneWalk::bound(double gap, double logShift) const {
  const double s = scale_ * gap;
  if (slope_) return slopeEnvelope(tag_, s) / std::sqrt(scale_) * kUpperMargin;
  // In logs, so that a softmax's shifted weights do not underflow before the shift.
  const double logPhi = tag_ == KERNEL_gaussian  ? -s
                        : tag_ == KERNEL_laplace ? -std::sqrt(s)
                                                 : std::log(radialPhi<double>(tag_, s));
  return std::exp(logPhi - logShift) * kUpperMargin;
}

double PruneWalk::gap(int node) const {
  const int d = cols_->dim;
  const std::size_t at = static_cast<std::size_t>(node) * d;
  return boxGap(d, rowLo_, rowHi_, &cols_->lo[at], &cols_->hi[at]);
}

void PruneWalk::keep(int node) {
  const std::size_t b = cols_->begin[node], e = cols_->end[node];
  if (!kept_.empty() && kept_.back().second == b)
    kept_.back().second = e;  // contiguous loops are cheaper than many short ones
  else
    kept_.emplace_back(b, e);
}

void PruneWalk::keepTouching() {
  kept_.clear();
  nearest_ = -1;
  if (cols_->count == 0) return;
  stack_.assign(1, 0);
  while (!stack_.empty()) {
    const int node = stack_.back();
    stack_.pop_back();
    if (gap(node) > 0) continue;
    if (cols_->left[node] < 0) {
      keep(node);
      continue;
    }
    // Right first, so that the left subtree comes off the stack first: ranges in order.
    stack_.push_back(cols_->right[node]);
    stack_.push_back(cols_->left[node]);
  }
  if (!kept_.empty()) return;
  // No column box touches the rows' (queries away from the data): a near leaf, found by
  // descending to the closer child, gives every row a finite part of its sum to budget
  // against, and a softmax its shift.
  int node = 0;
  while (cols_->left[node] >= 0)
    node = gap(cols_->right[node]) < gap(cols_->left[node]) ? cols_->right[node] : cols_->left[node];
  keep(node);
  nearest_ = node;
}

void PruneWalk::keepAbove(double theta, double logShift) {
  kept_.clear();
  dropped_.assign(dv_, 0.0);
  if (cols_->count == 0) return;
  stack_.assign(1, 0);
  while (!stack_.empty()) {
    const int node = stack_.back();
    stack_.pop_back();
    const double g = gap(node);
    const double phi = bound(g, logShift);
    if (phi <= theta) {
      for (int c = 0; c < dv_; ++c) dropped_[c] += phi * (*absB_)[static_cast<std::size_t>(node) * dv_ + c];
      continue;
    }
    if (cols_->left[node] < 0) {
      if (g > 0 && node != nearest_) keep(node);  // keepTouching kept the others
      continue;
    }
    stack_.push_back(cols_->right[node]);
    stack_.push_back(cols_->left[node]);
  }
}

template ClusterTree buildClusterTree<float>(const float*, std::size_t, int, const int32_t*, int);
template ClusterTree buildClusterTree<double>(const double*, std::size_t, int, const int32_t*, int);
template void boundingBox<float>(const float*, std::size_t, int, double*, double*);
template void boundingBox<double>(const double*, std::size_t, int, double*, double*);
template void gatherRows<float>(const std::vector<uint32_t>&, const float*, int, float*);
template void gatherRows<double>(const std::vector<uint32_t>&, const double*, int, double*);
template void gatherColumns<float>(const std::vector<uint32_t>&, const float*, int, float*);
template void gatherColumns<double>(const std::vector<uint32_t>&, const double*, int, double*);
template std::vector<double> absoluteSums<float>(const ClusterTree&, const float*, int);
template std::vector<double> absoluteSums<double>(const ClusterTree&, const double*, int);

}  // namespace lk

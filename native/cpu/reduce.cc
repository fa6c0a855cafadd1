// The CPU engine's entry: a program reduced over j, by the generic interpreter
// (interpreter.h) or a fused radial-kernel loop: a sum (radial_sum.h), a softmax-weighted
// sum (radial_softmax.h) or a sum's gradient (radial_grad.h), over every column or over
// the clusters pruning keeps (cluster.h). Compiled once per instruction-set level
// (LK_ISA_NS = base, avx2, avx512); dispatch.cc picks one.
//
// j-variables are laid out component-major first, so a tile of y is a set of contiguous
// slices; rows are shared out in blocks across OpenMP threads (parallel.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "accumulators.h"
#include "../held.h"
#include "cluster.h"
#include "interpreter.h"
#include "kernels.h"
#include "nearest.h"
#include "radial_grad.h"
#include "radial_plan.h"
#include "radial_softmax.h"
#include "radial_strips.h"
#include "radial_sum.h"

namespace lk {
namespace LK_ISA_NS {
namespace {

// The held array (held.h) in argument slot `slot`, when it is one and `data` is it.
HeldArray* heldPoints(const RunContext& ctx, int slot, const void* data) {
  HeldArray* h = ctx.heldAt(slot);
  return h && h->data() == data ? h : nullptr;  // a solve's product may put a copy there
}

template <typename T, typename Acc, typename MakeAcc>
void reduceGeneric(const Inputs<T>& in, T* values, int32_t* indices, const RunContext& ctx, MakeAcc makeAcc,
                   std::size_t rowStateBytes = 0) {
  using W = Worker<T, Acc>;
  forEachBlock<W>(
      in.p.m, in.p.n, ctx,
      [&](int blockRows) {
        W w(in.plan, in.p.code.size(), blockRows, makeAcc(blockRows));
        std::copy(in.params.begin(), in.params.end(), w.refs.begin());
        return w;
      },
      [&](W& w, const RowBlock& blk) {
        runGeneric(in, w, blk);
        for (int r = 0; r < blk.rows; ++r) w.acc.write(r, blk.i0 + r, values, indices);
      },
      rowStateBytes);
}

// The three fused loops: a kernel sum, a softmax-weighted sum, a kernel sum's gradient.
enum class Fused { Sum, Softmax, Grad };

template <int Tag, typename T, Fused F>
using RadialLoop = std::conditional_t<F == Fused::Softmax, RadialSoftmax<Tag, T>,
                                      std::conditional_t<F == Fused::Grad, RadialGrad<Tag, T>, RadialSum<Tag, T>>>;

// The columns of the loop's b: a softmax's b is [V, 1], the ones column summing to its
// denominator (radial_softmax.h).
template <Fused F>
int fusedColumns(const Program& p) {
  return p.vars[p.kernel.b].dim + (F == Fused::Softmax ? 1 : 0);
}

template <Fused F, typename T>
std::vector<T> withOnes(const T* v, std::size_t n, int dv) {
  std::vector<T> out;
  if (F != Fused::Softmax) return out;
  out.assign(n * (dv + 1), T(1));
  std::copy(v, v + n * dv, out.begin());
  return out;
}

template <int Tag, typename T, Fused F>
RadialLoop<Tag, T, F> makeLoop(const Inputs<T>& in, int rows, const RunContext& ctx) {
  const FusedKernel& k = in.p.kernel;
  RadialLoop<Tag, T, F> loop(rows, in.p.vars[k.x].dim, fusedColumns<F>(in.p), in.plan.tile);
  loop.cancel = ctx.cancel;
  if constexpr (F == Fused::Grad) {
    loop.w = in.args[k.w];
    loop.twiceScale = 2.0 * static_cast<double>(in.params[k.scale].p[0]);
  }
  return loop;
}

template <int Tag, typename T, Fused F>
void reduceRadial(const Inputs<T>& in, T* values, const RunContext& ctx) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const T scale = in.params[k.scale].p[0];
  const std::vector<T> ones = withOnes<F>(in.soa[k.b], p.n, p.vars[k.b].dim);
  const T* b = F == Fused::Softmax ? ones.data() : in.soa[k.b];
  using Loop = RadialLoop<Tag, T, F>;
  forEachBlock<Loop>(
      p.m, p.n, ctx, [&](int blockRows) { return makeLoop<Tag, T, F>(in, blockRows, ctx); },
      [&](Loop& w, const RowBlock& blk) {
        w.clear(blk.rows);
        addRanges<false>(w, in.args[k.x], in.soa[k.y], b, p.n, scale, blk.i0, blk.rows, blk.j, blk.ranges);
        for (int r = 0; r < blk.rows; ++r) w.write(r, blk.i0 + r, values);
      });
}

// Rows per row cluster: as many as make a box about the size of a column leaf's,
// m·kLeafSize/n, from 1 to kLeafSize. Both sides alike (a solve's products), that is
// kLeafSize, where it measured best; a few queries against many points go one by one,
// since a cluster of them would span so much space that every column cluster near any
// of them is kept for all. (100 queries against 2e6 held points in [0,1]^3, float32,
// gamma = 1e4: 45 ms in clusters of 4, 14.6 ms alone. A k-nearest search, k = 10, of
// 100 queries against 2e5 points: 0.3 ms, where every pair takes 11 ms.)
int rowLeafSize(std::size_t m, std::size_t n) {
  const double leaf = static_cast<double>(kLeafSize) * static_cast<double>(m) / static_cast<double>(std::max<std::size_t>(n, 1));
  return static_cast<int>(std::clamp(leaf, 1.0, static_cast<double>(kLeafSize)));
}

template <typename Loop>
struct PrunedWorker {
  Loop sum;
  PruneWalk walk;
  std::vector<double> budget;  // per column of b: tol · the least partial Σ|K_ij b_j|
};

// The clusters of a pruned call's points x (rows, row-major) and y (columns,
// component-major): a held array's own (built once, kept with it), else the solve's
// cache, else built for this call. Filled in place (it may point into itself).
template <typename T>
struct Clustered {
  const ClusterTree* rows = nullptr;
  const ClusterTree* cols = nullptr;
  const T* xs = nullptr;
  const T* ys = nullptr;
  std::shared_ptr<const void> keepRows, keepCols;  // the held clusters, alive for this call
  PruneCache local;
};

template <typename T>
void clusterPoints(const Inputs<T>& in, const RunContext& ctx, int rowLeaf, Clustered<T>& c) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim;
  const T* x = in.args[k.x];
  const T* y = in.args[k.y];
  if (HeldArray* h = heldPoints(ctx, k.x, x)) c.keepRows = h->clusters<T>(d, true, ctx.cancel, &c.rows, &c.xs);
  if (HeldArray* h = heldPoints(ctx, k.y, y)) c.keepCols = h->clusters<T>(d, false, ctx.cancel, &c.cols, &c.ys);
  PruneCache& cache = ctx.cache ? *ctx.cache : c.local;
  if (!c.rows && (cache.x != x || cache.rows.count != p.m || cache.rows.dim != d)) {
    cache.x = nullptr;  // an abort while building leaves no half-built cache behind
    cache.rows = buildClusterTree(x, p.m, d, ctx.cancel, rowLeaf);
    cache.sortedX.resize(p.m * d * sizeof(T));
    gatherRows(cache.rows, x, d, reinterpret_cast<T*>(cache.sortedX.data()));
    cache.x = x;
  }
  if (!c.cols && (cache.y != y || cache.cols.count != p.n || cache.cols.dim != d)) {
    cache.y = nullptr;
    cache.cols = buildClusterTree(y, p.n, d, ctx.cancel);
    cache.sortedY.resize(p.n * d * sizeof(T));
    gatherColumns(cache.cols, y, d, reinterpret_cast<T*>(cache.sortedY.data()));
    cache.y = y;
  }
  if (!c.rows) {
    c.rows = &cache.rows;
    c.xs = reinterpret_cast<const T*>(cache.sortedX.data());
  }
  if (!c.cols) {
    c.cols = &cache.cols;
    c.ys = reinterpret_cast<const T*>(cache.sortedY.data());
  }
}

// The kernel's rows and columns are the same points (one array, or two equal ones).
template <typename T>
bool samePointArrays(const Inputs<T>& in) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const T* x = in.args[k.x];
  const T* y = in.args[k.y];
  const std::size_t count = p.m * static_cast<std::size_t>(p.vars[k.x].dim);
  return p.m == p.n && (x == y || std::memcmp(x, y, count * sizeof(T)) == 0);
}

// The strips of a pruned sum's points (strips.h), from the solve's cache or built into
// `local`, sized for terms that matter within `reach`: finer for sums that run on a
// StripPlan (strips.h's chooseStripGrid), a cut-off's (`cut`) and bounded ones over the
// same points, which start from a half plan (reference problem, N = 1e6: the float64
// residual's product 1668 -> 1187 pairs per row). Null where strips do not apply:
// more than kStripMaxDim coordinates, held points (they keep k-d clusters, built once
// for all their calls), a coordinate that is not finite.
template <typename T>
PruneCache* stripPoints(const Inputs<T>& in, const RunContext& ctx, double reach, bool cut, PruneCache& local) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim;
  const T* x = in.args[k.x];
  const T* y = in.args[k.y];
  if (d > kStripMaxDim || heldPoints(ctx, k.x, x) || heldPoints(ctx, k.y, y)) return nullptr;
  PruneCache& cache = ctx.cache ? *ctx.cache : local;
  // Whether rows and columns are the same points, compared once and only where a rebuild
  // asks (the comparison reads both arrays whole).
  int same = -1;
  auto samePointsHere = [&] {
    if (same < 0) same = samePointArrays(in) ? 1 : 0;
    return same == 1;
  };
  if (cache.stripY != y || cache.stripCols.count != p.n || cache.stripCols.grid.dim != d) {
    cache.stripX = cache.stripY = nullptr;  // an abort while building leaves no half-built cache behind
    cache.stripHistory = {};
    cache.stripPlan = {};
    StripGrid grid;
    const bool planned = cut || (p.vars[k.b].dim == 1 && samePointsHere());
    if (!chooseStripGrid(y, p.n, d, reach, planned ? kPlanStep : 0, grid) ||
        !buildStrips(y, p.n, grid, ctx.threads, ctx.cancel, cache.stripCols))
      return nullptr;
    cache.stripSortedY.assign(p.n * d * sizeof(T) + kStripPadBytes, 0);
    gatherColumns(cache.stripCols.order, y, d, reinterpret_cast<T*>(cache.stripSortedY.data()));
    cache.stripY = y;
  }
  if (cache.stripX != x || cache.stripRows.count != p.m) {
    cache.stripX = nullptr;
    cache.stripHistory = {};
    cache.stripPlan = {};
    if (samePointsHere())  // a solve's x and y are often two equal arrays: no second sort
      cache.stripRows = cache.stripCols;
    else if (!buildStrips(x, p.m, cache.stripCols.grid, ctx.threads, ctx.cancel, cache.stripRows))
      return nullptr;
    cache.stripSortedX.resize(p.m * d * sizeof(T));
    gatherRows(cache.stripRows.order, x, d, reinterpret_cast<T*>(cache.stripSortedX.data()));
    cache.stripX = x;
  }
  return &cache;
}

// A fused loop (sum, softmax-weighted sum or gradient) over the column clusters the
// pruning walk keeps (cluster.h says what is dropped; a sum with a pruneCutoff keeps the
// clusters with a kernel value above it, and no more). Rows and columns are visited in
// cluster order; results go back to the caller's row order.
template <int Tag, typename T, Fused F>
void reduceRadialPruned(const Inputs<T>& in, T* values, const RunContext& ctx, double tol) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim, dv = fusedColumns<F>(p), dOut = p.vars[k.b].dim;
  const bool cut = F == Fused::Sum && ctx.pruneCutoff > 0;
  if constexpr (F == Fused::Sum) {
    // A sum in few dimensions goes over strips, which follow the kernel's reach (the
    // clusters' leaves cannot where it is small against them).
    PruneCache local;
    const double reach = kernelReach(Tag, static_cast<double>(in.params[k.scale].p[0]), cut ? ctx.pruneCutoff : tol);
    if (reach > 0 && std::isfinite(reach))
      if (PruneCache* c = stripPoints(in, ctx, reach, cut, local)) {
        const T* xs = reinterpret_cast<const T*>(c->stripSortedX.data());
        const T* ys = reinterpret_cast<const T*>(c->stripSortedY.data());
        if (cut) return reduceRadialPlan<Tag, T>(in, values, ctx, reach, c->stripRows, xs, c->stripCols, ys, c->stripPlan,
                                                      c->planBuffers);
        return reduceRadialStrips<Tag, T>(in, values, ctx, tol, reach, c->stripRows, xs, c->stripCols, ys,
                                          ctx.cache ? &ctx.cache->stripHistory : nullptr,
                                          ctx.cache ? &ctx.cache->stripPlan : nullptr);
      }
  }
  Clustered<T> clustered;
  clusterPoints(in, ctx, rowLeafSize(p.m, p.n), clustered);
  const T* xs = clustered.xs;
  const T* ys = clustered.ys;
  const ClusterTree& rows = *clustered.rows;
  const ClusterTree& cols = *clustered.cols;
  // b in the columns' cluster order, component-major; with a softmax's ones column the
  // same bound covers the numerator's and the denominator's dropped terms. And Σ |b| per
  // column of b, per node of the column tree (the root, node 0, holds the totals). NaN
  // is left out: a NaN in b reaches the rows whose clusters keep it (those with a kernel
  // weight above the bound), not every row through 0·NaN. A held b against held points
  // (a service's weights) is gathered once and kept with it; 2e6 points, 100 queries,
  // gamma = 1e4: 1.5 ms a call against 14.6 ms gathering each time.
  std::shared_ptr<const HeldArray::Gathered> keptB;
  std::vector<T> localB;
  std::vector<double> localAbs;
  HeldArray* heldB = clustered.keepCols ? heldPoints(ctx, k.b, in.args[k.b]) : nullptr;
  if (heldB) keptB = heldB->gathered<T>(clustered.keepCols, cols, dOut, F == Fused::Softmax);
  if (!keptB) {
    localB.assign(p.n * dv, T(1));
    gatherColumns(cols, in.args[k.b], dOut, localB.data());
    localAbs = absoluteSums(cols, localB.data(), dv);
  }
  const T* bs = keptB ? reinterpret_cast<const T*>(keptB->values.data()) : localB.data();
  const std::vector<double>& absB = keptB ? keptB->absSums : localAbs;
  const T scale = in.params[k.scale].p[0];
  using Loop = RadialLoop<Tag, T, F>;
  using W = PrunedWorker<Loop>;
  parallelFor<W>(
      static_cast<int64_t>(rows.leaves.size()), threadsFor(p.m, p.n, ctx), ctx,
      [&]() {
        W w{makeLoop<Tag, T, F>(in, kLeafSize, ctx), PruneWalk(), std::vector<double>(dv)};
        w.walk.reserve(cols, dv);  // the walks must not allocate in the parallel region
        return w;
      },
      [&](W& w, int64_t leaf) {
        const int node = rows.leaves[leaf];
        const std::size_t i0 = rows.begin[node];
        const int count = static_cast<int>(rows.end[node] - i0);
        const double* lo = &rows.lo[static_cast<std::size_t>(node) * d];
        const double* hi = &rows.hi[static_cast<std::size_t>(node) * d];
        w.sum.clear(count);
        // The rows' own neighbourhood first: their partial Σ|K_ij b_j| set the budget.
        w.walk.start(cols, absB, dv, lo, hi, Tag, static_cast<double>(scale), F == Fused::Grad);
        w.walk.keepTouching();
        if (cut) {
          uint64_t pairs = addRanges<false>(w.sum, xs, ys, bs, p.n, scale, i0, count, w.walk.kept().data(), w.walk.kept().size());
          w.walk.keepAbove(ctx.pruneCutoff, 0);
          pairs += addRanges<false>(w.sum, xs, ys, bs, p.n, scale, i0, count, w.walk.kept().data(), w.walk.kept().size());
          for (int r = 0; r < count; ++r) w.sum.write(r, rows.order[i0 + r], values);
          countPairs(ctx, pairs);
          return;
        }
        uint64_t pairs = addRanges<true>(w.sum, xs, ys, bs, p.n, scale, i0, count, w.walk.kept().data(), w.walk.kept().size());
        // Budgets and bounds in units of exp(shift), the least of the rows' log-scales
        // (0 for a sum): a softmax's partial sums are relative to each row's own maximum.
        double shift = INFINITY;
        for (int r = 0; r < count; ++r) shift = std::min(shift, w.sum.shift(r));
        double theta = INFINITY;  // phi <= theta for every dropped subtree keeps it within budget
        for (int c = 0; c < dv; ++c) {
          double least = INFINITY;
          for (int r = 0; r < count; ++r)
            least = std::min(least, w.sum.absAcc[r * dv + c] * std::exp(w.sum.shift(r) - shift));
          w.budget[c] = tol * least;
          if (absB[c] > 0) theta = std::min(theta, w.budget[c] / absB[c]);
        }
        // NaN or infinite log-scales (NaN points, no finite weight): nothing is dropped.
        if (!std::isfinite(shift)) {
          theta = -INFINITY;
          shift = 0;
        }
        // That theta is safe whatever the layout (dropped bounds <= theta·Σ|b|), and far
        // too careful for most: try larger cut-offs first and keep the first whose dropped
        // bounds, added up, fit the budget. (Gaussian matvec, N = 1e6, gamma = 1e4: 3.5 s
        // with 1e3 alone, 2.9 s with 1e9, 1e6, 1e3.)
        bool fits = false;
        for (double factor : {1e9, 1e6, 1e3}) {
          w.walk.keepAbove(theta * factor, shift);
          fits = true;
          for (int c = 0; c < dv; ++c) fits = fits && w.walk.dropped()[c] <= w.budget[c];
          if (fits) break;
        }
        if (!fits) w.walk.keepAbove(theta, shift);
        pairs += addRanges<false>(w.sum, xs, ys, bs, p.n, scale, i0, count, w.walk.kept().data(), w.walk.kept().size());
        for (int r = 0; r < count; ++r) w.sum.write(r, rows.order[i0 + r], values);
        countPairs(ctx, pairs);
      });
}

// A nearest-neighbour search (F = scale·|x − y|², a min reduction) over the column
// clusters that can hold a row's k nearest (nearest.h). Returns false, having written
// nothing, where the points are not all finite: a NaN's or an infinity's place in the
// order is the unpruned loop's to give.
template <typename T>
bool reduceNearestPruned(const Inputs<T>& in, T* values, int32_t* indices, const RunContext& ctx) {
  const Program& p = in.p;
  const int d = p.vars[p.kernel.x].dim;
  const int k = keepsK(p.reduction) ? p.k : 1;
  Clustered<T> clustered;
  clusterPoints(in, ctx, rowLeafSize(p.m, p.n), clustered);
  const ClusterTree& rows = *clustered.rows;
  const ClusterTree& cols = *clustered.cols;
  for (const ClusterTree* t : {&rows, &cols})  // the root's box holds every point's
    for (int c = 0; c < d; ++c)
      if (!std::isfinite(t->lo[c]) || !std::isfinite(t->hi[c])) return false;
  const T scale = in.params[p.kernel.scale].p[0];
  parallelFor<NearestSearch<T>>(
      static_cast<int64_t>(rows.leaves.size()), threadsFor(p.m, p.n, ctx), ctx,
      [&]() {
        NearestSearch<T> s(kLeafSize, k, d);
        s.reserve(cols);
        return s;
      },
      [&](NearestSearch<T>& s, int64_t leaf) {
        const int node = rows.leaves[leaf];
        const std::size_t i0 = rows.begin[node];
        const int count = static_cast<int>(rows.end[node] - i0);
        s.search(cols, clustered.ys, clustered.xs + i0 * d, count, &rows.lo[static_cast<std::size_t>(node) * d],
                 &rows.hi[static_cast<std::size_t>(node) * d], scale);
        for (int r = 0; r < count; ++r) {
          const std::size_t at = static_cast<std::size_t>(rows.order[i0 + r]) * k;
          if (values) std::copy_n(s.values(r), k, values + at);
          if (indices) std::copy_n(s.indices(r), k, indices + at);
        }
      });
  return true;
}

// Below this many pairs automatic pruning leaves a call alone: clustering and the walks
// cost more than they save. Measured, KernelSolve at gamma = 1e4, 2 threads: N = 2000
// took 15.5 ms pruned against 8.0 ms not, N = 5000 42 ms against 59 ms.
constexpr double kAutoPrunePairs = 16.0 * 1024 * 1024;

// What clustering one point costs, in pairs computed in full: pruning can save at most
// every pair, so it pays only where the pairs outnumber the points it must cluster by
// this much. Measured (2-core AMD EPYC, float32, D = 3): clustering 2e5 points took about
// 70 ms, the 100 × 2e5 Gaussian sum 7.9 ms unpruned: ~900 pairs per point.
constexpr double kPairsPerClusteredPoint = 1024;

// The share of the columns' bounding box within the kernel's reach of a point, where
// phi(scale·d²) is above tol, taking the reach as a box of side 2·reach: pruning can skip
// at most the rest of the columns, and where that is under half it does not pay for its
// walks and shorter loops (100 queries against 2e5 points in [0,1]^3, float32, gamma =
// 100: share 0.55, 6.2 ms pruned against 4.7 ms not).
template <typename T>
double reachShare(const Inputs<T>& in, const RunContext& ctx, double scale, double tol) {
  const FusedKernel& k = in.p.kernel;
  const double reach = kernelReach(k.tag, scale, tol);
  const int d = in.p.vars[k.y].dim;
  std::vector<double> lo(d), up(d);  // a held array's box is computed once and kept
  if (HeldArray* h = heldPoints(ctx, k.y, in.args[k.y]))
    h->box<T>(d, lo.data(), up.data());
  else
    boundingBox(in.args[k.y], in.p.n, d, lo.data(), up.data());
  double share = 1;
  for (int c = 0; c < d; ++c)
    if (up[c] > lo[c]) share *= std::min(1.0, 2 * reach / (up[c] - lo[c]));
  return share;
}

// Whether clustering pays for this call's pairs: enough of them, and enough per point
// that it must cluster. Held arrays count as clustered: they build their clusters once,
// for all the calls that use them.
template <typename T>
bool clusteringPays(const Inputs<T>& in, const RunContext& ctx) {
  const Program& p = in.p;
  const double pairs = static_cast<double>(p.m) * static_cast<double>(p.n);
  const double toCluster = (heldPoints(ctx, p.kernel.x, in.args[p.kernel.x]) ? 0.0 : static_cast<double>(p.m)) +
                           (heldPoints(ctx, p.kernel.y, in.args[p.kernel.y]) ? 0.0 : static_cast<double>(p.n));
  return pairs >= kAutoPrunePairs && pairs >= kPairsPerClusteredPoint * toCluster;
}

// The tolerance when this call prunes, else -1. Pruned where it is sound: a decreasing
// profile (scale > 0; NaN is not), more columns than one cluster, no explicit ranges
// (the caller's ranges rule); and, unless asked for, only where clustering pays and the
// kernel's reach leaves enough of the columns out.
template <typename T>
double pruneTolerance(const Inputs<T>& in, const RunContext& ctx) {
  const Program& p = in.p;
  const double scale = in.params[p.kernel.scale].p[0];
  if (ctx.ranges || !(scale > 0) || p.n <= static_cast<std::size_t>(kLeafSize)) return -1;
  const double unitRoundoff = sizeof(T) == 4 ? 0x1p-24 : 0x1p-53;
  const double tol = ctx.pruneTolerance >= 0 ? ctx.pruneTolerance : unitRoundoff;
  if (ctx.prune == RunContext::ON) return tol;
  if (ctx.prune == RunContext::OFF || !clusteringPays(in, ctx)) return -1;
  return reachShare(in, ctx, scale, tol) < 0.5 ? tol : -1;
}

// Above this many coordinates a box bound no longer separates points (in high
// dimension nearly every box is near every other), and the walk only adds work.
constexpr int kNearestMaxDim = 16;

// Whether a nearest-neighbour search prunes: where sound (a positive, finite scale, no
// explicit ranges, more columns than one cluster, a k the per-row lists hold), and,
// unless asked for, where clustering pays. Its exact answer needs no tolerance.
template <typename T>
bool pruneNearest(const Inputs<T>& in, const RunContext& ctx) {
  const Program& p = in.p;
  const double scale = in.params[p.kernel.scale].p[0];
  if (ctx.ranges || !(scale > 0) || !std::isfinite(scale) || p.m == 0 || p.n <= static_cast<std::size_t>(kLeafSize))
    return false;
  if (keepsK(p.reduction) && p.k > kKMinInsertMax) return false;
  if (ctx.prune != RunContext::AUTO) return ctx.prune == RunContext::ON;
  return clusteringPays(in, ctx) && p.vars[p.kernel.x].dim <= kNearestMaxDim;
}

// Calls f(std::integral_constant<int, tag>) for a fused kernel's tag, so that each kernel
// gets its own instantiation of the loops.
template <typename F>
void byKernel(int tag, F&& f) {
  switch (tag) {
    case KERNEL_gaussian: return f(std::integral_constant<int, KERNEL_gaussian>());
    case KERNEL_laplace: return f(std::integral_constant<int, KERNEL_laplace>());
    case KERNEL_cauchy: return f(std::integral_constant<int, KERNEL_cauchy>());
    case KERNEL_imq: return f(std::integral_constant<int, KERNEL_imq>());
    case KERNEL_matern32: return f(std::integral_constant<int, KERNEL_matern32>());
    case KERNEL_matern52: return f(std::integral_constant<int, KERNEL_matern52>());
  }
}

// The same for the kernels a softmax may carry (program.cc admits no others).
template <typename F>
void byExpKernel(int tag, F&& f) {
  if (tag == KERNEL_gaussian) return f(std::integral_constant<int, KERNEL_gaussian>());
  return f(std::integral_constant<int, KERNEL_laplace>());
}

// Parameter-only registers, once per call.
template <typename T>
void evaluateParams(Inputs<T>& in) {
  in.params.resize(in.p.code.size());
  in.paramBuf.resize(in.plan.size[PARAM] + 1);
  std::vector<T> scratch(in.plan.scratch);
  for (int reg : in.plan.byLevel[PARAM])
    evaluate(in, reg, in.params.data(), in.paramBuf.data(), 1, 1, 0, 0, true, scratch.data());
}

// j-variables component-major, once per call (O(N·D) beside O(M·N) work); `transposed`
// holds the copies in.soa points at.
template <typename T>
void layoutColumns(Inputs<T>& in, const RunContext& ctx, std::vector<std::vector<T>>& transposed) {
  const Program& p = in.p;
  transposed.assign(p.vars.size(), {});
  in.soa.assign(p.vars.size(), nullptr);
  for (std::size_t v = 0; v < p.vars.size(); ++v) {
    if (p.vars[v].cat != CAT_J) continue;
    const int dim = p.vars[v].dim;
    if (dim == 1) {
      in.soa[v] = in.args[v];
      continue;
    }
    if (HeldArray* h = heldPoints(ctx, static_cast<int>(v), in.args[v])) {  // transposed once, kept
      const T* t = nullptr;
      in.keep.push_back(h->componentMajor<T>(dim, &t));
      in.soa[v] = t;
      continue;
    }
    std::vector<T>& t = transposed[v];
    t.resize(p.n * dim);
    for (std::size_t j = 0; j < p.n; ++j)
      for (int c = 0; c < dim; ++c) t[c * p.n + j] = in.args[v][j * dim + c];
    in.soa[v] = t.data();
  }
}

// Writes each pair's value (component 0 of the formula) instead of reducing it: row i's
// values for its j ranges, in order, from out + offsets[i].
template <typename T>
struct PairAcc {
  double* out;
  const std::size_t* offsets;
  std::size_t i0 = 0;         // the block's first row (set before each block)
  std::vector<std::size_t> at;  // per row of the block: where its next value goes
  PairAcc(int rows, double* out, const std::size_t* offsets) : out(out), offsets(offsets), at(rows) {}
  void reset(int r) { at[r] = offsets[i0 + r]; }
  void fold(int r, const Ref<T>& f, const Ref<T>&, int len, int64_t) {
    const T* v = f.comp(0);
    double* o = out + at[r];
    if (f.lane) {
      for (int t = 0; t < len; ++t) o[t] = v[t];
    } else {
      for (int t = 0; t < len; ++t) o[t] = v[0];
    }
    at[r] += len;
  }
};

template <typename T>
void evaluatePairsTyped(const Program& p, const void* const* rawArgs, const std::size_t* offsets, double* out,
                        const RunContext& ctx) {
  const Plan plan = makePlan(p, sizeof(T));
  Inputs<T> in{p, plan, reinterpret_cast<const T* const*>(rawArgs), ctx.cancel, {}, {}, {}, {}};
  evaluateParams(in);
  std::vector<std::vector<T>> transposed;
  layoutColumns(in, ctx, transposed);
  using W = Worker<T, PairAcc<T>>;
  forEachBlock<W>(
      p.m, p.n, ctx,
      [&](int blockRows) {
        W w(in.plan, p.code.size(), blockRows, PairAcc<T>(blockRows, out, offsets));
        std::copy(in.params.begin(), in.params.end(), w.refs.begin());
        return w;
      },
      [&](W& w, const RowBlock& blk) {
        w.acc.i0 = blk.i0;
        runGeneric(in, w, blk);
      });
}

template <typename T>
void reduceTyped(const Program& p, const void* const* rawArgs, T* values, int32_t* indices, const RunContext& ctx) {
  const Plan plan = makePlan(p, sizeof(T));
  const T* const* args = reinterpret_cast<const T* const*>(rawArgs);
  Inputs<T> in{p, plan, args, ctx.cancel, {}, {}, {}, {}};
  evaluateParams(in);

  // The pruned paths sort their own copies of the points: they need nothing below.
  if (p.kernel.tag == KERNEL_sqdist && pruneNearest(in, ctx) && reduceNearestPruned(in, values, indices, ctx)) return;
  const bool radial = p.kernel.tag != KERNEL_none && p.kernel.tag != KERNEL_sqdist;
  if (radial) {
    const double tol = pruneTolerance(in, ctx);
    if (tol >= 0 && p.reduction == RED_SumSoftMaxWeight)
      return byExpKernel(p.kernel.tag, [&](auto tag) { reduceRadialPruned<decltype(tag)::value, T, Fused::Softmax>(in, values, ctx, tol); });
    if (tol >= 0 && p.kernel.w >= 0)
      return byKernel(p.kernel.tag, [&](auto tag) { reduceRadialPruned<decltype(tag)::value, T, Fused::Grad>(in, values, ctx, tol); });
    if (tol >= 0)
      return byKernel(p.kernel.tag, [&](auto tag) { reduceRadialPruned<decltype(tag)::value, T, Fused::Sum>(in, values, ctx, tol); });
  }

  std::vector<std::vector<T>> transposed;
  layoutColumns(in, ctx, transposed);

  if (radial && p.reduction == RED_SumSoftMaxWeight)
    return byExpKernel(p.kernel.tag, [&](auto tag) { reduceRadial<decltype(tag)::value, T, Fused::Softmax>(in, values, ctx); });
  if (radial && p.kernel.w >= 0)
    return byKernel(p.kernel.tag, [&](auto tag) { reduceRadial<decltype(tag)::value, T, Fused::Grad>(in, values, ctx); });
  if (radial)
    return byKernel(p.kernel.tag, [&](auto tag) { reduceRadial<decltype(tag)::value, T, Fused::Sum>(in, values, ctx); });

  const int dim = p.regDims[p.result];
  const int tile = plan.tile;
  // A row's state, for forEachBlock's cap on rows per block (wide formulas hold fewer).
  const std::size_t rowState = static_cast<std::size_t>(p.regDims[p.weights >= 0 ? p.weights : p.result]) * 16;
  switch (p.reduction) {
    case RED_Sum:
      return reduceGeneric<T, SumAcc<T>>(in, values, indices, ctx, [&](int rows) { return SumAcc<T>(rows, dim, 0); },
                                         rowState);
    case RED_Min:
    case RED_ArgMin:
    case RED_Min_ArgMin:
      return reduceGeneric<T, ExtremumAcc<T, false>>(
          in, values, indices, ctx, [&](int rows) { return ExtremumAcc<T, false>(rows, dim, 0); }, rowState);
    case RED_Max:
    case RED_ArgMax:
    case RED_Max_ArgMax:
      return reduceGeneric<T, ExtremumAcc<T, true>>(
          in, values, indices, ctx, [&](int rows) { return ExtremumAcc<T, true>(rows, dim, 0); }, rowState);
    case RED_KMin:
    case RED_ArgKMin:
    case RED_KMin_ArgKMin:
      return reduceGeneric<T, KMinAcc<T>>(
          in, values, indices, ctx, [&](int rows) { return KMinAcc<T>(rows, dim, p.k, ctx.cancel); },
          KMinAcc<T>::rowBytes(dim, p.k));
    case RED_LogSumExp:
    case RED_Max_SumShiftExp:
      return reduceGeneric<T, SoftmaxAcc<T, false>>(
          in, values, indices, ctx, [&](int rows) { return SoftmaxAcc<T, false>(rows, 1, p.reduction, tile); }, rowState);
    case RED_SumSoftMaxWeight:
    case RED_LogSumExpWeight:
    case RED_Max_SumShiftExpWeight:
      return reduceGeneric<T, SoftmaxAcc<T, true>>(
          in, values, indices, ctx,
          [&](int rows) { return SoftmaxAcc<T, true>(rows, p.regDims[p.weights], p.reduction, tile); }, rowState);
  }
}

}  // namespace

void reduceOnCpu(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx) {
  if (p.dtype == F32)
    reduceTyped<float>(p, args, static_cast<float*>(values), indices, ctx);
  else
    reduceTyped<double>(p, args, static_cast<double*>(values), indices, ctx);
}

void evaluatePairsOnCpu(const Program& p, const void* const* args, const std::size_t* offsets, double* out,
                        const RunContext& ctx) {
  if (p.dtype == F32)
    evaluatePairsTyped<float>(p, args, offsets, out, ctx);
  else
    evaluatePairsTyped<double>(p, args, offsets, out, ctx);
}

}  // namespace LK_ISA_NS
}  // namespace lk

// The CPU engine: a program reduced over j in tiles, rows split across OpenMP threads.
// Compiled once per instruction-set level (LK_ISA_NS = base, avx2, avx512).
//
// Registers are sorted by what they depend on: parameters only (computed once), the
// i-row (once per row), the j-tile (once per tile and block of rows) or both (once per
// row and tile). Per (row block, j tile) each instruction is one loop over the tile's
// lanes; the reduction then folds the lanes into each row's state. j-variables are laid
// out component-major first, so a tile of y is a set of contiguous slices.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "../maths/radial.h"
#include "accumulators.h"
#include "cluster.h"
#include "kernels.h"

namespace lk {
namespace LK_ISA_NS {
namespace {

enum Level : int { PARAM = 0, ROW = 1, TILE = 2, PAIR = 3 };

// Lanes per tile: the working set of one (row, tile) step — every tile-level register —
// should stay within L2; wide formulas get fewer lanes. Measured (N = 20000, D = 3,
// float32, 2 threads, AVX-512; medians of 7): the generic Gaussian took 0.34 s at 128
// lanes, 0.31 at 256, 0.23-0.29 at 512, 0.22-0.25 at 1024 to 4096 (noise ±10%); the fused
// loop and ArgKMin(8) did not care. Past 1024 nothing is gained and buffers grow.
constexpr std::size_t kTileBytes = 128 * 1024;
constexpr int kMaxTile = 1024, kMinTile = 16;
// Rows per block: enough blocks for dynamic scheduling to balance the threads, and rows
// enough per block to reuse each j tile (and its tile-level registers) while it is hot.
constexpr int kMaxBlockRows = 64, kBlocksPerThread = 8;
// Below this many pairs per thread a second thread costs more than it saves: waking a
// team takes tens of microseconds, far more on a loaded machine (a KernelSolve at N = 200
// took 56 ms with 2 threads against 0.3 ms with one while the other core was busy).
constexpr std::size_t kMinPairsPerThread = std::size_t(1) << 15;

struct Plan {
  std::vector<int> level;
  std::vector<std::size_t> offset;  // in its level's buffer, in components
  std::size_t size[4] = {0, 0, 0, 0};
  std::vector<int> byLevel[4];
  int tile = kMaxTile;
};

bool isView(int op) { return op == OP_LOAD || op == OP_ELEM || op == OP_EXTRACT; }

Plan makePlan(const Program& p, std::size_t valueBytes) {
  Plan plan;
  const std::size_t nr = p.code.size();
  plan.level.resize(nr);
  plan.offset.resize(nr);
  for (std::size_t r = 0; r < nr; ++r) {
    const Instruction& in = p.code[r];
    int lv = PARAM;
    if (in.op == OP_LOAD) {
      int cat = p.vars[in.imm].cat;
      lv = cat == CAT_I ? ROW : cat == CAT_J ? TILE : PARAM;
    } else {
      for (int reg : {in.a, in.b, in.c})
        if (reg >= 0) lv |= plan.level[reg];
    }
    plan.level[r] = lv;
    if (!isView(in.op)) {
      plan.offset[r] = plan.size[lv];
      plan.size[lv] += p.regDims[r];
    }
    plan.byLevel[lv].push_back(static_cast<int>(r));
  }
  const std::size_t perLane = valueBytes * (plan.size[TILE] + plan.size[PAIR] + 2);
  while (plan.tile > kMinTile && plan.tile * perLane > kTileBytes) plan.tile /= 2;
  return plan;
}

// Everything a thread writes: its registers' storage and views, and its rows' states.
template <typename T, typename Acc>
struct Worker {
  std::vector<Ref<T>> refs;
  std::vector<T> rowBuf, tileBuf, pairBuf;
  Acc acc;
  Worker(const Plan& plan, std::size_t regs, int blockRows, Acc&& a)
      : refs(regs), rowBuf(plan.size[ROW] * blockRows + 1), tileBuf(plan.size[TILE] * plan.tile + 1),
        pairBuf(plan.size[PAIR] * plan.tile + 1), acc(std::move(a)) {}
};

template <typename T>
struct Inputs {
  const Program& p;
  const Plan& plan;
  const T* const* args;
  std::vector<const T*> soa;  // j-variables, component-major (n values per component)
  std::vector<Ref<T>> params;
  std::vector<T> paramBuf;
};

// Sets register r's view, or computes it into `store` (component stride cs).
template <typename T>
void evaluate(const Inputs<T>& in, int r, Ref<T>* refs, T* store, std::size_t cs, int len, std::size_t i,
              std::size_t j0, bool compute) {
  const Program& p = in.p;
  const Instruction& ins = p.code[r];
  switch (ins.op) {
    case OP_LOAD: {
      const Variable& v = p.vars[ins.imm];
      if (v.cat == CAT_I) refs[r] = {in.args[ins.imm] + i * v.dim, 1, false};
      else if (v.cat == CAT_J) refs[r] = {in.soa[ins.imm] + j0, p.n, true};
      else refs[r] = {in.args[ins.imm], 1, false};
      return;
    }
    case OP_ELEM:
    case OP_EXTRACT: {
      const Ref<T>& a = refs[ins.a];
      refs[r] = {a.p + ins.imm * a.cs, a.cs, a.lane};
      return;
    }
  }
  T* out = store + in.plan.offset[r] * cs;
  const bool lane = in.plan.level[r] >= TILE;
  refs[r] = {out, cs, lane};
  if (!compute) return;
  if (ins.op == OP_CONST) {
    const T value = static_cast<T>(p.consts[ins.imm]);
    for (int c = 0; c < p.regDims[r]; ++c)
      for (int t = 0; t < len; ++t) out[c * cs + t] = value;
    return;
  }
  runInstruction(ins, out, cs, p.regDims[r], refs, p.regDims.data(), len);
}

using JRange = std::pair<std::size_t, std::size_t>;

// A block of rows and the ranges of j it reduces over (all of them unless ranges say so).
struct RowBlock {
  std::size_t i0;
  int rows;
  const JRange* j;
  std::size_t ranges;
};

template <typename T, typename Acc>
void runGeneric(const Inputs<T>& in, Worker<T, Acc>& w, const RowBlock& blk) {
  const Program& p = in.p;
  const Plan& plan = in.plan;
  Ref<T>* refs = w.refs.data();
  const std::size_t rowSize = plan.size[ROW];
  const std::size_t i0 = blk.i0;
  auto rowLevel = [&](int r, bool compute) {
    for (int reg : plan.byLevel[ROW])
      evaluate(in, reg, refs, w.rowBuf.data() + r * rowSize, 1, 1, i0 + r, 0, compute);
  };
  for (int r = 0; r < blk.rows; ++r) {
    w.acc.reset(r);
    rowLevel(r, true);
  }
  const int tile = plan.tile;
  for (std::size_t k = 0; k < blk.ranges; ++k)
    for (std::size_t j0 = blk.j[k].first; j0 < blk.j[k].second; j0 += tile) {
      const int len = static_cast<int>(std::min<std::size_t>(tile, blk.j[k].second - j0));
      for (int reg : plan.byLevel[TILE]) evaluate(in, reg, refs, w.tileBuf.data(), tile, len, 0, j0, true);
      for (int r = 0; r < blk.rows; ++r) {
        if (!plan.byLevel[ROW].empty()) rowLevel(r, false);
        for (int reg : plan.byLevel[PAIR]) evaluate(in, reg, refs, w.pairBuf.data(), tile, len, i0 + r, j0, true);
        w.acc.fold(r, refs[p.result], p.weights >= 0 ? refs[p.weights] : refs[p.result], len, static_cast<int64_t>(j0));
      }
    }
}

// One row of the fused sum for a small, fixed D and one column of b: the squared
// distance stays in registers, one pass over the tile (y and b already offset to it).
// With Abs, also adds Σ |phi·b| to *absSum (the pruning walk's scale).
template <int Tag, int D, typename T, bool Abs>
T radialRow(const T* xi, const T* y, std::size_t n, const T* b, int len, T scale, T* absSum) {
  T xk[D];
  for (int k = 0; k < D; ++k) xk[k] = xi[k];
  T sum = 0, asum = 0;
#pragma omp simd reduction(+ : sum, asum)
  for (int t = 0; t < len; ++t) {
    T q = 0;
    for (int k = 0; k < D; ++k) {
      const T diff = xk[k] - y[k * n + t];
      q += diff * diff;
    }
    const T term = radial<Tag>(scale * q) * b[t];
    sum += term;
    if (Abs) asum += std::fabs(term);
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

// The fused radial-kernel sum: out_i = Σ_j phi(scale·|x_i - y_j|²)·b_j, for one block
// of rows at a time (acc holds their sums). y and b are component-major with n values
// per component; spans of j are at most one tile long.
template <int Tag, typename T>
struct RadialSum {
  int d, dv, tile;
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
        s[t] += diff * diff;
      }
    }
    for (int t = 0; t < len; ++t) f[t] = radial<Tag>(scale * s[t]);
    for (int c = 0; c < dv; ++c) {
      const T* __restrict bj = b + c * n + j0;
      T sum = 0, asum = 0;
#pragma omp simd reduction(+ : sum, asum)
      for (int t = 0; t < len; ++t) {
        sum += f[t] * bj[t];
        if (Abs) asum += std::fabs(f[t] * bj[t]);
      }
      acc[r * dv + c] += sum;
      if (Abs) absAcc[r * dv + c] += asum;
    }
  }

  // Adds the j ranges [first, second) for rows i0 .. i0 + rows of x (row-major), tile by tile.
  template <bool Abs>
  void ranges(const T* x, const T* y, const T* b, std::size_t n, T scale, std::size_t i0, int rows, const JRange* j,
              std::size_t count) {
    for (std::size_t k = 0; k < count; ++k)
      for (std::size_t j0 = j[k].first; j0 < j[k].second; j0 += tile) {
        const int len = static_cast<int>(std::min<std::size_t>(tile, j[k].second - j0));
        for (int r = 0; r < rows; ++r) span<Abs>(r, x + (i0 + r) * d, y, b, n, j0, len, scale);
      }
  }
};

bool cancelled(const RunContext& ctx) { return ctx.cancel && __atomic_load_n(ctx.cancel, __ATOMIC_RELAXED) != 0; }

// Threads for m x n pairs: at most ctx.threads, and each with enough pairs to pay for
// waking it.
int threadsFor(std::size_t m, std::size_t n, const RunContext& ctx) {
  const std::size_t pairs = m * std::max<std::size_t>(n, 1);
  return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(ctx.threads, pairs / kMinPairsPerThread)));
}

// Runs body(worker, unit) for units 0 .. units-1 on up to `threads` threads, checking
// the cancel flag before each unit. Workers are made here, before the parallel region:
// nothing in it may throw.
template <typename W, typename Make, typename Body>
void parallelFor(int64_t units, int threads, const RunContext& ctx, Make make, Body body) {
  if (units <= 0) return;
  threads = static_cast<int>(std::min<int64_t>(std::max(1, threads), units));
  std::vector<W> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) workers.push_back(make());
  std::atomic<bool> stop{false};
#pragma omp parallel num_threads(threads)
  {
    W& w = workers[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
    for (int64_t unit = 0; unit < units; ++unit) {
      if (stop.load(std::memory_order_relaxed)) continue;
      if (cancelled(ctx)) {
        stop.store(true, std::memory_order_relaxed);
        continue;
      }
      body(w, unit);
    }
  }
  if (stop.load()) throw Cancelled();
}

// The row blocks of a call and the j ranges each reduces over: blocks of at most
// `blockRows` rows over all of j, or, with explicit ranges, each row cluster cut into
// such blocks over its ranges (sorted, so that ties still go to the lowest j) and the
// rows of no cluster over nothing.
struct BlockPlan {
  std::vector<RowBlock> blocks;
  std::vector<JRange> j;
};

BlockPlan planBlocks(std::size_t m, std::size_t n, const Ranges* ranges, int blockRows) {
  BlockPlan plan;
  std::vector<std::pair<std::size_t, std::size_t>> slices;  // per block, its ranges in plan.j
  auto cut = [&](std::size_t a, std::size_t b, std::size_t first, std::size_t last) {
    for (std::size_t i0 = a; i0 < b; i0 += blockRows) {
      plan.blocks.push_back({i0, static_cast<int>(std::min<std::size_t>(blockRows, b - i0)), nullptr, 0});
      slices.emplace_back(first, last);
    }
  };
  if (!ranges) {
    if (n > 0) plan.j.emplace_back(0, n);
    cut(0, m, 0, plan.j.size());
  } else {
    std::size_t covered = 0;
    for (std::size_t k = 0; k < ranges->slicesI.size(); ++k) {
      const std::size_t a = ranges->rangesI[2 * k], b = ranges->rangesI[2 * k + 1];
      cut(covered, a, 0, 0);
      const std::size_t first = plan.j.size();
      for (int32_t r = k ? ranges->slicesI[k - 1] : 0; r < ranges->slicesI[k]; ++r)
        if (ranges->redrangesJ[2 * r] < ranges->redrangesJ[2 * r + 1])
          plan.j.emplace_back(ranges->redrangesJ[2 * r], ranges->redrangesJ[2 * r + 1]);
      std::sort(plan.j.begin() + first, plan.j.end());
      cut(a, b, first, plan.j.size());
      covered = b;
    }
    cut(covered, m, 0, 0);
  }
  // Pointers only now that plan.j has stopped growing.
  for (std::size_t k = 0; k < plan.blocks.size(); ++k) {
    plan.blocks[k].j = plan.j.data() + slices[k].first;
    plan.blocks[k].ranges = slices[k].second - slices[k].first;
  }
  return plan;
}

// Runs body(worker, block) on every row block of the call, in parallel; make(blockRows)
// builds a worker.
template <typename W, typename Make, typename Body>
void forEachBlock(std::size_t m, std::size_t n, const RunContext& ctx, Make make, Body body) {
  if (m == 0) return;
  const int threads = threadsFor(m, n, ctx);
  const std::size_t want = static_cast<std::size_t>(threads) * kBlocksPerThread;
  const int blockRows = static_cast<int>(std::min<std::size_t>(kMaxBlockRows, std::max<std::size_t>(1, (m + want - 1) / want)));
  const BlockPlan plan = planBlocks(m, n, ctx.ranges, blockRows);
  parallelFor<W>(static_cast<int64_t>(plan.blocks.size()), threads, ctx, [&]() { return make(blockRows); },
                 [&](W& w, int64_t k) { body(w, plan.blocks[k]); });
}

template <typename T, typename Acc, typename MakeAcc>
void reduceGeneric(const Inputs<T>& in, T* values, int32_t* indices, const RunContext& ctx, MakeAcc makeAcc) {
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
      });
}

template <int Tag, typename T>
void reduceRadial(const Inputs<T>& in, T* values, const RunContext& ctx) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim, dv = p.vars[k.b].dim;
  const T scale = in.params[k.scale].p[0];
  forEachBlock<RadialSum<Tag, T>>(
      p.m, p.n, ctx, [&](int blockRows) { return RadialSum<Tag, T>(blockRows, d, dv, in.plan.tile); },
      [&](RadialSum<Tag, T>& w, const RowBlock& blk) {
        w.clear(blk.rows);
        w.template ranges<false>(in.args[k.x], in.soa[k.y], in.soa[k.b], p.n, scale, blk.i0, blk.rows, blk.j, blk.ranges);
        for (int r = 0; r < blk.rows; ++r)
          for (int c = 0; c < dv; ++c) values[(blk.i0 + r) * dv + c] = static_cast<T>(w.acc[r * dv + c]);
      });
}

template <int Tag, typename T>
struct PrunedWorker {
  RadialSum<Tag, T> sum;
  PruneWalk walk;
  std::vector<double> budget;  // per column of b: tol · the least partial Σ|K_ij b_j|
};

// The fused sum over the column clusters the pruning walk keeps (cluster.h says what is
// dropped). Rows and columns are visited in cluster order; results go back to the
// caller's row order.
template <int Tag, typename T>
void reduceRadialPruned(const Inputs<T>& in, T* values, const RunContext& ctx, double tol) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim, dv = p.vars[k.b].dim;
  const T* x = in.args[k.x];
  const T* y = in.args[k.y];
  PruneCache local;
  PruneCache& cache = ctx.cache ? *ctx.cache : local;
  if (cache.x != x || cache.y != y || cache.rows.count != p.m || cache.cols.count != p.n || cache.rows.dim != d) {
    cache.rows = buildClusterTree(x, p.m, d);
    cache.cols = buildClusterTree(y, p.n, d);
    cache.sortedX.resize(p.m * d * sizeof(T));
    cache.sortedY.resize(p.n * d * sizeof(T));
    gatherRows(cache.rows, x, d, reinterpret_cast<T*>(cache.sortedX.data()));
    gatherColumns(cache.cols, y, d, reinterpret_cast<T*>(cache.sortedY.data()));
    cache.x = x;
    cache.y = y;
  }
  const ClusterTree& rows = cache.rows;
  const ClusterTree& cols = cache.cols;
  const T* xs = reinterpret_cast<const T*>(cache.sortedX.data());
  const T* ys = reinterpret_cast<const T*>(cache.sortedY.data());
  std::vector<T> bs(p.n * dv);
  gatherColumns(cols, in.args[k.b], dv, bs.data());
  // Σ |b| per column of b, per node of the column tree (the root, node 0, holds the
  // totals). NaN is left out: a NaN in b reaches the rows whose clusters keep it (those
  // with a kernel weight above the bound), not every row through 0·NaN.
  const std::vector<double> absB = absoluteSums(cols, bs.data(), dv);
  const T scale = in.params[k.scale].p[0];
  using W = PrunedWorker<Tag, T>;
  parallelFor<W>(
      static_cast<int64_t>(rows.leaves.size()), threadsFor(p.m, p.n, ctx), ctx,
      [&]() {
        W w{RadialSum<Tag, T>(kLeafSize, d, dv, in.plan.tile), PruneWalk(), std::vector<double>(dv)};
        w.walk.reserve(cols, dv);  // the walks must not allocate in the parallel region
        return w;
      },
      [&](W& w, int64_t leaf) {
        const int node = rows.leaves[leaf];
        const std::size_t i0 = rows.begin[node];
        const int count = static_cast<int>(rows.end[node] - i0);
        w.walk.start(cols, absB, dv, &rows.lo[static_cast<std::size_t>(node) * d],
                     &rows.hi[static_cast<std::size_t>(node) * d], Tag, static_cast<double>(scale));
        w.sum.clear(count);
        // The rows' own neighbourhood first: their partial Σ|K_ij b_j| set the budget.
        w.walk.keepTouching();
        w.sum.template ranges<true>(xs, ys, bs.data(), p.n, scale, i0, count, w.walk.kept().data(), w.walk.kept().size());
        double theta = INFINITY;  // phi <= theta for every dropped subtree keeps it within budget
        for (int c = 0; c < dv; ++c) {
          double least = INFINITY;
          for (int r = 0; r < count; ++r) least = std::min(least, w.sum.absAcc[r * dv + c]);
          w.budget[c] = tol * least;
          if (absB[c] > 0) theta = std::min(theta, w.budget[c] / absB[c]);
        }
        // That theta is safe whatever the layout (dropped bounds <= theta·Σ|b|), and far
        // too careful for most: try larger cut-offs first and keep the first whose dropped
        // bounds, added up, fit the budget.
        bool fits = false;
        for (double factor : {1e6, 1e3}) {
          w.walk.keepAbove(theta * factor);
          fits = true;
          for (int c = 0; c < dv; ++c) fits = fits && w.walk.dropped()[c] <= w.budget[c];
          if (fits) break;
        }
        if (!fits) w.walk.keepAbove(theta);
        w.sum.template ranges<false>(xs, ys, bs.data(), p.n, scale, i0, count, w.walk.kept().data(), w.walk.kept().size());
        for (int r = 0; r < count; ++r) {
          const std::size_t i = rows.order[i0 + r];
          for (int c = 0; c < dv; ++c) values[i * dv + c] = static_cast<T>(w.sum.acc[r * dv + c]);
        }
      });
}

// Pruned where it is sound and can pay: a decreasing profile (scale > 0; NaN is not),
// more columns than one cluster, and no explicit ranges (the caller's ranges rule).
template <int Tag, typename T>
void reduceRadialAuto(const Inputs<T>& in, T* values, const RunContext& ctx) {
  const double scale = in.params[in.p.kernel.scale].p[0];
  if (ctx.prune && !ctx.ranges && scale > 0 && in.p.n > static_cast<std::size_t>(kLeafSize)) {
    const double unitRoundoff = sizeof(T) == 4 ? 0x1p-24 : 0x1p-53;
    return reduceRadialPruned<Tag>(in, values, ctx, ctx.pruneTolerance >= 0 ? ctx.pruneTolerance : unitRoundoff);
  }
  reduceRadial<Tag>(in, values, ctx);
}

template <typename T>
void reduceTyped(const Program& p, const void* const* rawArgs, T* values, int32_t* indices, const RunContext& ctx) {
  const Plan plan = makePlan(p, sizeof(T));
  const T* const* args = reinterpret_cast<const T* const*>(rawArgs);
  Inputs<T> in{p, plan, args, {}, {}, {}};

  // j-variables component-major, once per call: O(N·D) beside O(M·N) work.
  std::vector<std::vector<T>> transposed(p.vars.size());
  in.soa.assign(p.vars.size(), nullptr);
  for (std::size_t v = 0; v < p.vars.size(); ++v) {
    if (p.vars[v].cat != CAT_J) continue;
    const int dim = p.vars[v].dim;
    if (dim == 1) {
      in.soa[v] = args[v];
      continue;
    }
    std::vector<T>& t = transposed[v];
    t.resize(p.n * dim);
    for (std::size_t j = 0; j < p.n; ++j)
      for (int c = 0; c < dim; ++c) t[c * p.n + j] = args[v][j * dim + c];
    in.soa[v] = t.data();
  }

  // Parameter-only registers, once per call.
  in.params.resize(p.code.size());
  in.paramBuf.resize(plan.size[PARAM] + 1);
  for (int reg : plan.byLevel[PARAM]) evaluate(in, reg, in.params.data(), in.paramBuf.data(), 1, 1, 0, 0, true);

  if (p.kernel.tag != KERNEL_none) {
    switch (p.kernel.tag) {
      case KERNEL_gaussian: return reduceRadialAuto<KERNEL_gaussian>(in, values, ctx);
      case KERNEL_laplace: return reduceRadialAuto<KERNEL_laplace>(in, values, ctx);
      case KERNEL_cauchy: return reduceRadialAuto<KERNEL_cauchy>(in, values, ctx);
      case KERNEL_imq: return reduceRadialAuto<KERNEL_imq>(in, values, ctx);
      case KERNEL_matern32: return reduceRadialAuto<KERNEL_matern32>(in, values, ctx);
      case KERNEL_matern52: return reduceRadialAuto<KERNEL_matern52>(in, values, ctx);
    }
  }

  const int dim = p.regDims[p.result];
  const int tile = plan.tile;
  switch (p.reduction) {
    case RED_Sum:
      return reduceGeneric<T, SumAcc<T>>(in, values, indices, ctx, [&](int rows) { return SumAcc<T>(rows, dim, 0); });
    case RED_Min:
    case RED_ArgMin:
    case RED_Min_ArgMin:
      return reduceGeneric<T, ExtremumAcc<T, false>>(in, values, indices, ctx,
                                                      [&](int rows) { return ExtremumAcc<T, false>(rows, dim, 0); });
    case RED_Max:
    case RED_ArgMax:
    case RED_Max_ArgMax:
      return reduceGeneric<T, ExtremumAcc<T, true>>(in, values, indices, ctx,
                                                     [&](int rows) { return ExtremumAcc<T, true>(rows, dim, 0); });
    case RED_KMin:
    case RED_ArgKMin:
    case RED_KMin_ArgKMin:
      return reduceGeneric<T, KMinAcc<T>>(in, values, indices, ctx, [&](int rows) { return KMinAcc<T>(rows, dim, p.k); });
    case RED_LogSumExp:
      return reduceGeneric<T, SoftmaxAcc<T, false>>(in, values, indices, ctx,
                                                     [&](int rows) { return SoftmaxAcc<T, false>(rows, 1, 0, tile); });
    case RED_SumSoftMaxWeight:
      return reduceGeneric<T, SoftmaxAcc<T, true>>(
          in, values, indices, ctx, [&](int rows) { return SoftmaxAcc<T, true>(rows, p.regDims[p.weights], 0, tile); });
  }
}

}  // namespace

void reduceOnCpu(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx) {
  if (p.dtype == F32)
    reduceTyped<float>(p, args, static_cast<float*>(values), indices, ctx);
  else
    reduceTyped<double>(p, args, static_cast<double*>(values), indices, ctx);
}

}  // namespace LK_ISA_NS
}  // namespace lk

// A radial kernel sum with a cut-off (RunContext::pruneCutoff) over a StripPlan
// (strips.h): each row's runs found once, then every product of the solve a loop over
// them. Where rows and columns are the same points, each pair is evaluated once and its
// term added to both rows. Included only by the per-instruction-set sources, inside their
// namespace.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../maths/radial.h"
#include "cluster.h"
#include "interpreter.h"
#include "parallel.h"
#include "radial_sum.h"
#include "strips.h"
#if defined(__AVX512F__)
#include "exp2_avx512.h"
#endif

namespace lk {
namespace LK_ISA_NS {

// Columns per step of a plan (StripPlan::step): one vector of floats in this build's
// registers, two of doubles.
constexpr int kPlanStep = kVectorBytes / sizeof(float);
using PlanRun = StripPlan::Run;

// Elements past the end of each sorted array that a step may read (and, for the mirror
// sums, write: the lanes past the last column add phi·0 to the row's sum, and to the
// mirrors' padding, which is never read).
template <typename T>
constexpr std::size_t kPlanPad = kStripPadBytes / sizeof(T);
static_assert(kPlanPad<double> >= kPlanStep, "a step past the last column stays in the padding");

// A run's columns that exist: its steps, less any past the last of the n columns.
inline JRange planColumns(const PlanRun& run, std::size_t n) {
  return {run.first, std::min<std::size_t>(n, run.first + std::size_t(run.steps) * kPlanStep)};
}

// The kPlanStep lanes of a row's accumulator added in double, pairwise: a few vector
// additions, where a chain of one addition per lane had every row wait on its latency
// (5% of a plan's product in a microbenchmark of 27 steps a row, AVX-512).
template <typename T>
inline double laneSum(const T* lanes) {
  double h[kPlanStep / 2];
  for (int t = 0; t < kPlanStep / 2; ++t) h[t] = static_cast<double>(lanes[t]) + static_cast<double>(lanes[t + kPlanStep / 2]);
  for (int w = kPlanStep / 4; w > 0; w /= 2)
    for (int t = 0; t < w; ++t) h[t] += h[t + w];
  return h[0];
}

// Σ over the runs of phi(scale·|xi - y_j|²)·b_j, for a fixed small D and one column of b
// (y component-major, n per component), into sums[0]; with Abs, Σ phi·|b_j| into sums[1].
// With Mirror, also out[j] += phi·bi for each j (the row's term in column j's sum), and
// with Abs outAbs[j] += phi·|bi|. Runs are whole steps, so the loop has no masked end,
// and the constants and accumulators stay in registers for the row (runs of a dozen
// columns ending in a masked vector spent a quarter of the product on their ends:
// reference problem, N = 1e6, 0.19 -> 0.14 s a product).
template <int Tag, int D, typename T, bool Mirror, bool Abs>
void planRow(const T* xi, T bi, const T* __restrict y, std::size_t n, const T* __restrict b, T* __restrict out,
             T* __restrict outAbs, const PlanRun* runs, std::size_t count, T scale, double* sums) {
  T xk[D];
  for (int k = 0; k < D; ++k) xk[k] = xi[k];
  const T factor = radialFactor<Tag>(scale);
  const T ai = std::fabs(bi);
  alignas(64) T acc[kPlanStep] = {}, accAbs[kPlanStep] = {};
  for (std::size_t r = 0; r < count; ++r) {
    const std::size_t end = runs[r].first + std::size_t(runs[r].steps) * kPlanStep;
    for (std::size_t j = runs[r].first; j < end; j += kPlanStep) {
      const T* __restrict yv = y + j;
      const T* __restrict bv = b + j;
      T* __restrict ov = Mirror ? out + j : nullptr;
      T* __restrict oa = Mirror && Abs ? outAbs + j : nullptr;
#pragma omp simd
      for (int t = 0; t < kPlanStep; ++t) {
        const T phi = radialAt<Tag, D>(xk, yv, n, t, factor);
        acc[t] = fmadd(phi, bv[t], acc[t]);
        if (Abs) accAbs[t] = fmadd(phi, std::fabs(bv[t]), accAbs[t]);
        if (Mirror) ov[t] = fmadd(phi, bi, ov[t]);
        if (Mirror && Abs) oa[t] = fmadd(phi, ai, oa[t]);
      }
    }
  }
  sums[0] = laneSum(acc);
  if (Abs) sums[1] = laneSum(accAbs);
}

#if defined(__AVX512F__)
// planRow for the Gaussian, with exp2_avx512.h's exponential: the same values, with 5
// vector operations of a float step's 24 fewer. Positive: the factor is at least 0, so
// every t = factor·|x - y|² is too (or NaN).
template <typename T, int D, bool Mirror, bool Abs, bool Positive>
void planRowGaussAvx512(const T* xi, T bi, const T* __restrict y, std::size_t n, const T* __restrict b,
                        T* __restrict out, T* __restrict outAbs, const PlanRun* runs, std::size_t count, T factor,
                        double* sums) {
  using A = Avx512<T>;
  using V = typename A::V;
  constexpr int kRegs = kPlanStep / A::kLanes;
  V xk[D];
  for (int k = 0; k < D; ++k) xk[k] = A::set1(xi[k]);
  const V nfactor = A::set1(-factor);
  const V vbi = A::set1(bi), vai = A::set1(std::fabs(bi));
  V acc[kRegs], accAbs[kRegs];
  for (int h = 0; h < kRegs; ++h) acc[h] = accAbs[h] = A::set1(0);
  for (std::size_t r = 0; r < count; ++r) {
    const std::size_t end = runs[r].first + std::size_t(runs[r].steps) * kPlanStep;
    for (std::size_t j = runs[r].first; j < end; j += kPlanStep) {
      for (int h = 0; h < kRegs; ++h) {
        const std::size_t at = j + h * A::kLanes;
        const V d0 = A::sub(xk[0], A::load(y + at));
        V q = A::mul(d0, d0);  // radialAt's order, so the same q
        for (int k = 1; k < D; ++k) {
          const V dk = A::sub(xk[k], A::load(y + k * n + at));
          q = A::fmadd(dk, dk, q);
        }
        const V phi = exp2NegNegated<T, Positive>(A::mul(nfactor, q));
        const V bv = A::load(b + at);
        acc[h] = A::fmadd(phi, bv, acc[h]);
        if (Abs) accAbs[h] = A::fmadd(phi, A::abs(bv), accAbs[h]);
        if (Mirror) A::store(out + at, A::fmadd(phi, vbi, A::load(out + at)));
        if (Mirror && Abs) A::store(outAbs + at, A::fmadd(phi, vai, A::load(outAbs + at)));
      }
    }
  }
  alignas(64) T lanes[kPlanStep];
  for (int h = 0; h < kRegs; ++h) A::store(lanes + h * A::kLanes, acc[h]);
  sums[0] = laneSum(lanes);
  if (!Abs) return;
  for (int h = 0; h < kRegs; ++h) A::store(lanes + h * A::kLanes, accAbs[h]);
  sums[1] = laneSum(lanes);
}

template <typename T, int D, bool Mirror, bool Abs>
void planRowGaussAvx512(const T* xi, T bi, const T* y, std::size_t n, const T* b, T* out, T* outAbs,
                        const PlanRun* runs, std::size_t count, T scale, double* sums) {
  const T factor = radialFactor<KERNEL_gaussian>(scale);
  (factor >= 0 ? planRowGaussAvx512<T, D, Mirror, Abs, true> : planRowGaussAvx512<T, D, Mirror, Abs, false>)(
      xi, bi, y, n, b, out, outAbs, runs, count, factor, sums);
}
#endif

template <typename T>
using PlanRowFn = void (*)(const T*, T, const T*, std::size_t, const T*, T*, T*, const PlanRun*, std::size_t, T,
                           double*);

template <int Tag, typename T, bool Mirror, bool Abs>
PlanRowFn<T> fixedPlanRow(int d) {
#if defined(__AVX512F__)
  if constexpr (Tag == KERNEL_gaussian) {
    switch (d) {
      case 1: return planRowGaussAvx512<T, 1, Mirror, Abs>;
      case 2: return planRowGaussAvx512<T, 2, Mirror, Abs>;
      case 3: return planRowGaussAvx512<T, 3, Mirror, Abs>;
    }
    return nullptr;
  }
#endif
  switch (d) {
    case 1: return planRow<Tag, 1, T, Mirror, Abs>;
    case 2: return planRow<Tag, 2, T, Mirror, Abs>;
    case 3: return planRow<Tag, 3, T, Mirror, Abs>;
  }
  return nullptr;
}

// Rows per unit of work in the plan's build and its products.
constexpr int kPlanRows = 64;

// The first row of a product's unit of work (of `rows` rows in all).
inline std::size_t rowsFrom(int64_t unit, std::size_t rows = SIZE_MAX) {
  return std::min(rows, static_cast<std::size_t>(unit) * kPlanRows);
}

// The blocks of rows a plan's walk takes (up to kPlanRows rows of one cell each) and the
// cells each visits: those within `reach` of its rows' box, blockCells[from[b] ..
// from[b + 1]). With half, a block's own cell's runs start after each row, and the
// earlier cells are left to their own rows.
struct PlanWalk {
  struct Block {
    std::size_t i0;
    int count, cell;
  };
  std::vector<Block> blocks;
  std::vector<int> blockCells;
  std::vector<std::size_t> from{0};
  double reach = 0;
  bool half = false;
  int visits(std::size_t b) const { return static_cast<int>(from[b + 1] - from[b]); }
};

template <typename T>
PlanWalk planWalk(const StripIndex& rows, const T* xs, const StripGrid& grid, double reach, bool half) {
  PlanWalk walk;
  walk.reach = reach;
  walk.half = half;
  const int d = grid.dim;
  for (int c = 0; c < grid.count(); ++c)
    for (std::size_t b = rows.start[c]; b < rows.start[c + 1]; b += kPlanRows)
      walk.blocks.push_back({b, static_cast<int>(std::min<std::size_t>(kPlanRows, rows.start[c + 1] - b)), c});
  std::vector<int> near;
  for (const PlanWalk::Block& block : walk.blocks) {
    double lo[kStripMaxDim], hi[kStripMaxDim];
    boundingBox(xs + block.i0 * d, block.count, d, lo, hi);
    cellsNear(grid, lo, hi, reach, near);
    for (int cell : near)
      if (!(half && cell < block.cell) && CellBox(grid, cell).gap(d, lo, hi) < reach * reach)
        walk.blockCells.push_back(cell);
    walk.from.push_back(walk.blockCells.size());
  }
  return walk;
}

// Block b's runs: for each of its rows, its run in each cell the block visits, rounded up
// to whole steps and begun where the row's last run ended (a row's runs come in the
// columns' order, cell by cell, so none overlap), by emit(r, run) for the block's r-th
// row. At most one run per row and visit.
template <typename T, typename Emit>
void walkBlock(const PlanWalk& walk, std::size_t b, const T* xs, const StripIndex& cols, const T* ys, Emit emit) {
  const StripGrid& grid = cols.grid;
  const int d = grid.dim;
  const double reach = walk.reach;
  const std::size_t i0 = walk.blocks[b].i0;
  const int rowsHere = walk.blocks[b].count, own = walk.blocks[b].cell;
  std::size_t covered[kPlanRows] = {};
  for (std::size_t k = walk.from[b]; k < walk.from[b + 1]; ++k) {
    const int cell = walk.blockCells[k];
    const CellBox box(grid, cell);
    StripRuns<T> run{ys, cols.start[cell], cols.start[cell + 1], 0, 0};
    for (int r = 0; r < rowsHere; ++r) {
      const T* xi = xs + (i0 + r) * d;
      if (!run.seekWithin(static_cast<double>(xi[0]), box.gap(d, xi, xi), reach)) continue;
      std::size_t from = std::max(run.lo, covered[r]);
      if (walk.half && cell == own) from = std::max(from, i0 + r + 1);
      if (!(from < run.hi)) continue;
      const std::size_t steps = (run.hi - from + kPlanStep - 1) / kPlanStep;
      emit(r, PlanRun(static_cast<uint32_t>(from), static_cast<uint32_t>(steps)));
      covered[r] = from + steps * kPlanStep;
    }
  }
}

// The pairs a row's runs cover.
inline uint64_t runPairs(const PlanRun* runs, std::size_t count, std::size_t n) {
  uint64_t kept = 0;
  for (std::size_t r = 0; r < count; ++r) kept += planColumns(runs[r], n).second - runs[r].first;
  return kept;
}

// Finds each row's runs within `reach` (StripPlan) by a walk over blocks of rows. A row
// has at most one run per cell its block visits, so each row's slots are reserved before
// the walk, which then runs once and allocates nothing in the parallel region (counting
// first, then walking again to write, took twice the time: reference problem, N = 1e6,
// 0.7 s the float32 plan).
template <typename T>
void buildStripPlan(const StripIndex& rows, const T* xs, const StripIndex& cols, const T* ys, double reach, bool half,
                    int threads, const RunContext& ctx, StripPlan& plan) {
  const std::size_t m = rows.count, n = cols.count;
  plan = StripPlan();
  const PlanWalk walk = planWalk(rows, xs, cols.grid, reach, half);
  std::vector<std::size_t> first(m);
  std::size_t slots = 0;
  for (std::size_t b = 0; b < walk.blocks.size(); ++b) {
    const int visits = walk.visits(b);
    for (int r = 0; r < walk.blocks[b].count; ++r) first[walk.blocks[b].i0 + r] = slots + r * visits;
    slots += walk.blocks[b].count * visits;
  }
  std::vector<PlanRun> runs(slots);
  std::vector<uint32_t> count(m, 0);
  parallelFor<int>(static_cast<int64_t>(walk.blocks.size()), threads, ctx, [] { return 0; }, [&](int, int64_t unit) {
    const std::size_t i0 = walk.blocks[unit].i0;
    walkBlock(walk, unit, xs, cols, ys, [&](int r, PlanRun run) { runs[first[i0 + r] + count[i0 + r]++] = run; });
  });
  uint64_t kept = 0;
  for (std::size_t p = 0; p < m; ++p) kept += runPairs(runs.data() + first[p], count[p], n);
  plan.pairs = half ? 2 * kept + m : kept;  // (i, j) and (j, i) for each kept pair, and the diagonal
  plan.first = std::move(first);
  plan.count = std::move(count);
  plan.runs = std::move(runs);
  plan.half = half;
  plan.step = kPlanStep;
  plan.reach = reach;  // last: a cancelled build leaves a plan that fits nothing
}

// Rows and columns are the same points in the same order: a plan may keep each pair once.
template <typename T>
bool samePoints(const StripIndex& rows, const T* xs, const StripIndex& cols, const T* ys) {
  if (rows.count != cols.count || rows.order != cols.order) return false;
  const int d = cols.grid.dim;
  const std::size_t n = cols.count;
  for (std::size_t p = 0; p < n; ++p)
    for (int k = 0; k < d; ++k)
      if (!(xs[p * d + k] == ys[k * n + p])) return false;
  return true;
}

// Per row i in the sorted order of a half plan's points (one column of b, sorted and
// padded): sums[i] = Σ_j phi(scale·|x_i - x_j|²)·b_j over its pairs, both ways, and the
// diagonal; with Abs, abs[i] = the same of |b_j|. Each thread adds its rows' terms for the
// columns to its own copy of the sums (in `mirrors`, zeroed by the thread at its first
// unit, in parallel), added up after. The rows' runs come
// from eachRow(scratch, unit, f), which calls f(i, runs, count) for each row i of one of
// `units` units of work; scratch: `scratchRuns` runs of the thread's own.
template <int Tag, typename T, bool Abs, typename EachRow>
void sumHalf(int64_t units, std::size_t scratchRuns, const T* xs, const T* ys, const T* bs, std::size_t n, int d,
             T scale, int threads, const RunContext& ctx, std::vector<Scratch>& mirrors,
             double* sums, double* abs, EachRow eachRow) {
  const PlanRowFn<T> row = fixedPlanRow<Tag, T, true, Abs>(d);
  const std::size_t mirrorSize = (Abs ? 2 : 1) * (n + kPlanPad<T>);
  const std::size_t made = static_cast<std::size_t>(std::max(threads, 1));
  if (mirrors.size() < made) mirrors.resize(made);
  std::vector<std::vector<PlanRun>> scratch(made);
  std::vector<T*> outs;  // one per thread parallelFor starts
  std::vector<char> ran(made, 0);  // whether that thread ran a unit (and zeroed its sums)
  struct Worker {
    T* out;
    PlanRun* scratch;
    char* ran;
  };
  auto make = [&]() {
    T* out = bufferOf<T>(mirrors[outs.size()], mirrorSize);
    scratch[outs.size()].resize(scratchRuns);
    Worker w{out, scratch[outs.size()].data(), &ran[outs.size()]};
    outs.push_back(out);
    return w;
  };
  parallelFor<Worker>(units, threads, ctx, make, [&](Worker& w, int64_t unit) {
    if (!*w.ran) {
      std::fill_n(w.out, mirrorSize, T(0));
      *w.ran = 1;
    }
    eachRow(w.scratch, unit, [&](std::size_t i, const PlanRun* runs, std::size_t count) {
      double two[2];
      row(xs + i * d, bs[i], ys, n, bs, w.out, w.out + (n + kPlanPad<T>), runs, count, scale, two);
      sums[i] = two[0];
      if (Abs) abs[i] = two[1];
    });
  });
  const double phi0 = static_cast<double>(radial<Tag>(T(0)));  // the diagonal's term
  const int64_t blocks = static_cast<int64_t>((n + kPlanRows - 1) / kPlanRows);
  parallelFor<int>(blocks, threads, ctx, [] { return 0; }, [&](int, int64_t unit) {
    for (std::size_t i = rowsFrom(unit); i < rowsFrom(unit + 1, n); ++i) {
      double s = sums[i] + phi0 * static_cast<double>(bs[i]);
      for (std::size_t k = 0; k < outs.size(); ++k)
        if (ran[k]) s += static_cast<double>(outs[k][i]);
      sums[i] = s;
      if (!Abs) continue;
      double a = abs[i] + phi0 * std::fabs(static_cast<double>(bs[i]));
      for (std::size_t k = 0; k < outs.size(); ++k)
        if (ran[k]) a += static_cast<double>(outs[k][n + kPlanPad<T> + i]);
      abs[i] = a;
    }
  });
}

// sumHalf over a stored half plan.
template <int Tag, typename T, bool Abs>
void sumHalfPlan(const StripPlan& plan, const T* xs, const T* ys, const T* bs, std::size_t n, int d, T scale,
                 int threads, const RunContext& ctx, std::vector<Scratch>& mirrors, double* sums,
                 double* abs) {
  const int64_t blocks = static_cast<int64_t>((n + kPlanRows - 1) / kPlanRows);
  sumHalf<Tag, T, Abs>(blocks, 0, xs, ys, bs, n, d, scale, threads, ctx, mirrors, sums, abs,
                       [&](PlanRun*, int64_t unit, auto f) {
                         for (std::size_t i = rowsFrom(unit); i < rowsFrom(unit + 1, n); ++i)
                           f(i, plan.runs.data() + plan.first[i], plan.count[i]);
                       });
}

// sumHalf over the half plan of `reach`, each block's runs found and summed at once
// rather than stored: for a product made once, as a solve's float64 residual mostly is
// (reference problem, N = 1e6: its stored plan took 83 MB, and 0.23 s to fault in on a
// 2-core AMD EPYC VM). Returns the pairs it covered, as StripPlan::pairs counts them.
template <int Tag, typename T, bool Abs>
uint64_t sumHalfWalk(const StripIndex& rows, const T* xs, const StripIndex& cols, const T* ys, double reach,
                     const T* bs, int d, T scale, int threads, const RunContext& ctx,
                     std::vector<Scratch>& mirrors, double* sums, double* abs) {
  const std::size_t n = cols.count;
  const PlanWalk walk = planWalk(rows, xs, cols.grid, reach, true);
  int most = 0;
  for (std::size_t b = 0; b < walk.blocks.size(); ++b) most = std::max(most, walk.visits(b));
  std::atomic<uint64_t> kept{0};
  sumHalf<Tag, T, Abs>(static_cast<int64_t>(walk.blocks.size()), static_cast<std::size_t>(kPlanRows) * most, xs, ys,
                       bs, n, d, scale, threads, ctx, mirrors, sums, abs, [&](PlanRun* scratch, int64_t unit, auto f) {
                         uint32_t count[kPlanRows] = {};
                         walkBlock(walk, unit, xs, cols, ys,
                                   [&](int r, PlanRun run) { scratch[r * most + count[r]++] = run; });
                         uint64_t pairs = 0;
                         for (int r = 0; r < walk.blocks[unit].count; ++r) {
                           f(walk.blocks[unit].i0 + r, scratch + r * most, count[r]);
                           pairs += runPairs(scratch + r * most, count[r], n);
                         }
                         kept.fetch_add(pairs, std::memory_order_relaxed);
                       });
  return 2 * kept.load() + rows.count;
}

// out = Σ_j phi(scale·|x_i - y_j|²)·b_j over the columns within r1 of each row (every
// term at least the cut-off, r1 its kernelReach; some beyond), by the plan, built here
// where it does not fit. xs: the rows sorted by `rows` (row-major), ys: the columns
// sorted by `cols` (component-major, kPlanPad values past its end); b: the caller's.
template <int Tag, typename T>
void reduceRadialPlan(const Inputs<T>& in, T* values, const RunContext& ctx, double r1, const StripIndex& rows,
                      const T* xs, const StripIndex& cols, const T* ys, StripPlan& plan, PlanBuffers& buffers) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim, dv = p.vars[k.b].dim;
  const std::size_t m = p.m, n = p.n;
  const int threads = threadsFor(m, n, ctx);
  const PlanRowFn<T> row = dv == 1 ? fixedPlanRow<Tag, T, false, false>(d) : nullptr;
  if (!plan.fits(r1, m, kPlanStep) || (plan.half && !row))
    buildStripPlan(rows, xs, cols, ys, r1, row && samePoints(rows, xs, cols, ys), threads, ctx, plan);
  T* bs = bufferOf<T>(buffers.b, n * dv + kPlanPad<T>);
  gatherColumns(cols.order, in.args[k.b], dv, bs);
  std::fill_n(bs + n * dv, kPlanPad<T>, T(0));  // steps past the last column add phi·0
  const T scale = in.params[k.scale].p[0];
  double* sums = bufferOf<double>(buffers.sums, m * dv);  // every row's sums are written
  if (plan.half) {
    sumHalfPlan<Tag, T, false>(plan, xs, ys, bs, n, d, scale, threads, ctx, buffers.mirrors, sums, nullptr);
  } else {
    const int64_t blocks = static_cast<int64_t>((m + kPlanRows - 1) / kPlanRows);
    parallelFor<RadialSum<Tag, T>>(
        blocks, threads, ctx, [&]() { return RadialSum<Tag, T>(1, d, dv, in.plan.tile); },
        [&](RadialSum<Tag, T>& sum, int64_t unit) {
          for (std::size_t i = rowsFrom(unit); i < rowsFrom(unit + 1, m); ++i) {
            const PlanRun* runs = plan.runs.data() + plan.first[i];
            const std::size_t count = plan.count[i];
            if (row) {
              row(xs + i * d, T(0), ys, n, bs, nullptr, nullptr, runs, count, scale, &sums[i]);
              continue;
            }
            // Several columns of b lie one after another: each run stops at the last column.
            sum.clear(1);
            for (std::size_t r = 0; r < count; ++r) {
              const JRange run = planColumns(runs[r], n);
              forEachTile(&run, 1, sum.tile, ctx.cancel, [&](std::size_t j0, int len) {
                sum.template span<false>(0, xs + i * d, ys, bs, n, j0, len, scale);
              });
            }
            for (int c = 0; c < dv; ++c) sums[i * dv + c] = sum.acc[c];
          }
        });
  }
  countPairs(ctx, plan.pairs);
  for (std::size_t i = 0; i < m; ++i)
    for (int c = 0; c < dv; ++c) values[rows.order[i] * dv + c] = static_cast<T>(sums[i * dv + c]);
}

}  // namespace LK_ISA_NS
}  // namespace lk

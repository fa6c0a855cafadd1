// A radial kernel sum over strips (strips.h says what is dropped and why that is safe):
// rows in blocks of one cell, each row over the runs of the strips near it.
// Included only by the per-instruction-set sources, inside their namespace.
#pragma once
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../maths/radial.h"
#include "cluster.h"
#include "parallel.h"
#include "radial_plan.h"
#include "radial_sum.h"
#include "strips.h"

namespace lk {
namespace LK_ISA_NS {

// Rows per block: they share the block's strips, its searches and its cut-off radius.
constexpr int kStripRows = 32;

// The kernel's reach: the radius r where phi(scale·r²) = tol (phi decreases; 0 where
// phi(0) <= tol already, a tolerance that lets every term go, which the k-d walk handles,
// keeping the touching clusters).
inline double kernelReach(int tag, double scale, double tol) {
  if (radialPhi<double>(tag, 0) <= tol) return 0;
  double below = 0, above = 1;
  while (radialPhi<double>(tag, above) > tol && above < 1e300) above *= 2;
  for (int it = 0; it < 64; ++it) {
    const double mid = 0.5 * (below + above);
    (radialPhi<double>(tag, mid) > tol ? below : above) = mid;
  }
  return std::sqrt(above / scale);
}

template <int Tag, typename T>
struct StripWorker {
  RadialSum<Tag, T> sum;
  std::vector<int> cells;
  std::vector<double> least;  // per column of b: the least partial Σ|K_ij b_j| of the rows
};

// out = Σ_j phi(scale·|x_i - y_j|²)·b_j over the strips' columns, within tol of each
// row's Σ_j |K_ij b_j|. xs: the rows sorted by `rows` (row-major), ys: the columns
// sorted by `cols` (component-major, kStripPadBytes past its end), b: the caller's
// (row-major, dv per column). Both indexes share one grid. r1 = kernelReach(Tag, scale,
// tol). `plan`: where rows and columns are the same points, the half plan of a first
// ball, or the mark of one walked (kept for the next product; may be null).
template <int Tag, typename T>
void reduceRadialStrips(const Inputs<T>& in, T* values, const RunContext& ctx, double tol, double r1,
                        const StripIndex& rows, const T* xs, const StripIndex& cols, const T* ys, StripHistory* past,
                        StripPlan* plan) {
  const Program& p = in.p;
  const FusedKernel& k = p.kernel;
  const int d = p.vars[k.x].dim, dv = p.vars[k.b].dim;
  const std::size_t n = p.n;
  const StripGrid& grid = cols.grid;
  std::vector<T> bs(n * dv + kPlanPad<T>);
  gatherColumns(cols.order, in.args[k.b], dv, bs.data());
  const std::vector<double> prefix = stripPrefixSums(bs.data(), n, dv);
  const T scale = in.params[k.scale].p[0];
  const double s = static_cast<double>(scale);
  // A bound's safety margin, as cluster.cc's: phi in float arithmetic wobbles far less.
  constexpr double kMargin = 1.0 + 1e-3;
  // The radius grows by this factor per try, at most kTries times; past that the block
  // keeps every column (the safe answer, where no radius fits the budget: b zero near its
  // rows and not far away, say). A try costs a bound from the prefix sums, not a pass.
  constexpr double kGrowth = 1.05;
  constexpr int kTries = 72;

  std::vector<std::pair<std::size_t, std::size_t>> blocks;
  for (int c = 0; c < grid.count(); ++c)
    for (std::size_t b = rows.start[c]; b < rows.start[c + 1]; b += kStripRows)
      blocks.emplace_back(b, std::min<std::size_t>(b + kStripRows, rows.start[c + 1]));

  // Σ |b| over the box [lo - reach, hi + reach], per column of b (out: dv values).
  auto sumNear = [&](std::vector<int>& cells, const double* lo, const double* hi, double reach, double* out) {
    std::fill(out, out + dv, 0.0);
    cellsNear(grid, lo, hi, reach, cells);
    for (int cell : cells) {
      StripRuns<T> run{ys, cols.start[cell], cols.start[cell + 1], 0, 0};
      run.seek(0.5 * (lo[0] + hi[0]), 0.5 * (hi[0] - lo[0]) + reach);
      for (int c = 0; c < dv; ++c) out[c] += prefix[c * (n + 1) + run.hi] - prefix[c * (n + 1) + run.lo];
    }
  };

  std::vector<float>* history = nullptr;
  if (past) {
    if (past->tol != tol || past->radius.size() != blocks.size()) past->radius.assign(blocks.size(), 0.0f);
    past->tol = tol;
    history = &past->radius;
  }
  using W = StripWorker<Tag, T>;
  const int threads = threadsFor(p.m, p.n, ctx);
  auto make = [&]() {
    W w{RadialSum<Tag, T>(kStripRows, d, dv, in.plan.tile), {}, std::vector<double>(2 * dv)};
    w.cells.reserve(grid.count());  // the walks must not allocate in the parallel region
    return w;
  };
  // Same points, one column of b: the terms within a first radius r0 go through a half
  // plan (each pair evaluated once for both of its rows, its |term| too); a block whose
  // bound does not hold from there starts over out to the radius it needs. Every row pays
  // for the plan's ball and a block that starts over pays twice, so r0 is what most
  // blocks need: the 90th percentile of what one block in kSample needs from r1, or of
  // kLeastSamples blocks where there are few (the samples cost a 64th of a ball at r1 by
  // the tile loop, about 0.3 of the plan's product; a 16th cost 0.2 s of the reference
  // solve at N = 1e6), at most kPlanMost·r1, whose ball already holds 8 times the pairs
  // (b zero near most rows would ask for far more). A first product walks the plan block
  // by block without keeping it (sumHalfWalk), as a float32 solve's float64 residual,
  // made about once a solve, mostly is (N = 1e6: its kept plan took 83 MB, and 0.23 s to
  // fault in on a 2-core AMD EPYC VM); a second product on the same points keeps the
  // plan of the first one's radius, and the next ones run on it while its reach is in
  // range (a float64 solve's iteration).
  constexpr int64_t kSample = 64, kLeastSamples = 64;
  constexpr double kPlanMost = 2;
  const bool planned = dv == 1 && fixedPlanRow<Tag, T, true, true>(d) && samePoints(rows, xs, cols, ys);
  std::vector<double> planSums, planAbs;
  // A block's sum from `tried` (sample: from r1, returning the radius it needs only).
  enum Mode { Full, Sample, Planned };
  auto block = [&](W& w, int64_t unit, Mode mode, double tried) -> double {
    const std::size_t i0 = blocks[unit].first;
    const int count = static_cast<int>(blocks[unit].second - i0);
    double lo[kStripMaxDim], hi[kStripMaxDim];
    boundingBox(xs + i0 * d, count, d, lo, hi);
    w.sum.clear(count);
    uint64_t pairs = 0;
    // Row r's terms for the columns [from, to), tile by tile (with abs: and Σ|K_ij b_j|).
    auto add = [&](auto abs, int r, std::size_t from, std::size_t to) {
      pairs += to > from ? to - from : 0;
      const T* xi = xs + (i0 + r) * d;
      const JRange run{from, to};
      forEachTile(&run, 1, w.sum.tile, ctx.cancel, [&](std::size_t j0, int len) {
        w.sum.template span<decltype(abs)::value>(r, xi, ys, bs.data(), n, j0, len, scale);
      });
    };
    // Adds every column at distance in [from, to) of a row (box-wise per strip: each
    // row's run within `to`, less its run within `from`).
    auto ring = [&](auto abs, double from, double to) {
      cellsNear(grid, lo, hi, to, w.cells);
      for (int cell : w.cells) {
        const CellBox box(grid, cell);
        if (!(box.gap(d, lo, hi) < to * to)) continue;
        StripRuns<T> outer{ys, cols.start[cell], cols.start[cell + 1], 0, 0};
        StripRuns<T> core{ys, cols.start[cell], cols.start[cell + 1], 0, 0};
        for (int r = 0; r < count; ++r) {
          const T* xi = xs + (i0 + r) * d;
          const double gap = box.gap(d, xi, xi);
          if (!outer.seekWithin(static_cast<double>(xi[0]), gap, to)) continue;
          if (!core.seekWithin(static_cast<double>(xi[0]), gap, from)) {
            add(abs, r, outer.lo, outer.hi);
            continue;
          }
          add(abs, r, outer.lo, core.lo);
          add(abs, r, core.hi, outer.hi);
        }
      }
    };
    // The radius whose dropped terms, bounded, fit each row's budget: tol times the
    // row's Σ_j |K_ij b_j| over the columns computed so far (at most the whole sum, so a
    // budget that holds for it holds for the final one; a row whose sum is already NaN
    // is NaN whatever else is added: it sets no budget).
    double* least = w.least.data();
    double* near = least + dv;
    auto fits = [&](double r) {
      if (!std::isfinite(r)) return true;
      const double phiNear = radialPhi<double>(Tag, s * r * r) * kMargin;
      const double phiFar = radialPhi<double>(Tag, 4 * s * r * r) * kMargin;
      sumNear(w.cells, lo, hi, 2 * r, near);
      for (int c = 0; c < dv; ++c)
        if (!(phiNear * near[c] + phiFar * prefix[c * (n + 1) + n] <= tol * least[c])) return false;
      return true;
    };
    // First the plan's ball, or the radius this block needed in the previous product (a
    // solve's products differ only in b), else r1; the block's rows computed within it
    // give their budgets. Where they do not fit, the first radius of a geometric
    // sequence that does, and one ring out to it (a pass per try, as this was, cost more
    // than the pairs: reference problem, N = 1e6, the float64 residual's product).
    if (mode == Planned) {
      for (int r = 0; r < count; ++r) {
        w.sum.acc[r] = planSums[i0 + r];
        w.sum.absAcc[r] = planAbs[i0 + r];
      }
    } else {
      ring(std::true_type{}, 0, tried);
    }
    for (int c = 0; c < dv; ++c) {
      least[c] = INFINITY;
      for (int r = 0; r < count; ++r) {
        const double a = w.sum.absAcc[static_cast<std::size_t>(r) * dv + c];
        if (a == a) least[c] = std::min(least[c], a);
      }
    }
    double radius = tried;
    if (!fits(radius)) {
      double next = radius;
      int t = 0;
      do next = t++ < kTries ? next * kGrowth : INFINITY;
      while (!fits(next));
      if (mode == Planned) {
        // The plan's sums hold each pair inside either row's runs, not each row's own
        // runs, which a ring would take away: these rows start over.
        w.sum.clear(count);
        ring(std::false_type{}, 0, next);
      } else if (mode == Full) {
        ring(std::false_type{}, radius, next);
      }
      radius = next;
    }
    if (mode == Sample) {
      countPairs(ctx, pairs);
      return radius;
    }
    // The next product tries one step less where that would have fitted these rows'
    // budgets too (they only shrink with the radius: a guess, checked then).
    if (history && mode == Full) {
      const double less = std::isfinite(radius) ? radius / kGrowth : r1 * std::pow(kGrowth, kTries);
      (*history)[unit] = static_cast<float>(radius == tried && less >= r1 && fits(less) ? less : radius);
    }
    for (int r = 0; r < count; ++r) w.sum.write(r, rows.order[i0 + r], values);
    countPairs(ctx, pairs);
    return radius;
  };
  double r0 = r1;
  if (planned) {
    auto inRange = [&](double r) { return r >= r1 && r <= kPlanMost * r1; };
    const bool kept = plan && plan->half && plan->step == kPlanStep && plan->count.size() == p.m && inRange(plan->reach);
    const bool again = plan && !kept && inRange(plan->walked);
    if (kept) {
      r0 = plan->reach;
    } else if (again) {
      r0 = plan->walked;
    } else {
      const auto count = static_cast<int64_t>(blocks.size());
      const int64_t stride = std::clamp<int64_t>(count / kLeastSamples, 1, kSample);
      const int64_t samples = (count + stride - 1) / stride;
      std::vector<double> needed(samples);
      parallelFor<W>(samples, threads, ctx, make, [&](W& w, int64_t k) { needed[k] = block(w, k * stride, Sample, r1); });
      std::vector<double> finite;
      for (double r : needed)
        if (std::isfinite(r)) finite.push_back(r);
      if (!finite.empty()) {
        auto at = finite.begin() + static_cast<std::ptrdiff_t>(0.9 * static_cast<double>(finite.size() - 1));
        std::nth_element(finite.begin(), at, finite.end());
        r0 = std::clamp(*at, r1, kPlanMost * r1);
      }
    }
    planSums.resize(p.m);
    planAbs.resize(p.m);
    std::vector<Scratch> mirrors;
    if (kept || again) {
      if (again) buildStripPlan(rows, xs, cols, ys, r0, true, threads, ctx, *plan);
      sumHalfPlan<Tag, T, true>(*plan, xs, ys, bs.data(), n, d, scale, threads, ctx, mirrors, planSums.data(),
                                planAbs.data());
      countPairs(ctx, plan->pairs);
    } else {
      if (plan) *plan = StripPlan();
      countPairs(ctx, sumHalfWalk<Tag, T, true>(rows, xs, cols, ys, r0, bs.data(), d, scale, threads, ctx, mirrors,
                                                planSums.data(), planAbs.data()));
      if (plan) plan->walked = r0;  // last: a cancelled walk leaves no mark
    }
  }
  parallelFor<W>(static_cast<int64_t>(blocks.size()), threads, ctx, make, [&](W& w, int64_t unit) {
    if (planned) return static_cast<void>(block(w, unit, Planned, r0));
    block(w, unit, Full, history && (*history)[unit] > 0 ? (*history)[unit] : r1);
  });
}

}  // namespace LK_ISA_NS
}  // namespace lk

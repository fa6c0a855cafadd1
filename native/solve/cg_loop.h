// The preconditioned conjugate-gradient iteration of cg.h, written once over a vector
// backend so that the CPU (cg.cc: host vectors) and the CUDA plugin (device vectors, only
// scalars come back to the host) run the same algorithm. No N-API, no CUDA here.
//
// Ops holds six n × dv float64 blocks, named by CgVec (z may be r itself where there is
// no preconditioner), and offers:
//   product(v, out, t)     out = K v, the iteration's (fast) product, dropping the pairs
//                          whose kernel value is below t (0: the product's default)
//   trueProduct(v, out, t) out = K v, the accurate product true residuals are measured
//                          with, dropping terms within relative tolerance t (0: none)
//   precondition(r, z)     z = M r (a copy without a preconditioner)
//   copy(dst, src)
//   axpby(y, a, x, b)      y = a_c·x + b_c·y, coefficients per column c
//   mask(y, keep)          y = 0 in the columns where keep_c is 0
//   dots(u, v)             per-column u·v
//   allZero(v)
//   checkCancel()          throws Cancelled when the caller asked to stop
//
// The shape is iterative refinement: measure the true residual r = b - (alpha x + K x)
// with the accurate product, run PCG on it with the fast product until each column's
// residual is down to tol·|b| (first pass) or max(tol·|b|, innerFloor·|r|) (restarts) or
// stops improving, and measure again.
// With float32 data the fast product is float32 and the accurate one float64, so the
// answer is held to the float64 residual; with float64 data both are the same, and a
// restart only corrects the recurrence's drift. The solve stops when every column
// converged, when maxIter iterations are spent, or when two refinement steps in a row
// fail to halve the worst residual (the tolerance is beyond what the products can
// resolve, or the system is singular): it says which.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cg.h"

namespace lk {

enum CgVec { CG_B, CG_X, CG_R, CG_P, CG_Q, CG_Z, CG_VECS };

// An inner iteration ends for a column whose best residual has not improved by 1% in
// this many iterations: the fast product's accuracy is the limit, and the next true
// residual tells whether anything was gained.
constexpr int kStallIterations = 50;
constexpr double kStallImprovement = 0.99;
// Refinement steps that must each at least halve the worst residual.
constexpr double kRefinementGain = 0.5;
constexpr int kSlowRefinements = 2;
// A true residual may move by this fraction of tol·|b| through the terms its product
// drops; K's largest eigenvalue, read off the iteration (Lanczos), is trusted to within
// kLanczosSafety and only after kLanczosSteps steps.
constexpr double kCertifyShare = 0.05;
constexpr double kLanczosSafety = 2;
constexpr int kLanczosSteps = 5;

// The largest eigenvalue of the symmetric tridiagonal matrix (diag d, off-diagonal e),
// by bisection on Sturm counts: CG's steps define it (Lanczos), and its largest
// eigenvalue approaches the operator's from below.
inline double largestTridiagonalEigenvalue(const std::vector<double>& d, const std::vector<double>& e) {
  const std::size_t k = d.size();
  if (k == 0) return 0;
  double lo = d[0], hi = d[0];
  for (std::size_t i = 0; i < k; ++i) {
    const double r = (i > 0 ? std::fabs(e[i - 1]) : 0) + (i + 1 < k ? std::fabs(e[i]) : 0);
    lo = std::min(lo, d[i] - r);
    hi = std::max(hi, d[i] + r);
  }
  // Eigenvalues below x: the count of negative pivots of T - xI.
  auto below = [&](double x) {
    std::size_t count = 0;
    double q = 1;
    for (std::size_t i = 0; i < k; ++i) {
      q = d[i] - x - (i > 0 ? e[i - 1] * e[i - 1] / q : 0);
      if (q == 0) q = 1e-300;
      if (q < 0) ++count;
    }
    return count;
  };
  for (int it = 0; it < 100 && hi - lo > 1e-12 * std::max(1.0, std::fabs(hi)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (below(mid) < k) lo = mid;
    else hi = mid;
  }
  return hi;
}

template <typename Ops>
CgReport runCg(Ops& ops, int dv, const CgOptions& opts, const Progress& progress) {
  const std::vector<double> ones(dv, 1.0), minusOnes(dv, -1.0), alpha(dv, opts.alpha), minusAlpha(dv, -opts.alpha);
  const std::vector<double> bb = ops.dots(CG_B, CG_B);
  auto relative = [&](double rr, int c) { return bb[c] > 0 ? std::sqrt(rr / bb[c]) : std::sqrt(rr); };
  // The largest column's relative residual; NaN if any column's is (std::max would drop it).
  auto worst = [&](const std::vector<double>& rr) {
    double w = 0;
    for (int c = 0; c < dv; ++c) {
      const double r = relative(rr[c], c);
      if (r != r) return r;
      w = std::max(w, r);
    }
    return w;
  };
  auto breakdown = [](int it, const std::string& what) {
    throw SolveBreakdown("KernelSolve stopped at iteration " + std::to_string(it) + ": " + what +
                         " (NaN or infinity in the inputs, or a kernel that is not positive "
                         "semi-definite)");
  };

  CgReport report;
  report.residuals.assign(dv, 0.0);
  std::vector<double> rr(dv), target(dv), rz(dv), best(dv), step(dv), minusStep(dv), keep(dv), beta(dv);
  std::vector<int> since(dv);
  std::vector<char> active(dv);
  double previous = std::numeric_limits<double>::infinity();
  int slow = 0, restarts = 0;
  bool first = true;
  // The Lanczos matrix of the last inner pass, per column, and what it says of
  // lambda_max(alpha I + K) (0: nothing yet).
  std::vector<std::vector<double>> lanczosD(dv), lanczosE(dv);
  std::vector<double> lastStep(dv), lastBeta(dv);
  double lambdaA = 0;
  double innerCutoff = opts.innerCutoff;
  for (;;) {
    // r = b - (alpha x + K x), per-column |r|^2. From a zero start r is b itself.
    if (first && ops.allZero(CG_X)) {
      ops.copy(CG_R, CG_B);
      rr = bb;
    } else {
      // |dropped| <= t·|K||x| <= t·lambda_max(K)·|x| for a kernel of entries >= 0: pick t
      // so that this stays below kCertifyShare·tol·|b| in every column.
      double tolerance = 0;
      if (opts.nonnegativeKernel && !opts.preconditioner && lambdaA > opts.alpha) {
        const std::vector<double> xx = ops.dots(CG_X, CG_X);
        tolerance = std::numeric_limits<double>::infinity();
        const double lambdaK = kLanczosSafety * (lambdaA - opts.alpha);
        for (int c = 0; c < dv; ++c)
          if (xx[c] > 0) tolerance = std::min(tolerance, kCertifyShare * opts.tol * std::sqrt(bb[c] / xx[c]) / lambdaK);
        if (!std::isfinite(tolerance)) tolerance = 0;
      }
      ops.trueProduct(CG_X, CG_R, tolerance);
      ops.axpby(CG_R, ones, CG_B, minusOnes);
      ops.axpby(CG_R, minusAlpha, CG_X, ones);
      rr = ops.dots(CG_R, CG_R);
      ++report.refinements;
    }
    first = false;
    const double w = worst(rr);
    if (!std::isfinite(w)) breakdown(report.iterations, "the residual is not finite");
    for (int c = 0; c < dv; ++c) report.residuals[c] = relative(rr[c], c);
    report.residual = w;
    report.converged = w <= opts.tol;
    // A zero start with b = 0 "converges" without a product: make one anyway, so that a
    // kernel that is NaN is reported, not answered with x = 0.
    if (report.converged && report.refinements == 0 && report.iterations == 0) continue;
    if (report.converged) {
      report.reason = StopReason::Converged;
      return report;
    }
    if (report.iterations >= opts.maxIter) {
      report.reason = StopReason::MaxIter;
      return report;
    }
    const bool gained = !(w > kRefinementGain * previous);
    if (!gained && innerCutoff > 0) {
      innerCutoff = 0;  // the pass may have been held back by its products' dropped terms
      slow = 0;
    } else {
      slow = gained ? 0 : slow + 1;
    }
    if (slow >= kSlowRefinements) {
      report.reason = StopReason::Stagnated;
      return report;
    }
    previous = w;

    // PCG from r, x updated in place, until each column reaches its target or stalls. The
    // first pass aims at tol itself (a well-conditioned system gets there in the fast
    // product's precision); a restart, a correction step, only at innerFloor·|r|.
    const double floorFactor = restarts++ == 0 ? 0.0 : opts.innerFloor;
    for (int c = 0; c < dv; ++c) {
      const double floor = floorFactor * floorFactor * rr[c];
      target[c] = std::max(opts.tol * opts.tol * bb[c], floor);
      active[c] = rr[c] > target[c];
      best[c] = rr[c];
      since[c] = 0;
    }
    ops.precondition(CG_R, CG_Z);
    rz = ops.dots(CG_R, CG_Z);
    ops.copy(CG_P, CG_Z);
    for (int c = 0; c < dv; ++c) {
      lanczosD[c].clear();
      lanczosE[c].clear();
    }
    for (;;) {
      const bool any = std::any_of(active.begin(), active.end(), [](char a) { return a; });
      if (!any || report.iterations >= opts.maxIter) break;
      ops.checkCancel();
      // Finished columns keep p = 0, so they neither move nor disturb the others.
      ops.mask(CG_P, active);
      ops.product(CG_P, CG_Q, innerCutoff);
      ops.axpby(CG_Q, alpha, CG_P, ones);
      const std::vector<double> pq = ops.dots(CG_P, CG_Q);
      for (int c = 0; c < dv; ++c) {
        step[c] = 0;
        if (!active[c]) continue;
        if (!(pq[c] > 0)) breakdown(report.iterations, "p'(alpha I + K)p is not positive");
        step[c] = rz[c] / pq[c];
        minusStep[c] = -step[c];
      }
      for (int c = 0; c < dv; ++c)
        if (!active[c]) minusStep[c] = 0;
      ops.axpby(CG_X, step, CG_P, ones);
      ops.axpby(CG_R, minusStep, CG_Q, ones);
      const std::vector<double> rrNew = ops.dots(CG_R, CG_R);
      ++report.iterations;
      double estimate = 0;
      for (int c = 0; c < dv; ++c) {
        if (!active[c]) continue;
        if (!std::isfinite(rrNew[c])) breakdown(report.iterations, "the residual is not finite");
        estimate = std::max(estimate, relative(rrNew[c], c));
        rr[c] = rrNew[c];
        if (rrNew[c] < kStallImprovement * kStallImprovement * best[c]) {
          best[c] = rrNew[c];
          since[c] = 0;
        } else if (++since[c] >= kStallIterations) {
          active[c] = 0;  // stalled: the next true residual decides
        }
        if (rrNew[c] <= target[c]) active[c] = 0;
      }
      if (progress) progress({ProgressEvent::Iterate, report.iterations, estimate});
      ops.precondition(CG_R, CG_Z);
      const std::vector<double> rzNew = ops.dots(CG_R, CG_Z);
      for (int c = 0; c < dv; ++c) {
        if (step[c] > 0) {  // this column stepped: one more row of its Lanczos matrix
          const std::size_t k = lanczosD[c].size();
          lanczosD[c].push_back(1 / step[c] + (k > 0 ? lastBeta[c] / lastStep[c] : 0));
          lastStep[c] = step[c];
        }
        keep[c] = active[c] ? 1.0 : 0.0;
        beta[c] = active[c] && rz[c] != 0 ? rzNew[c] / rz[c] : 0.0;
        if (active[c] && !(rzNew[c] >= 0)) breakdown(report.iterations, "the preconditioned residual is not positive");
        if (active[c] && step[c] > 0) lanczosE[c].push_back(std::sqrt(beta[c]) / step[c]);
        lastBeta[c] = beta[c];
        rz[c] = rzNew[c];
      }
      ops.axpby(CG_P, keep, CG_Z, beta);
    }
    double lambda = 0;
    bool enough = true;
    for (int c = 0; c < dv; ++c) {
      if (lanczosD[c].empty()) continue;
      enough = enough && static_cast<int>(lanczosD[c].size()) >= kLanczosSteps;
      lanczosE[c].resize(lanczosD[c].size() - 1);
      lambda = std::max(lambda, largestTridiagonalEigenvalue(lanczosD[c], lanczosE[c]));
    }
    lambdaA = enough ? std::max(lambdaA, lambda) : 0;
  }
}

}  // namespace lk

// The conjugate-gradient iteration of cg.h, written once over a vector backend so that
// the CPU (cg.cc: host vectors) and the CUDA plugin (device vectors, only scalars come
// back to the host) run the same algorithm. No N-API, no CUDA here.
//
// Ops holds five n × dv float64 blocks, named by Vec, and offers:
//   product(v, out)        out = K v
//   copy(dst, src)
//   axpby(y, a, x, b)      y = a_c·x + b_c·y, coefficients per column c
//   mask(y, keep)          y = 0 in the columns where keep_c is 0
//   dots(u, v)             per-column u·v
//   allZero(v)
//   checkCancel()          throws Cancelled when the caller asked to stop
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cg.h"

namespace lk {

enum CgVec { CG_B, CG_X, CG_R, CG_P, CG_Q };

// The recurrence's residual drifts from the true one (rounding in K·p, float32 data),
// so a column that looks converged is checked against a fresh product and restarted
// from its true residual if it is not. A few checks suffice; past them the accuracy
// of the products themselves is the limit and the report says so.
constexpr int kMaxTrueResidualChecks = 4;

template <typename Ops>
CgReport runCg(Ops& ops, int dv, const CgOptions& opts, const Progress& progress) {
  const std::vector<double> ones(dv, 1.0), minusOnes(dv, -1.0), alpha(dv, opts.alpha), minusAlpha(dv, -opts.alpha);
  const std::vector<double> bb = ops.dots(CG_B, CG_B);
  auto relative = [&](const std::vector<double>& rr, int c) {
    return bb[c] > 0 ? std::sqrt(rr[c] / bb[c]) : std::sqrt(rr[c]);
  };
  // The largest column's relative residual; NaN if any column's is (std::max would drop it).
  auto worst = [&](const std::vector<double>& rr) {
    double w = 0;
    for (int c = 0; c < dv; ++c) {
      const double r = relative(rr, c);
      if (r != r) return r;
      w = std::max(w, r);
    }
    return w;
  };
  auto breakdown = [&](int it, const std::string& what) {
    throw SolveBreakdown("KernelSolve stopped at iteration " + std::to_string(it) + ": " + what +
                         " (NaN or infinity in the inputs, or a kernel that is not positive "
                         "semi-definite)");
  };
  // r = b - (alpha x + K x); returns per-column |r|^2.
  auto trueResidual = [&]() {
    ops.product(CG_X, CG_R);
    ops.axpby(CG_R, ones, CG_B, minusOnes);
    ops.axpby(CG_R, minusAlpha, CG_X, ones);
    return ops.dots(CG_R, CG_R);
  };

  CgReport report;
  // From a zero start the residual is b itself: no product needed (the common case).
  std::vector<double> rr;
  if (ops.allZero(CG_X)) {
    ops.copy(CG_R, CG_B);
    rr = bb;
  } else {
    rr = trueResidual();
  }
  ops.copy(CG_P, CG_R);
  std::vector<char> active(dv);
  std::vector<double> step(dv), minusStep(dv), keep(dv), beta(dv);
  int checks = 0;
  for (;;) {
    for (int c = 0; c < dv; ++c) {
      if (!std::isfinite(rr[c])) breakdown(report.iterations, "the residual is not finite");
      active[c] = relative(rr, c) > opts.tol;
    }
    const bool any = std::any_of(active.begin(), active.end(), [](char a) { return a; });
    if (any && report.iterations < opts.maxIter) {
      ops.checkCancel();
      // Finished columns keep p = 0, so they neither move nor disturb the others.
      ops.mask(CG_P, active);
      ops.product(CG_P, CG_Q);
      ops.axpby(CG_Q, alpha, CG_P, ones);
      const std::vector<double> pq = ops.dots(CG_P, CG_Q);
      for (int c = 0; c < dv; ++c) {
        step[c] = 0;
        if (!active[c]) continue;
        if (!(pq[c] > 0)) breakdown(report.iterations, "p'(alpha I + K)p is not positive");
        step[c] = rr[c] / pq[c];
      }
      for (int c = 0; c < dv; ++c) minusStep[c] = -step[c];
      ops.axpby(CG_X, step, CG_P, ones);
      ops.axpby(CG_R, minusStep, CG_Q, ones);
      const std::vector<double> rrNew = ops.dots(CG_R, CG_R);
      for (int c = 0; c < dv; ++c) {
        keep[c] = active[c] ? 1.0 : 0.0;
        beta[c] = active[c] ? rrNew[c] / rr[c] : 0.0;
        if (active[c]) rr[c] = rrNew[c];
      }
      ops.axpby(CG_P, keep, CG_R, beta);
      ++report.iterations;
      if (progress) progress(report.iterations, worst(rr));
      continue;
    }
    // The recurrence says done (or the budget is spent): measure the truth.
    rr = trueResidual();
    report.residual = worst(rr);
    if (!std::isfinite(report.residual)) breakdown(report.iterations, "the residual is not finite");
    report.converged = report.residual <= opts.tol;
    if (report.converged || report.iterations >= opts.maxIter || ++checks >= kMaxTrueResidualChecks) return report;
    ops.copy(CG_P, CG_R);  // restart the lagging columns from their true residual
  }
}

}  // namespace lk

#include "cg.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../engine.h"

namespace lk {
namespace {

// The recurrence's residual drifts from the true one (rounding in K·p, float32 data),
// so a column that looks converged is checked against a fresh product and restarted
// from its true residual if it is not. A few checks suffice; past them the accuracy
// of the products themselves is the limit and the report says so.
constexpr int kMaxTrueResidualChecks = 4;

// r = b - (alpha x + K x); returns per-column |r|^2.
std::vector<double> trueResidual(const BlockProduct& kv, std::size_t n, int dv, double alpha,
                                 const double* b, const double* x, std::vector<double>& r) {
  kv(x, r.data());
  std::vector<double> rr(dv, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (int c = 0; c < dv; ++c) {
      std::size_t k = i * dv + c;
      r[k] = b[k] - alpha * x[k] - r[k];
      rr[c] += r[k] * r[k];
    }
  return rr;
}

void checkCancel(const int32_t* cancel) {
  if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) throw Cancelled();
}

}  // namespace

CgReport conjugateGradient(const BlockProduct& kv, std::size_t n, int dv, const double* b,
                           double* x, const CgOptions& opts, const Progress& progress) {
  const std::size_t len = n * static_cast<std::size_t>(dv);
  std::vector<double> r(len), p(len), q(len);
  std::vector<double> bb(dv, 0.0);
  for (std::size_t k = 0; k < len; ++k) bb[k % dv] += b[k] * b[k];

  auto relative = [&](const std::vector<double>& rr, int c) {
    return bb[c] > 0 ? std::sqrt(rr[c] / bb[c]) : std::sqrt(rr[c]);
  };
  auto worst = [&](const std::vector<double>& rr) {
    double w = 0;
    for (int c = 0; c < dv; ++c) w = std::max(w, relative(rr, c));
    return w;
  };
  auto breakdown = [&](int it, const std::string& what) {
    throw SolveBreakdown("KernelSolve stopped at iteration " + std::to_string(it) + ": " + what +
                         " (NaN or infinity in the inputs, or a kernel that is not positive "
                         "semi-definite)");
  };

  CgReport report;
  // From a zero start the residual is b itself: no product needed (the common case).
  const bool cold = std::all_of(x, x + len, [](double v) { return v == 0.0; });
  std::vector<double> rr = cold ? bb : trueResidual(kv, n, dv, opts.alpha, b, x, r);
  if (cold) std::copy(b, b + len, r.begin());
  p = r;
  std::vector<char> active(dv);
  int checks = 0;
  for (;;) {
    for (int c = 0; c < dv; ++c) {
      if (!std::isfinite(rr[c])) breakdown(report.iterations, "the residual is not finite");
      active[c] = relative(rr, c) > opts.tol;
    }
    bool any = std::any_of(active.begin(), active.end(), [](char a) { return a; });
    if (any && report.iterations < opts.maxIter) {
      checkCancel(opts.cancel);
      // Finished columns keep p = 0, so they neither move nor disturb the others.
      for (std::size_t k = 0; k < len; ++k)
        if (!active[k % dv]) p[k] = 0;
      kv(p.data(), q.data());
      std::vector<double> pq(dv, 0.0);
      for (std::size_t k = 0; k < len; ++k) {
        q[k] += opts.alpha * p[k];
        pq[k % dv] += p[k] * q[k];
      }
      std::vector<double> step(dv, 0.0), rrNew(dv, 0.0);
      for (int c = 0; c < dv; ++c) {
        if (!active[c]) continue;
        if (!(pq[c] > 0)) breakdown(report.iterations, "p'(alpha I + K)p is not positive");
        step[c] = rr[c] / pq[c];
      }
      for (std::size_t k = 0; k < len; ++k) {
        int c = static_cast<int>(k % dv);
        if (!active[c]) continue;
        x[k] += step[c] * p[k];
        r[k] -= step[c] * q[k];
        rrNew[c] += r[k] * r[k];
      }
      for (std::size_t k = 0; k < len; ++k) {
        int c = static_cast<int>(k % dv);
        if (active[c]) p[k] = r[k] + (rrNew[c] / rr[c]) * p[k];
      }
      for (int c = 0; c < dv; ++c)
        if (active[c]) rr[c] = rrNew[c];
      ++report.iterations;
      if (progress) progress(report.iterations, worst(rr));
      continue;
    }
    // The recurrence says done (or the budget is spent): measure the truth.
    rr = trueResidual(kv, n, dv, opts.alpha, b, x, r);
    report.residual = worst(rr);
    if (!std::isfinite(report.residual)) breakdown(report.iterations, "the residual is not finite");
    report.converged = report.residual <= opts.tol;
    if (report.converged || report.iterations >= opts.maxIter || ++checks >= kMaxTrueResidualChecks)
      return report;
    p = r;  // restart the lagging columns from their true residual
  }
}

}  // namespace lk

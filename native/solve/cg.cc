#include "cg.h"

#include <algorithm>
#include <vector>

#include "../engine.h"
#include "cg_loop.h"
#include "precond.h"

namespace lk {
namespace {

// The CG vectors in host memory; x is the caller's array (it receives the solution).
class HostOps {
 public:
  HostOps(const BlockProduct& fast, const BlockProduct& accurate, std::size_t n, int dv, const double* b, double* x,
          const CgOptions& opts)
      : fast_(fast), accurate_(accurate), len_(n * dv), dv_(dv), b_(b), x_(x), opts_(opts),
        r_(len_), p_(len_), q_(len_), z_(len_) {}

  void product(CgVec v, CgVec out, double pruneTolerance) { fast_(at(v), at(out), pruneTolerance); }
  void trueProduct(CgVec v, CgVec out, double pruneTolerance) { accurate_(at(v), at(out), pruneTolerance); }
  void precondition(CgVec r, CgVec z) {
    if (opts_.preconditioner) opts_.preconditioner->apply(at(r), at(z));
    else copy(z, r);
  }
  void copy(CgVec dst, CgVec src) { std::copy(at(src), at(src) + len_, at(dst)); }
  // Rows of dv values, one per column: no k % dv per element (an integer division, a
  // tenth of a KernelSolve's vector work at N = 1e6), and one column vectorises.
  void axpby(CgVec y, const std::vector<double>& a, CgVec x, const std::vector<double>& b) {
    double* yy = at(y);
    const double* xx = at(x);
    if (dv_ == 1) {
      const double a0 = a[0], b0 = b[0];
      for (std::size_t k = 0; k < len_; ++k) yy[k] = a0 * xx[k] + b0 * yy[k];
      return;
    }
    for (std::size_t k = 0; k < len_; k += dv_)
      for (int c = 0; c < dv_; ++c) yy[k + c] = a[c] * xx[k + c] + b[c] * yy[k + c];
  }
  void mask(CgVec y, const std::vector<char>& keep) {
    double* yy = at(y);
    for (int c = 0; c < dv_; ++c)
      if (!keep[c])
        for (std::size_t k = c; k < len_; k += dv_) yy[k] = 0;
  }
  std::vector<double> dots(CgVec u, CgVec v) {
    std::vector<double> out(dv_, 0.0);
    const double *uu = at(u), *vv = at(v);
    for (std::size_t k = 0; k < len_; k += dv_)
      for (int c = 0; c < dv_; ++c) out[c] += uu[k + c] * vv[k + c];
    return out;
  }
  bool allZero(CgVec v) { return std::all_of(at(v), at(v) + len_, [](double e) { return e == 0.0; }); }
  void checkCancel() {
    if (opts_.cancel && __atomic_load_n(opts_.cancel, __ATOMIC_RELAXED)) throw Cancelled();
  }

 private:
  double* at(CgVec v) {
    switch (v) {
      case CG_B: return const_cast<double*>(b_);  // never written: b only ever appears as a source
      case CG_X: return x_;
      case CG_R: return r_.data();
      case CG_P: return p_.data();
      case CG_Q: return q_.data();
      default: return z_.data();
    }
  }
  const BlockProduct& fast_;
  const BlockProduct& accurate_;
  std::size_t len_;
  int dv_;
  const double* b_;
  double* x_;
  const CgOptions& opts_;
  std::vector<double> r_, p_, q_, z_;
};

}  // namespace

CgReport conjugateGradient(const BlockProduct& fast, const BlockProduct& accurate, std::size_t n, int dv,
                           const double* b, double* x, const CgOptions& opts, const Progress& progress) {
  HostOps ops(fast, accurate, n, dv, b, x, opts);
  return runCg(ops, dv, opts, progress);
}

}  // namespace lk

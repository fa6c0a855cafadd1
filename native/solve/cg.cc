#include "cg.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../engine.h"
#include "cg_loop.h"
#include "precond.h"

namespace lk {
namespace {

// Rows per chunk of the host's vector operations. Partial dot products are added chunk
// by chunk in order, so these operations' results do not depend on the thread count (a
// product's may: a half plan's per-thread sums follow the threads' share of the rows).
constexpr std::size_t kChunkRows = 8192;
// Below this many values a vector operation stays on one thread (a team's start costs more).
constexpr std::size_t kParallelValues = std::size_t(1) << 16;

// The CG vectors in host memory; x is the caller's array (it receives the solution).
// Without a preconditioner z is r itself (z = M r = r), which saves a copy a step. The
// operations run on the solve's threads: at N = 1e6 they streamed about 150 MB an
// iteration on one thread, 0.7 s of a 5.4 s reference solve (2-core AMD EPYC VM).
class HostOps {
 public:
  HostOps(const BlockProduct& fast, const BlockProduct& accurate, std::size_t n, int dv, const double* b, double* x,
          const CgOptions& opts)
      : fast_(fast), accurate_(accurate), len_(n * dv), dv_(dv), b_(b), x_(x), opts_(opts),
        threads_(len_ >= kParallelValues ? std::max(1, opts.threads) : 1),
        r_(len_), p_(len_), q_(len_), z_(opts.preconditioner ? len_ : 0) {}

  void product(CgVec v, CgVec out, double pruneTolerance) { fast_(at(v), at(out), pruneTolerance); }
  void trueProduct(CgVec v, CgVec out, double pruneTolerance) { accurate_(at(v), at(out), pruneTolerance); }
  void precondition(CgVec r, CgVec z) {
    if (opts_.preconditioner) opts_.preconditioner->apply(at(r), at(z));
    else copy(z, r);
  }
  void copy(CgVec dst, CgVec src) {
    if (at(dst) == at(src)) return;
    const double* s = at(src);
    double* d = at(dst);
    chunks([&](std::size_t k0, std::size_t k1) { std::copy(s + k0, s + k1, d + k0); });
  }
  // Rows of dv values, one per column: no k % dv per element (an integer division, a
  // tenth of a KernelSolve's vector work at N = 1e6), and one column vectorises.
  void axpby(CgVec y, const std::vector<double>& a, CgVec x, const std::vector<double>& b) {
    double* yy = at(y);
    const double* xx = at(x);
    const int dv = dv_;
    chunks([&](std::size_t k0, std::size_t k1) {
      if (dv == 1) {
        const double a0 = a[0], b0 = b[0];
        for (std::size_t k = k0; k < k1; ++k) yy[k] = a0 * xx[k] + b0 * yy[k];
        return;
      }
      for (std::size_t k = k0; k < k1; k += dv)
        for (int c = 0; c < dv; ++c) yy[k + c] = a[c] * xx[k + c] + b[c] * yy[k + c];
    });
  }
  void mask(CgVec y, const std::vector<char>& keep) {
    if (std::all_of(keep.begin(), keep.end(), [](char k) { return k; })) return;
    double* yy = at(y);
    const int dv = dv_;
    chunks([&](std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; k += dv)
        for (int c = 0; c < dv; ++c)
          if (!keep[c]) yy[k + c] = 0;
    });
  }
  std::vector<double> dots(CgVec u, CgVec v) {
    const double *uu = at(u), *vv = at(v);
    const int dv = dv_;
    const std::size_t count = chunkCount();
    partial_.assign(count * dv, 0.0);
    double* part = partial_.data();
    chunks([&](std::size_t k0, std::size_t k1) {
      double* out = part + (k0 / (kChunkRows * std::max(dv, 1))) * dv;
      if (dv == 1) {
        double s = 0;
        for (std::size_t k = k0; k < k1; ++k) s += uu[k] * vv[k];
        out[0] = s;
        return;
      }
      for (std::size_t k = k0; k < k1; k += dv)
        for (int c = 0; c < dv; ++c) out[c] += uu[k + c] * vv[k + c];
    });
    std::vector<double> out(dv, 0.0);
    for (std::size_t i = 0; i < count; ++i)
      for (int c = 0; c < dv; ++c) out[c] += part[i * dv + c];
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
      default: return opts_.preconditioner ? z_.data() : r_.data();
    }
  }
  std::size_t chunkCount() const { return (len_ / std::max(dv_, 1) + kChunkRows - 1) / kChunkRows; }
  // f(k0, k1) over the values [k0, k1) of each chunk of whole rows, on the solve's threads.
  template <typename F>
  void chunks(F f) {
    const int64_t count = static_cast<int64_t>(chunkCount());
    const std::size_t width = kChunkRows * std::max(dv_, 1);
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1)
    for (int64_t i = 0; i < count; ++i)
      f(static_cast<std::size_t>(i) * width, std::min(len_, static_cast<std::size_t>(i + 1) * width));
  }
  const BlockProduct& fast_;
  const BlockProduct& accurate_;
  std::size_t len_;
  int dv_;
  const double* b_;
  double* x_;
  const CgOptions& opts_;
  int threads_;
  std::vector<double> r_, p_, q_, z_;
  std::vector<double> partial_;  // per chunk and column, a dot product's partial sums
};

}  // namespace

CgReport conjugateGradient(const BlockProduct& fast, const BlockProduct& accurate, std::size_t n, int dv,
                           const double* b, double* x, const CgOptions& opts, const Progress& progress) {
  HostOps ops(fast, accurate, n, dv, b, x, opts);
  return runCg(ops, dv, opts, progress);
}

}  // namespace lk

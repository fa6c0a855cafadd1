// Conjugate gradients for (alpha I + K) x = b with several right-hand sides, using only
// products K·V. No N-API here; native/solve_binding.cc runs it on the job queue.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>

namespace lk {

struct CgOptions {
  double alpha = 0;
  double tol = 1e-6;     // per column: stop when |r| <= tol |b|
  int maxIter = 1000;    // total iterations, restarts included
  const int32_t* cancel = nullptr;  // nonzero: stop between iterations (throws Cancelled)
};

struct CgReport {
  int iterations = 0;
  double residual = 0;   // worst column's |b - (alpha x + K x)| / |b|, from a fresh product
  bool converged = false;
};

// A solve that cannot go on: a non-finite residual or a direction of non-positive
// curvature (NaN in the data, or a kernel that is not positive semi-definite).
struct SolveBreakdown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// kv(v, out): out = K v for n x dv row-major float64 blocks.
using BlockProduct = std::function<void(const double* v, double* out)>;
// Called after every iteration with the worst column's relative residual estimate.
using Progress = std::function<void(int iteration, double residual)>;

// x holds the start (zeros, or a warm start) and receives the solution; b and x are
// n x dv row-major. Each column runs its own CG scalars and stops on its own test.
CgReport conjugateGradient(const BlockProduct& kv, std::size_t n, int dv, const double* b,
                           double* x, const CgOptions& opts, const Progress& progress);

}  // namespace lk

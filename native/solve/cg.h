// Preconditioned conjugate gradients for (alpha I + K) x = b with several right-hand
// sides, using only products K·V. No N-API here; native/binding/solve.cc runs it on the
// job queue, native/solve/precond.h builds the preconditioner.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

namespace lk {

class Preconditioner;  // precond.h

// Why a solve stopped.
enum class StopReason : int { Converged = 0, MaxIter = 1, Stagnated = 2 };

struct CgOptions {
  double alpha = 0;
  double tol = 1e-6;     // per column: stop when |r| <= tol |b|, r the true residual
  int maxIter = 1000;    // total iterations (products of the fast kind), restarts included
  const int32_t* cancel = nullptr;  // nonzero: stop between iterations (throws Cancelled)
  // A restart (a refinement step, after the first pass) asks the iteration for at most
  // this relative decrease of the current residual: about what its products can resolve
  // (float32 products: 1e-3; float64 products: 0, the final tol directly).
  double innerFloor = 0;
  // The iteration's products drop the pairs whose kernel value is below this
  // (RunContext::pruneCutoff; 0: the products' own pruning, within the unit roundoff of
  // each row's Σ_j |K_ij v_j|). Looser products only slow a refinement pass, never the
  // answer, which the true residuals judge; where a pass fails to halve the residual the
  // iteration falls back to 0 before it calls the solve stagnated.
  double innerCutoff = 0;
  const Preconditioner* preconditioner = nullptr;  // null: none
  int threads = 1;  // for the host's vector operations
  // True when K's entries are >= 0 (the recognised radial kernels): then |K||x| <= K's
  // largest eigenvalue · |x|, which lets a true residual's product drop terms within a
  // sound bound (see BlockProduct).
  bool nonnegativeKernel = false;
};

struct CgReport {
  int iterations = 0;    // products of the iteration (K·P), restarts included
  int refinements = 0;   // true residuals measured from a fresh product (the accurate kind)
  double residual = 0;   // worst column's |b - (alpha x + K x)| / |b|, from the last of them
  std::vector<double> residuals;  // each column's
  bool converged = false;
  StopReason reason = StopReason::MaxIter;
};

// A solve that cannot go on: a non-finite residual or a direction of non-positive
// curvature (NaN in the data, or a kernel that is not positive semi-definite).
struct SolveBreakdown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a progress callback hears: a preconditioner setup step (step, and the value the
// setup tracks: the residual trace of the Nyström factor, the blocks done), or an
// iteration (step = iterations so far, value = the worst column's estimated relative
// residual).
struct ProgressEvent {
  enum Phase { Setup = 0, Iterate = 1 } phase;
  int step;
  double value;
};
using Progress = std::function<void(const ProgressEvent&)>;

// kv(v, out, t): out = K v for n x dv row-major float64 blocks, where the product prunes
// dropping what t allows (0: the product's own default). For the accurate product t is a
// relative pruning tolerance: true residuals pass one whose dropped terms move the
// residual by less than a twentieth of tol·|b|. For the fast one it is
// CgOptions::innerCutoff.
using BlockProduct = std::function<void(const double* v, double* out, double t)>;

// x holds the start (zeros, or a warm start) and receives the solution; b and x are
// n x dv row-major. Each column runs its own CG scalars and stops on its own test.
// `accurate` measures the true residuals; `fast` drives the iteration.
CgReport conjugateGradient(const BlockProduct& fast, const BlockProduct& accurate, std::size_t n, int dv,
                           const double* b, double* x, const CgOptions& opts, const Progress& progress);

}  // namespace lk

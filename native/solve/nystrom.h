// The Nyström preconditioner P = alpha I + F Fᵀ, F (n × m) a partial Cholesky factor of
// K whose pivots, the landmarks S, are drawn by randomly pivoted Cholesky (each pivot
// with probability proportional to the diagonal of the residual K - F Fᵀ; Chen, Epperly,
// Tropp and Webber, 2023) or uniformly. F Fᵀ = K_{:,S} K_{S,S}^-1 K_{S,:}, the Nyström
// approximation, and K - F Fᵀ is positive semi-definite, so P^-1 (alpha I + K) has its
// eigenvalues in [1, 1 + lambda_max(K - F Fᵀ) / alpha]. P^-1 is applied by the Woodbury
// identity, P^-1 r = (r - F (alpha I + FᵀF)^-1 Fᵀ r) / alpha, at 2·n·m per column.
// Pivots come in blocks (their kernel columns in one engine call, the factor's update as
// matrix products); a block's pivots that the earlier ones already explain are dropped.
#pragma once
#include <cstdint>
#include <memory>

#include "cg.h"
#include "entries.h"
#include "precond.h"

namespace lk {

// A partial Cholesky factor F of K, grown block of pivots by block, with the trace of the
// residual K - F Fᵀ. Room for `capacity` ranks is reserved up front (address space only:
// memory is touched as the factor grows).
class PivotedCholesky {
 public:
  // single: the factor is stored in float32 (for float32 data), else float64. threads: for
  // the setup's products and the preconditioner's.
  PivotedCholesky(KernelEntries& k, int capacity, bool single, bool uniform, uint64_t seed, const int32_t* cancel,
                  int threads);
  ~PivotedCholesky();
  // Adds pivots, `block` at a time, until the rank reaches maxRank (or the capacity) or
  // the residual's trace is at most stopTrace. Throws Cancelled (checked between blocks).
  void grow(int maxRank, double stopTrace, int block, const Progress& progress);
  // P = alpha I + F Fᵀ, applied by Woodbury (alpha > 0) on the threads given above. The
  // factor moves into it.
  std::unique_ptr<Preconditioner> preconditioner(double alpha, int dv);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace lk

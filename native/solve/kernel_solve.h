// A kernel solve from start to end, free of N-API: the products K·v through the engine
// (the data's type for the iteration, float64 for the true residuals of float32 data),
// the preconditioner's setup, and preconditioned CG (cg.h). native/binding/solve.cc
// checks a call and hands it here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../engine.h"
#include "cg.h"

namespace lk {

class Preconditioner;

// A preconditioner built by one solve, with the system it was built for.
struct KeptPreconditioner {
  std::shared_ptr<const Preconditioner> p;
  std::size_t n = 0;
  int dv = 0;
  double alpha = 0;
};

struct PreconditionerRequest {
  enum Kind { None, Nystrom, Jacobi, Auto } kind = None;
  int rank = 0;          // Nyström landmarks; 0: chosen from the data, within the memory budget
  bool uniform = false;  // Nyström landmarks uniformly at random instead of by RPCholesky
  uint64_t seed = 1;
  // Used instead of a new setup when it was built for the same n, dv and alpha (the
  // caller vouches for the same kernel and points: a gradient's adjoint solve).
  KeptPreconditioner reuse;
};

struct SolveRequest {
  const Program* program;   // K·v, a Sum over j, v the j-variable in argument slot `slot`
  const void* const* args;  // program's arrays (args[slot] is not read)
  int slot;
  std::size_t n;
  int dv;
  const double* b;          // n × dv
  double* x;                // n × dv: the start, then the solution
  CgOptions cg;             // alpha, tol, maxIter (cancel is set from run.cancel)
  RunContext run;           // prune options, ranges, device, threads, cancel
  PreconditionerRequest preconditioner;
};

struct SolveOutcome {
  CgReport report;
  std::string preconditioner = "none";  // what ran: none, nystrom or jacobi
  int rank = 0;                         // its rank (Nyström) or largest block (Jacobi)
  double setupSeconds = 0;
  bool reused = false;                  // the request's kept preconditioner ran, none was built
  uint64_t iterationPairs = 0;          // (i, j) pairs the iteration's products evaluated
  uint64_t refinementPairs = 0;         // and the true residuals' (RunContext::pairs)
  KeptPreconditioner kept;              // what ran, for another solve of the same system
};

// Throws Cancelled, SolveBreakdown, MemoryError, ProgramError, CudaError.
SolveOutcome solveKernelSystem(const SolveRequest& r, const Progress& progress);

}  // namespace lk

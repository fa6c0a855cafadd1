// A preconditioner M ≈ (alpha I + K)^-1 for conjugate gradients, built once per solve
// (nystrom.h, jacobi.h), and kept for another solve of the same system when asked (a
// gradient's adjoint solve). M must be symmetric positive definite; apply() is const and
// keeps its scratch local, so solves may share one.
#pragma once
#include <cstddef>
#include <string>

namespace lk {

class Preconditioner {
 public:
  virtual ~Preconditioner() = default;
  // z = M r for an n x dv row-major block (each column alike).
  virtual void apply(const double* r, double* z) const = 0;
  // 'nystrom' or 'jacobi'.
  virtual const char* kind() const = 0;
  // The Nyström rank, or the largest block of block-Jacobi.
  virtual int rank() const = 0;
  // The memory it holds.
  virtual std::size_t bytes() const = 0;
};

}  // namespace lk

// Entries of a solve's kernel matrix K, for building preconditioners: K_ij is the
// program's formula at the pair (i, j) with the unknown set to e_0 (component 0 of the
// result), so that any formula linear in the unknown, K_ij·a_j, gives its kernel. Read
// through the engine (engine.h, evaluatePairs): the generic interpreter, on all threads,
// checking the cancel flag. No N-API here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../engine.h"

namespace lk {

class KernelEntries {
 public:
  // p computes K·v with v the j-variable in argument slot `slot`; args are p's arrays
  // (the unknown's is not read). ctx: threads and cancel flag.
  KernelEntries(const Program& p, const void* const* args, int slot, const RunContext& ctx);

  std::size_t size() const { return p_.n; }

  // out[i] = K_ii.
  void diagonal(double* out);
  // out[i·cols.size() + k] = K(i, cols[k]) for every row i; cols ascending, distinct.
  void columns(const std::vector<std::size_t>& cols, double* out);
  // out[a·cols.size() + k] = K(rows[a], cols[k]): the submatrix at any rows and columns
  // (rows null: every row).
  void submatrix(const std::vector<std::size_t>* rows, const std::vector<std::size_t>& cols, double* out);
  // The diagonal blocks of K with its rows and columns in the order `order` (a
  // permutation of 0..n-1): block k covers positions [bounds[k], bounds[k+1]); out holds
  // each block's entries row-major, one block after another.
  void blocks(const std::vector<uint32_t>& order, const std::vector<std::size_t>& bounds, double* out);

 private:
  // The pairs `ranges` give of p (this kernel's program or a variant of it), through
  // the engine with this solve's threads and cancel flag.
  void evaluate(const Program& p, const void* const* args, Ranges& ranges, const std::vector<std::size_t>& offsets,
                double* out);
  Program p_;
  std::vector<const void*> args_;
  std::vector<unsigned char> unit_;  // the unknown's stand-in: n rows of e_0
  RunContext ctx_;
};

}  // namespace lk

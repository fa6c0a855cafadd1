// The block-Jacobi preconditioner: P = blockdiag(alpha I + K_BB) over spatial clusters B
// of the points (the k-d tree pruning uses, leaves of at most `leaf` points), each block
// factored once (Cholesky). Each block is a principal submatrix of alpha I + K, so P is
// positive definite whenever the system is. Cheap to build and apply (O(leaf) per point),
// it pays where the kernel is narrow: most of a point's kernel weight lies within its
// cluster, and the iteration's hard part, the near neighbours, is solved exactly.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "cg.h"
#include "entries.h"
#include "precond.h"

namespace lk {

// order: the points in cluster order (a permutation of 0..n-1); bounds: the clusters as
// positions [bounds[k], bounds[k+1]) of order. Throws Cancelled (checked between blocks).
std::unique_ptr<Preconditioner> buildJacobi(KernelEntries& k, double alpha, int dv, std::vector<uint32_t> order,
                                            std::vector<std::size_t> bounds, int threads, const Progress& progress,
                                            const int32_t* cancel);

}  // namespace lk

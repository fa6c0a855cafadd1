// The dense linear algebra of the preconditioners, on small and medium matrices (a
// cluster's block, the Nyström factor and its landmarks' Gram matrix): Cholesky
// factorisations, triangular solves and matrix products. Through Eigen where the build
// found it (the prebuilt binaries, CI's main build); through plain loops where it did not
// (a source build on a machine without Eigen's headers, and the sanitizer build, so that
// CI runs both). Matrices are row-major double, `ld` their row strides.
#pragma once
#include <cstddef>

namespace lk {

// The operations, as function pointers into the build for this CPU (dense.cc is compiled
// once per instruction-set level, as the engine's hot loops; dispatch.cc picks).
struct DenseOps {
  // Which implementation: "eigen" or "loops".
  const char* backend;

  // Threads the products may use (Eigen's own OpenMP team).
  void (*setThreads)(int threads);

  // Overwrites the lower triangle of the n × n symmetric matrix a with its Cholesky
  // factor L (a = L Lᵀ). Returns false, leaving a unspecified, when a is not positive
  // definite (in floating point).
  bool (*cholesky)(double* a, int n);

  // Solves L Lᵀ x = b in place for `cols` right-hand sides: b is n × cols, L the factor
  // cholesky() left in l.
  void (*choleskySolve)(const double* l, int n, double* b, int cols);

  // g := L⁻¹ g for L lower triangular (k × k, stride ldl) and g k × cols (stride ldg).
  void (*solveLower)(const double* l, int k, std::size_t ldl, double* g, std::size_t cols, std::size_t ldg);

  // c += scale · Aᵀ · Bᵀ: A inner × rows (stride lda), B cols × inner (stride ldb), c rows
  // × cols (stride ldc).
  void (*multiplyAddTransposedBoth)(const double* a, std::size_t rows, std::size_t inner, std::size_t lda,
                                    const double* b, std::size_t cols, std::size_t ldb, double* c, std::size_t ldc,
                                    double scale);

  // c += scale · A · Bᵀ: A rows × inner (stride lda), B cols × inner (stride ldb), c rows ×
  // cols (stride ldc).
  void (*multiplyAddTransposedRight)(const double* a, std::size_t rows, std::size_t inner, std::size_t lda,
                                     const double* b, std::size_t cols, std::size_t ldb, double* c, std::size_t ldc,
                                     double scale);

  // multiplyAddTransposedBoth in float32, for the Nyström factor's updates while its
  // residual is large enough for float32 to resolve.
  void (*multiplyAddTransposedBothFloat)(const float* a, std::size_t rows, std::size_t inner, std::size_t lda,
                                         const float* b, std::size_t cols, std::size_t ldb, float* c, std::size_t ldc,
                                         float scale);

  // The Nyström factor's products, A stored in float32 (float32 data: half the memory to
  // stream) or float64, accumulated in float64, on `threads` threads; the same loops with
  // or without Eigen (its matrix-vector products are single-threaded and take no float32
  // matrix). c = A · B: A rows × inner (row-major, stride = inner), B inner × cols, c rows
  // × cols. Then c = Aᵀ · B: B rows × cols, c inner × cols.
  void (*multiplyFloat)(const float* a, std::size_t rows, std::size_t inner, const double* b, std::size_t cols,
                        double* c, int threads);
  void (*multiplyFloatTransposedLeft)(const float* a, std::size_t rows, std::size_t inner, const double* b,
                                      std::size_t cols, double* c, int threads);
  void (*multiplyDouble)(const double* a, std::size_t rows, std::size_t inner, const double* b, std::size_t cols,
                         double* c, int threads);
  void (*multiplyDoubleTransposedLeft)(const double* a, std::size_t rows, std::size_t inner, const double* b,
                                       std::size_t cols, double* c, int threads);
};

// The operations of the build for this CPU.
const DenseOps& dense();

}  // namespace lk

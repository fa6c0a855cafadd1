// Compiled once per instruction-set level (sources.json "kernels"), as the CPU engine's
// hot loops: Eigen's products run at the width of the CPU (AVX-512 made the Nyström
// setup several times faster than the baseline build). Each build gets its own copy of
// Eigen, under its own namespace name, so that no template instantiated for AVX-512 can
// be picked by the linker for the baseline build.
#include "dense.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>

#if defined(LK_HAVE_EIGEN)
// GCC 12 reports a false "maybe uninitialized" inside Eigen's AVX-512 packet code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define LK_EIGEN_NAME(isa) Eigen_##isa
#define LK_EIGEN_NAME_OF(isa) LK_EIGEN_NAME(isa)
#define Eigen LK_EIGEN_NAME_OF(LK_ISA_NS)
#include <Eigen/Cholesky>
#include <Eigen/Core>
#endif

namespace lk {
namespace LK_ISA_NS {
namespace {

#if defined(LK_HAVE_EIGEN)
constexpr const char* kBackend = "eigen";
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
using ConstStrided = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;

Strided view(double* p, std::size_t rows, std::size_t cols, std::size_t ld) {
  return Strided(p, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols),
                 Eigen::OuterStride<>(static_cast<Eigen::Index>(ld)));
}
ConstStrided view(const double* p, std::size_t rows, std::size_t cols, std::size_t ld) {
  return ConstStrided(p, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols),
                      Eigen::OuterStride<>(static_cast<Eigen::Index>(ld)));
}

// Eigen's thread count is one process-wide value, and a Sync solve may set it while the
// worker's solve runs: writes are serialised and made only when it changes.
void setThreads(int threads) {
  static std::mutex* m = new std::mutex();
  std::lock_guard<std::mutex> lock(*m);
  if (Eigen::nbThreads() != threads) Eigen::setNbThreads(threads);
}

bool cholesky(double* a, int n) {
  Strided m = view(a, n, n, n);
  Eigen::LLT<Eigen::Ref<RowMatrix, 0, Eigen::OuterStride<>>, Eigen::Lower> llt(m);  // in place
  return llt.info() == Eigen::Success;
}

void choleskySolve(const double* l, int n, double* b, int cols) {
  ConstStrided lm = view(l, n, n, n);
  Strided bm = view(b, n, cols, cols);
  lm.triangularView<Eigen::Lower>().solveInPlace(bm);
  lm.transpose().triangularView<Eigen::Upper>().solveInPlace(bm);
}

void solveLower(const double* l, int k, std::size_t ldl, double* g, std::size_t cols, std::size_t ldg) {
  if (k == 0 || cols == 0) return;
  Strided gm = view(g, k, cols, ldg);
  view(l, k, k, ldl).triangularView<Eigen::Lower>().solveInPlace(gm);
}

template <typename T>
void multiplyAddTransposedBothT(const T* a, std::size_t rows, std::size_t inner, std::size_t lda, const T* b,
                                std::size_t cols, std::size_t ldb, T* c, std::size_t ldc, T scale) {
  if (rows == 0 || inner == 0 || cols == 0) return;
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
  using ConstMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  auto ix = [](std::size_t v) { return static_cast<Eigen::Index>(v); };
  Map cm(c, ix(rows), ix(cols), Eigen::OuterStride<>(ix(ldc)));
  cm.noalias() += scale * (ConstMap(a, ix(inner), ix(rows), Eigen::OuterStride<>(ix(lda))).transpose() *
                           ConstMap(b, ix(cols), ix(inner), Eigen::OuterStride<>(ix(ldb))).transpose());
}

void multiplyAddTransposedRight(const double* a, std::size_t rows, std::size_t inner, std::size_t lda,
                                const double* b, std::size_t cols, std::size_t ldb, double* c, std::size_t ldc,
                                double scale) {
  if (rows == 0 || inner == 0 || cols == 0) return;
  Strided cm = view(c, rows, cols, ldc);
  cm.noalias() += scale * (view(a, rows, inner, lda) * view(b, cols, inner, ldb).transpose());
}

#else

constexpr const char* kBackend = "loops";

void setThreads(int) {}

bool cholesky(double* a, int n) {
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    const double ljj = std::sqrt(d);
    a[j * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / ljj;
    }
  }
  return true;
}

void choleskySolve(const double* l, int n, double* b, int cols) {
  for (int c = 0; c < cols; ++c) {
    for (int i = 0; i < n; ++i) {  // L y = b
      double s = b[i * cols + c];
      for (int k = 0; k < i; ++k) s -= l[i * n + k] * b[k * cols + c];
      b[i * cols + c] = s / l[i * n + i];
    }
    for (int i = n - 1; i >= 0; --i) {  // Lᵀ x = y
      double s = b[i * cols + c];
      for (int k = i + 1; k < n; ++k) s -= l[k * n + i] * b[k * cols + c];
      b[i * cols + c] = s / l[i * n + i];
    }
  }
}

void solveLower(const double* l, int k, std::size_t ldl, double* g, std::size_t cols, std::size_t ldg) {
  for (int i = 0; i < k; ++i) {
    double* gi = g + i * ldg;
    for (int t = 0; t < i; ++t) {
      const double lit = l[i * ldl + t];
      const double* gt = g + t * ldg;
      for (std::size_t c = 0; c < cols; ++c) gi[c] -= lit * gt[c];
    }
    const double inv = 1 / l[i * ldl + i];
    for (std::size_t c = 0; c < cols; ++c) gi[c] *= inv;
  }
}

template <typename T>
void multiplyAddTransposedBothT(const T* a, std::size_t rows, std::size_t inner, std::size_t lda, const T* b,
                                std::size_t cols, std::size_t ldb, T* c, std::size_t ldc, T scale) {
  for (std::size_t k = 0; k < inner; ++k) {
    const T* ak = a + k * lda;
    for (std::size_t j = 0; j < cols; ++j) {
      const T bjk = scale * b[j * ldb + k];
      for (std::size_t r = 0; r < rows; ++r) c[r * ldc + j] += ak[r] * bjk;
    }
  }
}

void multiplyAddTransposedRight(const double* a, std::size_t rows, std::size_t inner, std::size_t lda,
                                const double* b, std::size_t cols, std::size_t ldb, double* c, std::size_t ldc,
                                double scale) {
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < inner; ++k) s += a[i * lda + k] * b[j * ldb + k];
      c[i * ldc + j] += scale * s;
    }
}

#endif

// Eight partial sums, so that the compiler may keep them in vector registers: a single
// float64 running sum cannot be vectorised without reordering it.
template <typename T>
double dotStored(const T* a, const double* b, std::size_t n) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) part[l] += static_cast<double>(a[i + l]) * b[i + l];
  double s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

template <typename T>
void multiplyStored(const T* a, std::size_t rows, std::size_t inner, const double* b, std::size_t cols, double* c,
                    int threads) {
  const int64_t count = static_cast<int64_t>(rows);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static) if (rows * inner >= (std::size_t(1) << 18))
  for (int64_t r = 0; r < count; ++r) {
    const T* ar = a + static_cast<std::size_t>(r) * inner;
    double* cr = c + static_cast<std::size_t>(r) * cols;
    if (cols == 1) {
      cr[0] = dotStored(ar, b, inner);
      continue;
    }
    for (std::size_t j = 0; j < cols; ++j) cr[j] = 0;
    for (std::size_t k = 0; k < inner; ++k)
      for (std::size_t j = 0; j < cols; ++j) cr[j] += static_cast<double>(ar[k]) * b[k * cols + j];
  }
}

// Output rows in chunks that stay in the first-level cache while every row of A passes.
constexpr std::size_t kExpandChunk = 1024;

template <typename T>
void multiplyStoredTransposedLeft(const T* a, std::size_t rows, std::size_t inner, const double* b,
                                  std::size_t cols, double* c, int threads) {
  const int64_t chunks = static_cast<int64_t>((inner + kExpandChunk - 1) / kExpandChunk);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static) if (rows * inner >= (std::size_t(1) << 18))
  for (int64_t q = 0; q < chunks; ++q) {
    const std::size_t i0 = static_cast<std::size_t>(q) * kExpandChunk;
    const std::size_t len = std::min(kExpandChunk, inner - i0);
    double* ci = c + i0 * cols;
    for (std::size_t k = 0; k < len * cols; ++k) ci[k] = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const T* ar = a + r * inner + i0;
      const double* br = b + r * cols;
      if (cols == 1) {
        const double s = br[0];
        for (std::size_t k = 0; k < len; ++k) ci[k] += static_cast<double>(ar[k]) * s;
      } else {
        for (std::size_t k = 0; k < len; ++k)
          for (std::size_t j = 0; j < cols; ++j) ci[k * cols + j] += static_cast<double>(ar[k]) * br[j];
      }
    }
  }
}

}  // namespace

const DenseOps& denseOps() {
  static const DenseOps ops{kBackend,
                            setThreads,
                            cholesky,
                            choleskySolve,
                            solveLower,
                            multiplyAddTransposedBothT<double>,
                            multiplyAddTransposedRight,
                            multiplyAddTransposedBothT<float>,
                            multiplyStored<float>,
                            multiplyStoredTransposedLeft<float>,
                            multiplyStored<double>,
                            multiplyStoredTransposedLeft<double>};
  return ops;
}

}  // namespace LK_ISA_NS
}  // namespace lk

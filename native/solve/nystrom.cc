#include "nystrom.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include <omp.h>
#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include "../errors.h"
#include "dense.h"

namespace lk {
namespace {

// splitmix64: seeded, the same on every machine.
struct Random {
  uint64_t state;
  double uniform() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1p-53;
  }
};

// A block's pivot whose residual diagonal, after the block's earlier pivots, is below
// this fraction of what it was when drawn is already explained: dropped, not divided by.
constexpr double kRejectBelow = 1e-8;

// The factor's update F F(S, :)ᵀ runs in float32 (twice the speed) while the residual's
// average diagonal is at least this fraction of K's largest: float32's rounding, m·2^-24
// of the largest at worst, then stays far below the residual it is subtracted from. Past
// it (a rank asked for, a tiny alpha), in float64 on the same stored values.
constexpr double kFloatUpdateAbove = 1e-3;

// Columns of the factor widened to float64 at a time for its float64 products, and the
// fixed runs of columns those products are shared out in.
constexpr std::size_t kSlice = 256;
constexpr int kGroups = 8;

// A large buffer, asked to be backed by huge pages: its first touch is most of the cost
// of filling it on these VMs (~3 ms per MB with 4 KB pages, 1.7 with 2 MB).
class Buffer {
 public:
  explicit Buffer(std::size_t bytes) {
    bytes = std::max<std::size_t>(kHuge, (bytes + kHuge - 1) / kHuge * kHuge);
    data_ = std::aligned_alloc(kHuge, bytes);
    if (!data_) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    madvise(data_, bytes, MADV_HUGEPAGE);
#endif
  }
  Buffer(Buffer&& o) noexcept : data_(o.data_) { o.data_ = nullptr; }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(data_); }
  float* floats() const { return static_cast<float*>(data_); }
  double* doubles() const { return static_cast<double*>(data_); }

 private:
  static constexpr std::size_t kHuge = std::size_t(2) << 20;
  void* data_;
};

// P^-1 r = (r - F (alpha I + FᵀF)^-1 Fᵀ r) / alpha. For float32 data F is stored in
// float32 (what each application streams, twice, is half as much); FᵀF was
// accumulated in float64 from exactly these values, so M is P^-1 for this very F and stays
// symmetric positive definite whatever the rounding.
class Nystrom : public Preconditioner {
 public:
  Nystrom(Buffer ft, bool single, std::size_t n, int m, int dv, double alpha, int threads,
          std::vector<double> gram)
      : ft_(std::move(ft)), single_(single), n_(n), m_(m), dv_(dv), threads_(threads), alpha_(alpha),
        chol_(std::move(gram)) {}

  void apply(const double* r, double* z) const override {
    const std::size_t len = n_ * dv_;
    std::copy(r, r + len, z);
    if (m_ > 0) {
      std::vector<double> t(static_cast<std::size_t>(m_) * dv_), fy(len);
      if (single_) dense().multiplyFloat(ft_.floats(), m_, n_, r, dv_, t.data(), threads_);  // Fᵀ r
      else dense().multiplyDouble(ft_.doubles(), m_, n_, r, dv_, t.data(), threads_);
      dense().choleskySolve(chol_.data(), m_, t.data(), dv_);  // (alpha I + FᵀF)^-1 Fᵀ r
      if (single_) dense().multiplyFloatTransposedLeft(ft_.floats(), m_, n_, t.data(), dv_, fy.data(), threads_);
      else dense().multiplyDoubleTransposedLeft(ft_.doubles(), m_, n_, t.data(), dv_, fy.data(), threads_);
      for (std::size_t k = 0; k < len; ++k) z[k] -= fy[k];
    }
    const double inv = 1 / alpha_;
    for (std::size_t k = 0; k < len; ++k) z[k] *= inv;
  }
  const char* kind() const override { return "nystrom"; }
  int rank() const override { return m_; }
  std::size_t bytes() const override {
    return static_cast<std::size_t>(m_) * n_ * (single_ ? sizeof(float) : sizeof(double)) + chol_.size() * sizeof(double);
  }

 private:
  Buffer ft_;  // Fᵀ: m × n
  bool single_;
  std::size_t n_;
  int m_, dv_, threads_;
  double alpha_;
  std::vector<double> chol_;  // Cholesky factor of alpha I + FᵀF
};

// Up to `count` distinct pivots, each drawn with probability proportional to its weight
// among those not drawn yet (RPCholesky), or uniformly among those of positive weight.
std::vector<std::size_t> drawPivots(const std::vector<double>& d, int count, bool uniform, Random& rng) {
  std::vector<double> w(d);
  if (uniform)
    for (double& v : w) v = v > 0 ? 1 : 0;
  double total = 0;
  for (double v : w) total += v;
  std::vector<std::size_t> out;
  const std::size_t n = w.size();
  while (static_cast<int>(out.size()) < count && total > 0) {
    double u = rng.uniform() * total, run = 0;
    std::size_t pick = n;
    for (std::size_t i = 0; i < n; ++i) {
      if (w[i] <= 0) continue;
      run += w[i];
      pick = i;
      if (run > u) break;
    }
    if (pick == n) break;
    out.push_back(pick);
    total -= w[pick];
    w[pick] = 0;
    if (!(total > 0)) {  // rounding: recount
      total = 0;
      for (double v : w) total += v;
    }
  }
  return out;
}

// out (pivots × m, row-major) = F(pivots, :), from ft (Fᵀ, rows of length n).
template <typename T>
void pivotRows(const T* ft, std::size_t n, int m, const std::vector<std::size_t>& pivots, std::vector<T>& out) {
  out.resize(pivots.size() * m);
  for (std::size_t c = 0; c < pivots.size(); ++c)
    for (int t = 0; t < m; ++t) out[c * m + t] = ft[t * n + pivots[c]];
}

}  // namespace

struct PivotedCholesky::State {
  KernelEntries& k;
  std::size_t n;
  int capacity;
  bool uniform;
  Random rng;
  const int32_t* cancel;
  std::vector<double> d;  // the residual kernel's diagonal
  double largest = 0;     // K's largest diagonal entry
  // F by columns: row k of ft (capacity × n, row-major) is column k of F, so that
  // the factor grows by appending rows, written once, in order; untouched beyond the rank.
  // For float32 data it is stored in float32 (single): half the memory, so twice the rank
  // in a budget, and half the bytes each application streams; float64 data, whose
  // products resolve a smaller alpha than float32's rounding of F would, keep float64.
  // Float32 data make float32 kernel values, so |F| <= sqrt(largest) stays in float32's range.
  bool single;
  Buffer ft;
  int m = 0;
  double trace = 0;
  // FᵀF's lower triangle, row by row as the rows of Fᵀ are added (row r: r + 1 values),
  // accumulated in float64 from the stored float32 values, so that the preconditioner is
  // exactly alpha I + F Fᵀ for the F it stores: each block adds its rows against all rows
  // so far, half the work of FᵀF at the end.
  std::vector<double> gramLower;
  std::vector<double> cols, fnew, fsWide, l, lrow, partial;
  std::vector<float> fs, update;
  State(KernelEntries& k, int capacity, bool single, bool uniform, uint64_t seed, const int32_t* cancel, int threads)
      : k(k), n(k.size()), capacity(capacity), uniform(uniform), rng{seed}, cancel(cancel), d(n), single(single),
        ft(n * static_cast<std::size_t>(capacity) * (single ? sizeof(float) : sizeof(double))), threads(threads) {}

  int threads;
  std::vector<std::vector<double>> wides;  // one slice per thread

  // Runs body(group, wide, i0, len) over F's columns, a slice at a time, with its rows 0 …
  // rows-1 (as Fᵀ) at columns i0 … i0+len-1 widened to float64 in wide (rows × len,
  // row-major): the float64 products take the factor a slice at a time. Slices fall in
  // kGroups fixed runs of columns, each run's in order on one thread, so a sum kept per
  // group comes out the same whatever the thread count. Nothing in body may throw.
  template <typename Body>
  void slices(int rows, Body body) {
    wides.resize(std::max(1, threads));
    for (auto& w : wides) w.resize(static_cast<std::size_t>(rows) * kSlice);
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 1)
    for (int g = 0; g < kGroups; ++g) {
      const std::size_t begin = n * g / kGroups, end = n * (g + 1) / kGroups;
      double* wide = wides[omp_get_thread_num()].data();
      for (std::size_t i0 = begin; i0 < end; i0 += kSlice) {
        const std::size_t len = std::min(kSlice, end - i0);
        for (int r = 0; r < rows; ++r) {
          const float* src = ft.floats() + static_cast<std::size_t>(r) * n + i0;
          double* dst = wide + static_cast<std::size_t>(r) * len;
          for (std::size_t i = 0; i < len; ++i) dst[i] = static_cast<double>(src[i]);
        }
        body(g, wide, i0, len);
      }
    }
  }
};

PivotedCholesky::PivotedCholesky(KernelEntries& k, int capacity, bool single, bool uniform, uint64_t seed,
                                 const int32_t* cancel, int threads)
    : s_(std::make_unique<State>(k, static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(std::max(capacity, 0)),
                                                                             k.size())),
                                 single, uniform, seed, cancel, threads)) {
  State& s = *s_;
  k.diagonal(s.d.data());
  for (double& v : s.d) {
    if (v != v) throw SolveBreakdown("the Nyström preconditioner met a NaN on the kernel's diagonal");
    v = std::max(v, 0.0);
  }
  s.trace = std::accumulate(s.d.begin(), s.d.end(), 0.0);
  s.largest = s.d.empty() ? 0 : *std::max_element(s.d.begin(), s.d.end());
}

PivotedCholesky::~PivotedCholesky() = default;


void PivotedCholesky::grow(int maxRank, double stopTrace, int block, const Progress& progress) {
  State& s = *s_;
  const std::size_t n = s.n;
  const int target = std::min(maxRank, s.capacity);
  while (s.m < target && s.trace > stopTrace) {
    if (s.cancel && __atomic_load_n(s.cancel, __ATOMIC_RELAXED)) throw Cancelled();
    const int m = s.m;
    std::vector<std::size_t> drawn = drawPivots(s.d, std::min(block, target - m), s.uniform, s.rng);
    if (drawn.empty()) break;
    std::vector<std::size_t> sorted(drawn);
    std::sort(sorted.begin(), sorted.end());
    const int b = static_cast<int>(sorted.size());
    // G = K(:, S) - F F(S, :)ᵀ (n × b): the residual kernel's columns at the drawn pivots.
    s.cols.assign(n * b, 0.0);
    s.k.columns(sorted, s.cols.data());
    if (!s.single) {
      pivotRows(s.ft.doubles(), n, m, sorted, s.fsWide);
      dense().multiplyAddTransposedBoth(s.ft.doubles(), n, m, n, s.fsWide.data(), b, m, s.cols.data(), b, -1.0);
    } else if (m > 0) {
      pivotRows(s.ft.floats(), n, m, sorted, s.fs);
      if (s.trace >= kFloatUpdateAbove * s.largest * static_cast<double>(n)) {
        s.update.assign(n * b, 0.0f);
        dense().multiplyAddTransposedBothFloat(s.ft.floats(), n, m, n, s.fs.data(), b, m, s.update.data(), b, 1.0f);
        for (std::size_t k = 0; k < n * b; ++k) s.cols[k] -= static_cast<double>(s.update[k]);
      } else {
        s.fsWide.resize(s.fs.size());
        for (std::size_t k = 0; k < s.fs.size(); ++k) s.fsWide[k] = static_cast<double>(s.fs[k]);
        double* cols = s.cols.data();
        const double* fsWide = s.fsWide.data();
        s.slices(m, [&](int, const double* wide, std::size_t i0, std::size_t len) {
          dense().multiplyAddTransposedBoth(wide, len, m, len, fsWide, b, m, cols + i0 * b, b, -1.0);
        });
      }
    }
    // Cholesky of G(S, S), pivots in the order drawn, dropping those already explained.
    std::vector<int> position(b);  // drawn order -> column of G (index in `sorted`)
    for (int c = 0; c < b; ++c)
      position[c] = static_cast<int>(std::lower_bound(sorted.begin(), sorted.end(), drawn[c]) - sorted.begin());
    std::vector<int> kept;
    s.l.assign(static_cast<std::size_t>(b) * b, 0.0);
    s.lrow.assign(b, 0.0);
    for (int c = 0; c < b; ++c) {
      const int q = position[c];
      const std::size_t row = sorted[q];
      const int a = static_cast<int>(kept.size());
      // Row a of L against the kept pivots, then what is left of the pivot's diagonal.
      for (int t = 0; t < a; ++t) {
        double v = s.cols[row * b + kept[t]];
        for (int u = 0; u < t; ++u) v -= s.lrow[u] * s.l[t * b + u];
        s.lrow[t] = v / s.l[t * b + t];
      }
      double r = s.cols[row * b + q];
      for (int t = 0; t < a; ++t) r -= s.lrow[t] * s.lrow[t];
      if (!(r > kRejectBelow * s.d[row])) continue;
      for (int t = 0; t < a; ++t) s.l[a * b + t] = s.lrow[t];
      s.l[a * b + a] = std::sqrt(r);
      kept.push_back(q);
    }
    const int added = static_cast<int>(kept.size());
    if (added == 0) break;  // the block's pivots were all explained: the residual is round-off
    // The new rows of Fᵀ: L^-1 G(:, kept)ᵀ, rounded to what is stored.
    s.fnew.resize(static_cast<std::size_t>(added) * n);
    double* fnew = s.fnew.data();
    for (std::size_t i = 0; i < n; ++i)
      for (int t = 0; t < added; ++t) fnew[t * n + i] = s.cols[i * b + kept[t]];
    dense().solveLower(s.l.data(), added, b, fnew, n, n);
    const std::size_t count = static_cast<std::size_t>(added) * n;
    if (s.single) {
      float* stored = s.ft.floats() + static_cast<std::size_t>(m) * n;
      for (std::size_t k = 0; k < count; ++k) {
        stored[k] = static_cast<float>(fnew[k]);
        fnew[k] = static_cast<double>(stored[k]);
      }
    } else {
      std::copy(fnew, fnew + count, s.ft.doubles() + static_cast<std::size_t>(m) * n);
    }
    // Rows m … m + added of FᵀF: the new rows of Fᵀ against every row so far, in float64.
    const std::size_t width = static_cast<std::size_t>(m + added);
    const std::size_t blockSize = static_cast<std::size_t>(added) * width;
    s.partial.assign((s.single ? kGroups : 1) * blockSize, 0.0);
    double* partial = s.partial.data();
    if (s.single) {
      s.slices(static_cast<int>(width), [&](int g, const double* wide, std::size_t i0, std::size_t len) {
        dense().multiplyAddTransposedRight(fnew + i0, added, len, n, wide, width, len, partial + g * blockSize, width, 1.0);
      });
      for (int g = 1; g < kGroups; ++g)
        for (std::size_t k = 0; k < blockSize; ++k) partial[k] += partial[g * blockSize + k];
    } else {
      dense().multiplyAddTransposedRight(fnew, added, n, n, s.ft.doubles(), width, n, partial, width, 1.0);
    }
    for (int t = 0; t < added; ++t)
      s.gramLower.insert(s.gramLower.end(), partial + t * width, partial + t * width + m + t + 1);
    s.m += added;
    for (int t = 0; t < added; ++t) {
      const double* f = fnew + t * n;
      for (std::size_t i = 0; i < n; ++i) s.d[i] -= f[i] * f[i];
    }
    for (int t = 0; t < added; ++t) s.d[sorted[kept[t]]] = 0;
    s.trace = 0;
    for (std::size_t i = 0; i < n; ++i) {
      s.d[i] = std::max(s.d[i], 0.0);
      s.trace += s.d[i];
    }
    if (progress) progress({ProgressEvent::Setup, s.m, s.trace});
  }
}

std::unique_ptr<Preconditioner> PivotedCholesky::preconditioner(double alpha, int dv) {
  State& s = *s_;
  const int m = s.m;
  // alpha I + FᵀF and its Cholesky factor.
  std::vector<double> gram(static_cast<std::size_t>(m) * m, 0.0);
  for (std::size_t r = 0; r < static_cast<std::size_t>(m); ++r) {
    const auto row = s.gramLower.begin() + r * (r + 1) / 2;
    std::copy(row, row + r + 1, gram.begin() + r * m);
  }
  for (int i = 0; i < m; ++i) gram[i * m + i] += alpha;
  if (!dense().cholesky(gram.data(), m)) throw SolveBreakdown("the Nyström preconditioner's Gram matrix is not positive definite");
  return std::make_unique<Nystrom>(std::move(s.ft), s.single, s.n, m, dv, alpha, s.threads, std::move(gram));
}

}  // namespace lk

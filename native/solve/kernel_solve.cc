#include "kernel_solve.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "../cpu/cluster.h"
#include "../memory.h"
#include "dense.h"
#include "entries.h"
#include "jacobi.h"
#include "nystrom.h"

namespace lk {
namespace {

constexpr double kSolvePrunePairs = 2.0 * 1024 * 1024;
// The float32 iteration's products keep the pairs whose kernel value is at least a
// cut-off and drop most of the rest, no bound asked: the float64 true residuals judge
// the answer. The cut-off is 2^-24, float32's resolution against the diagonal's 1,
// except for a Gaussian in 1 to 3 dimensions: 2^-20, about the default tol. Over points
// spread evenly at the kernel's scale, what a cut-off drops is a fraction of each row's
// sum fixed by the kernel and the dimension, Γ(D/2, ln(1/c))/Γ(D/2) for the Gaussian: 4e-6
// at 2^-20 in 3 dimensions, less in 1 and 2; in 4 it is 1.4e-5, in 10 2e-3, and the
// exponential profiles of Laplace and Matérn drop 1e-5 to 1e-4 in 3 dimensions, the
// algebraic tails of Cauchy and the inverse multiquadric more still (three CG steps in 3
// dimensions moved x 2.5e-6 and 4.3e-6 from textbook CG's at 2^-20, under 1e-6 at
// 2^-24). Against 2^-24 (2-core AMD EPYC VM, Zen 4): reference problem, N = 1e6,
// 3.11–3.17 s against 3.47–3.69 s, the same 27 iterations; 1/(1e-4·I + K) on 3003 points
// of a smooth b, 0.52 s against 0.54 s. A cut-off relaxed as the residual falls (inexact
// Krylov) saved little more and cost refinement passes where alpha is small against K.
// (Earlier, N = 2e5: 2^-24 took 1.8 s against 2.5 s when the products dropped terms
// within 1e-4 of each row's Σ|K_ij v_j|, whose bound kept a radius 1.5 times the
// kernel's at that tolerance.)
double innerCutoff(int tag, int dim) { return tag == KERNEL_gaussian && dim <= 3 ? 0x1p-20 : 0x1p-24; }
// Values from which a product's conversions to and from float32 run on the solve's threads.
constexpr int64_t kParallelCopy = int64_t(1) << 16;

// K·v through the engine for one program and its arrays: v (float64) goes into the
// unknown's slot in the program's type, the product comes back widened to float64. The
// points do not change between products: their clusters are built once (unless the
// unknown is itself one of the kernel's point sets).
class EngineProduct {
 public:
  EngineProduct(const Program& p, std::vector<const void*> args, int slot, std::size_t len, RunContext ctx)
      : p_(p), args_(std::move(args)), len_(len), ctx_(ctx),
        v_(len * width()), out_(len * width()) {
    const FusedKernel& k = p.kernel;
    ctx_.cache = k.x != slot && k.y != slot ? &cache_ : nullptr;
    // A single call prunes from 2^24 pairs, where clustering pays for itself; a solve
    // clusters once for all its products, which pays from about 2^21 (reference problem,
    // N = 2000: 10.8 ms pruned, 13.7 ms not; N = 1000: 4.4 ms against 3.9).
    if (ctx_.cache && ctx_.prune == RunContext::AUTO && static_cast<double>(p.m) * static_cast<double>(p.n) >= kSolvePrunePairs)
      ctx_.prune = RunContext::ON;
    args_[slot] = v_.data();
  }
  // pruneTolerance > 0: drop terms within it (RunContext::pruneTolerance), cutoff > 0:
  // the pairs below it (RunContext::pruneCutoff), where the product prunes at all. The
  // pairs evaluated are added to *pairs.
  void operator()(const double* v, double* out, std::atomic<uint64_t>* pairs, double pruneTolerance = 0,
                  double cutoff = 0) {
    RunContext ctx = ctx_;
    ctx.pairs = pairs;
    if (pruneTolerance > 0 && ctx.pruneTolerance < 0) ctx.pruneTolerance = pruneTolerance;
    ctx.pruneCutoff = cutoff;
    if (p_.dtype == F32) {
      float* vf = reinterpret_cast<float*>(v_.data());
      const int64_t len = static_cast<int64_t>(len_);
#pragma omp parallel for num_threads(std::max(1, ctx.threads)) schedule(static) if (len >= kParallelCopy)
      for (int64_t k = 0; k < len; ++k) vf[k] = static_cast<float>(v[k]);
      reduce(p_, args_.data(), out_.data(), nullptr, ctx);
      const float* of = reinterpret_cast<const float*>(out_.data());
#pragma omp parallel for num_threads(std::max(1, ctx.threads)) schedule(static) if (len >= kParallelCopy)
      for (int64_t k = 0; k < len; ++k) out[k] = of[k];
      return;
    }
    std::memcpy(v_.data(), v, len_ * sizeof(double));
    reduce(p_, args_.data(), out_.data(), nullptr, ctx);
    std::memcpy(out, out_.data(), len_ * sizeof(double));
  }

  // Takes the other product's indexes of the same points (in another type): its k-d
  // trees, and its strips where one column of b makes this product's sum run on a half
  // plan too, with sorted copies of the points in this product's type. Saves building
  // them again (reference problem, N = 1e6: the strips took 0.34 s of the float64
  // residual's 1.54 s). The strips' cells then follow the float32 cut-off's reach, a
  // little under the accurate product's, on the same rule for plans (strips.h's
  // chooseStripGrid). Before the accurate product had a plan, sharing the strips cost it
  // time (6.9 s against 5.6 s a solve at N = 5e5); sums with several columns of b still
  // run without one, so they keep their own.
  void adoptClusters(const EngineProduct& from) {
    if (!ctx_.cache || !from.ctx_.cache) return;
    const PruneCache& c = from.cache_;
    const FusedKernel& k = p_.kernel;
    if (c.x != nullptr && cache_.x == nullptr) {
      cache_.rows = c.rows;
      cache_.cols = c.cols;
      sortPoints(c.rows.order, c.cols.order, cache_.sortedX, cache_.sortedY, 0);
      cache_.x = args_[k.x];
      cache_.y = args_[k.y];
    }
    if (c.stripX != nullptr && c.stripY != nullptr && cache_.stripY == nullptr && p_.vars[k.b].dim == 1) {
      cache_.stripRows = c.stripRows;
      cache_.stripCols = c.stripCols;
      sortPoints(c.stripRows.order, c.stripCols.order, cache_.stripSortedX, cache_.stripSortedY, kStripPadBytes);
      cache_.stripX = args_[k.x];
      cache_.stripY = args_[k.y];
    }
  }

 private:
  std::size_t width() const { return p_.dtype == F32 ? 4 : 8; }
  // This product's points in the given orders: x row-major, y component-major and
  // followed by `pad` zero bytes.
  void sortPoints(const std::vector<uint32_t>& rows, const std::vector<uint32_t>& cols, std::vector<unsigned char>& x,
                  std::vector<unsigned char>& y, std::size_t pad) const {
    const FusedKernel& k = p_.kernel;
    const int d = p_.vars[k.x].dim;
    x.resize(p_.m * d * width());
    y.assign(p_.n * d * width() + pad, 0);
    if (p_.dtype == F64) {
      gatherRows(rows, static_cast<const double*>(args_[k.x]), d, reinterpret_cast<double*>(x.data()));
      gatherColumns(cols, static_cast<const double*>(args_[k.y]), d, reinterpret_cast<double*>(y.data()));
    } else {
      gatherRows(rows, static_cast<const float*>(args_[k.x]), d, reinterpret_cast<float*>(x.data()));
      gatherColumns(cols, static_cast<const float*>(args_[k.y]), d, reinterpret_cast<float*>(y.data()));
    }
  }
  const Program& p_;
  std::vector<const void*> args_;
  std::size_t len_;
  RunContext ctx_;
  PruneCache cache_;
  std::vector<unsigned char> v_, out_;
};

// The float64 twin of a float32 program and its arrays: float32 values are exact in
// float64, so its products are the kernel evaluated in float64 on the very same data.
struct Widened {
  Program program;
  std::vector<std::vector<double>> arrays;
  std::vector<const void*> args;
  Widened(const Program& p, const void* const* args32, int slot) : program(p) {
    program.dtype = F64;
    arrays.resize(p.vars.size());
    args.resize(p.vars.size());
    for (std::size_t v = 0; v < p.vars.size(); ++v) {
      if (static_cast<int>(v) == slot) continue;  // the product's own buffer goes there
      const std::size_t rows = p.vars[v].cat == CAT_I ? p.m : p.vars[v].cat == CAT_J ? p.n : 1;
      const std::size_t len = rows * static_cast<std::size_t>(p.vars[v].dim);
      const float* src = static_cast<const float*>(args32[v]);
      // One array passed twice (a solve's x as both points) is widened once.
      for (std::size_t u = 0; u < v && !args[v]; ++u)
        if (static_cast<int>(u) != slot && args32[u] == args32[v] && arrays[u].size() == len) args[v] = arrays[u].data();
      if (args[v]) continue;
      arrays[v].assign(src, src + len);
      args[v] = arrays[v].data();
    }
  }
};

// The points block-Jacobi clusters: the recognised kernel's x, else the first i-variable.
int clusterSlot(const Program& p) {
  if (p.kernel.tag != KERNEL_none) return p.kernel.x;
  for (std::size_t v = 0; v < p.vars.size(); ++v)
    if (p.vars[v].cat == CAT_I) return static_cast<int>(v);
  return -1;
}

// Points per Jacobi block. Measured on the reference problem (gamma = 1e4, alpha = 0.8):
// see bench/solve.ts; larger blocks cut iterations further but cost block³ to factor.
constexpr int kJacobiLeaf = 64;

std::unique_ptr<Preconditioner> jacobi(const SolveRequest& r, KernelEntries& k, const Progress& progress) {
  const Program& p = *r.program;
  std::vector<uint32_t> order(r.n);
  std::vector<std::size_t> bounds{0};
  const int slot = clusterSlot(p);
  if (slot < 0 || r.n == 0) {
    for (std::size_t i = 0; i < r.n; ++i) order[i] = static_cast<uint32_t>(i);
    if (r.n > 0) bounds.push_back(r.n);
  } else {
    const int dim = p.vars[slot].dim;
    const ClusterTree tree = p.dtype == F32
                                 ? buildClusterTree(static_cast<const float*>(r.args[slot]), r.n, dim, r.run.cancel, kJacobiLeaf)
                                 : buildClusterTree(static_cast<const double*>(r.args[slot]), r.n, dim, r.run.cancel, kJacobiLeaf);
    order = tree.order;
    for (int leaf : tree.leaves) bounds.push_back(tree.end[leaf]);
  }
  std::size_t entries = 0;
  for (std::size_t b = 0; b + 1 < bounds.size(); ++b) entries += (bounds[b + 1] - bounds[b]) * (bounds[b + 1] - bounds[b]);
  reserveMemory(mulSat(entries, 2 * sizeof(double)), "the block-Jacobi preconditioner");
  return buildJacobi(k, r.cg.alpha, r.dv, std::move(order), std::move(bounds), r.run.threads, progress, r.run.cancel);
}

// Nyström ranks: the factor (n × m values of the data's type) may take a quarter of the
// free memory, at most 1 GiB, unless a rank is asked for (then it must fit, or MemoryError).
constexpr std::size_t kNystromBudget = std::size_t(1) << 30;
// Pivots per block (their kernel columns come from one engine call).
constexpr int kPivotBlock = 64;
// An automatic rank grows until trace(K - F Fᵀ) <= kTraceTol · alpha · n: the part of K
// left to the iteration is then, on average, no more than alpha on the diagonal. The
// iterations go as sqrt(trace(K - F Fᵀ)) (regression problem of bench/solve.ts, N = 2e4:
// 34, 22 and 11 at 0.86, 0.42 and 0.11 · alpha · n), the setup as n·m², a product as n²,
// so the best rank grows with n: at N = 2e4, 0.45 (rank 2048) and 1 (rank 1536) came out
// within this VM's noise; at N = 1e5, rank 3072 took 138 s against 241 s for 1536. A
// rule that weighs the two costs is not built yet.
constexpr double kTraceTol = 1;

int nystromCapacity(const SolveRequest& r) {
  const std::size_t perRank = std::max<std::size_t>(1, r.n) * (r.program->dtype == F32 ? sizeof(float) : sizeof(double));
  if (r.preconditioner.rank > 0) {
    const std::size_t rank = std::min<std::size_t>(static_cast<std::size_t>(r.preconditioner.rank), r.n);
    reserveMemory(mulSat(perRank, rank), "the Nyström preconditioner");
    return static_cast<int>(rank);
  }
  const std::size_t budget = std::min(kNystromBudget, availableMemory() / 4);
  return static_cast<int>(std::min<std::size_t>({budget / perRank, r.n, 8192}));
}

std::unique_ptr<Preconditioner> nystrom(const SolveRequest& r, PivotedCholesky& pc, const Progress& progress) {
  const bool asked = r.preconditioner.rank > 0;
  pc.grow(asked ? r.preconditioner.rank : std::numeric_limits<int>::max(),
          asked ? 0.0 : kTraceTol * r.cg.alpha * static_cast<double>(r.n), kPivotBlock, progress);
  return pc.preconditioner(r.cg.alpha, r.dv);
}

// 'auto': plain CG where the system is well conditioned anyway, Nyström where a few
// pivots explain much of K (a wide kernel, a low effective rank), block-Jacobi otherwise
// (a narrow kernel that alpha does not dominate). Thresholds from the
// reference (gamma = 1e4, alpha = 0.8: kappa about 8, none), the regression problem
// (gamma = 100, alpha = 0.1: each pivot explains ~40 points, nystrom) and KeOps' 2-D
// example (alpha = 0.01: nystrom); bench/solve.ts runs them all.
constexpr double kAutoKappa = 30;      // below: plain CG (tens of iterations at most)
constexpr double kAutoExplained = 4;   // points' worth of diagonal a pivot explains, above: Nyström
constexpr std::size_t kProbeRows = 4096, kProbePivots = 32;

// Measured on a sample of the kernel: kProbePivots columns at up to kProbeRows rows (at
// most ~130,000 entries whatever n, one engine call; README gives its cost), from
// which, per pivot s, the row sum Σ_i K(i, s) (an estimate of K's largest eigenvalue) and
// Σ_i K(i, s)² / K(s, s) (what one pivot of the Cholesky explains), scaled up to n rows.
PreconditionerRequest::Kind choose(const SolveRequest& r, KernelEntries& k) {
  const std::size_t n = r.n;
  uint64_t state = r.preconditioner.seed ^ 0x70726f6265ULL;
  auto draw = [&](std::size_t count) {
    std::vector<std::size_t> out;
    if (count >= n) {
      for (std::size_t i = 0; i < n; ++i) out.push_back(i);
      return out;
    }
    std::vector<char> taken(n, 0);
    while (out.size() < count) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const std::size_t i = static_cast<std::size_t>((state >> 33) % n);
      if (!taken[i]) out.push_back(i), taken[i] = 1;
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<std::size_t> pivots = draw(kProbePivots);
  // The pivots' own rows join the sample (one engine call gives K(s, s) too; the pivots
  // are a uniform draw as well, so the other rows stay a uniform sample).
  std::vector<std::size_t> rows = draw(kProbeRows);
  rows.insert(rows.end(), pivots.begin(), pivots.end());
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::vector<double> block(rows.size() * pivots.size());
  k.submatrix(&rows, pivots, block.data());
  double rowSum = 0, explained = 0;
  int counted = 0;
  for (std::size_t c = 0; c < pivots.size(); ++c) {
    const std::size_t own = static_cast<std::size_t>(std::lower_bound(rows.begin(), rows.end(), pivots[c]) - rows.begin());
    const double kss = block[own * pivots.size() + c];
    if (!(kss > 0)) continue;
    double sum = 0, squares = 0;
    std::size_t others = 0;
    for (std::size_t a = 0; a < rows.size(); ++a) {
      if (rows[a] == pivots[c]) continue;
      const double v = block[a * pivots.size() + c];
      sum += v;
      squares += v * v;
      ++others;
    }
    const double scale = others ? static_cast<double>(n - 1) / static_cast<double>(others) : 0;
    rowSum += kss + scale * sum;
    explained += (kss * kss + scale * squares) / (kss * kss);  // in units of the pivot's own diagonal
    ++counted;
  }
  if (counted == 0) return PreconditionerRequest::None;
  const double kappa = 1 + rowSum / counted / r.cg.alpha;
  if (!(kappa >= kAutoKappa)) return PreconditionerRequest::None;
  return explained / counted >= kAutoExplained ? PreconditionerRequest::Nystrom : PreconditionerRequest::Jacobi;
}

}  // namespace

SolveOutcome solveKernelSystem(const SolveRequest& r, const Progress& progress) {
  SolveOutcome out;
  CgOptions cg = r.cg;
  cg.cancel = r.run.cancel;
  cg.threads = r.run.threads;
  const Program& p = *r.program;
  // On a GPU the whole iteration stays there (no preconditioner is built there yet).
  if (r.run.device == RunContext::CUDA) {
    out.report = solveOnCuda(p, r.args, r.slot, r.b, r.x, cg, progress, r.run);
    // The device computes every pair of every product.
    const double all = static_cast<double>(p.m) * static_cast<double>(p.n);
    out.iterationPairs = static_cast<uint64_t>(all * out.report.iterations);
    out.refinementPairs = static_cast<uint64_t>(all * out.report.refinements);
    return out;
  }
  dense().setThreads(r.run.threads);
  const std::size_t len = r.n * r.dv;
  std::vector<const void*> args(r.args, r.args + p.vars.size());
  EngineProduct fast(p, args, r.slot, len, r.run);
  std::unique_ptr<Widened> wide;
  std::unique_ptr<EngineProduct> accurate;
  if (p.dtype == F32) {
    wide = std::make_unique<Widened>(p, r.args, r.slot);
    accurate = std::make_unique<EngineProduct>(wide->program, wide->args, r.slot, len, r.run);
    cg.innerFloor = 1e-3;
    // A caller's pruneTolerance holds for every product.
    if (r.run.pruneTolerance < 0) cg.innerCutoff = innerCutoff(p.kernel.tag, p.vars[p.kernel.x].dim);
  }

  std::shared_ptr<const Preconditioner> precond;
  PreconditionerRequest::Kind kind = r.preconditioner.kind;
  // A preconditioner needs alpha > 0 (P = alpha I + …); 'auto' then means none.
  if (kind == PreconditionerRequest::Auto && !(r.cg.alpha > 0)) kind = PreconditionerRequest::None;
  const KeptPreconditioner& reuse = r.preconditioner.reuse;
  if (kind != PreconditionerRequest::None && reuse.p && reuse.n == r.n && reuse.dv == r.dv && reuse.alpha == r.cg.alpha) {
    precond = reuse.p;
    out.reused = true;
  } else if (kind != PreconditionerRequest::None && r.n > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!(r.cg.alpha > 0)) throw ProgramError("a preconditioner needs alpha > 0 (with alpha = 0 use preconditioner 'none')");
    KernelEntries entries(p, r.args, r.slot, r.run);
    if (kind == PreconditionerRequest::Auto) kind = choose(r, entries);
    if (kind == PreconditionerRequest::Nystrom) {
      PivotedCholesky pc(entries, nystromCapacity(r), p.dtype == F32, r.preconditioner.uniform, r.preconditioner.seed,
                         r.run.cancel, r.run.threads);
      std::unique_ptr<Preconditioner> built = nystrom(r, pc, progress);
      // A factor of rank 0 (trace(K) <= alpha n already: alpha dominates) leaves P = alpha I,
      // plain CG; the result says so rather than 'nystrom'.
      if (built->rank() > 0) precond = std::move(built);
    } else if (kind == PreconditionerRequest::Jacobi) {
      precond = jacobi(r, entries, progress);
    }
    out.setupSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (precond) {
    out.preconditioner = precond->kind();
    out.rank = precond->rank();
    cg.preconditioner = precond.get();
    out.kept = {precond, r.n, r.dv, r.cg.alpha};
  }
  std::atomic<uint64_t> iterationPairs{0}, refinementPairs{0};
  const BlockProduct fastProduct = [&](const double* v, double* o, double cutoff) { fast(v, o, &iterationPairs, 0, cutoff); };
  const BlockProduct accurateProduct = [&](const double* v, double* o, double tolerance) {
    if (!accurate) return fast(v, o, &refinementPairs, tolerance);
    accurate->adoptClusters(fast);
    (*accurate)(v, o, &refinementPairs, tolerance);
  };
  cg.nonnegativeKernel = p.kernel.tag != KERNEL_none && p.kernel.w < 0;  // a gradient's entries have signs
  out.report = conjugateGradient(fastProduct, accurateProduct, r.n, r.dv, r.b, r.x, cg, progress);
  out.iterationPairs = iterationPairs.load();
  out.refinementPairs = refinementPairs.load();
  return out;
}

}  // namespace lk

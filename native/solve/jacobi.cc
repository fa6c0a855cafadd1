#include "jacobi.h"

#include <algorithm>
#include <string>

#include "../errors.h"
#include "dense.h"

namespace lk {
namespace {

class Jacobi : public Preconditioner {
 public:
  Jacobi(std::vector<uint32_t> order, std::vector<std::size_t> bounds, std::vector<std::size_t> starts,
         std::vector<double> factors, int dv, int threads)
      : order_(std::move(order)), bounds_(std::move(bounds)), starts_(std::move(starts)), factors_(std::move(factors)),
        dv_(dv), threads_(threads) {
    for (std::size_t b = 0; b + 1 < bounds_.size(); ++b)
      largest_ = std::max(largest_, static_cast<int>(bounds_[b + 1] - bounds_[b]));
  }

  void apply(const double* r, double* z) const override {
    const std::size_t blocks = bounds_.size() - 1;
#pragma omp parallel num_threads(threads_)
    {
      std::vector<double> buf(static_cast<std::size_t>(largest_) * dv_);
#pragma omp for schedule(static)
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t lo = bounds_[b];
        const int size = static_cast<int>(bounds_[b + 1] - lo);
        for (int i = 0; i < size; ++i)
          for (int c = 0; c < dv_; ++c) buf[i * dv_ + c] = r[static_cast<std::size_t>(order_[lo + i]) * dv_ + c];
        dense().choleskySolve(&factors_[starts_[b]], size, buf.data(), dv_);
        for (int i = 0; i < size; ++i)
          for (int c = 0; c < dv_; ++c) z[static_cast<std::size_t>(order_[lo + i]) * dv_ + c] = buf[i * dv_ + c];
      }
    }
  }
  const char* kind() const override { return "jacobi"; }
  int rank() const override { return largest_; }
  std::size_t bytes() const override {
    return factors_.size() * sizeof(double) + order_.size() * sizeof(uint32_t) +
           (bounds_.size() + starts_.size()) * sizeof(std::size_t);
  }

 private:
  std::vector<uint32_t> order_;
  std::vector<std::size_t> bounds_, starts_;  // starts_: where each block's factor begins
  std::vector<double> factors_;
  int dv_, threads_;
  int largest_ = 0;
};

}  // namespace

std::unique_ptr<Preconditioner> buildJacobi(KernelEntries& k, double alpha, int dv, std::vector<uint32_t> order,
                                            std::vector<std::size_t> bounds, int threads, const Progress& progress,
                                            const int32_t* cancel) {
  const std::size_t blocks = bounds.size() - 1;
  std::vector<std::size_t> starts(blocks + 1, 0);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t s = bounds[b + 1] - bounds[b];
    starts[b + 1] = starts[b] + s * s;
  }
  std::vector<double> factors(starts[blocks]);
  k.blocks(order, bounds, factors.data());
  if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) throw Cancelled();
  bool failed = false;
#pragma omp parallel for schedule(dynamic, 16) reduction(|| : failed) num_threads(threads)
  for (std::size_t b = 0; b < blocks; ++b) {
    const int size = static_cast<int>(bounds[b + 1] - bounds[b]);
    double* a = &factors[starts[b]];
    for (int i = 0; i < size; ++i) a[i * size + i] += alpha;
    if (!dense().cholesky(a, size)) failed = true;
  }
  if (failed)
    throw SolveBreakdown("a block of alpha I + K is not positive definite (NaN in the data, alpha = 0 with repeated "
                         "points, or a kernel that is not positive definite)");
  if (progress) progress({ProgressEvent::Setup, static_cast<int>(blocks), 0.0});
  return std::make_unique<Jacobi>(std::move(order), std::move(bounds), std::move(starts), std::move(factors), dv,
                                  threads);
}

}  // namespace lk

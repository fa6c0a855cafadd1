#include "strips.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "../errors.h"
#include "cluster.h"

namespace lk {
namespace {

// Points per run (one strip, one row, both sides of the reach) the grid aims at: runs
// shorter than a few SIMD vectors spend more on their ends than on their pairs. Measured
// (one pruned Gaussian sum, gamma = 1e4, uniform [0,1]^3, float32, 2-core AMD EPYC AVX2):
// at N = 1e6, 32 points and cells no narrower than reach / 2 took 9.8 s, twice the k-d
// walk's 4.9 s; 64 points and cells no narrower than the reach, 4.3 s against 5.1.
constexpr double kStripRun = 64;
// Points from which a strip index is sorted on several threads.
constexpr std::size_t kParallelStrips = std::size_t(1) << 15;
// The same for sums on a StripPlan, which pay no search per run, only its ends, and cells
// no narrower than the reach times this many per column of a plan's step. A run ends in
// half a step of padding on average, and each run costs about a step besides, so wider
// steps want wider cells. Measured (reference problem, N = 1e6, 2-core AMD EPYC Zen 5):
// AVX-512, 16 columns a step, cells of reach/2 took 5.46 s a solve, of reach/1.33
// 4.98 s, of reach 4.60-4.88 s; AVX2 (8 a step) there 6.26, 6.04 and 6.20 s, and on Zen 3
// reach/2 was best. The baseline x86-64 build (4 a step, reach/4) took 96.7 and 98.1 s
// against 100.0 and 94.8 s with reach/2: its libm fma is the cost there. The arm64 build,
// also 4 a step, has not been measured.
constexpr double kPlanRun = 16, kPlanNarrowestPerColumn = 1.0 / 16;

// Cells per coordinate at most, and points per cell at least on average: a grid finer
// than the points only adds empty strips to visit.
constexpr double kMaxCellsPerSide = 32768, kPointsPerCell = 8;

int cellIndex(const StripGrid& g, int k, double v) {
  const double c = std::floor((v - g.lo[k]) / g.h);
  if (!(c > 0)) return 0;  // NaN too: never a cast of NaN to an index
  return static_cast<int>(std::min(c, static_cast<double>(g.cells[k] - 1)));
}

template <typename T>
bool finitePoint(const T* point, int dim) {
  for (int c = 0; c < dim; ++c)
    if (!std::isfinite(point[c])) return false;
  return true;
}

}  // namespace

template <typename T>
bool chooseStripGrid(const T* points, std::size_t count, int dim, double reach, int planStep, StripGrid& grid) {
  if (dim < 1 || dim > kStripMaxDim || !(reach > 0) || !std::isfinite(reach)) return false;
  double lo[kStripMaxDim], hi[kStripMaxDim];
  boundingBox(points, count, dim, lo, hi);
  double volume = 1;
  for (int c = 0; c < dim; ++c) {
    // Not finite, or so far apart that the extent overflows: the k-d walk's case.
    if (count > 0 && !(std::isfinite(lo[c]) && std::isfinite(hi[c]) && std::isfinite(hi[c] - lo[c]))) return false;
    volume *= std::max(hi[c] - lo[c], reach);  // a flat cloud is not infinitely dense
  }
  const int cross = dim - 1;
  StripGrid g;
  g.dim = dim;
  if (cross > 0 && count > 0) {
    const double density = static_cast<double>(count) / volume;
    const double run = planStep > 0 ? kPlanRun : kStripRun;
    const double narrowest = planStep > 0 ? kPlanNarrowestPerColumn * planStep : 1.0;
    double h = std::max(std::pow(run / (2 * reach * density), 1.0 / cross), narrowest * reach);
    auto cellsAlong = [&](int k, double side) {
      return std::clamp(std::ceil((hi[k + 1] - lo[k + 1]) / side), 1.0, kMaxCellsPerSide);
    };
    const double most = std::max(1.0, static_cast<double>(count) / kPointsPerCell);
    for (;;) {
      double cells = 1;
      for (int k = 0; k < cross; ++k) cells *= cellsAlong(k, h);
      if (cells <= most) break;
      h *= 1.25;
    }
    g.h = h;
    for (int k = 0; k < cross; ++k) {
      g.lo[k] = lo[k + 1];
      g.cells[k] = static_cast<int>(cellsAlong(k, h));
    }
  }
  grid = g;
  return true;
}

template <typename T>
bool buildStrips(const T* points, std::size_t count, const StripGrid& grid, int threads, const int32_t* cancel,
                 StripIndex& out) {
  const int dim = grid.dim, cross = dim - 1, cells = grid.count();
  std::vector<int> cellOf(count);
  for (std::size_t i = 0; i < count; ++i) {
    const T* point = points + i * dim;
    if (!finitePoint(point, dim)) return false;
    int cell = 0;
    for (int k = 0; k < cross; ++k) cell = cell * grid.cells[k] + cellIndex(grid, k, point[k + 1]);
    cellOf[i] = cell;
  }
  StripIndex s;
  s.grid = grid;
  s.count = count;
  s.start.assign(static_cast<std::size_t>(cells) + 1, 0);
  for (int c : cellOf) ++s.start[static_cast<std::size_t>(c) + 1];
  for (int c = 0; c < cells; ++c) s.start[c + 1] += s.start[c];
  s.order.resize(count);
  std::vector<std::size_t> next(s.start.begin(), s.start.end() - 1);
  for (std::size_t i = 0; i < count; ++i) s.order[next[cellOf[i]]++] = static_cast<uint32_t>(i);
  // The strips are sorted on the call's threads, each cell in its own slice of one array
  // of keys: nothing in the parallel region allocates or throws (N = 1e6: 0.1 s on one
  // thread). The keys are left unset until then, so that their pages fault in on the
  // threads that fill them, not on one thread zeroing them first.
  struct Key {
    T x;
    uint32_t row;
    bool operator<(const Key& o) const { return x < o.x || (x == o.x && row < o.row); }  // ties by row
  };
  const std::unique_ptr<Key[]> keys(new Key[count]);
  threads = count >= kParallelStrips ? std::max(1, std::min(threads, cells)) : 1;
  bool stopped = false;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16) if (threads > 1)
  for (int c = 0; c < cells; ++c) {
    if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) {
      __atomic_store_n(&stopped, true, __ATOMIC_RELAXED);
      continue;
    }
    const std::size_t b = s.start[c], e = s.start[c + 1];
    for (std::size_t k = b; k < e; ++k) keys[k] = {points[static_cast<std::size_t>(s.order[k]) * dim], s.order[k]};
    std::sort(keys.get() + b, keys.get() + e);  // ties by row: the same order on every run
    for (std::size_t k = b; k < e; ++k) s.order[k] = keys[k].row;
  }
  if (stopped) throw Cancelled();
  out = std::move(s);
  return true;
}

template <typename T>
std::vector<double> stripPrefixSums(const T* sortedB, std::size_t count, int dv) {
  std::vector<double> sums(static_cast<std::size_t>(dv) * (count + 1));
  for (int c = 0; c < dv; ++c) {
    double* p = &sums[static_cast<std::size_t>(c) * (count + 1)];
    const T* b = sortedB + static_cast<std::size_t>(c) * count;
    p[0] = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const double v = std::fabs(static_cast<double>(b[k]));
      p[k + 1] = p[k] + (v == v ? v : 0.0);
    }
  }
  return sums;
}

void cellsNear(const StripGrid& g, const double* lo, const double* hi, double reach, std::vector<int>& out) {
  out.clear();
  int first[2] = {0, 0}, last[2] = {0, 0};
  for (int k = 0; k < g.dim - 1; ++k) {
    first[k] = cellIndex(g, k, lo[k + 1] - reach);
    last[k] = cellIndex(g, k, hi[k + 1] + reach);
  }
  for (int a = first[0]; a <= last[0]; ++a)
    for (int b = first[1]; b <= last[1]; ++b) out.push_back(a * g.cells[1] + b);
}

template bool chooseStripGrid<float>(const float*, std::size_t, int, double, int, StripGrid&);
template bool chooseStripGrid<double>(const double*, std::size_t, int, double, int, StripGrid&);
template bool buildStrips<float>(const float*, std::size_t, const StripGrid&, int, const int32_t*, StripIndex&);
template bool buildStrips<double>(const double*, std::size_t, const StripGrid&, int, const int32_t*, StripIndex&);
template std::vector<double> stripPrefixSums<float>(const float*, std::size_t, int);
template std::vector<double> stripPrefixSums<double>(const double*, std::size_t, int);

}  // namespace lk

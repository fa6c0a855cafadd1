// Strips: the pruned layout of narrow radial kernels in one to three dimensions.
//
// The k-d clusters of cluster.h keep whole column leaves for whole row leaves. Where the
// kernel's reach is small against a leaf (the reference KernelSolve problem: at N = 2e5 a
// leaf of 64 points is 0.07 wide, the Gaussian's reach 0.04), that keeps ten or more
// times the pairs that matter. Strips keep far fewer. The points are binned on a grid
// over every coordinate but the first (a strip per cell), and sorted within each strip by
// the first coordinate. For a row and a strip at cross distance e, every column within
// distance r of the row is in one contiguous run of the strip: first coordinate within
// sqrt(r² - e²) of the row's. So each row computes runs whose length follows the reach
// itself, and only the cross section of a strip adds slack.
//
// What is dropped, and why it is safe (the same promise as cluster.h): every column a row
// does not compute lies at distance >= r from it, so its term is at most phi(s·r²)·|b_j|;
// those also within the box B + 2r (B: the bounding box of the row's block) add up to at
// most phi(s·r²)·S(B + 2r), the rest to at most phi(4·s·r²)·S_all, S being Σ |b_j| over
// the points named (per column of b, from prefix sums along the strips). A block of rows
// first computes its terms within a radius r0 (r1, where phi(s·r1²) = tol, or the radius
// the block needed in the solve's previous product, or, where rows and columns are the
// same points, a half StripPlan's ball and the columns its whole steps add beyond it),
// and so each row's partial Σ_j |K_ij b_j|; while
// those two bounds add up to more than tol times the least such partial sum of the
// block's rows, r grows (the terms out to it added, or, after a plan's ball, the rows
// computed again out to it).
// For every row i and column c the dropped terms add up to at most tol·Σ_j |K_ij b_jc|.
// Where no radius fits (b = 0 around the rows and not far away), every column is kept.
//
// Measured against the k-d walk (KernelSolve, reference problem, 2-core AMD EPYC, AVX2,
// side by side in one process): N = 1e5 1.1 s against 1.9-2.2 s, 2e5 3.4-3.6 against
// 4.6-5.3, 1e6 60 against 87; the regression problem of bench/solve.ts (gamma = 100),
// 40 iterations at N = 2e4, 4.6-4.7 s against 5.4-5.5.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace lk {

// The grid: cells of side h over coordinates 1 .. dim-1 (at most two of them), from lo.
struct StripGrid {
  int dim = 0;
  double h = 1;
  double lo[2] = {0, 0};
  int cells[2] = {1, 1};
  int count() const { return cells[0] * cells[1]; }
};

// Points sorted into strips: cell by cell, each cell's points by their first coordinate.
// A point outside the grid (a row, binned on its columns' grid) joins the nearest cell;
// the outermost cells reach to infinity, so every cell's rectangle holds its points.
struct StripIndex {
  StripGrid grid;
  std::size_t count = 0;
  std::vector<uint32_t> order;     // sorted position -> row of the caller's array
  std::vector<std::size_t> start;  // cell c holds sorted positions [start[c], start[c + 1])
};

// Per row block of a sum over strips, the radius its last product kept (0: none yet),
// for products of one tolerance: a solve's products differ only in b, and so, mostly, in
// nothing that moves the radius. The next product starts from it and checks.
struct StripHistory {
  double tol = -1;
  std::vector<float> radius;
};

// A sum's columns within a reach (a cut-off's, RunContext::pruneCutoff; a bounded sum's
// first ball walks the same runs block by block without keeping them, radial_plan.h's
// sumHalfWalk), found once for all the products of a solve, whose points do not
// change: for each row, in the rows' sorted order, runs of the columns' sorted order that
// cover every column within `reach` of it. A run is a whole number of steps of `step`
// consecutive columns (one vector of the build's widest float registers), so a product
// runs whole vectors with no masked ends; the columns a run adds past the reach are
// terms too (farther ones), and the runs of a row do not overlap, so no term counts
// twice. Where rows and columns are the same points in the same order (`half`), each
// pair is kept once, by the earlier of its two rows in that order: a row's runs hold
// only columns after it (those after it in its own strip, and those of later strips),
// and the product adds each kept term to both rows (K is symmetric). That halves the
// kernel evaluations, the products' whole cost. A run may reach past the last column
// into the arrays' padding (kStripPadBytes), where b is 0.
struct StripPlan {
  struct Run {
    uint32_t first, steps;  // columns [first, first + steps·step) of the sorted order
    // Left unset: a plan's slots are written by the threads that fill them. Zeroing them
    // first took 0.12 s of the reference solve's float32 plan at N = 1e6 (40 MB, one
    // thread, each page faulted in), and 0.23 s of its float64 residual's (2-core AMD
    // EPYC VM, where a fresh page costs about 10 µs).
    Run() {}
    Run(uint32_t f, uint32_t s) : first(f), steps(s) {}
  };
  double reach = 0;
  bool half = false;
  int step = 0;                     // columns per step
  std::vector<std::size_t> first;   // row p's runs: runs[first[p] .. first[p] + count[p])
  std::vector<uint32_t> count;
  std::vector<Run> runs;            // per row, slots for a run per cell its block visits
  uint64_t pairs = 0;               // the (i, j) pairs a product covers
  double walked = 0;                // no runs kept: a bounded sum walked a half plan of this reach
  bool fits(double r, std::size_t rows, int columns) const {
    return reach == r && step == columns && count.size() == rows;
  }
};

// Bytes kept past the end of a sorted copy of the columns (and of b, and of a plan's
// output): a plan's step reads and writes whole steps, 16 values in the widest build.
constexpr std::size_t kStripPadBytes = 16 * sizeof(double);

// Bytes for a product's working arrays, left unset when they grow: each is written before
// it is read, and a vector's zero fill faulted every page in on one thread (a 2-core AMD
// EPYC VM spends about 10 µs on each fresh 4 KB page; a float64 half plan's column sums
// are 32 MB at N = 1e6). Aligned as new[] aligns (16 bytes at least).
class Scratch {
 public:
  unsigned char* reserve(std::size_t bytes) {
    if (size_ < bytes) {
      data_.reset(new unsigned char[bytes]);
      size_ = bytes;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<unsigned char[]> data_;
  std::size_t size_ = 0;
};

// A plan product's working arrays, kept from one product of a solve to the next. Freed,
// arrays this large may go back to the kernel (glibc does so until its thresholds have
// grown), and the next product faults every page in again.
struct PlanBuffers {
  Scratch b;                     // b in the columns' order, padded with zeros
  Scratch sums;                  // per row, in the rows' order
  std::vector<Scratch> mirrors;  // per thread, a half plan's column sums
};

// `count` values of T in `bytes`, unset where it grew.
template <typename T>
T* bufferOf(Scratch& bytes, std::size_t count) {
  return reinterpret_cast<T*>(bytes.reserve(count * sizeof(T)));
}

// A strip's run for one row after another of a block: the columns whose first coordinate
// is within w of the row's. Rows are close, so each run is found from the last by a short
// walk (a binary search for the first).
template <typename T>
struct StripRuns {
  const T* key;  // the columns' first coordinates, sorted within each strip
  std::size_t first, last;  // the strip's sorted positions
  std::size_t lo, hi;       // the current row's run [lo, hi)
  bool started = false;

  // The run of a row at first coordinate x whose squared cross distance to the strip is
  // `gap`: the columns within `reach` of it. False, the run left as it was, where the
  // whole strip is out of reach.
  bool seekWithin(double x, double gap, double reach) {
    if (!(gap < reach * reach)) return false;
    seek(x, std::sqrt(reach * reach - gap));
    return true;
  }

  void seek(double x, double w) {
    const double a = x - w, b = x + w;
    if (!started) {
      lo = static_cast<std::size_t>(std::lower_bound(key + first, key + last, a,
                                                     [](T k, double v) { return static_cast<double>(k) < v; }) - key);
      hi = static_cast<std::size_t>(std::upper_bound(key + lo, key + last, b,
                                                     [](double v, T k) { return v < static_cast<double>(k); }) - key);
      started = true;
      return;
    }
    while (lo > first && static_cast<double>(key[lo - 1]) >= a) --lo;
    while (lo < last && static_cast<double>(key[lo]) < a) ++lo;
    if (hi < lo) hi = lo;
    while (hi > lo && static_cast<double>(key[hi - 1]) > b) --hi;
    while (hi < last && static_cast<double>(key[hi]) <= b) ++hi;
  }
};

// Strips apply to points of 1 to 3 coordinates.
constexpr int kStripMaxDim = 3;

// A grid for `count` points of `dim` coordinates (row-major) and a kernel whose terms
// matter within `reach`: cells about as wide as make a run of kStripRun points, and no
// narrower than reach (each strip a row visits costs a search and a short loop's ends);
// for sums that run on a StripPlan (planStep > 0, its columns per step: a cut-off's, and
// bounded ones over the same points), whose runs are found once, runs of kPlanRun points
// and cells down to planStep/16 of the reach (half of it with AVX2's 8 columns a step,
// the reach with AVX-512's 16, a quarter with the 4 of the baseline and arm64 builds),
// which keep fewer pairs.
// Returns false, choosing nothing, where a coordinate is not finite (NaN, infinity):
// such points are no distance from anything, and the k-d clusters handle them.
template <typename T>
bool chooseStripGrid(const T* points, std::size_t count, int dim, double reach, int planStep, StripGrid& grid);

// Sorts the points into the grid's strips, on up to `threads` threads; false where a
// coordinate is not finite. Throws Cancelled once `cancel` is set.
template <typename T>
bool buildStrips(const T* points, std::size_t count, const StripGrid& grid, int threads, const int32_t* cancel,
                 StripIndex& out);

// Per column c of b (sorted, component-major, `count` per column), prefix sums of |b|
// along the sorted order, NaN left out: out[c·(count + 1) + k] = Σ_{k' < k} |b_k'c|.
template <typename T>
std::vector<double> stripPrefixSums(const T* sortedB, std::size_t count, int dv);

// The squared distance, over the cross coordinates 1 .. dim-1, between the box [lo, hi]
// (dim values each; a point has lo = hi) and cell c's rectangle.
// Cell c's rectangle over the cross coordinates: [from[k], to[k]] for coordinate k + 1
// (the outermost cells reach to infinity).
struct CellBox {
  double from[2] = {0, 0}, to[2] = {0, 0};
  CellBox(const StripGrid& g, int cell) {
    for (int k = g.dim - 2; k >= 0; --k) {
      const int at = cell % g.cells[k];
      cell /= g.cells[k];
      from[k] = at == 0 ? -INFINITY : g.lo[k] + at * g.h;
      to[k] = at == g.cells[k] - 1 ? INFINITY : g.lo[k] + (at + 1) * g.h;
    }
  }
  // The squared distance over the cross coordinates between the box [lo, hi] (dim values
  // each; a point has lo = hi) and the rectangle.
  template <typename A>
  double gap(int dim, const A* lo, const A* hi) const {
    double g = 0;
    for (int k = 0; k + 1 < dim; ++k) {
      const double e = std::max({0.0, from[k] - static_cast<double>(hi[k + 1]), static_cast<double>(lo[k + 1]) - to[k]});
      g += e * e;
    }
    return g;
  }
};

// The cells whose rectangles come within `reach` of the box [lo, hi] in every cross
// coordinate (a superset of those within Euclidean distance `reach`), in order.
void cellsNear(const StripGrid& g, const double* lo, const double* hi, double reach, std::vector<int>& out);

}  // namespace lk

// How a call's rows are shared out: blocks of rows, the j ranges each reduces over
// (explicit ranges or all of j), and the OpenMP loop over blocks with cancellation.
// Included only by the per-instruction-set sources, inside their namespace.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "../engine.h"
#include "sizes.h"

namespace lk {
namespace LK_ISA_NS {

// Below this many pairs per thread a second thread costs more than it saves: waking a
// team takes tens of microseconds, far more on a loaded machine (a KernelSolve at N = 200
// took 56 ms with 2 threads against 0.3 ms with one while the other core was busy).
constexpr std::size_t kMinPairsPerThread = std::size_t(1) << 15;

using JRange = std::pair<std::size_t, std::size_t>;

// A block of rows and the ranges of j it reduces over (all of them unless ranges say so).
struct RowBlock {
  std::size_t i0;
  int rows;
  const JRange* j;
  std::size_t ranges;
};

inline bool cancelled(const int32_t* flag) { return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0; }
inline bool cancelled(const RunContext& ctx) { return cancelled(ctx.cancel); }

// Threads for m x n pairs: at most ctx.threads, and each with enough pairs to pay for
// waking it.
inline int threadsFor(std::size_t m, std::size_t n, const RunContext& ctx) {
  const std::size_t pairs = m * std::max<std::size_t>(n, 1);
  return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(ctx.threads, pairs / kMinPairsPerThread)));
}

// Runs body(worker, unit) for units 0 .. units-1 on up to `threads` threads, checking
// the cancel flag before each unit (a body may check it too, and return early). Workers
// are made here, before the parallel region: nothing in it may throw.
template <typename W, typename Make, typename Body>
void parallelFor(int64_t units, int threads, const RunContext& ctx, Make make, Body body) {
  if (units <= 0) return;
  threads = static_cast<int>(std::min<int64_t>(std::max(1, threads), units));
  std::vector<W> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) workers.push_back(make());
  std::atomic<bool> stop{false};
#pragma omp parallel num_threads(threads)
  {
    W& w = workers[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
    for (int64_t unit = 0; unit < units; ++unit) {
      if (stop.load(std::memory_order_relaxed)) continue;
      if (cancelled(ctx)) {
        stop.store(true, std::memory_order_relaxed);
        continue;
      }
      body(w, unit);
    }
  }
  if (stop.load() || cancelled(ctx)) throw Cancelled();
}

// The row blocks of a call and the j ranges each reduces over: blocks of at most
// `blockRows` rows over all of j, or, with explicit ranges, each row cluster cut into
// such blocks over its ranges (sorted, so that ties still go to the lowest j) and the
// rows of no cluster over nothing.
struct BlockPlan {
  std::vector<RowBlock> blocks;
  std::vector<JRange> j;
};

inline BlockPlan planBlocks(std::size_t m, std::size_t n, const Ranges* ranges, int blockRows) {
  BlockPlan plan;
  std::vector<std::pair<std::size_t, std::size_t>> slices;  // per block, its ranges in plan.j
  auto cut = [&](std::size_t a, std::size_t b, std::size_t first, std::size_t last) {
    for (std::size_t i0 = a; i0 < b; i0 += blockRows) {
      plan.blocks.push_back({i0, static_cast<int>(std::min<std::size_t>(blockRows, b - i0)), nullptr, 0});
      slices.emplace_back(first, last);
    }
  };
  if (!ranges) {
    if (n > 0) plan.j.emplace_back(0, n);
    cut(0, m, 0, plan.j.size());
  } else {
    std::size_t covered = 0;
    for (std::size_t k = 0; k < ranges->slicesI.size(); ++k) {
      const std::size_t a = ranges->rangesI[2 * k], b = ranges->rangesI[2 * k + 1];
      cut(covered, a, 0, 0);
      const std::size_t first = plan.j.size();
      for (int32_t r = k ? ranges->slicesI[k - 1] : 0; r < ranges->slicesI[k]; ++r)
        if (ranges->redrangesJ[2 * r] < ranges->redrangesJ[2 * r + 1])
          plan.j.emplace_back(ranges->redrangesJ[2 * r], ranges->redrangesJ[2 * r + 1]);
      std::sort(plan.j.begin() + first, plan.j.end());
      cut(a, b, first, plan.j.size());
      covered = b;
    }
    cut(covered, m, 0, 0);
  }
  // Pointers only now that plan.j has stopped growing.
  for (std::size_t k = 0; k < plan.blocks.size(); ++k) {
    plan.blocks[k].j = plan.j.data() + slices[k].first;
    plan.blocks[k].ranges = slices[k].second - slices[k].first;
  }
  return plan;
}

// Adds n evaluated pairs to the call's count (RunContext::pairs), once per block: an
// atomic add per pair would cost more than the pair.
inline void countPairs(const RunContext& ctx, uint64_t n) {
  if (ctx.pairs && n) ctx.pairs->fetch_add(n, std::memory_order_relaxed);
}

// Runs body(worker, block) on every row block of the call, in parallel; make(blockRows)
// builds a worker. rowStateBytes, a row's reduction state, caps the rows of a block
// (sizes.h, kStateBytesPerThread).
template <typename W, typename Make, typename Body>
void forEachBlock(std::size_t m, std::size_t n, const RunContext& ctx, Make make, Body body, std::size_t rowStateBytes = 0) {
  if (m == 0) return;
  const int threads = threadsFor(m, n, ctx);
  const std::size_t want = static_cast<std::size_t>(threads) * kBlocksPerThread;
  const std::size_t stateRows = rowStateBytes ? std::max<std::size_t>(1, kStateBytesPerThread / rowStateBytes) : kMaxBlockRows;
  const int blockRows = static_cast<int>(
      std::min<std::size_t>({kMaxBlockRows, stateRows, std::max<std::size_t>(1, (m + want - 1) / want)}));
  const BlockPlan plan = planBlocks(m, n, ctx.ranges, blockRows);
  parallelFor<W>(static_cast<int64_t>(plan.blocks.size()), threads, ctx, [&]() { return make(blockRows); },
                 [&](W& w, int64_t k) {
                   const RowBlock& blk = plan.blocks[k];
                   body(w, blk);
                   uint64_t columns = 0;
                   for (std::size_t r = 0; r < blk.ranges; ++r) columns += blk.j[r].second - blk.j[r].first;
                   countPairs(ctx, columns * static_cast<uint64_t>(blk.rows));
                 });
}


}  // namespace LK_ISA_NS
}  // namespace lk

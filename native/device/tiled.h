// The tiled reduction kernel of the device path, written as phases between barriers so
// that the same code runs on a GPU (one CUDA thread per output row) and in the host
// emulator (emulate.cc), which plays every thread of a block phase by phase.
//
// Shape: a block of `block` threads owns `block` consecutive rows and one range of j
// (all of it, or one chunk of the 2D split). For each tile of `block` columns, every
// thread stages one j-row of every j-variable into shared memory (phase 1), then, after
// a barrier, every thread folds the whole tile into its row's state (phase 2). The 2D
// split (few rows, many columns) gives each chunk of j its own blocks and merges the
// per-chunk states of a row in a second pass (mergeRow).
#pragma once
#include "../../cuda/plugin_abi.h"
#include "../maths/hd.h"
#include "../maths/radial.h"
#include "pair.h"
#include "row_acc.h"

namespace lk {

// What one thread keeps in registers (or local memory) across the tiles.
template <typename T>
struct RowThread {
  T reg[LK_DEV_MAX_REG_VALUES];
  RowAcc<T> acc;
  long long i;
  bool live;  // a row exists for this thread (the last block may be partial)
};

template <typename T>
struct TileKernel {
  const lk_dev_program& p;
  const T* const* args;

  // Phase 0: the parameter- and row-level registers, and an empty state.
  LK_HDM void begin(RowThread<T>& th, long long i) const {
    th.i = i;
    th.live = i < p.m;
    if (!th.live) return;
    evaluateLevels<T>(p, 0, 1, PairInputs<T>{args, i, nullptr}, th.reg);
    th.acc.reset(p);
  }

  // Phase 1: thread t stages j-row j0 + t of every j-variable (tile: block × jWidth).
  LK_HDM void stage(T* tile, int t, long long j0, int len) const {
    if (t >= len) return;
    const long long j = j0 + t;
    for (int v = 0; v < p.nVars; ++v) {
      if (p.varCat[v] != 1) continue;
      const int d = p.varDim[v];
      for (int c = 0; c < d; ++c) tile[t * p.jWidth + p.jOffset[v] + c] = args[v][j * d + c];
    }
  }

  // Phase 2: the thread folds the staged tile into its row's state.
  LK_HDM void consume(RowThread<T>& th, const T* tile, long long j0, int len) const {
    if (!th.live) return;
    if (p.kernelTag != KERNEL_none) {
      consumeFused(th, tile, len);
    } else {
      const lk_dev_instr& f = p.code[p.result];
      const T* w = p.weights >= 0 ? th.reg + p.code[p.weights].offset : nullptr;
      for (int t = 0; t < len; ++t) {
        evaluateLevels<T>(p, 2, 3, PairInputs<T>{args, th.i, tile + t * p.jWidth}, th.reg);
        th.acc.fold(th.reg + f.offset, w, static_cast<int32_t>(j0 + t));
      }
    }
    th.acc.flush();
  }

  // Phase 3: the row's outputs or, under the 2D split, its state for chunk `split` (of
  // `splits`) at partial[split·m + i], for mergeRow.
  LK_HDM void finish(const RowThread<T>& th, int split, int splits, RowAcc<T>* partial, T* values,
                     int32_t* indices) const {
    if (!th.live) return;
    if (splits == 1) th.acc.write(th.i, values, indices);
    else partial[static_cast<long long>(split) * p.m + th.i] = th.acc;
  }

 private:
  // A recognised radial kernel: phi(scale·|x_i - y_j|²)·b_j, without the interpreter.
  LK_HDM void consumeFused(RowThread<T>& th, const T* tile, int len) const {
    const int d = p.varDim[p.kernelX];
    const T* xi = args[p.kernelX] + th.i * d;
    T x[LK_DEV_MAX_DIM];
    for (int c = 0; c < d; ++c) x[c] = xi[c];
    const T factor = radialFactorOf<T>(p.kernelTag, th.reg[p.code[p.kernelScale].offset]);
    for (int t = 0; t < len; ++t) {
      const T* row = tile + t * p.jWidth;
      const T* y = row + p.jOffset[p.kernelY];
      T s = 0;
      for (int c = 0; c < d; ++c) {
        const T diff = x[c] - y[c];
        s = fmadd(diff, diff, s);
      }
      th.acc.addScaled(radialScaledOf<T>(p.kernelTag, factor * s), row + p.jOffset[p.kernelB]);
    }
  }
};

// Chunk `split` of j under a launch of `splits` chunks of `chunk` columns: [begin, end).
LK_HD long long chunkBegin(long long chunk, int split) { return split * chunk; }
LK_HD long long chunkEnd(long long n, long long chunk, int split, int splits) {
  const long long end = (split + 1) * chunk;
  return splits > 1 && end < n ? end : n;
}

// One block's schedule over the j-range [jBegin, jEnd). Exec runs a phase for the
// block's threads: on a GPU each thread runs its own part and sync() is __syncthreads();
// the emulator loops over the threads and sync() does nothing. stopped() ends the block
// early (the emulator's cancel flag; never on a GPU, where it is uniform false).
template <typename T, typename Exec>
LK_HD void runBlock(Exec& ex, const TileKernel<T>& k, long long rowBase, long long jBegin, long long jEnd) {
  ex.each([&](int t, RowThread<T>& th) { k.begin(th, rowBase + t); });
  for (long long j0 = jBegin; j0 < jEnd && !ex.stopped(); j0 += ex.block) {
    const int len = static_cast<int>(jEnd - j0 < ex.block ? jEnd - j0 : ex.block);
    ex.each([&](int t, RowThread<T>&) { k.stage(ex.tile, t, j0, len); });
    ex.sync();
    ex.each([&](int t, RowThread<T>& th) { k.consume(th, ex.tile, j0, len); });
    ex.sync();  // the next tile overwrites the staged rows
  }
}

// The second pass of the 2D split: row i's states from its `splits` chunks, in j order.
template <typename T>
LK_HD void mergeRow(const RowAcc<T>* partial, long long i, int splits, long long m, T* values, int32_t* indices) {
  RowAcc<T> acc = partial[i];
  for (int s = 1; s < splits; ++s) acc.merge(partial[static_cast<long long>(s) * m + i]);
  acc.write(i, values, indices);
}

// A launch: `rowBlocks` × `splits` blocks of `block` threads, chunks of `chunk` columns.
struct LaunchPlan {
  int block;
  long long rowBlocks;
  int splits;
  long long chunk;
  long long sharedBytes;
};

// Threads per block from the per-thread footprint (the register file is shared by a
// block's threads: wide formulas get fewer) and the staged tile (at most 48 KB of shared
// memory); the 2D split when the rows alone cannot fill `multiprocessors` twice over.
// block and splits > 0 force those (tests, tuning).
LK_HD LaunchPlan planLaunch(const lk_dev_program& p, int valueBytes, int multiprocessors, int block, int splits) {
  LaunchPlan l;
  if (block <= 0) {
    const int footprint = p.regValues + (p.reduction >= RED_KMin && p.reduction <= RED_KMin_ArgKMin ? 2 * p.k : 2);
    block = footprint <= 16 ? 256 : footprint <= 48 ? 128 : 64;
    while (block > 32 && static_cast<long long>(block) * p.jWidth * valueBytes > 48 * 1024) block /= 2;
  }
  l.block = block;
  l.rowBlocks = (p.m + block - 1) / block;
  if (splits <= 0) {
    splits = 1;
    const long long wanted = 2LL * multiprocessors;
    if (l.rowBlocks > 0 && l.rowBlocks < wanted && p.n > 8LL * block) {
      const long long byRows = (wanted + l.rowBlocks - 1) / l.rowBlocks;
      const long long byCols = p.n / (4LL * block);  // chunks of at least 4 tiles
      splits = static_cast<int>(byRows < byCols ? byRows : byCols);
      if (splits < 1) splits = 1;
    }
  }
  if (p.n <= 0) splits = 1;  // nothing to split (and no chunk size to divide by)
  // Chunks are whole tiles; splits shrinks if the rounding leaves chunks empty.
  const long long per = (p.n + splits - 1) / splits;
  l.chunk = splits > 1 ? (per + block - 1) / block * block : (p.n > 0 ? p.n : 1);
  l.splits = splits > 1 ? static_cast<int>((p.n + l.chunk - 1) / l.chunk) : 1;
  if (l.splits < 1) l.splits = 1;
  l.sharedBytes = static_cast<long long>(block) * (p.jWidth > 0 ? p.jWidth : 1) * valueBytes;
  return l;
}

}  // namespace lk

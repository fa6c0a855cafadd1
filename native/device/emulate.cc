#include "emulate.h"

#include <vector>

#include "../engine.h"
#include "tiled.h"

namespace lk {
namespace {

// A block's threads on the host: each phase runs for thread 0, 1, ... in turn, which
// is a valid schedule of the GPU's, as the phases only meet at barriers.
template <typename T>
struct HostExec {
  int block;
  T* tile;
  RowThread<T>* threads;
  const int32_t* cancel;
  template <typename F>
  void each(F&& f) {
    for (int t = 0; t < block; ++t) f(t, threads[t]);
  }
  void sync() {}
  bool stopped() const { return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED); }
};

template <typename T>
void emulate(const lk_dev_program& p, const T* const* args, T* values, int32_t* indices, int block, int splits,
             const int32_t* cancel) {
  const LaunchPlan l = planLaunch(p, sizeof(T), kEmulatedMultiprocessors, block, splits);
  std::vector<RowThread<T>> threads(l.block);
  std::vector<T> tile(static_cast<std::size_t>(l.sharedBytes / sizeof(T)));
  std::vector<RowAcc<T>> partial(l.splits > 1 ? static_cast<std::size_t>(p.m) * l.splits : 0);
  const TileKernel<T> k{p, args};
  HostExec<T> ex{l.block, tile.data(), threads.data(), cancel};
  for (long long bx = 0; bx < l.rowBlocks; ++bx) {
    for (int s = 0; s < l.splits; ++s) {
      runBlock(ex, k, bx * l.block, chunkBegin(l.chunk, s), chunkEnd(p.n, l.chunk, s, l.splits));
      if (ex.stopped()) throw Cancelled();
      for (const RowThread<T>& th : threads) k.finish(th, s, l.splits, partial.data(), values, indices);
    }
  }
  if (l.splits > 1)
    for (long long i = 0; i < p.m; ++i) mergeRow(partial.data(), i, l.splits, p.m, values, indices);
}

}  // namespace

void emulateDeviceReduce(const lk_dev_program& p, const void* const* args, void* values, int32_t* indices, int block,
                         int splits, const int32_t* cancel) {
  if (p.dtype == F32)
    emulate<float>(p, reinterpret_cast<const float* const*>(args), static_cast<float*>(values), indices, block, splits,
                   cancel);
  else
    emulate<double>(p, reinterpret_cast<const double* const*>(args), static_cast<double*>(values), indices, block,
                    splits, cancel);
}

}  // namespace lk

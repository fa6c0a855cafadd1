// The device path's kernels run on the host: blocks and threads played one after the
// other, phase by phase (device/tiled.h), so that the CPU tests check the indexing,
// tiling, staging, 2D split and merge code that the GPU runs. Slow; for tests only.
#pragma once
#include <cstdint>

#include "../../cuda/plugin_abi.h"

namespace lk {

// The launch planned as for a GPU with this many multiprocessors (an H100's), so that
// the 2D split engages on the sizes where it would there.
constexpr int kEmulatedMultiprocessors = 132;

// args[v]: variable v's array in p's dtype; values/indices as the CPU engine's (either
// may be null). block and splits > 0 force the launch shape. cancel, when set, stops
// between blocks (the caller throws).
void emulateDeviceReduce(const lk_dev_program& p, const void* const* args, void* values, int32_t* indices, int block,
                         int splits, const int32_t* cancel);

}  // namespace lk

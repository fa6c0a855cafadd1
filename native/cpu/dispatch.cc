// Picks the instruction-set build of the hot loops at run time. Compiled at the baseline
// level, so it runs on any x86-64 CPU; only the chosen build executes wider instructions.
#include <cstdlib>
#include <cstring>

#include "kernels.h"

namespace lk {
namespace {

enum Level { BASE = 0, AVX2 = 1, AVX512 = 2 };
const char* const kNames[] = {"base", "avx2", "avx512"};

Level supported() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return AVX2;
#endif
  return BASE;
}

// LAZYKERNEL_SIMD=base|avx2 lowers the level (for tests and comparisons); it never
// raises it above what the CPU supports. Read at every call, so a process can switch.
Level current() {
  static const Level best = supported();
  const char* want = std::getenv("LAZYKERNEL_SIMD");
  if (want)
    for (int l = BASE; l < best; ++l)
      if (std::strcmp(want, kNames[l]) == 0) return static_cast<Level>(l);
  return best;
}

}  // namespace

const char* simdLevel() { return kNames[current()]; }

void reduceCpu(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx) {
  switch (current()) {
#if defined(__x86_64__) || defined(_M_X64)
    case AVX512: return avx512::reduceOnCpu(p, args, values, indices, ctx);
    case AVX2: return avx2::reduceOnCpu(p, args, values, indices, ctx);
#endif
    default: return base::reduceOnCpu(p, args, values, indices, ctx);
  }
}

void evaluatePairsCpu(const Program& p, const void* const* args, const std::size_t* offsets, double* out,
                      const RunContext& ctx) {
  switch (current()) {
#if defined(__x86_64__) || defined(_M_X64)
    case AVX512: return avx512::evaluatePairsOnCpu(p, args, offsets, out, ctx);
    case AVX2: return avx2::evaluatePairsOnCpu(p, args, offsets, out, ctx);
#endif
    default: return base::evaluatePairsOnCpu(p, args, offsets, out, ctx);
  }
}

const DenseOps& dense() {
  switch (current()) {
#if defined(__x86_64__) || defined(_M_X64)
    case AVX512: return avx512::denseOps();
    case AVX2: return avx2::denseOps();
#endif
    default: return base::denseOps();
  }
}

}  // namespace lk

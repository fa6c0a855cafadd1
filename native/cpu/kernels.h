// The hot loops, compiled once per instruction-set level (sources.json "kernels"), each
// build in its own namespace: lk::base, lk::avx2, lk::avx512. dispatch.cc picks one.
#pragma once
#include <cstdint>

#include "../engine.h"
#include "../solve/dense.h"

namespace lk {

#define LK_DECLARE_KERNELS(ns)                                                                \
  namespace ns {                                                                              \
  void reduceOnCpu(const Program& p, const void* const* args, void* values, int32_t* indices, \
                   const RunContext& ctx);                                                    \
  void evaluatePairsOnCpu(const Program& p, const void* const* args, const std::size_t* offsets, \
                          double* out, const RunContext& ctx);                                \
  const DenseOps& denseOps();                                                                 \
  }
LK_DECLARE_KERNELS(base)
#if defined(__x86_64__) || defined(_M_X64)
LK_DECLARE_KERNELS(avx2)
LK_DECLARE_KERNELS(avx512)
#endif
#undef LK_DECLARE_KERNELS

// The build for this CPU (dispatch.cc).
void reduceCpu(const Program& p, const void* const* args, void* values, int32_t* indices, const RunContext& ctx);
void evaluatePairsCpu(const Program& p, const void* const* args, const std::size_t* offsets, double* out,
                      const RunContext& ctx);

}  // namespace lk

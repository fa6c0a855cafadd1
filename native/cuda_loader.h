// Finds the CUDA plugin beside the addon and asks it about devices. The addon never
// links libcudart: the plugin carries it, and is only dlopen'ed here.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../cuda/plugin_abi.h"
#include "solve/cg.h"

namespace lk {

struct CudaStatus {
  bool available = false;
  int devices = 0;
  std::string reason;  // why not available; empty when available
  std::string plugin;  // the path tried
};

// Probes once and caches the answer.
const CudaStatus& cudaStatus();

// A CUDA call that failed, or no usable device; the message names the call.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// lk_cuda_solve of the plugin: CG with its vectors on the device. Throws CudaError,
// Cancelled or SolveBreakdown (solve/cg.h) as the CPU solve would.
CgReport cudaSolve(const lk_dev_program& p, const void* const* args, int slot, const double* b, double* x,
                   const CgOptions& options, const Progress& progress, int block, int splits);

// lk_cuda_reduce of the plugin (plugin_abi.h); throws CudaError.
void cudaReduce(const lk_dev_program& p, const void* const* args, void* values, int32_t* indices, int block,
                int splits);

}  // namespace lk

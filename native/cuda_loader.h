// Finds the CUDA plugin beside the addon and asks it about devices. The addon never
// links libcudart: the plugin carries it, and is only dlopen'ed here.
#pragma once
#include <string>

namespace lk {

struct CudaStatus {
  bool available = false;
  int devices = 0;
  std::string reason;  // why not available; empty when available
  std::string plugin;  // the path tried
};

// Probes once and caches the answer.
const CudaStatus& cudaStatus();

}  // namespace lk

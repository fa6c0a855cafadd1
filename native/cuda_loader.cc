#include "cuda_loader.h"

#include <dlfcn.h>

#include "../cuda/plugin_abi.h"

namespace lk {
namespace {

std::string pluginPath() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&pluginPath), &info) || !info.dli_fname) return "";
  std::string self = info.dli_fname;
  std::size_t slash = self.rfind('/');
  std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  return dir + "/lazykernel_cuda.so";
}

CudaStatus probe() {
  CudaStatus s;
  s.plugin = pluginPath();
  void* lib = dlopen(s.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* err = dlerror();
    s.reason = "no CUDA plugin: " + std::string(err ? err : s.plugin) +
               " (it is built only where nvcc is found)";
    return s;
  }
  auto abi = reinterpret_cast<int (*)()>(dlsym(lib, "lk_cuda_abi_version"));
  auto count = reinterpret_cast<int (*)(char*, int)>(dlsym(lib, "lk_cuda_device_count"));
  if (!abi || !count || abi() != LK_CUDA_ABI_VERSION) {
    s.reason = "the CUDA plugin at " + s.plugin + " does not match this addon (ABI version)";
    return s;
  }
  char err[512] = {0};
  int n = count(err, sizeof err);
  if (n < 0) {
    s.reason = std::string("no usable CUDA driver: ") + err;
  } else if (n == 0) {
    s.reason = "no CUDA device found";
  } else {
    s.available = true;
    s.devices = n;
  }
  // The plugin stays loaded: unloading a library that started CUDA's runtime is unsafe.
  return s;
}

}  // namespace

const CudaStatus& cudaStatus() {
  static const CudaStatus status = probe();
  return status;
}

}  // namespace lk

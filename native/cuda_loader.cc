#include "cuda_loader.h"

#include <vector>

#include <dlfcn.h>

#include "engine.h"

#include "../cuda/plugin_abi.h"

namespace lk {
namespace {

using ReduceFn = int (*)(const lk_dev_program*, const void* const*, void*, int32_t*, int, int, char*, int);
ReduceFn pluginReduce = nullptr;  // set by probe() when a device is usable
using SolveFn = int (*)(const lk_dev_program*, const void* const*, int, const double*, double*, double, double, int,
                        const int32_t*, lk_progress_fn, void*, lk_cg_report*, int, int, char*, int);
SolveFn pluginSolve = nullptr;

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
    // npm's install path (a prebuilt binary, or node-gyp) builds the CPU addon only.
    s.reason = "no CUDA plugin (" + std::string(err ? err : s.plugin) +
               "): `npm install` builds or downloads the CPU addon only; build the plugin with "
               "`npm run build:native` on a machine with nvcc (docs/gpu.md)";
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
    // The runtime says "driver version is insufficient" also when there is no driver at
    // all; the user needs to know which.
    void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    s.reason = driver ? std::string("the NVIDIA driver cannot run this plugin's CUDA runtime (update the driver): ") + err
                      : std::string("no NVIDIA driver on this machine (libcuda.so.1 not found); the CUDA runtime said: ") + err;
    if (driver) dlclose(driver);
  } else if (n == 0) {
    s.reason = "no CUDA device found";
  } else if (!(pluginReduce = reinterpret_cast<ReduceFn>(dlsym(lib, "lk_cuda_reduce"))) ||
             !(pluginSolve = reinterpret_cast<SolveFn>(dlsym(lib, "lk_cuda_solve")))) {
    s.reason = "the CUDA plugin at " + s.plugin + " lacks lk_cuda_reduce or lk_cuda_solve";
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

namespace {

void requireDevice() {
  const CudaStatus& s = cudaStatus();
  if (!s.available) throw CudaError("backend 'cuda' is unavailable: " + s.reason);
}

void forwardProgress(void* ctx, int iteration, double residual) {
  (*static_cast<const Progress*>(ctx))({ProgressEvent::Iterate, iteration, residual});
}

}  // namespace

CgReport cudaSolve(const lk_dev_program& p, const void* const* args, int slot, const double* b, double* x,
                   const CgOptions& o, const Progress& progress, int block, int splits) {
  requireDevice();
  char err[512] = {0};
  lk_cg_report r{};
  std::vector<double> residuals(p.varDim[slot], 0.0);
  r.residuals = residuals.data();
  const int status = pluginSolve(&p, args, slot, b, x, o.alpha, o.tol, o.maxIter, o.cancel,
                                 progress ? forwardProgress : nullptr, const_cast<Progress*>(&progress), &r, block,
                                 splits, err, sizeof err);
  if (status == -2) throw Cancelled();
  if (status == -3) throw SolveBreakdown(err);
  if (status != 0) throw CudaError(std::string("CUDA: ") + err);
  CgReport report;
  report.iterations = r.iterations;
  report.refinements = r.refinements;
  report.residual = r.residual;
  report.residuals = residuals;
  report.reason = static_cast<StopReason>(r.reason);
  report.converged = r.converged != 0;
  return report;
}

void cudaReduce(const lk_dev_program& p, const void* const* args, void* values, int32_t* indices, int block,
                int splits) {
  requireDevice();
  char err[512] = {0};
  if (pluginReduce(&p, args, values, indices, block, splits, err, sizeof err) != 0)
    throw CudaError(std::string("CUDA: ") + err);
}

}  // namespace lk

// The CUDA plugin: a shared library with the small C ABI of plugin_abi.h, cudart linked
// statically. The kernel code is native/device/ (tiled.h, pair.h, row_acc.h) and the
// per-pair maths native/maths/: the same headers the host emulator runs in the CPU
// tests (test/cuda.emulated.test.ts). This file only adds what a GPU needs around them:
// the program in constant memory, device buffers, launches and error codes.
//
// Kernel shape (device/tiled.h): one thread per output row, j-variables staged through
// shared memory one tile of `block` rows at a time, the row's state in registers (local
// memory for wide formulas); a 2D split with a merge pass for few rows and many columns.
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

#include "device/tiled.h"
#include "plugin_abi.h"

namespace {

__constant__ lk_dev_program c_program;

// One CUDA thread's view of a block: each phase runs for this thread only.
template <typename T>
struct DeviceExec {
  int block;
  T* tile;
  lk::RowThread<T>* me;
  template <typename F>
  __device__ void each(F&& f) {
    f(static_cast<int>(threadIdx.x), *me);
  }
  __device__ void sync() { __syncthreads(); }
};

template <typename T>
__global__ void reduceKernel(const T* const* args, T* values, int32_t* indices, lk::RowAcc<T>* partial,
                             long long chunk) {
  extern __shared__ unsigned char shared[];
  const lk_dev_program& p = c_program;
  lk::RowThread<T> th;
  DeviceExec<T> ex{static_cast<int>(blockDim.x), reinterpret_cast<T*>(shared), &th};
  const lk::TileKernel<T> k{p, args};
  const long long rowBase = static_cast<long long>(blockIdx.x) * blockDim.x;
  const long long jBegin = static_cast<long long>(blockIdx.y) * chunk;
  const long long jEnd = gridDim.y > 1 ? (p.n < jBegin + chunk ? p.n : jBegin + chunk) : p.n;
  lk::runBlock(ex, k, rowBase, jBegin, jEnd);
  if (gridDim.y == 1)
    k.finish(th, values, indices);
  else if (th.live)
    partial[static_cast<long long>(blockIdx.y) * p.m + th.i] = th.acc;
}

template <typename T>
__global__ void mergeKernel(const lk::RowAcc<T>* partial, int splits, T* values, int32_t* indices) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < c_program.m) lk::mergeRow(partial, i, splits, c_program.m, values, indices);
}

void setError(char* err, int errlen, const char* what, cudaError_t code) {
  if (err && errlen > 0) std::snprintf(err, errlen, "%s: %s (%s)", what, cudaGetErrorString(code), cudaGetErrorName(code));
}

#define LK_CUDA_CHECK(call)                \
  do {                                     \
    cudaError_t code_ = (call);            \
    if (code_ != cudaSuccess) {            \
      setError(err, errlen, #call, code_); \
      return -1;                           \
    }                                      \
  } while (0)

// Device buffers freed on every return path.
struct Buffers {
  std::vector<void*> held;
  ~Buffers() {
    for (void* b : held) cudaFree(b);
  }
  cudaError_t alloc(void** out, size_t bytes) {
    cudaError_t code = cudaMalloc(out, bytes > 0 ? bytes : 1);
    if (code == cudaSuccess) held.push_back(*out);
    return code;
  }
};

template <typename T>
int reduceOn(const lk_dev_program& p, const void* const* args, void* values, int32_t* indices, int block, int splits,
             char* err, int errlen) {
  const bool kred = p.reduction == lk::RED_KMin || p.reduction == lk::RED_ArgKMin || p.reduction == lk::RED_KMin_ArgKMin;
  const int dim = p.code[p.reduction == lk::RED_SumSoftMaxWeight ? p.weights : p.result].dim;
  const size_t outCount = static_cast<size_t>(p.m) * (kred ? dim * p.k : dim);
  if (p.m == 0) return 0;
  int multiprocessors = 0;
  LK_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0));
  const lk::LaunchPlan plan = lk::planLaunch(p, sizeof(T), multiprocessors, block, splits);
  if (plan.sharedBytes > 48 * 1024 || plan.splits > 65535) {
    std::snprintf(err, errlen, "the CUDA launch needs %lld bytes of shared memory and %d chunks (at most 49152, 65535)",
                  plan.sharedBytes, plan.splits);
    return -1;
  }
  LK_CUDA_CHECK(cudaMemcpyToSymbol(c_program, &p, sizeof p));
  Buffers buf;
  std::vector<const T*> deviceArgs(p.nVars);
  for (int v = 0; v < p.nVars; ++v) {
    const long long rows = p.varCat[v] == 0 ? p.m : p.varCat[v] == 1 ? p.n : 1;
    const size_t bytes = sizeof(T) * rows * p.varDim[v];
    void* d = nullptr;
    LK_CUDA_CHECK(buf.alloc(&d, bytes));
    if (bytes) LK_CUDA_CHECK(cudaMemcpy(d, args[v], bytes, cudaMemcpyHostToDevice));
    deviceArgs[v] = static_cast<const T*>(d);
  }
  void *dArgs = nullptr, *dValues = nullptr, *dIndices = nullptr, *dPartial = nullptr;
  LK_CUDA_CHECK(buf.alloc(&dArgs, sizeof(T*) * p.nVars));
  LK_CUDA_CHECK(cudaMemcpy(dArgs, deviceArgs.data(), sizeof(T*) * p.nVars, cudaMemcpyHostToDevice));
  if (values) LK_CUDA_CHECK(buf.alloc(&dValues, sizeof(T) * outCount));
  if (indices) LK_CUDA_CHECK(buf.alloc(&dIndices, sizeof(int32_t) * outCount));
  if (plan.splits > 1)
    LK_CUDA_CHECK(buf.alloc(&dPartial, sizeof(lk::RowAcc<T>) * static_cast<size_t>(p.m) * plan.splits));
  const dim3 grid(static_cast<unsigned>(plan.rowBlocks), static_cast<unsigned>(plan.splits));
  reduceKernel<T><<<grid, plan.block, plan.sharedBytes>>>(static_cast<const T* const*>(dArgs), static_cast<T*>(dValues),
                                                          static_cast<int32_t*>(dIndices),
                                                          static_cast<lk::RowAcc<T>*>(dPartial), plan.chunk);
  LK_CUDA_CHECK(cudaGetLastError());
  if (plan.splits > 1) {
    const unsigned blocks = static_cast<unsigned>((p.m + 255) / 256);
    mergeKernel<T><<<blocks, 256>>>(static_cast<const lk::RowAcc<T>*>(dPartial), plan.splits, static_cast<T*>(dValues),
                                    static_cast<int32_t*>(dIndices));
    LK_CUDA_CHECK(cudaGetLastError());
  }
  LK_CUDA_CHECK(cudaDeviceSynchronize());
  if (values) LK_CUDA_CHECK(cudaMemcpy(values, dValues, sizeof(T) * outCount, cudaMemcpyDeviceToHost));
  if (indices) LK_CUDA_CHECK(cudaMemcpy(indices, dIndices, sizeof(int32_t) * outCount, cudaMemcpyDeviceToHost));
  return 0;
}

}  // namespace

extern "C" {

int lk_cuda_abi_version(void) { return LK_CUDA_ABI_VERSION; }

int lk_cuda_device_count(char* err, int errlen) {
  int count = 0;
  cudaError_t code = cudaGetDeviceCount(&count);
  if (code == cudaErrorNoDevice) return 0;
  if (code != cudaSuccess) {
    setError(err, errlen, "cudaGetDeviceCount", code);
    return -1;
  }
  return count;
}

int lk_cuda_reduce(const lk_dev_program* p, const void* const* args, void* values, int32_t* indices, int block,
                   int splits, char* err, int errlen) {
  if (!p || p->dtype == 0)
    return p ? reduceOn<float>(*p, args, values, indices, block, splits, err, errlen) : -1;
  return reduceOn<double>(*p, args, values, indices, block, splits, err, errlen);
}

}  // extern "C"

// The CUDA plugin: a shared library with the small C ABI of plugin_abi.h, cudart linked
// statically. The per-pair maths comes from native/maths/, the same headers the CPU
// engine compiles, so the CPU tests exercise it.
//
// Kernel shape: one thread per output row; the block stages a tile of y_j and b_j (as
// many rows as it has threads) in shared memory; each thread keeps x_i and its
// accumulators in registers.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "maths/radial.h"
#include "plugin_abi.h"

namespace {

constexpr int kBlock = 128;   // threads per block = j rows per shared-memory tile
constexpr int kMaxDim = 32;   // x_i held in registers
constexpr int kMaxCols = 16;  // accumulators per thread; wider b runs in column chunks

void setError(char* err, int errlen, const char* what, cudaError_t code) {
  if (err && errlen > 0) std::snprintf(err, errlen, "%s: %s (%s)", what, cudaGetErrorString(code), cudaGetErrorName(code));
}

#define LK_CUDA_CHECK(call)                                  \
  do {                                                       \
    cudaError_t code_ = (call);                              \
    if (code_ != cudaSuccess) {                              \
      setError(err, errlen, #call, code_);                   \
      return -1;                                             \
    }                                                        \
  } while (0)

template <typename T>
__global__ void radialSumKernel(int tag, long long m, long long n, int d, int dv, int c0, int cols,
                                const T* __restrict__ x, const T* __restrict__ y,
                                const T* __restrict__ b, T scale, T* __restrict__ out) {
  extern __shared__ unsigned char shared[];
  T* ys = reinterpret_cast<T*>(shared);  // kBlock x d
  T* bs = ys + kBlock * d;               // kBlock x cols
  long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  T xi[kMaxDim];
  double acc[kMaxCols];
  for (int c = 0; c < cols; ++c) acc[c] = 0;
  if (i < m)
    for (int k = 0; k < d; ++k) xi[k] = x[i * d + k];
  for (long long j0 = 0; j0 < n; j0 += kBlock) {
    long long j = j0 + threadIdx.x;
    if (j < n) {
      for (int k = 0; k < d; ++k) ys[threadIdx.x * d + k] = y[j * d + k];
      for (int c = 0; c < cols; ++c) bs[threadIdx.x * cols + c] = b[j * dv + c0 + c];
    }
    __syncthreads();
    int tile = static_cast<int>(n - j0 < kBlock ? n - j0 : kBlock);
    if (i < m) {
      T part[kMaxCols];
      for (int c = 0; c < cols; ++c) part[c] = 0;
      for (int t = 0; t < tile; ++t) {
        T s = 0;
        for (int k = 0; k < d; ++k) {
          T diff = xi[k] - ys[t * d + k];
          s += diff * diff;
        }
        T phi = lk::radialPhi<T>(tag, scale * s);
        for (int c = 0; c < cols; ++c) part[c] += phi * bs[t * cols + c];
      }
      // float32: summed in float within a tile, in double across tiles, as on the CPU.
      for (int c = 0; c < cols; ++c) acc[c] += part[c];
    }
    __syncthreads();
  }
  if (i < m)
    for (int c = 0; c < cols; ++c) out[i * dv + c0 + c] = static_cast<T>(acc[c]);
}

template <typename T>
int radialSum(int tag, long long m, long long n, int d, int dv, const T* x, const T* y, const T* b,
              double scale, T* out, char* err, int errlen) {
  if (d < 1 || d > kMaxDim) {
    std::snprintf(err, errlen, "the CUDA radial kernel supports 1 <= D <= %d, not %d", kMaxDim, d);
    return -1;
  }
  if (m == 0) return 0;
  T *dx = nullptr, *dy = nullptr, *db = nullptr, *dout = nullptr;
  int status = -1;
  auto body = [&]() -> int {
    LK_CUDA_CHECK(cudaMalloc(&dx, sizeof(T) * m * d));
    LK_CUDA_CHECK(cudaMalloc(&dy, sizeof(T) * (n > 0 ? n : 1) * d));
    LK_CUDA_CHECK(cudaMalloc(&db, sizeof(T) * (n > 0 ? n : 1) * dv));
    LK_CUDA_CHECK(cudaMalloc(&dout, sizeof(T) * m * dv));
    LK_CUDA_CHECK(cudaMemcpy(dx, x, sizeof(T) * m * d, cudaMemcpyHostToDevice));
    if (n > 0) {
      LK_CUDA_CHECK(cudaMemcpy(dy, y, sizeof(T) * n * d, cudaMemcpyHostToDevice));
      LK_CUDA_CHECK(cudaMemcpy(db, b, sizeof(T) * n * dv, cudaMemcpyHostToDevice));
    }
    unsigned blocks = static_cast<unsigned>((m + kBlock - 1) / kBlock);
    for (int c0 = 0; c0 < dv; c0 += kMaxCols) {
      int cols = dv - c0 < kMaxCols ? dv - c0 : kMaxCols;
      size_t shared = sizeof(T) * kBlock * (d + cols);
      radialSumKernel<T><<<blocks, kBlock, shared>>>(tag, m, n, d, dv, c0, cols, dx, dy, db,
                                                    static_cast<T>(scale), dout);
      LK_CUDA_CHECK(cudaGetLastError());
    }
    LK_CUDA_CHECK(cudaMemcpy(out, dout, sizeof(T) * m * dv, cudaMemcpyDeviceToHost));
    return 0;
  };
  status = body();
  cudaFree(dx);
  cudaFree(dy);
  cudaFree(db);
  cudaFree(dout);
  return status;
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

int lk_cuda_radial_sum(int tag, int dtype, int64_t m, int64_t n, int d, int dv, const void* x,
                       const void* y, const void* b, double scale, void* out, char* err,
                       int errlen) {
  if (tag <= 0 || tag >= lk::KERNEL_COUNT || dv < 1 || m < 0 || n < 0) {
    std::snprintf(err, errlen, "lk_cuda_radial_sum: bad arguments");
    return -1;
  }
  if (dtype == 0)
    return radialSum<float>(tag, m, n, d, dv, static_cast<const float*>(x), static_cast<const float*>(y),
                            static_cast<const float*>(b), scale, static_cast<float*>(out), err, errlen);
  return radialSum<double>(tag, m, n, d, dv, static_cast<const double*>(x), static_cast<const double*>(y),
                           static_cast<const double*>(b), scale, static_cast<double*>(out), err, errlen);
}

}  // extern "C"

// The C ABI between the CPU addon and the CUDA plugin. Plain C types only, so that
// the two can be built by different compilers and the addon never links CUDA.
#pragma once
#include <stdint.h>

#define LK_CUDA_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

// The ABI version the plugin was built with; the addon refuses any other.
int lk_cuda_abi_version(void);

// Number of CUDA devices, or -1 with a message in err (no driver, driver too old...).
int lk_cuda_device_count(char* err, int errlen);

// Fused radial-kernel sum on device 0: out[i*dv + c] = sum_j phi_tag(scale*|x_i-y_j|^2) b[j*dv + c],
// for x (m x d), y (n x d), b (n x dv), float32 (dtype 0) or float64 (dtype 1) host arrays.
// Returns 0, or -1 with the failing CUDA call and its message in err.
int lk_cuda_radial_sum(int tag, int dtype, int64_t m, int64_t n, int d, int dv,
                       const void* x, const void* y, const void* b, double scale,
                       void* out, char* err, int errlen);

#ifdef __cplusplus
}
#endif

// LK_HD marks the per-pair maths as callable from host and device code, so the CUDA
// plugin and the CPU engine compile the very same functions. They are `static` so that
// each translation unit (each instruction-set build of the CPU kernels among them) keeps
// its own copy: a shared weak symbol compiled for AVX-512 could otherwise be picked by
// the linker for the baseline path.
#pragma once

#if defined(__CUDACC__)
#define LK_HD __host__ __device__ static inline
#else
#define LK_HD static inline __attribute__((always_inline))
#endif

// The same for member functions, which cannot be static (class templates are instantiated
// per use anyway, and only the baseline build and the plugin use them).
#if defined(__CUDACC__)
#define LK_HDM __host__ __device__ inline
#else
#define LK_HDM inline
#endif

#include <math.h>

namespace lk {

// A fused multiply-add, written out where the maths wants one (exp's polynomial, squared
// distances). Everything is compiled with -ffp-contract=off (nvcc: --fmad=false), so no
// other a*b + c is fused, and every instruction-set level and the GPU round alike: the
// same call gives the same per-pair values (Infinity included) on any CPU. The baseline
// x86-64 build has no FMA instruction and calls libm's fma, which is exact but slow;
// only CPUs without AVX2 run it.
LK_HD float fmadd(float a, float b, float c) { return fmaf(a, b, c); }
LK_HD double fmadd(double a, double b, double c) { return fma(a, b, c); }

}  // namespace lk

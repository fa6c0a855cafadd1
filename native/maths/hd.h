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

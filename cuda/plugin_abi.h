// The C ABI between the CPU addon and the CUDA plugin. Plain C types only, so that
// the two can be built by different compilers and the addon never links CUDA.
#pragma once
#include <stdint.h>

#define LK_CUDA_ABI_VERSION 4

#ifdef __cplusplus
extern "C" {
#endif

// A checked program (native/program.h) flattened for the device: fixed-size tables that
// fit constant memory, every register with its own storage in a per-thread array.
#define LK_DEV_MAX_INSTR 128
#define LK_DEV_MAX_VARS 32
#define LK_DEV_MAX_CONSTS 256
#define LK_DEV_MAX_REG_VALUES 128 /* sum of the register dims, per thread */
#define LK_DEV_MAX_ACC 64         /* reduction state per row: dim (times k for the k-reductions) */
#define LK_DEV_MAX_DTW_CELLS 256  /* dim(a)·dim(b) of a soft-DTW: its work arrays are per thread */
#define LK_DEV_MAX_DIM 32         /* the points of a fused kernel */

typedef struct {
  int32_t op, a, b, c, imm;
  int32_t dim, offset; /* the register's values live at offset .. offset + dim - 1 */
  int32_t level;       /* 0 parameters, 1 the i-row, 2 the j-row, 3 the pair */
} lk_dev_instr;

typedef struct {
  int32_t dtype, reduction, k, result, weights;
  int32_t nInstr, nVars, regValues;
  int32_t outColumns; /* output values per row (native/program.h outputSizes) */
  int64_t m, n;
  int32_t varCat[LK_DEV_MAX_VARS], varDim[LK_DEV_MAX_VARS];
  /* j-variables are staged side by side: one tile row holds jWidth values, variable v at jOffset[v] */
  int32_t jOffset[LK_DEV_MAX_VARS];
  int32_t jWidth;
  int32_t kernelTag, kernelX, kernelY, kernelB, kernelScale; /* a fused Sum kernel, tag 0 if none */
  double consts[LK_DEV_MAX_CONSTS];
  lk_dev_instr code[LK_DEV_MAX_INSTR];
} lk_dev_program;

// The ABI version the plugin was built with; the addon refuses any other.
int lk_cuda_abi_version(void);

// Number of CUDA devices, or -1 with a message in err (no driver, driver too old...).
int lk_cuda_device_count(char* err, int errlen);

// The reduction of program p over j on device 0. args[v] is variable v's host array in
// p's dtype; values and indices (either may be null) receive the outputs, laid out as the
// CPU engine's. block and splits force a launch shape (0: chosen from the program).
// Returns 0, or -1 with the failing CUDA call and its message in err.
int lk_cuda_reduce(const lk_dev_program* p, const void* const* args, void* values, int32_t* indices,
                   int block, int splits, char* err, int errlen);

typedef struct {
  int32_t iterations;
  int32_t refinements;
  double residual;
  int32_t converged;
  int32_t reason;      /* 0 converged, 1 maxIter, 2 stagnated (lk::StopReason) */
  double* residuals;   /* the caller's array of dv values: each column's final relative residual */
} lk_cg_report;

typedef void (*lk_progress_fn)(void* ctx, int iteration, double residual);

// Conjugate gradients for (alpha I + K) x = b on device 0 (native/solve/cg_loop.h, the
// CPU's algorithm): p computes K·v, v the j-variable in argument slot `slot` (dv
// columns, args[slot] unused); b and x are n × dv float64 host arrays, x the start and
// then the solution. Inputs are copied once; every CG vector stays on the device and
// only per-column scalars cross per iteration. cancel (may be null) is read between
// iterations; progress (may be null) is called after each.
// Returns 0; -1 with the failing CUDA call in err; -2 when cancelled; -3 when the
// iteration broke down (NaN, or a kernel that is not positive semi-definite: err says).
int lk_cuda_solve(const lk_dev_program* p, const void* const* args, int slot, const double* b, double* x,
                  double alpha, double tol, int maxIter, const int32_t* cancel, lk_progress_fn progress,
                  void* progressCtx, lk_cg_report* report, int block, int splits, char* err, int errlen);

#ifdef __cplusplus
}
#endif

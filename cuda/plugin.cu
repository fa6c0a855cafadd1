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
#include <string>
#include <utility>
#include <vector>

#include "device/tiled.h"
#include "solve/cg_loop.h"
#include "plugin_abi.h"

namespace {

// One program at a time: every reduce and solve holds the engine mutex (binding/), so
// no two launches ever need different programs here.
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
  // A launched kernel runs to its end: cancellation is checked between launches.
  __device__ bool stopped() const { return false; }
};

template <typename T>
__global__ void reduceKernel(const T* const* args, T* values, int32_t* indices, lk::RowAcc<T>* partial,
                             long long chunk) {
  extern __shared__ __align__(16) unsigned char shared[];
  const lk_dev_program& p = c_program;
  lk::RowThread<T> th;
  DeviceExec<T> ex{static_cast<int>(blockDim.x), reinterpret_cast<T*>(shared), &th};
  const lk::TileKernel<T> k{p, args};
  const int split = static_cast<int>(blockIdx.y), splits = static_cast<int>(gridDim.y);
  lk::runBlock(ex, k, static_cast<long long>(blockIdx.x) * blockDim.x, lk::chunkBegin(chunk, split),
               lk::chunkEnd(p.n, chunk, split, splits));
  k.finish(th, split, splits, partial, values, indices);
}

template <typename T>
__global__ void mergeKernel(const lk::RowAcc<T>* partial, int splits, T* values, int32_t* indices) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < c_program.m) lk::mergeRow(partial, i, splits, c_program.m, values, indices);
}

void setError(char* err, int errlen, const char* what, cudaError_t code) {
  if (err && errlen > 0) std::snprintf(err, errlen, "%s: %s (%s)", what, cudaGetErrorString(code), cudaGetErrorName(code));
}

// A failed CUDA call, named; caught at the C ABI.
struct CallError {
  std::string message;
};
struct Cancelled {};

// A kernel that fails while running is reported by the next synchronising call, under
// that call's name: the message says so, and that the CUDA context is then unusable.
#define LK_CUDA_CHECK(call)                                                                                   \
  do {                                                                                                        \
    cudaError_t code_ = (call);                                                                               \
    if (code_ != cudaSuccess)                                                                                 \
      throw CallError{std::string(#call) + ": " + cudaGetErrorString(code_) + " (" + cudaGetErrorName(code_) + ")" + \
                      (code_ == cudaErrorIllegalAddress || code_ == cudaErrorLaunchFailure                      \
                           ? "; a kernel launched earlier may have failed, and CUDA needs a new process"       \
                           : "")};                                                                            \
  } while (0)

// Device memory freed with its owner.
template <typename T>
struct DeviceArray {
  T* ptr = nullptr;
  DeviceArray() = default;
  explicit DeviceArray(size_t count) { LK_CUDA_CHECK(cudaMalloc(&ptr, sizeof(T) * (count > 0 ? count : 1))); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : ptr(o.ptr) { o.ptr = nullptr; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(ptr, o.ptr);
    return *this;
  }
  ~DeviceArray() {
    if (ptr) cudaFree(ptr);
  }
};

// One program's reduction on the device: arguments uploaded once, launched as often as
// needed (a solve changes only the unknown's array between launches, in place).
template <typename T>
class DeviceReduction {
 public:
  DeviceReduction(const lk_dev_program& p, const void* const* args, int skipSlot, bool wantValues, bool wantIndices,
                  int block, int splits)
      : p_(p) {
    outCount_ = static_cast<size_t>(p.m) * p.outColumns;
    int multiprocessors = 0;
    LK_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0));
    plan_ = lk::planLaunch(p, sizeof(T), multiprocessors, block, splits);
    if (plan_.sharedBytes > 48 * 1024 || plan_.splits > 65535)
      throw CallError{"the CUDA launch would need " + std::to_string(plan_.sharedBytes) + " bytes of shared memory and " +
                      std::to_string(plan_.splits) + " chunks of j (at most 49152 and 65535)"};
    LK_CUDA_CHECK(cudaMemcpyToSymbol(c_program, &p, sizeof p));
    std::vector<const T*> pointers(p.nVars);
    for (int v = 0; v < p.nVars; ++v) {
      const long long rows = p.varCat[v] == 0 ? p.m : p.varCat[v] == 1 ? p.n : 1;
      const size_t count = static_cast<size_t>(rows) * p.varDim[v];
      arrays_.emplace_back(count);
      if (v != skipSlot && count) LK_CUDA_CHECK(cudaMemcpy(arrays_.back().ptr, args[v], sizeof(T) * count, cudaMemcpyHostToDevice));
      pointers[v] = arrays_.back().ptr;
    }
    argv_ = DeviceArray<const T*>(p.nVars);
    LK_CUDA_CHECK(cudaMemcpy(argv_.ptr, pointers.data(), sizeof(T*) * p.nVars, cudaMemcpyHostToDevice));
    if (wantValues) values_ = DeviceArray<T>(outCount_);
    if (wantIndices) indices_ = DeviceArray<int32_t>(outCount_);
    if (plan_.splits > 1) partial_ = DeviceArray<lk::RowAcc<T>>(static_cast<size_t>(p.m) * plan_.splits);
  }

  T* slot(int v) { return arrays_[v].ptr; }
  T* values() { return values_.ptr; }

  void launch() {
    if (p_.m == 0) return;
    const dim3 grid(static_cast<unsigned>(plan_.rowBlocks), static_cast<unsigned>(plan_.splits));
    reduceKernel<T><<<grid, plan_.block, plan_.sharedBytes>>>(argv_.ptr, values_.ptr, indices_.ptr, partial_.ptr,
                                                               plan_.chunk);
    LK_CUDA_CHECK(cudaGetLastError());
    if (plan_.splits > 1) {
      mergeKernel<T><<<static_cast<unsigned>((p_.m + 255) / 256), 256>>>(partial_.ptr, plan_.splits, values_.ptr,
                                                                         indices_.ptr);
      LK_CUDA_CHECK(cudaGetLastError());
    }
  }

  void download(void* values, int32_t* indices) {
    LK_CUDA_CHECK(cudaDeviceSynchronize());
    if (values && outCount_) LK_CUDA_CHECK(cudaMemcpy(values, values_.ptr, sizeof(T) * outCount_, cudaMemcpyDeviceToHost));
    if (indices && outCount_)
      LK_CUDA_CHECK(cudaMemcpy(indices, indices_.ptr, sizeof(int32_t) * outCount_, cudaMemcpyDeviceToHost));
  }

 private:
  lk_dev_program p_;
  size_t outCount_ = 0;
  lk::LaunchPlan plan_{};
  std::vector<DeviceArray<T>> arrays_;
  DeviceArray<const T*> argv_;
  DeviceArray<T> values_;
  DeviceArray<int32_t> indices_;
  DeviceArray<lk::RowAcc<T>> partial_;
};

// ---- CG vectors on the device (native/solve/cg_loop.h's Ops) ----

constexpr int kVecThreads = 256;
constexpr int kDotBlocks = 256;  // partial sums per column, added on the host in a fixed order
static_assert((kVecThreads & (kVecThreads - 1)) == 0, "dotKernel's tree reduction halves a power-of-two block");

template <typename From, typename To>
__global__ void convertKernel(const From* in, To* out, long long len) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < len;
       k += static_cast<long long>(gridDim.x) * blockDim.x)
    out[k] = static_cast<To>(in[k]);
}

__global__ void axpbyKernel(double* y, const double* coef, const double* x, long long len, int dv) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < len;
       k += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(k % dv);
    y[k] = coef[c] * x[k] + coef[dv + c] * y[k];
  }
}

__global__ void maskKernel(double* y, const double* keep, long long len, int dv) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < len;
       k += static_cast<long long>(gridDim.x) * blockDim.x)
    if (keep[k % dv] == 0) y[k] = 0;
}

// partial[block·dv + c] = this block's share of Σ u·v over column c; dv ≤ kVecThreads.
__global__ void dotKernel(const double* u, const double* v, long long rows, int dv, double* partial) {
  __shared__ double sums[kVecThreads];
  for (int c = 0; c < dv; ++c) {
    double s = 0;
    for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < rows;
         i += static_cast<long long>(gridDim.x) * blockDim.x)
      s += u[i * dv + c] * v[i * dv + c];
    sums[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (static_cast<int>(threadIdx.x) < w) sums[threadIdx.x] += sums[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x * dv + c] = sums[0];
    __syncthreads();
  }
}

__global__ void nonzeroKernel(const double* v, long long len, int* flag) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < len;
       k += static_cast<long long>(gridDim.x) * blockDim.x)
    if (v[k] != 0) *flag = 1;
}

template <typename T>
class DeviceCgOps {
 public:
  DeviceCgOps(DeviceReduction<T>& kv, int slot, long long n, int dv, const double* b, const double* x,
              const int32_t* cancel)
      : kv_(kv), slot_(slot), n_(n), dv_(dv), len_(n * dv), cancel_(cancel), coef_(2 * dv), partial_(kDotBlocks * dv),
        flag_(1) {
    for (int v = 0; v < lk::CG_VECS; ++v) vec_[v] = DeviceArray<double>(len_);
    LK_CUDA_CHECK(cudaMemcpy(vec_[lk::CG_B].ptr, b, sizeof(double) * len_, cudaMemcpyHostToDevice));
    LK_CUDA_CHECK(cudaMemcpy(vec_[lk::CG_X].ptr, x, sizeof(double) * len_, cudaMemcpyHostToDevice));
  }

  // The device computes every pair: no pruning tolerance applies.
  void product(lk::CgVec v, lk::CgVec out, double) {
    convertKernel<double, T><<<grid(), kVecThreads>>>(vec_[v].ptr, kv_.slot(slot_), len_);
    LK_CUDA_CHECK(cudaGetLastError());
    kv_.launch();
    convertKernel<T, double><<<grid(), kVecThreads>>>(kv_.values(), vec_[out].ptr, len_);
    LK_CUDA_CHECK(cudaGetLastError());
  }
  // The device has one product (float64 data: the accurate one; float32: see README).
  void trueProduct(lk::CgVec v, lk::CgVec out, double) { product(v, out, 0); }
  void precondition(lk::CgVec r, lk::CgVec z) { copy(z, r); }
  void copy(lk::CgVec dst, lk::CgVec src) {
    LK_CUDA_CHECK(cudaMemcpy(vec_[dst].ptr, vec_[src].ptr, sizeof(double) * len_, cudaMemcpyDeviceToDevice));
  }
  void axpby(lk::CgVec y, const std::vector<double>& a, lk::CgVec x, const std::vector<double>& b) {
    std::vector<double> coef(a);
    coef.insert(coef.end(), b.begin(), b.end());
    LK_CUDA_CHECK(cudaMemcpy(coef_.ptr, coef.data(), sizeof(double) * coef.size(), cudaMemcpyHostToDevice));
    axpbyKernel<<<grid(), kVecThreads>>>(vec_[y].ptr, coef_.ptr, vec_[x].ptr, len_, dv_);
    LK_CUDA_CHECK(cudaGetLastError());
  }
  void mask(lk::CgVec y, const std::vector<char>& keep) {
    std::vector<double> k(keep.begin(), keep.end());
    LK_CUDA_CHECK(cudaMemcpy(coef_.ptr, k.data(), sizeof(double) * dv_, cudaMemcpyHostToDevice));
    maskKernel<<<grid(), kVecThreads>>>(vec_[y].ptr, coef_.ptr, len_, dv_);
    LK_CUDA_CHECK(cudaGetLastError());
  }
  std::vector<double> dots(lk::CgVec u, lk::CgVec v) {
    dotKernel<<<kDotBlocks, kVecThreads>>>(vec_[u].ptr, vec_[v].ptr, n_, dv_, partial_.ptr);
    LK_CUDA_CHECK(cudaGetLastError());
    std::vector<double> partial(kDotBlocks * dv_), out(dv_, 0.0);
    LK_CUDA_CHECK(cudaMemcpy(partial.data(), partial_.ptr, sizeof(double) * partial.size(), cudaMemcpyDeviceToHost));
    for (int blk = 0; blk < kDotBlocks; ++blk)
      for (int c = 0; c < dv_; ++c) out[c] += partial[blk * dv_ + c];
    return out;
  }
  bool allZero(lk::CgVec v) {
    int flag = 0;
    LK_CUDA_CHECK(cudaMemcpy(flag_.ptr, &flag, sizeof flag, cudaMemcpyHostToDevice));
    nonzeroKernel<<<grid(), kVecThreads>>>(vec_[v].ptr, len_, flag_.ptr);
    LK_CUDA_CHECK(cudaGetLastError());
    LK_CUDA_CHECK(cudaMemcpy(&flag, flag_.ptr, sizeof flag, cudaMemcpyDeviceToHost));
    return flag == 0;
  }
  void checkCancel() {
    if (cancel_ && __atomic_load_n(cancel_, __ATOMIC_RELAXED)) throw Cancelled();
  }
  void downloadX(double* x) {
    LK_CUDA_CHECK(cudaMemcpy(x, vec_[lk::CG_X].ptr, sizeof(double) * len_, cudaMemcpyDeviceToHost));
  }

 private:
  unsigned grid() const {
    const long long blocks = (len_ + kVecThreads - 1) / kVecThreads;
    return static_cast<unsigned>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
  }
  DeviceReduction<T>& kv_;
  int slot_;
  long long n_;
  int dv_;
  long long len_;
  const int32_t* cancel_;
  DeviceArray<double> vec_[lk::CG_VECS];
  DeviceArray<double> coef_, partial_;
  DeviceArray<int> flag_;
};

// Runs f, turning the exceptions of this file into the ABI's return codes.
template <typename F>
int guarded(char* err, int errlen, F&& f) {
  auto say = [&](const std::string& m) {
    if (err && errlen > 0) std::snprintf(err, errlen, "%s", m.c_str());
  };
  try {
    f();
    return 0;
  } catch (const CallError& e) {
    say(e.message);
    return -1;
  } catch (const Cancelled&) {
    return -2;
  } catch (const lk::SolveBreakdown& e) {
    say(e.what());
    return -3;
  } catch (const std::exception& e) {
    say(e.what());
    return -1;
  } catch (...) {  // nothing may unwind out of the C ABI
    say("an unknown C++ exception in the CUDA plugin");
    return -1;
  }
}

template <typename T>
void reduceOn(const lk_dev_program& p, const void* const* args, void* values, int32_t* indices, int block, int splits) {
  DeviceReduction<T> r(p, args, -1, values != nullptr, indices != nullptr, block, splits);
  r.launch();
  r.download(values, indices);
}

template <typename T>
void solveOn(const lk_dev_program& p, const void* const* args, int slot, const double* b, double* x, const lk::CgOptions& o,
             const lk::Progress& progress, lk_cg_report* report, int block, int splits) {
  const int dv = p.varDim[slot];
  DeviceReduction<T> kv(p, args, slot, true, false, block, splits);
  DeviceCgOps<T> ops(kv, slot, p.n, dv, b, x, o.cancel);
  const lk::CgReport r = lk::runCg(ops, dv, o, progress);
  ops.downloadX(x);
  report->iterations = r.iterations;
  report->refinements = r.refinements;
  report->residual = r.residual;
  report->converged = r.converged;
  report->reason = static_cast<int32_t>(r.reason);
  for (int c = 0; c < dv; ++c) report->residuals[c] = r.residuals[c];
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
  return guarded(err, errlen, [&] {
    if (p->dtype == 0) reduceOn<float>(*p, args, values, indices, block, splits);
    else reduceOn<double>(*p, args, values, indices, block, splits);
  });
}

int lk_cuda_solve(const lk_dev_program* p, const void* const* args, int slot, const double* b, double* x,
                  double alpha, double tol, int maxIter, const int32_t* cancel, lk_progress_fn progress,
                  void* progressCtx, lk_cg_report* report, int block, int splits, char* err, int errlen) {
  return guarded(err, errlen, [&] {
    lk::CgOptions o;
    o.alpha = alpha;
    o.tol = tol;
    o.maxIter = maxIter;
    o.cancel = cancel;
    lk::Progress onProgress;
    if (progress)
      onProgress = [&](const lk::ProgressEvent& e) {
        if (e.phase == lk::ProgressEvent::Iterate) progress(progressCtx, e.step, e.value);
      };
    if (p->dtype == 0) solveOn<float>(*p, args, slot, b, x, o, onProgress, report, block, splits);
    else solveOn<double>(*p, args, slot, b, x, o, onProgress, report, block, splits);
  });
}

}  // extern "C"

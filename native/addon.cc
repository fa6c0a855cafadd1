// The module: registers the entry points of native/binding/ and answers the small
// questions (info, threads, op codes). No maths here.
#include <napi.h>

#include "binding/bindings.h"
#include "binding/cancel.h"
#include "binding/convert.h"
#include "binding/errors.h"
#include "cuda_loader.h"
#include "engine.h"
#include "errors.h"
#include "ops.h"

namespace lk {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("threads", threadCount());
  cpu.Set("simd", simdLevel());
  const CudaStatus& cs = cudaStatus();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("available", cs.available);
  cuda.Set("devices", cs.devices);
  cuda.Set("plugin", cs.plugin);
  if (!cs.available) cuda.Set("reason", cs.reason);
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpu", cpu);
  out.Set("cuda", cuda);
  return out;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&] {
    double n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 1 && n <= 4096) || n != static_cast<int>(n))
      throw ArgumentError("setNumThreads expects an integer from 1 to 4096");
    setThreadCount(static_cast<int>(n));
    return env.Undefined();
  });
}

// The native numbering of ops.h, so that tests can check lib/formula/program.ts against it.
Napi::Value OpCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object ops = Napi::Object::New(env), reductions = Napi::Object::New(env),
               kernels = Napi::Object::New(env), out = Napi::Object::New(env);
#define LK_SET_OP(name, code, arity) ops.Set(#name, code);
  LK_OPS(LK_SET_OP)
#undef LK_SET_OP
#define LK_SET_RED(name, code) reductions.Set(#name, code);
  LK_REDUCTIONS(LK_SET_RED)
#undef LK_SET_RED
#define LK_SET_KER(name, code) kernels.Set(#name, code);
  LK_KERNELS(LK_SET_KER)
#undef LK_SET_KER
  out.Set("ops", ops);
  out.Set("reductions", reductions);
  out.Set("kernels", kernels);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("opCodes", Napi::Function::New(env, OpCodes));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("reduceSync", Napi::Function::New(env, ReduceSync));
  exports.Set("solve", Napi::Function::New(env, Solve));
  exports.Set("solveSync", Napi::Function::New(env, SolveSync));
  exports.Set("queueInfo", Napi::Function::New(env, QueueInfo));
  exports.Set("holdArray", Napi::Function::New(env, HoldArray));
  exports.Set("dropHeldClusters", Napi::Function::New(env, DropHeldClusters));
  exports.Set("heldClusterCount", Napi::Function::New(env, HeldClusterCount));
  exports.Set("CancelFlag", CancelFlag::Define(env));
  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses));
  return exports;
}

}  // namespace
}  // namespace lk

// NODE_API_MODULE pastes the name into an identifier: it must be unqualified.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return lk::Init(env, exports); }
NODE_API_MODULE(lazykernel, InitModule)

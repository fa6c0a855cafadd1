#include "errors.h"

#include <map>
#include <memory>
#include <new>

#include "../cuda_loader.h"
#include "../errors.h"
#include "../solve/cg.h"

namespace lk {
namespace {

// lib/errors.ts' classes by name, for this environment (a worker thread has its own).
struct ErrorClasses {
  std::map<std::string, Napi::FunctionReference> byName;
};

// The lib class each code is an instance of.
const char* classFor(const std::string& code) {
  if (code == "ABORT_ERR") return "AbortError";
  if (code == "ERR_LK_MEMORY") return "MemoryError";
  if (code == "ERR_LK_ARGUMENT" || code == "ERR_LK_RANGES") return "OptionError";
  return "LazyKernelError";
}

}  // namespace

Failure describeFailure(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Cancelled&) {
    return {"ABORT_ERR", "The operation was aborted"};
  } catch (const MemoryError& x) {
    return {"ERR_LK_MEMORY", x.what(), x.needed, x.available};
  } catch (const std::bad_alloc&) {
    return {"ERR_LK_MEMORY", "out of memory: the machine could not provide what this call needs"};
  } catch (const RangesError& x) {
    return {"ERR_LK_RANGES", x.what()};
  } catch (const ProgramError& x) {
    return {"ERR_LK_PROGRAM", x.what()};
  } catch (const ArgumentError& x) {
    return {"ERR_LK_ARGUMENT", x.what()};
  } catch (const SolveBreakdown& x) {
    return {"ERR_LK_SOLVE", x.what()};
  } catch (const CudaError& x) {
    return {"ERR_LK_CUDA", x.what()};
  } catch (const std::exception& x) {
    return {"ERR_LK_INTERNAL", std::string("internal error: ") + x.what()};
  } catch (...) {
    return {"ERR_LK_INTERNAL", "internal error: an unknown native exception"};
  }
}

Napi::Value errorValue(Napi::Env env, const Failure& f) {
  Napi::EscapableHandleScope scope(env);
  Napi::Object error;
  ErrorClasses* classes = env.GetInstanceData<ErrorClasses>();
  if (classes) {
    auto it = classes->byName.find(classFor(f.code));
    if (it != classes->byName.end()) {
      try {
        error = it->second.New({Napi::String::New(env, f.message)});
      } catch (const Napi::Error&) {
        // A class whose constructor throws: fall back to a plain Error below.
      }
    }
  }
  if (error.IsEmpty()) error = Napi::Error::New(env, f.message).Value();
  error.Set("code", Napi::String::New(env, f.code));
  if (f.code == "ABORT_ERR") error.Set("name", Napi::String::New(env, "AbortError"));
  if (f.code == "ERR_LK_MEMORY" && f.needed > 0) {
    error.Set("needed", Napi::Number::New(env, static_cast<double>(f.needed)));
    error.Set("available", Napi::Number::New(env, static_cast<double>(f.available)));
  }
  return scope.Escape(error);
}

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&] {
    if (info.Length() < 1 || !info[0].IsObject()) throw ArgumentError("setErrorClasses expects an object of classes");
    Napi::Object given = info[0].As<Napi::Object>();
    auto classes = std::make_unique<ErrorClasses>();
    for (const char* name : {"LazyKernelError", "OptionError", "MemoryError", "AbortError"}) {
      Napi::Value c = given.Get(name);
      if (c.IsFunction()) classes->byName[name] = Napi::Persistent(c.As<Napi::Function>());
    }
    env.SetInstanceData(classes.release());  // replaces (and deletes) an earlier registration
    return env.Undefined();
  });
}

}  // namespace lk

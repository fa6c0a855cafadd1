// Every failure that leaves the addon is a typed JS error: an Error with a `code`
// (ERR_LK_…, or ABORT_ERR for a cancelled job), and an instance of lib/errors.ts' classes
// once lib has registered them with setErrorClasses (lib/addon.ts does, on load).
#pragma once
#include <napi.h>

#include <cstddef>
#include <exception>
#include <string>

namespace lk {

// A failure captured where no JS may run (the job queue's thread), thrown or rejected
// later on the main thread.
struct Failure {
  std::string code;     // ERR_LK_ARGUMENT, _PROGRAM, _RANGES, _MEMORY, _SOLVE, _CUDA, _INTERNAL, or ABORT_ERR
  std::string message;
  std::size_t needed = 0, available = 0;  // ERR_LK_MEMORY only
};

// The failure the exception `e` stands for (a std::bad_alloc is ERR_LK_MEMORY).
Failure describeFailure(std::exception_ptr e);

// The JS error for a failure.
Napi::Value errorValue(Napi::Env env, const Failure& f);

// setErrorClasses({ LazyKernelError, OptionError, MemoryError, AbortError }): the classes
// native errors are made from, kept per environment.
Napi::Value SetErrorClasses(const Napi::CallbackInfo& info);

// Runs f; a C++ exception leaves as the typed JS error of describeFailure. A JS exception
// (a caller's getter threw) passes through unchanged.
template <typename F>
auto rethrowAsJs(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw Napi::Error(env, errorValue(env, describeFailure(std::current_exception())));
  }
}

}  // namespace lk

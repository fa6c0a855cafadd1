// Conversions between JS values and the engine's plain C++ types, shared by the
// N-API entry points. Every check a JS caller could fail is made here, before any work.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../engine.h"
#include "../program.h"

namespace lk {

// Reads the program object of lib/formula/program.ts; a TypeError names the bad field.
ProgramSpec readSpec(const Napi::Value& value);

// The argument arrays of one call. Async jobs copy them: a caller may transfer (detach)
// or overwrite an array while the job runs, and O((M+N)·D) bytes is nothing beside
// O(M·N) work.
struct Args {
  std::vector<ArgInfo> info;
  std::vector<std::vector<unsigned char>> owned;
  std::vector<const void*> ptrs;
};
Args readArgs(const Napi::Value& value, bool copy);

// A Float64Array of exactly `length` elements, copied; `what` names it in errors.
std::vector<double> readFloat64(const Napi::Value& value, std::size_t length, const std::string& what);

// The engine's output buffers for one reduction, and their JS form.
struct Result {
  int dtype = F32;
  std::vector<unsigned char> values;
  std::vector<int32_t> indices;
  bool hasValues = false, hasIndices = false;
};
Result allocateResult(const Program& p, int dtype);
Napi::Object toJs(Napi::Env env, const Result& r);

// A fresh Float64Array holding `data`.
Napi::Float64Array float64Array(Napi::Env env, const std::vector<double>& data);

// The run options of lib/run.ts that reach the engine: { prune?, pruneTolerance?,
// ranges? }, or undefined for the defaults (prune left out: automatic). Sets ctx's fields; explicit ranges
// ([ranges_i, slices_i, redranges_j], Int32Arrays) are copied into `ranges`, which ctx
// then points at. They are checked against the sizes later, with checkRanges.
void readRunOptions(const Napi::Value& value, RunContext& ctx, Ranges& ranges);

// The cancel flag of lib/run.ts (an Int32Array over a SharedArrayBuffer), or null.
const int32_t* readCancel(const Napi::Value& value, Napi::Reference<Napi::Int32Array>& keep);

// The error a cancelled job rejects with; lib/ turns it into its AbortError.
Napi::Value abortError(Napi::Env env);

// Runs f, turning a C++ exception (a ProgramError, say) into a JS Error.
template <typename F>
auto rethrowAsJs(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// Threads each job uses (setNumThreads, else OpenMP's default).
int threadCount();
void setThreadCount(int n);

}  // namespace lk

// Conversions between JS values and the engine's plain C++ types, shared by the
// N-API entry points. Every check a JS caller could fail is made here, before any work.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../engine.h"
#include "../held.h"
#include "../program.h"
#include "../queue.h"

namespace lk {

// Reads the program object of lib/formula/program.ts; an ArgumentError names the bad field.
ProgramSpec readSpec(const Napi::Value& value);

// The argument arrays of one call, borrowed from JS: ptrs point into the callers'
// arrays until ownArguments copies them. Async jobs copy every array (a caller may
// transfer or overwrite one while the job runs; O((M+N)·D) bytes is nothing beside O(M·N)
// work); Sync calls copy only arrays over a SharedArrayBuffer, which another thread may
// write while the call runs (a point moving mid-sort breaks the clustering's order).
struct Args {
  std::vector<ArgInfo> info;
  std::vector<const void*> ptrs;
  std::vector<char> shared;  // the array's buffer is a SharedArrayBuffer
  std::vector<std::vector<unsigned char>> owned;
  // Per slot, the held array (held.h) the argument is, kept alive for the call; never
  // copied (nothing can write it). heldPtrs: the same as raw pointers, for RunContext.
  std::vector<std::shared_ptr<HeldArray>> held;
  std::vector<HeldArray*> heldPtrs;
};
Args readArgs(const Napi::Value& value);
// Bytes ownArguments(a, all) will copy.
std::size_t argumentBytes(const Args& a, bool all);
// Copies every array (all) or the shared ones, and points ptrs at the copies. No JS may
// run between readArgs and this.
void ownArguments(Args& a, bool all);

// A Float64Array of exactly `length` elements, copied; `what` names it in errors.
std::vector<double> readFloat64(const Napi::Value& value, std::size_t length, const std::string& what);

// The engine's output buffers for one reduction, and their JS form (handed over, not copied).
struct Result {
  int dtype = F32;
  std::vector<float> valuesF32;
  std::vector<double> valuesF64;
  std::vector<int32_t> indices;
  bool hasValues = false, hasIndices = false;
  void* values() { return dtype == F32 ? static_cast<void*>(valuesF32.data()) : static_cast<void*>(valuesF64.data()); }
};
Result allocateResult(const Program& p);
Napi::Object toJs(Napi::Env env, Result& r);

// A Float64Array taking over `data`.
Napi::Float64Array float64Array(Napi::Env env, std::vector<double>&& data);

// The run options of lib/run.ts that reach the engine: { prune?, pruneTolerance?,
// ranges?, device?, block?, splits? }, or undefined for the defaults (prune left out:
// automatic). Sets ctx's fields; explicit ranges ([ranges_i, slices_i, redranges_j],
// Int32Arrays) are copied into `ranges`, which ctx then points at. They are checked
// against the sizes later, with checkRanges.
void readRunOptions(const Napi::Value& value, RunContext& ctx, Ranges& ranges);

// options[name]: `absent` when undefined, else an integer from least to most, or an
// ArgumentError "options.<name> must be an integer <range>" (range spells the bounds).
double integerOption(const Napi::Object& o, const char* name, double least, double most, const std::string& range,
                     double absent);

// Where an async job queues: options.background (a boolean: the background lane) and
// options.priority (an integer; higher runs first within its lane), from the run options.
struct Schedule {
  Lane lane = FOREGROUND;
  int priority = 0;
};
Schedule readSchedule(const Napi::Value& options);

// Threads each job uses (setNumThreads, else OpenMP's default).
int threadCount();
void setThreadCount(int n);

}  // namespace lk

// The addon's entry points, one file each; native/addon.cc registers them.
#pragma once
#include <napi.h>

namespace lk {

Napi::Value Reduce(const Napi::CallbackInfo& info);
Napi::Value ReduceSync(const Napi::CallbackInfo& info);
Napi::Value Solve(const Napi::CallbackInfo& info);
Napi::Value SolveSync(const Napi::CallbackInfo& info);
// queueInfo() -> { foreground, background }, each { waiting, running, priority, runningMs }.
Napi::Value QueueInfo(const Napi::CallbackInfo& info);

}  // namespace lk

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
// holdArray(dtype, length) -> a typed array over held memory; dropHeldClusters(array).
Napi::Value HoldArray(const Napi::CallbackInfo& info);
Napi::Value DropHeldClusters(const Napi::CallbackInfo& info);
Napi::Value HeldClusterCount(const Napi::CallbackInfo& info);

}  // namespace lk

// CancelFlag: the flag a caller sets to stop a job (lib/run.ts wires an AbortSignal to
// it). The flag's memory belongs to the addon and is shared with every job that holds
// it, so a job can never read memory the caller has let go of.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

namespace lk {

class CancelFlag : public Napi::ObjectWrap<CancelFlag> {
 public:
  // The class, for the module's exports: `new CancelFlag()`, `flag.cancel()`, `flag.cancelled`.
  static Napi::Function Define(Napi::Env env);
  explicit CancelFlag(const Napi::CallbackInfo& info);

  // The flag behind `value`: null for undefined; an ArgumentError for anything but a
  // CancelFlag made by this addon (checked by type tag, not by prototype).
  static std::shared_ptr<int32_t> from(const Napi::Value& value);

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Cancelled(const Napi::CallbackInfo& info);
  std::shared_ptr<int32_t> flag_;
};

}  // namespace lk

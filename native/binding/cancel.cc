#include "cancel.h"

#include "../errors.h"

namespace lk {
namespace {

// Marks the objects this addon made, so that an object dressed up with the prototype
// (or another addon's wrapped object) is never unwrapped as a CancelFlag.
constexpr napi_type_tag kCancelFlagTag = {0x6c617a796b65726eULL, 0x63616e63656c0001ULL};

}  // namespace

Napi::Function CancelFlag::Define(Napi::Env env) {
  return DefineClass(env, "CancelFlag",
                     {InstanceMethod<&CancelFlag::Cancel>("cancel"),
                      InstanceAccessor<&CancelFlag::Cancelled>("cancelled")});
}

CancelFlag::CancelFlag(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<CancelFlag>(info), flag_(std::make_shared<int32_t>(0)) {
  napi_status s = napi_type_tag_object(info.Env(), info.This(), &kCancelFlagTag);
  if (s != napi_ok) throw Napi::Error::New(info.Env(), "CancelFlag: could not tag the object");
}

Napi::Value CancelFlag::Cancel(const Napi::CallbackInfo& info) {
  __atomic_store_n(flag_.get(), 1, __ATOMIC_RELAXED);
  return info.Env().Undefined();
}

Napi::Value CancelFlag::Cancelled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), __atomic_load_n(flag_.get(), __ATOMIC_RELAXED) != 0);
}

std::shared_ptr<int32_t> CancelFlag::from(const Napi::Value& value) {
  if (value.IsUndefined()) return nullptr;
  bool tagged = false;
  if (value.IsObject()) napi_check_object_type_tag(value.Env(), value, &kCancelFlagTag, &tagged);
  if (!tagged) throw ArgumentError("cancel must be a CancelFlag made by this addon, or undefined");
  return Unwrap(value.As<Napi::Object>())->flag_;
}

}  // namespace lk

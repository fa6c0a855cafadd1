// holdArray(dtype, length) -> a Float32Array or Float64Array over memory the addon holds
// (held.h): lib/dataset.ts fills it once, and every call that is passed it reads it in
// place, with the clusters kept beside it. dropHeldClusters(array) frees those clusters;
// heldClusterCount(array) counts them (-1: not a held array), for tests.
#include <memory>
#include <string>

#include "../errors.h"
#include "../held.h"
#include "bindings.h"
#include "errors.h"

namespace lk {
namespace {

void finalizeView(napi_env env, void*, void* hint) {
  auto* owner = static_cast<std::shared_ptr<HeldArray>*>(hint);
  int64_t total = 0;
  napi_adjust_external_memory(env, -static_cast<int64_t>((*owner)->bytes()), &total);
  forgetHeld(owner->get());
  delete owner;  // calls still running keep their own reference
}

}  // namespace

Napi::Value HoldArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&]() -> Napi::Value {
    const std::string dtype = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (dtype != "float32" && dtype != "float64") throw ArgumentError("holdArray: dtype must be 'float32' or 'float64'");
    const double length = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(length >= 0 && length <= 4294967295.0) || length != static_cast<double>(static_cast<uint64_t>(length)))
      throw ArgumentError("holdArray: length must be an integer from 0 to 2^32 - 1");
    const std::size_t width = dtype == "float32" ? 4 : 8;
    const std::size_t count = static_cast<std::size_t>(length);
    auto held = std::make_shared<HeldArray>(count * width);
    auto* owner = new std::shared_ptr<HeldArray>(held);
    napi_value buffer;
    if (napi_create_external_arraybuffer(env, held->data(), count * width, finalizeView, owner, &buffer) != napi_ok) {
      delete owner;
      throw ArgumentError("holdArray: this runtime does not allow external buffers");
    }
    rememberHeld(held);
    // V8 does not count an external buffer's bytes: told, it collects dropped datasets
    // as their memory mounts (2,000 datasets of 20,000 points made and disposed reached
    // 740 MB RSS before the first collection otherwise).
    Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(count * width));
    Napi::ArrayBuffer ab(env, buffer);
    if (width == 4) return Napi::Float32Array::New(env, count, ab, 0);
    return Napi::Float64Array::New(env, count, ab, 0);
  });
}

namespace {

std::shared_ptr<HeldArray> heldOf(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw ArgumentError("expected a held array");
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  const auto* data = static_cast<const unsigned char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return findHeld(data, a.ByteLength());
}

}  // namespace

Napi::Value DropHeldClusters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&]() -> Napi::Value {
    if (std::shared_ptr<HeldArray> h = heldOf(info)) h->dropClusters();
    return env.Undefined();
  });
}

Napi::Value HeldClusterCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&]() -> Napi::Value {
    std::shared_ptr<HeldArray> h = heldOf(info);
    return Napi::Number::New(env, h ? h->clusterCount() : -1);
  });
}

}  // namespace lk

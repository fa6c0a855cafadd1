#include "convert.h"

#include "../errors.h"

#include <omp.h>

#include <atomic>
#include <cstdint>
#include <cmath>
#include <cstring>

namespace lk {
namespace {

std::atomic<int> g_threads{0};

Napi::Value field(const Napi::Object& o, const char* name) {
  if (!o.Has(name)) throw ArgumentError(std::string("program.") + name + " is missing");
  return o.Get(name);
}

int32_t int32Field(const Napi::Object& o, const char* name);

int64_t intField(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsNumber()) throw ArgumentError(std::string("program.") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 9.0e15) || d != static_cast<double>(static_cast<int64_t>(d)))
    throw ArgumentError(std::string("program.") + name + " must be an integer");
  return static_cast<int64_t>(d);
}

// A field that must fit an int32 (a register, a reduction code, k): no silent wrap.
int32_t int32Field(const Napi::Object& o, const char* name) {
  int64_t v = intField(o, name);
  if (v < INT32_MIN || v > INT32_MAX) throw ArgumentError(std::string("program.") + name + " is out of range");
  return static_cast<int32_t>(v);
}

template <typename T, napi_typedarray_type Kind>
std::vector<T> arrayField(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != Kind)
    throw ArgumentError(std::string("program.") + name + " has the wrong array type");
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

}  // namespace

ProgramSpec readSpec(const Napi::Value& value) {
  if (!value.IsObject()) throw ArgumentError("program must be an object");
  Napi::Object o = value.As<Napi::Object>();
  ProgramSpec s;
  s.version = int32Field(o, "version");
  Napi::Value dtype = field(o, "dtype");
  std::string dt = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : "";
  if (dt != "float32" && dt != "float64")
    throw ArgumentError("program.dtype must be 'float32' or 'float64'");
  s.dtype = dt == "float32" ? F32 : F64;
  s.m = intField(o, "m");
  s.n = intField(o, "n");
  s.vars = arrayField<int32_t, napi_int32_array>(o, "vars");
  s.regDims = arrayField<int32_t, napi_int32_array>(o, "regDims");
  s.code = arrayField<int32_t, napi_int32_array>(o, "code");
  s.kernel = arrayField<int32_t, napi_int32_array>(o, "kernel");
  s.consts = arrayField<double, napi_float64_array>(o, "consts");
  s.result = int32Field(o, "result");
  s.weights = int32Field(o, "weights");
  s.reduction = int32Field(o, "reduction");
  s.k = int32Field(o, "k");
  return s;
}

Args readArgs(const Napi::Value& value) {
  if (!value.IsArray()) throw ArgumentError("args must be an array of typed arrays");
  Napi::Array arr = value.As<Napi::Array>();
  // Every element first: a getter may run JS (and detach an earlier array's buffer), so
  // no pointer is taken until no more JS can run.
  std::vector<Napi::Value> values;
  for (uint32_t s = 0; s < arr.Length(); ++s) values.push_back(arr.Get(s));
  Args a;
  for (uint32_t s = 0; s < values.size(); ++s) {
    Napi::Value v = values[s];
    napi_typedarray_type t = v.IsTypedArray() ? v.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
    if (t != napi_float32_array && t != napi_float64_array)
      throw ArgumentError("argument " + std::to_string(s) + " must be a Float32Array or Float64Array");
    // TypedArrayOf::Data() also works for arrays over a SharedArrayBuffer.
    bool f32 = t == napi_float32_array;
    std::size_t length = v.As<Napi::TypedArray>().ElementLength();
    const unsigned char* data =
        f32 ? reinterpret_cast<const unsigned char*>(v.As<Napi::Float32Array>().Data())
            : reinterpret_cast<const unsigned char*>(v.As<Napi::Float64Array>().Data());
    // Only a SharedArrayBuffer can change while the main thread waits in a call.
    bool plain = false;
    napi_is_arraybuffer(v.Env(), v.As<Napi::TypedArray>().ArrayBuffer(), &plain);
    a.info.push_back({f32 ? F32 : F64, length});
    a.ptrs.push_back(data);
    a.shared.push_back(!plain);
    a.held.push_back(plain ? findHeld(data, length * (f32 ? 4 : 8)) : nullptr);
    a.heldPtrs.push_back(a.held.back().get());
  }
  return a;
}

std::size_t argumentBytes(const Args& a, bool all) {
  std::size_t bytes = 0;
  for (std::size_t s = 0; s < a.ptrs.size(); ++s)
    if ((all && !a.held[s]) || a.shared[s]) bytes += a.info[s].length * (a.info[s].dtype == F32 ? 4 : 8);
  return bytes;
}

void ownArguments(Args& a, bool all) {
  a.owned.reserve(a.ptrs.size());
  const std::vector<const void*> given = a.ptrs;
  for (std::size_t s = 0; s < a.ptrs.size(); ++s) {
    if ((!all || a.held[s]) && !a.shared[s]) continue;
    // One array passed twice (a solve's points as both x and y) is copied once.
    std::size_t same = 0;
    while (same < s && !(given[same] == given[s] && a.info[same].dtype == a.info[s].dtype &&
                         a.info[same].length == a.info[s].length && a.ptrs[same] != given[same]))
      ++same;
    if (same < s) {
      a.ptrs[s] = a.ptrs[same];
      continue;
    }
    const auto* data = static_cast<const unsigned char*>(a.ptrs[s]);
    a.owned.emplace_back(data, data + a.info[s].length * (a.info[s].dtype == F32 ? 4 : 8));
    a.ptrs[s] = a.owned.back().data();
  }
}

std::vector<double> readFloat64(const Napi::Value& value, std::size_t length, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw ArgumentError(what + " must be a Float64Array");
  auto a = value.As<Napi::Float64Array>();
  if (a.ElementLength() != length)
    throw ArgumentError(what + " has " + std::to_string(a.ElementLength()) + " values; expected " +
                        std::to_string(length));
  return std::vector<double>(a.Data(), a.Data() + length);
}

Result allocateResult(const Program& p) {
  OutputSizes sizes = outputSizes(p);
  Result r;
  r.dtype = p.dtype;
  r.hasValues = sizes.hasValues;
  r.hasIndices = sizes.hasIndices;
  if (sizes.hasValues && p.dtype == F32) r.valuesF32.resize(sizes.count);
  if (sizes.hasValues && p.dtype == F64) r.valuesF64.resize(sizes.count);
  if (sizes.hasIndices) r.indices.resize(sizes.count);
  return r;
}

namespace {

// Hands a result's buffer to JS without a copy (an output may be most of the memory a
// call uses); a runtime that refuses external buffers gets a copy.
template <typename T>
Napi::TypedArrayOf<T> handOver(Napi::Env env, std::vector<T>&& data) {
  const std::size_t count = data.size();
  if (count == 0) return Napi::TypedArrayOf<T>::New(env, 0);
  auto* owned = new std::vector<T>(std::move(data));
  Napi::ArrayBuffer buf;
  try {
    buf = Napi::ArrayBuffer::New(env, owned->data(), count * sizeof(T),
                                 [](Napi::Env, void*, std::vector<T>* v) { delete v; }, owned);
  } catch (const Napi::Error&) {
    buf = Napi::ArrayBuffer::New(env, count * sizeof(T));
    std::memcpy(buf.Data(), owned->data(), count * sizeof(T));
    delete owned;
  }
  return Napi::TypedArrayOf<T>::New(env, count, buf, 0);
}

}  // namespace

Napi::Object toJs(Napi::Env env, Result& r) {
  Napi::Object out = Napi::Object::New(env);
  if (r.hasValues) {
    if (r.dtype == F32) out.Set("values", handOver(env, std::move(r.valuesF32)));
    else out.Set("values", handOver(env, std::move(r.valuesF64)));
  }
  if (r.hasIndices) out.Set("indices", handOver(env, std::move(r.indices)));
  return out;
}

Napi::Float64Array float64Array(Napi::Env env, std::vector<double>&& data) {
  return handOver(env, std::move(data));
}

double integerOption(const Napi::Object& o, const char* name, double least, double most, const std::string& range,
                     double absent) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return absent;
  const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : least - 1;
  if (!(x >= least && x <= most) || x != std::floor(x))
    throw ArgumentError(std::string("options.") + name + " must be an integer " + range);
  return x;
}

Schedule readSchedule(const Napi::Value& options) {
  Schedule s;
  if (!options.IsObject()) return s;
  Napi::Object o = options.As<Napi::Object>();
  Napi::Value background = o.Get("background");
  if (!background.IsUndefined()) {
    if (!background.IsBoolean()) throw ArgumentError("options.background must be a boolean");
    s.lane = background.As<Napi::Boolean>().Value() ? BACKGROUND : FOREGROUND;
  }
  s.priority = static_cast<int>(integerOption(o, "priority", -1e9, 1e9, "from -1e9 to 1e9", 0));
  return s;
}

void readRunOptions(const Napi::Value& value, RunContext& ctx, Ranges& ranges) {
  if (value.IsUndefined() || value.IsNull()) return;
  if (!value.IsObject()) throw ArgumentError("run options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value prune = o.Get("prune");
  if (!prune.IsUndefined()) {
    if (!prune.IsBoolean()) throw ArgumentError("options.prune must be a boolean");
    ctx.prune = prune.As<Napi::Boolean>().Value() ? RunContext::ON : RunContext::OFF;
  }
  Napi::Value tol = o.Get("pruneTolerance");
  if (!tol.IsUndefined()) {
    double t = tol.IsNumber() ? tol.As<Napi::Number>().DoubleValue() : -1;
    if (!(t >= 0) || !std::isfinite(t))
      throw ArgumentError("options.pruneTolerance must be a finite number >= 0");
    ctx.pruneTolerance = t;
  }
  Napi::Value device = o.Get("device");
  if (!device.IsUndefined()) {
    const std::string d = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (d == "cpu") ctx.device = RunContext::CPU;
    else if (d == "cuda") ctx.device = RunContext::CUDA;
    else if (d == "emulated") ctx.device = RunContext::EMULATED;
    else throw ArgumentError("options.device must be 'cpu', 'cuda' or 'emulated'");
  }
  ctx.block = static_cast<int>(integerOption(o, "block", 1, 1024, "from 1 to 1024", 0));
  ctx.splits = static_cast<int>(integerOption(o, "splits", 1, 65535, "from 1 to 65535", 0));
  Napi::Value r = o.Get("ranges");
  if (r.IsUndefined()) return;
  auto part = [&](uint32_t k, const char* name) {
    Napi::Value v = r.As<Napi::Array>().Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw ArgumentError(std::string("options.ranges: ") + name + " must be an Int32Array");
    auto a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
  };
  if (!r.IsArray() || r.As<Napi::Array>().Length() != 3)
    throw ArgumentError("options.ranges must be [ranges_i, slices_i, redranges_j]");
  ranges.rangesI = part(0, "ranges_i");
  ranges.slicesI = part(1, "slices_i");
  ranges.redrangesJ = part(2, "redranges_j");
  ctx.ranges = &ranges;
}

int threadCount() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

void setThreadCount(int n) { g_threads.store(n); }

}  // namespace lk

#include "convert.h"

#include <omp.h>

#include <atomic>
#include <cstdint>
#include <cmath>
#include <cstring>

namespace lk {
namespace {

std::atomic<int> g_threads{0};

Napi::Value field(const Napi::Object& o, const char* name) {
  if (!o.Has(name)) throw Napi::TypeError::New(o.Env(), std::string("program.") + name + " is missing");
  return o.Get(name);
}

int32_t int32Field(const Napi::Object& o, const char* name);

int64_t intField(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("program.") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 9.0e15) || d != static_cast<double>(static_cast<int64_t>(d)))
    throw Napi::TypeError::New(o.Env(), std::string("program.") + name + " must be an integer");
  return static_cast<int64_t>(d);
}

// A field that must fit an int32 (a register, a reduction code, k): no silent wrap.
int32_t int32Field(const Napi::Object& o, const char* name) {
  int64_t v = intField(o, name);
  if (v < INT32_MIN || v > INT32_MAX) throw Napi::TypeError::New(o.Env(), std::string("program.") + name + " is out of range");
  return static_cast<int32_t>(v);
}

template <typename T, napi_typedarray_type Kind>
std::vector<T> arrayField(const Napi::Object& o, const char* name) {
  Napi::Value v = field(o, name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != Kind)
    throw Napi::TypeError::New(o.Env(), std::string("program.") + name + " has the wrong array type");
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

template <typename T>
Napi::TypedArrayOf<T> copyOut(Napi::Env env, const T* data, std::size_t count) {
  auto buf = Napi::ArrayBuffer::New(env, count * sizeof(T));
  if (count) std::memcpy(buf.Data(), data, count * sizeof(T));
  return Napi::TypedArrayOf<T>::New(env, count, buf, 0);
}

}  // namespace

ProgramSpec readSpec(const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(value.Env(), "program must be an object");
  Napi::Object o = value.As<Napi::Object>();
  ProgramSpec s;
  s.version = int32Field(o, "version");
  Napi::Value dtype = field(o, "dtype");
  std::string dt = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : "";
  if (dt != "float32" && dt != "float64")
    throw Napi::TypeError::New(o.Env(), "program.dtype must be 'float32' or 'float64'");
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

Args readArgs(const Napi::Value& value, bool copy) {
  Napi::Env env = value.Env();
  if (!value.IsArray()) throw Napi::TypeError::New(env, "args must be an array of typed arrays");
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
      throw Napi::TypeError::New(env, "argument " + std::to_string(s) + " must be a Float32Array or Float64Array");
    // TypedArrayOf::Data() also works for arrays over a SharedArrayBuffer.
    bool f32 = t == napi_float32_array;
    std::size_t length = v.As<Napi::TypedArray>().ElementLength();
    const unsigned char* data =
        f32 ? reinterpret_cast<const unsigned char*>(v.As<Napi::Float32Array>().Data())
            : reinterpret_cast<const unsigned char*>(v.As<Napi::Float64Array>().Data());
    a.info.push_back({f32 ? F32 : F64, length});
    if (copy) {
      a.owned.emplace_back(data, data + length * (f32 ? 4 : 8));
      a.ptrs.push_back(a.owned.back().data());
    } else {
      a.ptrs.push_back(data);
    }
  }
  return a;
}

std::vector<double> readFloat64(const Napi::Value& value, std::size_t length, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(value.Env(), what + " must be a Float64Array");
  auto a = value.As<Napi::Float64Array>();
  if (a.ElementLength() != length)
    throw Napi::RangeError::New(value.Env(), what + " has " + std::to_string(a.ElementLength()) +
                                                 " values; expected " + std::to_string(length));
  return std::vector<double>(a.Data(), a.Data() + length);
}

Result allocateResult(const Program& p, int dtype) {
  OutputSizes sizes = outputSizes(p);
  Result r;
  r.dtype = dtype;
  r.hasValues = sizes.hasValues;
  r.hasIndices = sizes.hasIndices;
  if (sizes.hasValues) r.values.resize(sizes.count * (dtype == F32 ? 4 : 8));
  if (sizes.hasIndices) r.indices.resize(sizes.count);
  return r;
}

Napi::Object toJs(Napi::Env env, const Result& r) {
  Napi::Object out = Napi::Object::New(env);
  if (r.hasValues) {
    if (r.dtype == F32)
      out.Set("values", copyOut(env, reinterpret_cast<const float*>(r.values.data()), r.values.size() / 4));
    else
      out.Set("values", copyOut(env, reinterpret_cast<const double*>(r.values.data()), r.values.size() / 8));
  }
  if (r.hasIndices) out.Set("indices", copyOut(env, r.indices.data(), r.indices.size()));
  return out;
}

Napi::Float64Array float64Array(Napi::Env env, const std::vector<double>& data) {
  return copyOut(env, data.data(), data.size());
}

void readRunOptions(const Napi::Value& value, RunContext& ctx, Ranges& ranges) {
  if (value.IsUndefined() || value.IsNull()) return;
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw Napi::TypeError::New(env, "run options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value prune = o.Get("prune");
  if (!prune.IsUndefined()) {
    if (!prune.IsBoolean()) throw Napi::TypeError::New(env, "options.prune must be a boolean");
    ctx.prune = prune.As<Napi::Boolean>().Value() ? RunContext::ON : RunContext::OFF;
  }
  Napi::Value tol = o.Get("pruneTolerance");
  if (!tol.IsUndefined()) {
    double t = tol.IsNumber() ? tol.As<Napi::Number>().DoubleValue() : -1;
    if (!(t >= 0) || !std::isfinite(t))
      throw Napi::RangeError::New(env, "options.pruneTolerance must be a finite number >= 0");
    ctx.pruneTolerance = t;
  }
  Napi::Value device = o.Get("device");
  if (!device.IsUndefined()) {
    const std::string d = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (d == "cpu") ctx.device = RunContext::CPU;
    else if (d == "cuda") ctx.device = RunContext::CUDA;
    else if (d == "emulated") ctx.device = RunContext::EMULATED;
    else throw Napi::TypeError::New(env, "options.device must be 'cpu', 'cuda' or 'emulated'");
  }
  auto launch = [&](const char* name, int most) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined()) return 0;
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 1 && x <= most) || x != static_cast<int>(x))
      throw Napi::RangeError::New(env, std::string("options.") + name + " must be an integer from 1 to " + std::to_string(most));
    return static_cast<int>(x);
  };
  ctx.block = launch("block", 1024);
  ctx.splits = launch("splits", 65535);
  Napi::Value r = o.Get("ranges");
  if (r.IsUndefined()) return;
  auto part = [&](uint32_t k, const char* name) {
    Napi::Value v = r.As<Napi::Array>().Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw Napi::TypeError::New(env, std::string("options.ranges: ") + name + " must be an Int32Array");
    auto a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
  };
  if (!r.IsArray() || r.As<Napi::Array>().Length() != 3)
    throw Napi::TypeError::New(env, "options.ranges must be [ranges_i, slices_i, redranges_j]");
  ranges.rangesI = part(0, "ranges_i");
  ranges.slicesI = part(1, "slices_i");
  ranges.redrangesJ = part(2, "redranges_j");
  ctx.ranges = &ranges;
}

const int32_t* readCancel(const Napi::Value& value, Napi::Reference<Napi::Int32Array>& keep) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      value.As<Napi::Int32Array>().ElementLength() < 1)
    return nullptr;
  keep = Napi::Persistent(value.As<Napi::Int32Array>());
  return keep.Value().Data();
}

Napi::Value abortError(Napi::Env env) {
  Napi::Error e = Napi::Error::New(env, "The operation was aborted");
  e.Set("name", Napi::String::New(env, "AbortError"));
  return e.Value();
}

int threadCount() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

void setThreadCount(int n) { g_threads.store(n); }

}  // namespace lk

// solve(program, args, slot, b, options, cancel?, onProgress?) -> Promise<{x, iterations,
// refinements, residual, residuals, converged, reason, preconditioner, pairs,
// keptPreconditioner?}>,
// and solveSync(program, args, slot, b, options).
// `program` computes K·v (a Sum over j) with v the j-variable in argument slot `slot`.
// With options.keepPreconditioner, the result's keptPreconditioner holds the one that ran
// (an opaque object); options.reusePreconditioner passes it to another solve.
#include <cmath>
#include <memory>
#include <mutex>
#include <string>

#include "../engine.h"
#include "../memory.h"
#include "../queue.h"
#include "../solve/kernel_solve.h"
#include "../solve/precond.h"
#include "bindings.h"
#include "convert.h"
#include "job.h"

namespace lk {
namespace {

double numberOption(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw ArgumentError(std::string("options.") + name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// Kept preconditioners travel through JS as plain objects carrying a type tag (so that no
// other object, from this addon or another, is taken for one) and the C++ object wrapped
// in them, whose memory V8 is told about so that it weighs it when collecting.
constexpr napi_type_tag kKeptTag = {0x6c617a796b65726eULL, 0x707265636f6e6431ULL};

void finalizeKept(napi_env env, void* data, void*) {
  auto* kept = static_cast<KeptPreconditioner*>(data);
  int64_t total;
  napi_adjust_external_memory(env, -static_cast<int64_t>(kept->p->bytes()), &total);
  delete kept;
}

Napi::Object wrapKept(Napi::Env env, const KeptPreconditioner& kept) {
  Napi::Object o = Napi::Object::New(env);
  o.TypeTag(&kKeptTag);
  auto* held = new KeptPreconditioner(kept);
  if (napi_wrap(env, o, held, finalizeKept, nullptr, nullptr) != napi_ok) {
    delete held;
    throw Napi::Error::New(env, "could not keep the preconditioner");
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(kept.p->bytes()));
  return o;
}

KeptPreconditioner unwrapKept(Napi::Env env, const Napi::Value& v) {
  void* data = nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kKeptTag) || napi_unwrap(env, v, &data) != napi_ok || !data)
    throw ArgumentError("options.reusePreconditioner must be a result's keptPreconditioner");
  return *static_cast<KeptPreconditioner*>(data);
}

// Reads options.preconditioner ('none' | 'nystrom' | 'jacobi' | 'auto'; the addon's
// default is 'none', lib/solve.ts always sends one, 'auto' unless asked otherwise),
// options.rank, options.landmarks ('rpcholesky' | 'uniform') and options.seed.
PreconditionerRequest readPreconditioner(const Napi::Object& o) {
  PreconditionerRequest r;
  Napi::Value kind = o.Get("preconditioner");
  if (!kind.IsUndefined()) {
    const std::string k = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
    if (k == "none") r.kind = PreconditionerRequest::None;
    else if (k == "nystrom") r.kind = PreconditionerRequest::Nystrom;
    else if (k == "jacobi") r.kind = PreconditionerRequest::Jacobi;
    else if (k == "auto") r.kind = PreconditionerRequest::Auto;
    else throw ArgumentError("options.preconditioner must be 'none', 'nystrom', 'jacobi' or 'auto'");
  }
  r.rank = static_cast<int>(integerOption(o, "rank", 0, 2147483647.0, "from 0 to 2^31 - 1", r.rank));
  Napi::Value landmarks = o.Get("landmarks");
  if (!landmarks.IsUndefined()) {
    const std::string l = landmarks.IsString() ? landmarks.As<Napi::String>().Utf8Value() : "";
    if (l != "rpcholesky" && l != "uniform") throw ArgumentError("options.landmarks must be 'rpcholesky' or 'uniform'");
    r.uniform = l == "uniform";
  }
  r.seed = static_cast<uint64_t>(integerOption(o, "seed", 0, 9007199254740991.0, "from 0 to 2^53 - 1", static_cast<double>(r.seed)));
  Napi::Value reuse = o.Get("reusePreconditioner");
  if (!reuse.IsUndefined()) r.reuse = unwrapKept(o.Env(), reuse);
  return r;
}

const char* reasonName(StopReason r) {
  switch (r) {
    case StopReason::Converged: return "converged";
    case StopReason::MaxIter: return "maxIter";
    default: return "stagnated";
  }
}

// Everything one solve needs, checked on the main thread.
struct SolveSetup {
  std::unique_ptr<Program> program;
  Args args;
  int dtype = F32;
  std::size_t slot = 0, n = 0;
  int dv = 1;
  std::vector<double> b, x;
  CgOptions options;
  RunContext runOptions;  // prune, pruneTolerance, ranges, device
  Ranges ranges;
  PreconditionerRequest preconditioner;
  bool keep = false;  // options.keepPreconditioner

  SolveSetup(const Napi::CallbackInfo& info, bool async) {
    ProgramSpec spec = readSpec(info[0]);
    dtype = spec.dtype;
    if (spec.reduction != RED_Sum) throw ProgramError("solve: the program must be a Sum reduction");
    if (spec.m != spec.n)
      throw ProgramError("solve: the kernel must be square; it has " + std::to_string(spec.m) + " rows and " +
                         std::to_string(spec.n) + " columns");
    if (!info[2].IsNumber()) throw ArgumentError("solve: slot must be a number");
    double s = info[2].As<Napi::Number>().DoubleValue();
    bool found = false;
    for (std::size_t v = 0; v + 2 < spec.vars.size(); v += 3)
      if (spec.vars[v + 2] == s && spec.vars[v] == 1) {
        found = true;
        dv = spec.vars[v + 1];
        slot = static_cast<std::size_t>(s);
      }
    if (!found) throw ProgramError("solve: the unknown must be a j-variable of the program");
    if (spec.n < 0 || spec.n > 0x7fffffff || dv < 1) throw ProgramError("solve: n and the unknown's dimension are out of range");
    n = static_cast<std::size_t>(spec.n);
    const std::size_t len = mulSat(n, static_cast<std::size_t>(dv));
    // b, x0 and the CG vectors: checked before b is even copied.
    reserveMemory(mulSat(len, 8 * 8), "this solve's vectors");
    b = readFloat64(info[3], len, "b");
    if (!info[4].IsObject()) throw ArgumentError("solve: options must be an object");
    Napi::Object o = info[4].As<Napi::Object>();
    readRunOptions(o, runOptions, ranges);
    if (runOptions.ranges) checkRanges(ranges, n, n);
    options.alpha = numberOption(o, "alpha");
    options.tol = numberOption(o, "tol");
    double maxIter = numberOption(o, "maxIter");
    if (!(options.alpha >= 0) || !std::isfinite(options.alpha)) throw ArgumentError("alpha must be finite and >= 0");
    if (!(options.tol >= 0) || !std::isfinite(options.tol)) throw ArgumentError("tol must be finite and >= 0");
    if (!(maxIter >= 0 && maxIter <= 1e9) || maxIter != static_cast<int>(maxIter))
      throw ArgumentError("maxIter must be an integer from 0 to 1e9");
    options.maxIter = static_cast<int>(maxIter);
    preconditioner = readPreconditioner(o);
    Napi::Value keepOption = o.Get("keepPreconditioner");
    if (!keepOption.IsUndefined() && !keepOption.IsBoolean()) throw ArgumentError("options.keepPreconditioner must be a boolean");
    keep = keepOption.IsBoolean() && keepOption.As<Napi::Boolean>().Value();
    if (runOptions.device == RunContext::CUDA && preconditioner.kind != PreconditionerRequest::None &&
        preconditioner.kind != PreconditionerRequest::Auto)
      throw ArgumentError("preconditioners are not built on the CUDA backend yet; use 'none' or backend 'cpu'");
    x = o.Has("x0") && !o.Get("x0").IsUndefined() ? readFloat64(o.Get("x0"), len, "x0") : std::vector<double>(len, 0.0);
    // The arrays last: reading the options above may run JS (getters) that could detach
    // a buffer whose pointer had already been taken.
    args = readArgs(info[1]);
    program = std::make_unique<Program>(decodeProgram(spec, args.info));
    if (program->regDims[program->result] != dv) throw ProgramError("solve: the formula's dimension differs from the unknown's");
    RunContext ctx = runOptions;
    ctx.threads = threadCount();
    // The products' buffers, and for float32 data the float64 twins of the arrays and of
    // the product's scratch.
    const std::size_t width = dtype == F32 ? 4 : 8;
    std::size_t bytes = addSat(reductionBytes(*program, ctx), mulSat(len, 2 * width));
    if (dtype == F32) bytes = addSat(bytes, addSat(mulSat(argumentBytes(args, true), 2), reductionBytes(*program, ctx)));
    reserveMemory(addSat(bytes, argumentBytes(args, async)), "this solve");
    ownArguments(args, async);
  }

  SolveOutcome run(const int32_t* cancel, const Progress& progress, int threads) {
    SolveRequest r{program.get(), args.ptrs.data(), static_cast<int>(slot), n, dv, b.data(), x.data(), options,
                   runOptions, preconditioner};
    r.run.threads = threads;
    r.run.held = &args.heldPtrs;
    r.run.cancel = cancel;
    return solveKernelSystem(r, progress);
  }

  Napi::Object toJs(Napi::Env env, const SolveOutcome& outcome) {
    const CgReport& report = outcome.report;
    Napi::Object out = Napi::Object::New(env);
    out.Set("x", float64Array(env, std::move(x)));
    out.Set("iterations", report.iterations);
    out.Set("refinements", report.refinements);
    out.Set("residual", report.residual);
    out.Set("residuals", float64Array(env, std::vector<double>(report.residuals)));
    out.Set("converged", report.converged);
    out.Set("reason", reasonName(report.reason));
    Napi::Object pre = Napi::Object::New(env);
    pre.Set("kind", outcome.preconditioner);
    pre.Set("rank", outcome.rank);
    pre.Set("setupSeconds", outcome.setupSeconds);
    pre.Set("reused", outcome.reused);
    out.Set("preconditioner", pre);
    Napi::Object pairs = Napi::Object::New(env);
    pairs.Set("iteration", static_cast<double>(outcome.iterationPairs));
    pairs.Set("refinement", static_cast<double>(outcome.refinementPairs));
    out.Set("pairs", pairs);
    if (keep && outcome.kept.p) out.Set("keptPreconditioner", wrapKept(env, outcome.kept));
    return out;
  }
};

class SolveJob : public Job {
 public:
  SolveJob(const Napi::CallbackInfo& info, bool reportProgress)
      : Job(info.Env()), setup_(info, /*async=*/true), reportProgress_(reportProgress) {}

 protected:
  void run() override {
    Progress p;
    if (reportProgress_) p = [this](const ProgressEvent& e) { progress(e); };
    outcome_ = setup_.run(cancel(), p, threads());
  }
  bool onDevice() const override { return setup_.runOptions.device != RunContext::CPU; }
  Napi::Value result(Napi::Env env) override { return setup_.toJs(env, outcome_); }

 private:
  SolveSetup setup_;
  bool reportProgress_;
  SolveOutcome outcome_;
};

}  // namespace

Napi::Value Solve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&] {
    const bool hasProgress = info.Length() > 6 && info[6].IsFunction();
    const Schedule schedule = readSchedule(info[4]);
    return Job::start(std::make_unique<SolveJob>(info, hasProgress), env, info[5], schedule,
                      hasProgress ? info[6].As<Napi::Function>() : Napi::Function());
  });
}

Napi::Value SolveSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&]() -> Napi::Value {
    SolveSetup setup(info, /*async=*/false);
    SolveOutcome outcome;
    {
      auto lock = engineLock(setup.runOptions.device != RunContext::CPU);
      outcome = setup.run(nullptr, Progress(), threadCount());
    }
    return setup.toJs(env, outcome);
  });
}

}  // namespace lk

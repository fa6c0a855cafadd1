// solve(program, args, slot, b, options, cancel?, onProgress?) -> Promise<{x, iterations,
// residual, converged}>, and solveSync(program, args, slot, b, options).
// `program` computes K·v (a Sum over j) with v the j-variable in argument slot `slot`.
#include <cmath>
#include <memory>
#include <mutex>
#include <string>

#include "../cpu/cluster.h"
#include "../engine.h"
#include "../memory.h"
#include "../queue.h"
#include "../solve/cg.h"
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

// Everything one solve needs, checked on the main thread.
struct SolveSetup {
  std::unique_ptr<Program> program;
  Args args;
  int dtype = F32;
  std::size_t slot = 0, n = 0;
  int dv = 1;
  std::vector<double> b, x;
  CgOptions options;
  RunContext runOptions;  // prune, pruneTolerance, ranges
  Ranges ranges;

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
    reserveMemory(mulSat(len, 8 * 7), "this solve's vectors");
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
    x = o.Has("x0") && !o.Get("x0").IsUndefined() ? readFloat64(o.Get("x0"), len, "x0") : std::vector<double>(len, 0.0);
    // The arrays last: reading the options above may run JS (getters) that could detach
    // a buffer whose pointer had already been taken.
    args = readArgs(info[1]);
    program = std::make_unique<Program>(decodeProgram(spec, args.info));
    if (program->regDims[program->result] != dv) throw ProgramError("solve: the formula's dimension differs from the unknown's");
    RunContext ctx = runOptions;
    ctx.threads = threadCount();
    const std::size_t products = mulSat(len, 2 * (dtype == F32 ? 4 : 8));  // v and K·v in the data's type
    reserveMemory(addSat(addSat(reductionBytes(*program, ctx), products), argumentBytes(args, async)), "this solve");
    ownArguments(args, async);
  }

  // Runs CG with K·v through the engine: v goes into the unknown's slot in the data's
  // dtype, the product comes back and is widened to float64.
  CgReport run(const int32_t* cancel, const Progress& progress) {
    options.cancel = cancel;
    // On a GPU the whole iteration stays there; emulated, the products run the device
    // kernels on the host and the vectors stay here.
    if (runOptions.device == RunContext::CUDA)
      return solveOnCuda(*program, args.ptrs.data(), static_cast<int>(slot), b.data(), x.data(), options, progress,
                         runOptions);
    RunContext ctx = runOptions;
    ctx.threads = threadCount();
    // The points do not change between products: cluster them once per solve (unless
    // the unknown is itself one of the kernel's point sets).
    PruneCache clusters;
    const FusedKernel& k = program->kernel;
    if (k.x != static_cast<int>(slot) && k.y != static_cast<int>(slot)) ctx.cache = &clusters;
    ctx.cancel = cancel;
    std::size_t len = n * dv, width = dtype == F32 ? 4 : 8;
    std::vector<unsigned char> vbuf(len * width), out(len * width);
    std::vector<const void*> ptrs = args.ptrs;
    ptrs[slot] = vbuf.data();
    BlockProduct kv = [&](const double* v, double* kvOut) {
      if (dtype == F32) {
        float* vf = reinterpret_cast<float*>(vbuf.data());
        for (std::size_t k = 0; k < len; ++k) vf[k] = static_cast<float>(v[k]);
      } else {
        std::copy(v, v + len, reinterpret_cast<double*>(vbuf.data()));
      }
      reduce(*program, ptrs.data(), out.data(), nullptr, ctx);
      if (dtype == F32) {
        const float* of = reinterpret_cast<const float*>(out.data());
        for (std::size_t k = 0; k < len; ++k) kvOut[k] = of[k];
      } else {
        const double* od = reinterpret_cast<const double*>(out.data());
        std::copy(od, od + len, kvOut);
      }
    };
    return conjugateGradient(kv, n, dv, b.data(), x.data(), options, progress);
  }

  Napi::Object toJs(Napi::Env env, const CgReport& report) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("x", float64Array(env, std::move(x)));
    out.Set("iterations", report.iterations);
    out.Set("residual", report.residual);
    out.Set("converged", report.converged);
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
    if (reportProgress_) p = [this](int it, double r) { progress(it, r); };
    report_ = setup_.run(cancel(), p);
  }
  Napi::Value result(Napi::Env env) override { return setup_.toJs(env, report_); }

 private:
  SolveSetup setup_;
  bool reportProgress_;
  CgReport report_;
};

}  // namespace

Napi::Value Solve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&] {
    const bool hasProgress = info.Length() > 6 && info[6].IsFunction();
    return Job::start(std::make_unique<SolveJob>(info, hasProgress), env, info[5],
                      hasProgress ? info[6].As<Napi::Function>() : Napi::Function());
  });
}

Napi::Value SolveSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&]() -> Napi::Value {
    SolveSetup setup(info, /*async=*/false);
    CgReport report;
    {
      std::lock_guard<std::mutex> lock(engineMutex());
      report = setup.run(nullptr, Progress());
    }
    return setup.toJs(env, report);
  });
}

}  // namespace lk

// reduce(program, args, cancel?, options?) -> Promise<{values?, indices?}>, and
// reduceSync(program, args, options?). options: { prune?, pruneTolerance?, ranges? }.
#include <memory>
#include <mutex>

#include "../engine.h"
#include "../queue.h"
#include "bindings.h"
#include "convert.h"
#include "job.h"

namespace lk {
namespace {

void runReduction(const Program& p, const Args& a, Result& r, RunContext ctx, const int32_t* cancel) {
  ctx.threads = threadCount();
  ctx.cancel = cancel;
  reduce(p, a.ptrs.data(), r.values.data(), r.indices.data(), ctx);
}

class ReduceJob : public Job {
 public:
  ReduceJob(Napi::Env env, const Napi::Value& program, const Napi::Value& args, const Napi::Value& options)
      : Job(env) {
    readRunOptions(options, ctx_, ranges_);
    ProgramSpec spec = readSpec(program);
    args_ = readArgs(args, /*copy=*/true);
    program_ = std::make_unique<Program>(decodeProgram(spec, args_.info));
    if (ctx_.ranges) checkRanges(ranges_, program_->m, program_->n);
    result_ = allocateResult(*program_, spec.dtype);
  }

 protected:
  void run() override { runReduction(*program_, args_, result_, ctx_, cancel_); }
  Napi::Value result(Napi::Env env) override { return toJs(env, result_); }

 private:
  RunContext ctx_;
  Ranges ranges_;
  std::unique_ptr<Program> program_;
  Args args_;
  Result result_;
};

}  // namespace

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReduceJob* job = rethrowAsJs(env, [&] { return new ReduceJob(env, info[0], info[1], info[3]); });
  return job->start(env, info[2]);
}

Napi::Value ReduceSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&] {
    RunContext ctx;
    Ranges ranges;
    readRunOptions(info[2], ctx, ranges);
    ProgramSpec spec = readSpec(info[0]);
    Args args = readArgs(info[1], /*copy=*/false);
    Program program = decodeProgram(spec, args.info);
    if (ctx.ranges) checkRanges(ranges, program.m, program.n);
    Result result = allocateResult(program, spec.dtype);
    std::lock_guard<std::mutex> lock(engineMutex());
    runReduction(program, args, result, ctx, nullptr);
    return toJs(env, result);
  });
}

}  // namespace lk

// reduce(program, args, cancel?, options?) -> Promise<{values?, indices?}>, and
// reduceSync(program, args, options?). options: { prune?, pruneTolerance?, ranges?, … }.
#include <memory>
#include <mutex>

#include "../engine.h"
#include "../memory.h"
#include "../queue.h"
#include "bindings.h"
#include "convert.h"
#include "job.h"

namespace lk {
namespace {

// Everything one reduction needs, read and checked on the main thread. Nothing is
// copied or allocated until the program has been checked against the arrays and the
// whole call's memory against what the machine has free.
struct ReduceSetup {
  RunContext ctx;
  Ranges ranges;
  std::unique_ptr<Program> program;
  Args args;
  Result result;

  ReduceSetup(const Napi::Value& programValue, const Napi::Value& argsValue, const Napi::Value& options, bool async) {
    readRunOptions(options, ctx, ranges);
    ProgramSpec spec = readSpec(programValue);
    args = readArgs(argsValue);  // the last read that may run JS
    program = std::make_unique<Program>(decodeProgram(spec, args.info));
    if (ctx.ranges) checkRanges(ranges, program->m, program->n);
    ctx.threads = threadCount();
    reserveMemory(addSat(reductionBytes(*program, ctx), argumentBytes(args, async)), "this reduction");
    ownArguments(args, async);
    result = allocateResult(*program);
  }

  // threads: read when the job starts (setNumThreads may have changed it while it waited).
  void run(const int32_t* cancel, int threads) {
    ctx.cancel = cancel;
    ctx.threads = threads;
    ctx.held = &args.heldPtrs;
    reduce(*program, args.ptrs.data(), result.values(), result.indices.data(), ctx);
  }
};

class ReduceJob : public Job {
 public:
  ReduceJob(Napi::Env env, const Napi::Value& program, const Napi::Value& args, const Napi::Value& options)
      : Job(env), setup_(program, args, options, /*async=*/true) {}

 protected:
  void run() override { setup_.run(cancel(), threads()); }
  bool onDevice() const override { return setup_.ctx.device != RunContext::CPU; }
  Napi::Value result(Napi::Env env) override { return toJs(env, setup_.result); }

 private:
  ReduceSetup setup_;
};

}  // namespace

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&] {
    const Schedule schedule = readSchedule(info[3]);
    return Job::start(std::make_unique<ReduceJob>(env, info[0], info[1], info[3]), env, info[2], schedule);
  });
}

Napi::Value ReduceSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return rethrowAsJs(env, [&]() -> Napi::Value {
    ReduceSetup setup(info[0], info[1], info[2], /*async=*/false);
    {
      auto lock = engineLock(setup.ctx.device != RunContext::CPU);
      setup.run(nullptr, threadCount());
    }
    return toJs(env, setup.result);
  });
}

}  // namespace lk

// An engine job: checked and set up on the main thread, run on the queue's worker
// thread, settled (and progress reported) back on the main thread, in order, through
// one thread-safe function.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

#include "../queue.h"
#include "../solve/cg.h"
#include "convert.h"
#include "errors.h"

namespace lk {

class Job {
 public:
  explicit Job(Napi::Env env);
  virtual ~Job() = default;

  // Hands the job to the queue, which deletes it once settled. `cancel` is a CancelFlag
  // or undefined; anything else throws (and the job is freed). `progress` may be empty.
  static Napi::Promise start(std::unique_ptr<Job> job, Napi::Env env, Napi::Value cancel, Schedule schedule,
                             Napi::Function progress = Napi::Function());

 protected:
  // On the lane's worker thread (holding the engine on a device path). Throw Cancelled
  // to reject with AbortError.
  virtual void run() = 0;
  // Whether run() uses a device path (then it holds engineMutex()).
  virtual bool onDevice() const = 0;
  // On the main thread, after run() returned normally.
  virtual Napi::Value result(Napi::Env env) = 0;
  // From run(): queues a progress call; never blocks the engine.
  void progress(const ProgressEvent& event);

  // The job's own reference to the caller's flag: alive as long as the job is.
  std::shared_ptr<int32_t> cancelFlag_;
  const int32_t* cancel() const { return cancelFlag_.get(); }
  // The threads run() uses: the team, or half of it in the background lane.
  int threads() const { return laneThreads(lane_, threadCount()); }

 private:
  struct Message {
    bool done;
    ProgressEvent event;
  };
  static void deliver(Napi::Env env, Napi::Function fn, Job* job, Message* msg);
  using Channel = Napi::TypedThreadSafeFunction<Job, Message, deliver>;

  void work();  // on the worker thread: run(), then hand the job back to the main thread
  void settle(Napi::Env env);

  Lane lane_ = FOREGROUND;
  Napi::Promise::Deferred deferred_;
  Channel channel_;
  bool failed_ = false;
  Failure failure_;
};

}  // namespace lk

// An engine job: checked and set up on the main thread, run on the queue's worker
// thread, settled (and progress reported) back on the main thread, in order, through
// one thread-safe function.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace lk {

class Job {
 public:
  explicit Job(Napi::Env env);
  virtual ~Job() = default;

  // Hands the job to the queue; the job deletes itself once settled. `progress` may be
  // empty. Call last: `this` belongs to the queue afterwards.
  Napi::Promise start(Napi::Env env, Napi::Value cancel, Napi::Function progress = Napi::Function());

 protected:
  // On the worker thread, holding the engine. Throw Cancelled to reject with AbortError.
  virtual void run() = 0;
  // On the main thread, after run() returned normally.
  virtual Napi::Value result(Napi::Env env) = 0;
  // From run(): queues a progress call; never blocks the engine.
  void progress(int iteration, double residual);

  const int32_t* cancel_ = nullptr;

 private:
  struct Message {
    bool done;
    int iteration;
    double residual;
  };
  static void deliver(Napi::Env env, Napi::Function fn, Job* job, Message* msg);
  using Channel = Napi::TypedThreadSafeFunction<Job, Message, deliver>;

  void settle(Napi::Env env);

  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Int32Array> cancelRef_;
  Channel channel_;
  std::string error_;
  bool cancelled_ = false;
};

}  // namespace lk

#include "job.h"

#include <memory>
#include <mutex>

#include "../engine.h"
#include "../queue.h"
#include "convert.h"

namespace lk {

Job::Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}

Napi::Promise Job::start(Napi::Env env, Napi::Value cancel, Napi::Function progressFn) {
  cancel_ = readCancel(cancel, cancelRef_);
  channel_ = Channel::New(env, progressFn, "lazykernel.job", 0, 1, this);
  Napi::Promise promise = deferred_.Promise();
  enqueue([this] {
    try {
      std::lock_guard<std::mutex> lock(engineMutex());
      run();
    } catch (const Cancelled&) {
      cancelled_ = true;
    } catch (const std::exception& e) {
      error_ = e.what();
    } catch (...) {
      error_ = "unknown native error";
    }
    Channel channel = channel_;
    channel.BlockingCall(new Message{true, 0, 0});
    channel.Release();
  });
  return promise;
}

void Job::progress(int iteration, double residual) {
  auto* msg = new Message{false, iteration, residual};
  if (channel_.NonBlockingCall(msg) != napi_ok) delete msg;
}

void Job::deliver(Napi::Env env, Napi::Function fn, Job* job, Message* msg) {
  std::unique_ptr<Message> owned(msg);
  if (env == nullptr) {  // the environment is going away: no JS may run
    if (msg->done) {
      job->cancelRef_.SuppressDestruct();
      delete job;
    }
    return;
  }
  if (msg->done) {
    job->settle(env);
    delete job;
    return;
  }
  if (fn.IsEmpty()) return;
  Napi::Object p = Napi::Object::New(env);
  p.Set("iteration", msg->iteration);
  p.Set("residual", msg->residual);
  try {
    fn.Call({p});
  } catch (const Napi::Error&) {
    // Dropped: rethrowing from a thread-safe call is an uncaught exception, which a
    // future Node policy turns into exit. lib/solve.ts wraps the user's callback and
    // turns its error into the solve's rejection.
  }
}

void Job::settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (cancelled_) {
    deferred_.Reject(abortError(env));
  } else if (!error_.empty()) {
    deferred_.Reject(Napi::Error::New(env, error_).Value());
  } else {
    try {
      deferred_.Resolve(result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
}

}  // namespace lk

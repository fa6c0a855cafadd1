#include "job.h"

#include <memory>
#include <mutex>

#include "../engine.h"
#include "../queue.h"
#include "bindings.h"
#include "cancel.h"

namespace lk {

Job::Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}

Napi::Promise Job::start(std::unique_ptr<Job> owned, Napi::Env env, Napi::Value cancel, Schedule schedule,
                         Napi::Function progressFn) {
  owned->cancelFlag_ = CancelFlag::from(cancel);
  owned->lane_ = schedule.lane;
  owned->channel_ = Channel::New(env, progressFn, "lazykernel.job", 0, 1, owned.get());
  Job* job = owned.release();  // from here on the queue owns it, and deliver() deletes it
  Napi::Promise promise = job->deferred_.Promise();
  enqueue([job] { job->work(); }, schedule.lane, schedule.priority);
  return promise;
}

void Job::work() {
  try {
    auto lock = engineLock(onDevice());
    run();
  } catch (...) {
    failed_ = true;
    failure_ = describeFailure(std::current_exception());
  }
  Channel channel = channel_;
  channel.BlockingCall(new Message{true, {}});
  channel.Release();
}

void Job::progress(const ProgressEvent& event) {
  auto* msg = new Message{false, event};
  if (channel_.NonBlockingCall(msg) != napi_ok) delete msg;
}

void Job::deliver(Napi::Env env, Napi::Function fn, Job* job, Message* msg) {
  std::unique_ptr<Message> owned(msg);
  if (env == nullptr) {  // the environment is going away: no JS may run
    if (msg->done) delete job;
    return;
  }
  if (msg->done) {
    job->settle(env);
    delete job;
    return;
  }
  if (fn.IsEmpty()) return;
  // { phase: 'iterate', iteration, residual } or { phase: 'setup', step, value }.
  const ProgressEvent& e = msg->event;
  Napi::Object p = Napi::Object::New(env);
  if (e.phase == ProgressEvent::Iterate) {
    p.Set("phase", "iterate");
    p.Set("iteration", e.step);
    p.Set("residual", e.value);
  } else {
    p.Set("phase", "setup");
    p.Set("step", e.step);
    p.Set("value", e.value);
  }
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
  if (failed_) {
    deferred_.Reject(errorValue(env, failure_));
    return;
  }
  try {
    deferred_.Resolve(result(env));
  } catch (const Napi::Error& e) {
    // N-API refused to make the result (an allocation): still a typed error.
    deferred_.Reject(errorValue(env, {"ERR_LK_INTERNAL", "could not return the result: " + e.Message()}));
  } catch (...) {
    deferred_.Reject(errorValue(env, describeFailure(std::current_exception())));
  }
}

Napi::Value QueueInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (Lane lane : {FOREGROUND, BACKGROUND}) {
    const LaneState s = laneState(lane);
    Napi::Object o = Napi::Object::New(env);
    o.Set("waiting", static_cast<double>(s.waiting));
    o.Set("running", s.running);
    o.Set("priority", s.priority);
    o.Set("runningMs", s.runningSeconds * 1000);
    out.Set(lane == FOREGROUND ? "foreground" : "background", o);
  }
  return out;
}

}  // namespace lk

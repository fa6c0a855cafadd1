#include "queue.h"

#include <condition_variable>
#include <deque>
#include <thread>

namespace lk {
namespace {

struct Queue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::function<void()>> jobs;
  bool started = false;
};

Queue& queue() {
  // Leaked on purpose: the worker may still wait on it while static destructors run.
  static Queue* q = new Queue();
  return *q;
}

void workerLoop() {
  Queue& q = queue();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(q.mutex);
      q.ready.wait(lock, [&] { return !q.jobs.empty(); });
      job = std::move(q.jobs.front());
      q.jobs.pop_front();
    }
    job();  // jobs catch their own exceptions
  }
}

}  // namespace

void enqueue(std::function<void()> job) {
  Queue& q = queue();
  {
    std::lock_guard<std::mutex> lock(q.mutex);
    q.jobs.push_back(std::move(job));
    if (!q.started) {
      std::thread(workerLoop).detach();
      q.started = true;
    }
  }
  q.ready.notify_one();
}

std::mutex& engineMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

}  // namespace lk

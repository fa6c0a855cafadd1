#include "queue.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lk {
namespace {

using Clock = std::chrono::steady_clock;

struct LaneQueue {
  // Ordered by (-priority, arrival): begin() is the next job to run.
  std::map<std::pair<int, uint64_t>, std::function<void()>> jobs;
  bool started = false, running = false;
  int runningPriority = 0;
  Clock::time_point runningSince;
};

struct Queue {
  std::mutex mutex;
  std::condition_variable ready[2];
  LaneQueue lanes[2];
  uint64_t arrivals = 0;
};

Queue& queue() {
  // Leaked on purpose: the workers may still wait on it while static destructors run.
  static Queue* q = new Queue();
  return *q;
}

// The background's worker, and the OpenMP threads it starts (created by it, they inherit
// it), run under SCHED_IDLE (or, refused that, nice 19): they get the cores only while
// nothing else wants them (2e5 points, a refit in the background lane, request p99
// against no refit: 2.5x at the same priority, 2.2x at nice 19, 1.1-1.4x under
// SCHED_IDLE). The foreground's keep the process's priority. At nice 5 they once kept
// the event loop's delay lower while a job held every core, but on a 2-core Zen 4 VM
// (bench/service.ts, 10^7 held points) that gain was 13.4-14.0 against 14.4-14.7 ms p99
// with equal requests/s, while beside other busy processes nice 5 gave away half the
// job's share: async solves ran 4-5x their time alone against 2.1-2.4x (bench/busy.ts).
// Linux only: elsewhere a thread's nice value is the process's.
void lowerPriority(Lane lane) {
#ifdef __linux__
  if (lane != BACKGROUND) return;
  sched_param none{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) == 0) return;
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
#endif
}

void workerLoop(Lane lane) {
  lowerPriority(lane);
  Queue& q = queue();
  LaneQueue& l = q.lanes[lane];
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(q.mutex);
      l.running = false;
      q.ready[lane].wait(lock, [&] { return !l.jobs.empty(); });
      auto next = l.jobs.begin();
      job = std::move(next->second);
      l.running = true;
      l.runningPriority = -next->first.first;
      l.runningSince = Clock::now();
      l.jobs.erase(next);
    }
    job();  // jobs catch their own exceptions
  }
}

}  // namespace

void enqueue(std::function<void()> job, Lane lane, int priority) {
  Queue& q = queue();
  {
    std::lock_guard<std::mutex> lock(q.mutex);
    LaneQueue& l = q.lanes[lane];
    l.jobs.emplace(std::make_pair(-priority, q.arrivals++), std::move(job));
    if (!l.started) {
      std::thread(workerLoop, lane).detach();
      l.started = true;
    }
  }
  q.ready[lane].notify_one();
}

LaneState laneState(Lane lane) {
  Queue& q = queue();
  std::lock_guard<std::mutex> lock(q.mutex);
  const LaneQueue& l = q.lanes[lane];
  LaneState s;
  s.waiting = l.jobs.size();
  s.running = l.running;
  if (l.running) {
    s.priority = l.runningPriority;
    s.runningSeconds = std::chrono::duration<double>(Clock::now() - l.runningSince).count();
  }
  return s;
}

int laneThreads(Lane lane, int threads) { return lane == BACKGROUND ? std::max(1, threads / 2) : threads; }

std::mutex& engineMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

std::unique_lock<std::mutex> engineLock(bool onDevice) {
  return onDevice ? std::unique_lock<std::mutex>(engineMutex()) : std::unique_lock<std::mutex>();
}

}  // namespace lk

// The job queue: two lanes, each with one worker thread that runs its jobs one at a time,
// highest priority first (in arrival order within a priority). The foreground lane's jobs
// get the whole OpenMP team (setNumThreads), so concurrent calls from a service queue up
// instead of oversubscribing the cores; the background lane's (a refit, a batch) get half
// of it and run beside the foreground's, so a long background job never holds the
// foreground lane. libuv's small thread pool (files, DNS) is never tied up waiting for us.
#pragma once
#include <cstddef>
#include <functional>
#include <mutex>

namespace lk {

enum Lane { FOREGROUND = 0, BACKGROUND = 1 };

// Runs `job` on the lane's worker, after every job queued in that lane with a higher
// priority, or the same priority and queued before it.
void enqueue(std::function<void()> job, Lane lane, int priority);

// What the queue holds now, per lane: jobs waiting, and the one running (if any).
struct LaneState {
  std::size_t waiting = 0;
  bool running = false;
  int priority = 0;          // of the running job
  double runningSeconds = 0;  // how long it has run
};
LaneState laneState(Lane lane);

// The threads a job of the lane runs with, out of the team of `threads`.
int laneThreads(Lane lane, int threads);

// Held by each worker for a job that runs on a device path, and by a Sync call on one
// (the CUDA plugin and its emulation share state across calls). CPU work takes nothing:
// a Sync call runs at once on the calling thread with a team of its own, beside the
// workers' jobs, never queued behind them (the teams share the cores while both run).
std::mutex& engineMutex();

// The lock a job or a Sync call holds while it runs: engineMutex() on a device path,
// none on the CPU.
std::unique_lock<std::mutex> engineLock(bool onDevice);

}  // namespace lk

// One worker thread runs heavy jobs in arrival order. Each job gets the whole OpenMP
// team, so concurrent calls from a service queue up instead of oversubscribing cores,
// and libuv's small thread pool (files, DNS) is never tied up waiting for us.
#pragma once
#include <functional>
#include <mutex>

namespace lk {

// Runs `job` on the worker thread, after every job pushed before it.
void enqueue(std::function<void()> job);

// Held by whoever is running engine work (the worker, or a Sync call on the main
// thread), so two thread teams never compete for the cores.
std::mutex& engineMutex();

}  // namespace lk

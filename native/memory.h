// What a call may allocate, checked before any work: a call that cannot fit is refused
// with a MemoryError saying how much it needed, instead of dying by the OOM killer or
// failing half-way through.
#pragma once
#include <cstddef>
#include <string>

namespace lk {

// Bytes the process can still allocate without swapping or hitting its cgroup's limit:
// the lesser of /proc/meminfo's MemAvailable and the cgroup (v2 or v1) headroom; the
// free physical memory elsewhere; SIZE_MAX where nothing can be read.
std::size_t availableMemory();

// Throws MemoryError when `bytes` exceed availableMemory(); `what` names the call.
// Requests under 64 MiB are not checked.
void reserveMemory(std::size_t bytes, const std::string& what);

// a·b and a + b that stop at SIZE_MAX instead of wrapping (sizes come from callers).
std::size_t mulSat(std::size_t a, std::size_t b);
std::size_t addSat(std::size_t a, std::size_t b);

}  // namespace lk

#include "memory.h"

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include "errors.h"

namespace lk {
namespace {

constexpr std::size_t kUnknown = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kUncheckedBytes = std::size_t(64) << 20;

// The first number in a file ("max" or an unreadable file: kUnknown).
std::size_t readNumber(const char* path) {
  std::ifstream in(path);
  unsigned long long v = 0;
  if (!(in >> v)) return kUnknown;
  return static_cast<std::size_t>(v);
}

std::size_t memAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  unsigned long long kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return static_cast<std::size_t>(kb) * 1024;
#if defined(_SC_AVPHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
#endif
  return kUnknown;
}

// limit - usage of the memory cgroup this process sees at its mount point.
std::size_t cgroupHeadroom() {
  std::size_t limit = readNumber("/sys/fs/cgroup/memory.max");
  std::size_t usage = readNumber("/sys/fs/cgroup/memory.current");
  if (limit == kUnknown) {
    limit = readNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = readNumber("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  // v1 reports "no limit" as a number near 2^63.
  if (limit == kUnknown || limit >= (std::size_t(1) << 60)) return kUnknown;
  if (usage == kUnknown) usage = 0;
  return limit > usage ? limit - usage : 0;
}

std::string human(std::size_t bytes) {
  std::ostringstream s;
  s.precision(3);
  const double b = static_cast<double>(bytes);
  if (b >= 1099511627776.0) s << b / 1099511627776.0 << " TiB";
  else if (b >= 1073741824.0) s << b / 1073741824.0 << " GiB";
  else if (b >= 1048576.0) s << b / 1048576.0 << " MiB";
  else s << b / 1024.0 << " KiB";
  return s.str();
}

}  // namespace

std::size_t availableMemory() {
  const std::size_t a = memAvailable(), c = cgroupHeadroom();
  return a < c ? a : c;
}

void reserveMemory(std::size_t bytes, const std::string& what) {
  // Reading the counters costs four file opens (~50 µs), more than a small solve; a
  // request this small that does not fit fails as std::bad_alloc, a MemoryError too.
  if (bytes < kUncheckedBytes) return;
  const std::size_t available = availableMemory();
  if (bytes <= available) return;
  throw MemoryError(what + " needs about " + human(bytes) + " of memory, and " + human(available) +
                        " is available",
                    bytes, available);
}

std::size_t mulSat(std::size_t a, std::size_t b) {
  if (a != 0 && b > kUnknown / a) return kUnknown;
  return a * b;
}

std::size_t addSat(std::size_t a, std::size_t b) { return a > kUnknown - b ? kUnknown : a + b; }

}  // namespace lk

// The engine's exceptions, free of N-API. native/binding/errors.cc turns each into a
// typed JS error with a `code` (ERR_LK_…), an instance of lib/errors.ts' classes once
// lib has registered them: nothing the engine throws reaches JS untyped.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

namespace lk {

// A malformed program or call: a field out of range, arrays that do not fit.
struct ProgramError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Explicit ranges that do not fit the sizes (an OptionError in lib/).
struct RangesError : ProgramError {
  using ProgramError::ProgramError;
};

// An argument of the wrong type or range given to an entry point of the addon.
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A call that would need more memory than the machine has free, found before any work.
struct MemoryError : std::runtime_error {
  MemoryError(const std::string& what, std::size_t needed, std::size_t available)
      : std::runtime_error(what), needed(needed), available(available) {}
  std::size_t needed, available;  // bytes
};

// Thrown when a job's cancel flag is seen set; the binding rejects with an AbortError.
struct Cancelled {};

}  // namespace lk

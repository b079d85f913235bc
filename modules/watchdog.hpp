#pragma once
// Stops reducers that run past their time budget: one thread for the host
// terminates the isolate of any call whose deadline passes. Thread-safe.

#include <chrono>
#include <cstdint>

namespace v8 {
class Isolate;
}

namespace orrery {

class watchdog {
public:
  /// Terminates `isolate` at `deadline` unless `disarm` comes first; sets
  /// `*fired` (read after disarm) when it did.
  static std::uint64_t arm(v8::Isolate* isolate, std::chrono::steady_clock::time_point deadline, bool* fired);
  static void disarm(std::uint64_t ticket);
};

} // namespace orrery

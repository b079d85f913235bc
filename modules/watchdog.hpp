#pragma once
// Stops module code that runs past its time budget: one thread for the host
// terminates the isolate of any load or call whose deadline passes.
// Thread-safe; a watch_scope belongs to the thread that runs the isolate.

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
  /// Once this returns, the watch will not fire.
  static void disarm(std::uint64_t ticket);
};

/// Watches `isolate` for `budget` from construction until `stop` (or the end
/// of the scope). Keep the isolate alive for the scope's lifetime.
class watch_scope {
public:
  watch_scope(v8::Isolate* isolate, std::chrono::milliseconds budget);
  ~watch_scope();
  watch_scope(const watch_scope&) = delete;
  watch_scope& operator=(const watch_scope&) = delete;

  /// Disarms the watch; true if it fired (the isolate was told to terminate).
  bool stop();

private:
  bool fired_ = false;  // before ticket_: the watch may write it as soon as it is armed
  bool armed_ = true;
  std::uint64_t ticket_ = 0;
};

} // namespace orrery

#include "modules/watchdog.hpp"

#include <v8.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace orrery {
namespace {

struct watch {
  v8::Isolate* isolate;
  std::chrono::steady_clock::time_point deadline;
  bool* fired;
};

class watcher {
public:
  watcher() : thread_([this] { run(); }) { thread_.detach(); }

  std::uint64_t arm(const watch& w) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::uint64_t ticket = next_++;
    watches_[ticket] = w;
    // Calls arm and disarm back to back; the thread is woken only when a
    // deadline comes before the one it sleeps until, so not on every call.
    if (w.deadline < sleeping_until_) wake_.notify_one();
    return ticket;
  }

  void disarm(std::uint64_t ticket) {
    std::lock_guard<std::mutex> lock(mutex_);
    watches_.erase(ticket);
  }

private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      auto next_deadline = now + std::chrono::hours(1);
      for (auto it = watches_.begin(); it != watches_.end();) {
        if (it->second.deadline <= now) {
          *it->second.fired = true;
          it->second.isolate->TerminateExecution();
          it = watches_.erase(it);
        } else {
          next_deadline = std::min(next_deadline, it->second.deadline);
          ++it;
        }
      }
      sleeping_until_ = next_deadline;
      wake_.wait_until(lock, next_deadline);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::uint64_t, watch> watches_;
  std::uint64_t next_ = 1;
  std::chrono::steady_clock::time_point sleeping_until_ = std::chrono::steady_clock::time_point::min();
  std::thread thread_;
};

watcher& the_watcher() {
  static watcher* w = new watcher;  // lives for the process; its thread never ends
  return *w;
}

} // namespace

std::uint64_t watchdog::arm(v8::Isolate* isolate, std::chrono::steady_clock::time_point deadline, bool* fired) {
  return the_watcher().arm({isolate, deadline, fired});
}

void watchdog::disarm(std::uint64_t ticket) { the_watcher().disarm(ticket); }

watch_scope::watch_scope(v8::Isolate* isolate, std::chrono::milliseconds budget)
    : ticket_(watchdog::arm(isolate, std::chrono::steady_clock::now() + budget, &fired_)) {}

watch_scope::~watch_scope() { stop(); }

bool watch_scope::stop() {
  if (armed_) {
    watchdog::disarm(ticket_);  // takes the watcher's lock: fired_ is settled after this
    armed_ = false;
  }
  return fired_;
}

} // namespace orrery

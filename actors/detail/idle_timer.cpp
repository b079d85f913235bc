#include "actors/detail/idle_timer.hpp"

#include <caf/all.hpp>

#include <sstream>

namespace orrery::detail {

idle_timer::idle_timer(database_actor::pointer self) : self_(self) {}

void idle_timer::touch(std::chrono::milliseconds timeout) {
  last_active_ = std::chrono::steady_clock::now();
  arm(timeout, timeout);
}

bool idle_timer::check(std::chrono::milliseconds timeout, bool idle) {
  armed_ = false;
  auto quiet = std::chrono::steady_clock::now() - last_active_;
  if (quiet < timeout) {
    arm(timeout, timeout - quiet);
    return false;
  }
  if (!idle) {
    arm(timeout, timeout);
    return false;
  }
  return true;
}

void idle_timer::arm(std::chrono::milliseconds timeout, std::chrono::steady_clock::duration after) {
  if (armed_ || timeout.count() == 0) return;
  armed_ = true;
  self_->delayed_send(self_, after, idle_atom::value);
}

std::string asleep_line(std::chrono::milliseconds idle_timeout, bool for_budget, std::int64_t next_due) {
  auto seconds = std::chrono::duration<double>(idle_timeout).count();
  std::ostringstream why;
  if (for_budget)
    why << "Asleep to keep the host within its memory budget (it was used least recently, without clients or calls)";
  else
    why << "Asleep after " << seconds << " s without clients or calls";
  why << "; the next request wakes it" << (next_due > 0 ? ", and so does its next schedule" : "");
  return why.str();
}

} // namespace orrery::detail

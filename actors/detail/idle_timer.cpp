#include "actors/detail/idle_timer.hpp"

#include <caf/all.hpp>

#include <sstream>

namespace orrery::detail {

idle_timer::idle_timer(database_actor::pointer self) : self_(self) {}

void idle_timer::touch(std::chrono::milliseconds timeout) {
  last_active_ = clock::now();
  settled_ = false;
  arm(until_next(timeout, clock::duration(0)));
}

idle_timer::step idle_timer::check(std::chrono::milliseconds timeout, bool idle) {
  const auto now = clock::now();
  if (armed_ && now < pending_) return step::wait;  // an earlier check replaced this one
  armed_ = false;
  const auto quiet = now - last_active_;
  if (!settled_ && quiet >= settle_after) {
    settled_ = true;
    arm(until_next(timeout, quiet));
    return step::settle;
  }
  if (timeout.count() != 0 && quiet >= timeout) {
    if (idle) return step::sleep;
    arm(timeout);  // busy: look again in a timeout
    return step::wait;
  }
  arm(until_next(timeout, quiet));
  return step::wait;
}

idle_timer::clock::duration idle_timer::until_next(std::chrono::milliseconds timeout, clock::duration quiet) const {
  auto next = clock::duration::max();
  if (!settled_) next = settle_after - std::min<clock::duration>(quiet, settle_after);
  if (timeout.count() != 0) next = std::min<clock::duration>(next, quiet < timeout ? timeout - quiet : clock::duration(0));
  return next;
}

void idle_timer::arm(clock::duration after) {
  if (after == clock::duration::max()) return;
  const auto due = clock::now() + after;
  if (armed_ && pending_ <= due) return;
  armed_ = true;
  pending_ = due;
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

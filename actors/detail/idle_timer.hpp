#pragma once
// Private to the database actor: when an awake database falls asleep. Keeps
// when a message last kept the database awake and the one idle check in
// flight, and words the line the database logs as it falls asleep. Falling
// asleep itself (dropping the module and tables, telling the registry) is the
// actor's lifecycle. Called on the database actor's thread only.

#include "actors/database_actor.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace orrery::detail {

class idle_timer {
public:
  /// Idle checks are messages `self` sends itself: (idle_atom).
  explicit idle_timer(database_actor::pointer self);

  /// Notes a message that keeps the database awake; an idle check follows.
  /// `timeout` is the database's idle timeout (0: it never sleeps).
  void touch(std::chrono::milliseconds timeout);
  /// The idle check came: true when the database should fall asleep, having
  /// been quiet for `timeout` with nothing in flight (`idle`); otherwise the
  /// next check is armed.
  bool check(std::chrono::milliseconds timeout, bool idle);
  /// How long since a message last kept the database awake.
  std::chrono::steady_clock::duration quiet_for() const { return std::chrono::steady_clock::now() - last_active_; }

private:
  void arm(std::chrono::milliseconds timeout, std::chrono::steady_clock::duration after);

  database_actor::pointer self_;
  std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
  bool armed_ = false;
};

/// What a database logs as it falls asleep after `idle_timeout`, or for the
/// host's memory budget; `next_due` as the registry hears it (0: no schedule
/// wakes it).
std::string asleep_line(std::chrono::milliseconds idle_timeout, bool for_budget, std::int64_t next_due);

} // namespace orrery::detail

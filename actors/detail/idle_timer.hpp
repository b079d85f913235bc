#pragma once
// Private to the database actor: when an awake database settles (gives back
// memory after a second without messages) and when it falls asleep. Keeps
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
  /// `timeout` is the database's idle timeout (0: it never sleeps, but it
  /// still settles).
  void touch(std::chrono::milliseconds timeout);
  enum class step { wait, settle, sleep };
  /// The idle check came. `sleep`: the database has been quiet for `timeout`
  /// with nothing in flight (`idle`) and should fall asleep. `settle`: it has
  /// been quiet for `settle_after` (once per quiet spell), time to give back
  /// memory. Otherwise the next check is armed.
  step check(std::chrono::milliseconds timeout, bool idle);
  /// How long a database is quiet before it settles.
  static constexpr std::chrono::seconds settle_after{1};
  /// How long since a message last kept the database awake.
  std::chrono::steady_clock::duration quiet_for() const { return clock::now() - last_active_; }

private:
  using clock = std::chrono::steady_clock;
  /// How long until the next step is due, `quiet` into a quiet spell; max if none is.
  clock::duration until_next(std::chrono::milliseconds timeout, clock::duration quiet) const;
  /// Arms a check `after` from now, unless one is armed sooner.
  void arm(clock::duration after);

  database_actor::pointer self_;
  clock::time_point last_active_ = clock::now();
  bool armed_ = false;
  clock::time_point pending_;  // when the armed check is due
  bool settled_ = true;        // nothing to give back before the first message
};

/// What a database logs as it falls asleep after `idle_timeout`, or for the
/// host's memory budget; `next_due` as the registry hears it (0: no schedule
/// wakes it).
std::string asleep_line(std::chrono::milliseconds idle_timeout, bool for_budget, std::int64_t next_due);

} // namespace orrery::detail

#pragma once
// Private to the database actor: the timers of its scheduled reducers, one per
// row of a schedule table. Arms them, tells a timer that is still current
// from one cancelled or re-armed, drops them, and keeps their due times in
// the store while the database sleeps (taken back when it wakes). Called on
// the database actor's thread only.

#include "actors/database_actor.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/store.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace orrery::detail {

class schedule_book {
public:
  /// Timers are messages `self` sends itself: (schedule_atom, table, row, generation).
  explicit schedule_book(database_actor::pointer self);

  /// Whether the schedules of the tables have been armed (arm_all).
  bool armed() const { return armed_; }

  /// Arms `row`'s timer; a repeating schedule resumed after sleep keeps the
  /// due time it had (`resumed_due`), rather than starting a new interval.
  void arm(const table& t, std::string_view row, std::int64_t resumed_due = 0);
  /// Arms the schedule of every row of the schedule tables in `ds`; those
  /// kept under `kept_key` in `db` while the database slept resume their due times.
  void arm_all(const datastore& ds, store* db, const std::string& kept_key);
  /// Drops the timers of deleted schedule rows and arms those of inserted ones.
  void apply(const datastore& ds, const commit_result& committed);

  /// Whether the timer of `generation` is still the one armed for the row
  /// (not cancelled or re-armed since).
  bool current(table_id table, const std::string& row, std::uint64_t generation) const;
  void drop(table_id table, const std::string& row);
  void clear() { schedules_.clear(); }

  /// When the next schedule is due, for the registry to wake a sleeping
  /// database: 0 for none; unchanged_due if the schedules were never armed.
  std::int64_t next_due() const;
  /// Keeps the due times of the armed schedules under `kept_key` in `db`
  /// while the database sleeps: table id, row length, row, due (µs since the
  /// epoch) for each. Nothing if they were never armed.
  void keep_while_asleep(store* db, const std::string& kept_key) const;

private:
  struct armed_schedule {
    std::uint64_t generation;  // a timer of an older generation was cancelled or re-armed
    std::int64_t due_micros;
  };
  using row_key = std::pair<table_id, std::string>;

  /// The due times kept while the database slept, removed from `db`.
  static std::map<row_key, std::int64_t> take_kept(store* db, const std::string& kept_key);

  database_actor::pointer self_;
  std::map<row_key, armed_schedule> schedules_;  // by row
  std::uint64_t next_generation_ = 1;
  bool armed_ = false;
};

} // namespace orrery::detail

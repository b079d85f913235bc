#pragma once
// The log actor: the single writer of every database's log lines (key prefix
// "l/" + database id + sequence number). Keeps at most `max_lines_per_database`
// lines per database, within its retention (bytes and age), serves tails and
// searches, and pushes new lines to at most `max_followers_per_database`
// followers.

#include "actors/messages.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

namespace orrery {

class store;

/// Receives a follower's lines (JSON text, one line each); `closed` when the
/// database is deleted.
using log_listener = caf::typed_actor<caf::reacts_to<line_atom, std::string>,
                                      caf::reacts_to<closed_atom>>;

using log_actor = caf::typed_actor<
  // Appends a line to database `id`'s log.
  caf::reacts_to<append_atom, std::uint64_t, log_record>,
  // The last `n` lines of database `id` (0: all kept), oldest first, as JSON.
  caf::replies_to<tail_atom, std::uint64_t, std::uint32_t>::with<std::vector<std::string>>,
  // Same, and sends every later line to the listener until it terminates;
  // the identity is who follows.
  caf::replies_to<follow_atom, std::uint64_t, std::uint32_t, identity, log_listener>::with<
    std::vector<std::string>>,
  // The last `n` (0: all) of database `id`'s lines that hold `grep` (any case;
  // "" matches all), at or after `since` and before `until` (µs since the
  // epoch; 0: unbounded), at `level` or above ("" for all), oldest first.
  caf::replies_to<search_atom, std::uint64_t, std::string, std::int64_t, std::int64_t, std::string,
                  std::uint32_t>::with<std::vector<std::string>>,
  // Removes database `id`'s log and closes its followers.
  caf::reacts_to<drop_atom, std::uint64_t>,
  // Closes the followers of database `id`'s log who may no longer read it.
  caf::reacts_to<closed_atom, std::uint64_t, std::vector<identity>>>;

constexpr std::uint32_t max_lines_per_database = 10000;
/// How much of each database's log is kept: the newest lines within both.
struct log_retention {
  std::size_t max_bytes = std::size_t(8) << 20;
  std::int64_t max_age_micros = 0;  // 0: no age limit
};
constexpr std::size_t max_followers_per_database = 64;
/// A longer message is cut to this many bytes, marked as cut.
constexpr std::size_t max_log_message_bytes = 64 * 1024;

/// `db` must outlive the actor.
log_actor spawn_log_actor(caf::actor_system& system, store& db, log_retention retention = {});

/// The rank of a level name (trace 0 … panic 5, any case); -1 for none.
int log_level_rank(std::string level);

/// The JSON text of a log line, as stored and as served by the logs endpoint.
std::string log_line_json(const log_record& record);

} // namespace orrery

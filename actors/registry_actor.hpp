#pragma once
// The registry actor: the one place that knows every database's names,
// identity, owner and module, who holds which role on it (access_book.hpp,
// kept under "r/access"), and where its actor lives. Persists them under
// the "r/" prefix (records) and "p/" (module bundles and their images, stored
// once per content hash). Spawns a database actor on first use and monitors it: one that dies
// (an exception escaped it, it was killed) is dropped, the reason goes to that
// database's log, and the next request for the database starts a fresh one.
// Record changes that wait on a database actor (a module update) re-read the
// record when they land, so a rename, lock or delete made meanwhile stands.
// A database that falls asleep leaves the live set; the registry keeps (under
// "r/due/") when its next schedule is due and wakes it then, after a restart too.
// With a memory budget, it asks every live database actor once a second what
// it holds, and puts the least recently used idle ones to sleep while the
// total is over the budget.
// A database is addressed by a name or by its 64-hex identity everywhere.

#include "actors/database_actor.hpp"
#include "actors/log_actor.hpp"
#include "actors/messages.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

namespace orrery {

class store;

using registry_actor = caf::typed_actor<
  // Creates the database or replaces its module (the developer role or above).
  caf::replies_to<publish_atom, publish_request>::with<publish_result>,
  // Finds a database by name or identity.
  caf::replies_to<lookup_atom, std::string>::with<database_record>,
  // Finds a database and its actor, waking it when it sleeps.
  caf::replies_to<open_atom, std::string>::with<database_record, database_actor>,
  // Database `target` and the caller's role on it (a role as std::uint8_t).
  caf::replies_to<role_atom, identity, std::string>::with<database_record, std::uint8_t>,
  // Grants, revokes, projects, teams, transfers and their lists (access_book::apply); a JSON answer.
  caf::replies_to<access_atom, access_request>::with<std::string>,
  // The databases an identity owns.
  caf::replies_to<list_atom, identity>::with<std::vector<database_record>>,
  // Deletes a database with its data and logs (the owner only; not locked).
  caf::replies_to<delete_atom, identity, std::string>::with<database_record>,
  // Adds one name (replace = false) or replaces all names (replace = true).
  caf::replies_to<names_atom, identity, std::string, std::vector<std::string>, bool>::with<
    database_record>,
  // Locks (true) or unlocks (false) a database against deletion.
  caf::replies_to<lock_atom, identity, std::string, bool>::with<database_record>,
  // What a database holds in memory (viewer role or above); a sleeping one is not woken.
  caf::replies_to<usage_atom, identity, std::string>::with<database_record, database_usage>,
  // The queries subscribed to database `target` (viewer role or above; none while it sleeps).
  caf::replies_to<queries_atom, identity, std::string>::with<std::vector<subscribed_query>>,
  // A database fell asleep (see sleep_listener). Internal: a sleeping
  // database's next schedule is due; time to give freed memory back.
  caf::reacts_to<sleep_atom, std::uint64_t, std::int64_t>,
  caf::reacts_to<wake_atom, std::uint64_t, std::int64_t>,
  caf::reacts_to<idle_atom>,
  // Internal: time to check the memory budget.
  caf::reacts_to<usage_atom>,
  // The Prometheus text of the host's metrics (empty when it keeps none).
  caf::replies_to<metrics_atom>::with<std::string>,
  // Internal: time to take a point of the metrics' history.
  caf::reacts_to<sample_atom>>;

/// Loads every record from the context's store, which must outlive the actor.
registry_actor spawn_registry_actor(caf::actor_system& system, const database_context& context);

} // namespace orrery

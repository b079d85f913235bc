#pragma once
// The database actor: one per live database, run by the host's worker threads
// (actor_system_settings.hpp). Owns the database's datastore, the V8 isolate running
// its module, and its schedule timers. Everything a database does happens
// here, one message at a time: each reducer call is one transaction.

#include "actors/log_actor.hpp"
#include "actors/messages.hpp"
#include "runtime/result.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <functional>

namespace orrery {

class store;
class committer;
class host_metrics;
class module_image_cache;
struct http_fetch_request;
struct http_fetch_response;

/// A WebSocket client as its database sees it: server messages (v2 BSATN),
/// the module definition (RawModuleDefV9 JSON) each time it changes, and
/// the close of its connection (why).
using client_sink = caf::typed_actor<caf::reacts_to<server_atom, std::string>, caf::reacts_to<schema_atom, std::string>,
                                     caf::reacts_to<closed_atom, std::string>>;

using database_actor = caf::typed_actor<
  // A WebSocket client connects (client_connected runs; an error rejects it).
  // The first flag asks for confirmed reads: updates only once durable; the
  // second says the caller's role reads private data (roles.hpp). The database
  // monitors the sink: when it ends, client_disconnected runs and the client's
  // subscriptions end.
  caf::replies_to<connect_atom, identity, connection_id, std::string, bool, bool, client_sink>::with<bool>,
  // A message from a connected client; replies go to its sink.
  caf::reacts_to<client_atom, connection_id, client_request>,
  // Answered (true) once everything the client sent before it was handled:
  // the client's socket reads on from there.
  caf::replies_to<client_atom, connection_id>::with<bool>,
  // A new database: load the module, create its tables, run `init`.
  caf::replies_to<create_atom>::with<bool>,
  // A new module for this database: its bundle and hash (hex BLAKE3, as the
  // registry names it); `clear` drops its data first, else the tables are
  // migrated (refused when forbidden, or when breaking clients is not accepted).
  caf::replies_to<update_atom, std::string, std::string, bool, bool>::with<bool>,
  // The migration plan from the running module to a new one (JSON, migration_plan::json).
  caf::replies_to<plan_atom, std::string>::with<std::string>,
  // Runs a reducer; replies once its changes are durable.
  caf::replies_to<call_atom, reducer_call>::with<call_result>,
  // Serves a request to one of the module's HTTP routes.
  caf::replies_to<route_atom, route_request>::with<route_response>,
  // Runs one SQL statement for a caller with a role on the database (roles.hpp, as std::uint8_t).
  caf::replies_to<sql_atom, identity, std::uint8_t, std::string>::with<sql_reply>,
  // The module definition as JSON, in the shape of RawModuleDef version 9 or 10.
  caf::replies_to<describe_atom, std::uint32_t>::with<std::string>,
  // The module definition (RawModuleDefV9 JSON) for a connected client that
  // reads rows with it; it gets each new one as a schema message.
  caf::replies_to<schema_atom, connection_id>::with<std::string>,
  // Finishes what is in flight and quits.
  caf::replies_to<stop_atom>::with<bool>,
  // Internal: a commit became durable; a schedule came due.
  caf::reacts_to<durable_atom, std::uint64_t>,
  caf::reacts_to<schedule_atom, std::uint32_t, std::string, std::uint64_t>,
  // Internal: a reducer a call scheduled to run at once (name, BSATN
  // arguments, the chain of calls it belongs to).
  caf::reacts_to<schedule_atom, std::string, std::string, std::uint64_t>,
  // Loads the module and arms its schedules (the registry's timer for a
  // sleeping database's next schedule).
  caf::reacts_to<wake_atom>,
  // Internal: checks whether the database has been idle for the idle timeout.
  caf::reacts_to<idle_atom>,
  // What the database holds in memory now.
  caf::replies_to<usage_atom>::with<database_usage>,
  // Identities whose role no longer reads private data: their connections
  // that did are closed.
  caf::reacts_to<access_atom, std::vector<identity>>,
  // The queries its clients subscribe to, with their cost (none while asleep).
  caf::replies_to<queries_atom>::with<std::vector<subscribed_query>>,
  // Falls asleep now, for the host's memory budget, if idle (no clients,
  // nothing in flight) and quiet for at least the given microseconds (as
  // long as when the budget measured it); answers whether it did.
  caf::replies_to<doze_atom, std::int64_t>::with<bool>>;

/// Told by a database that falls asleep: its id and when its next schedule is
/// due (microseconds since the epoch; 0: it has none; unchanged_due: as the
/// registry last heard). The actor has ended by the time its requests bounce,
/// so whoever held it asks the registry again.
using sleep_listener = caf::typed_actor<caf::reacts_to<sleep_atom, std::uint64_t, std::int64_t>>;
constexpr std::int64_t unchanged_due = -1;

struct database_context {
  store* db = nullptr;
  committer* durability = nullptr;
  log_actor logs;
  std::chrono::milliseconds reducer_budget{5000};
  std::size_t heap_limit_bytes = std::size_t(256) << 20;
  /// A database with no clients and no calls for this long drops its module
  /// and tables and ends its actor; 0 keeps every database awake.
  std::chrono::milliseconds idle_timeout{0};
  /// Hears when a database falls asleep (the registry).
  sleep_listener sleeps{};
  /// The registry's: awake databases together may hold this much memory
  /// (database_usage::total); past it the least recently used idle ones are
  /// put to sleep. 0: no budget.
  std::uint64_t memory_budget_bytes = 0;
  /// Shares module images between the databases of one module (optional).
  module_image_cache* images = nullptr;
  /// Where the database counts its calls and commits and sets its gauges (optional).
  host_metrics* metrics = nullptr;
  /// Sends procedures' outbound HTTP requests (net/http_fetch); none: they fail.
  std::function<result<http_fetch_response>(const http_fetch_request&)> fetch_http{};
};

/// Spawns the actor for `record`; its state loads on the first message. Its
/// module is the one the store holds under record.program_hash, or, for a
/// database being created, `new_bundle` (not stored until the creation
/// succeeds). `after_crash`: the database's previous actor died with commits
/// perhaps still queued, which the new one waits for before it reads.
database_actor spawn_database_actor(caf::actor_system& system, const database_context& context,
                                    database_record record, std::string new_bundle = {}, bool after_crash = false);

} // namespace orrery

#pragma once
// Every message type and atom the host's actors exchange, and the host's error
// codes. Values only: safe to send between actors on any thread.

#include "actors/client_protocol.hpp"
#include "runtime/types/identity.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace orrery {

/// A published database as the registry knows it.
struct database_record {
  std::uint64_t id = 0;  // internal id: prefix of the database's keys in the store
  identity database_identity;
  identity owner;
  std::vector<std::string> names;
  std::string program_hash;  // hex BLAKE3 of the module bundle
  bool locked = false;
  std::int64_t created_micros = 0;
  std::int64_t updated_micros = 0;  // its last published module

  /// The first name, or the identity when the database has no name.
  std::string display_name() const {
    return names.empty() ? database_identity.to_hex() : names.front();
  }
};

struct publish_request {
  identity caller;
  std::string target;  // a name, a hex identity, or empty for a fresh identity
  std::string bundle;  // the module's JavaScript; empty with `module_hash`
  bool clear = false;  // drop the existing data of an updated database
  bool break_clients = false;  // accept a migration that breaks (disconnects) clients
  std::string module_hash;  // instead of a bundle: a module the host stores for the caller
};

struct publish_result {
  database_record record;
  bool created = false;
};

/// One line of a database's log.
struct log_record {
  std::string level;  // Error, Warn, Info, Debug, Trace, Panic
  std::int64_t ts_micros = 0;
  std::string target;
  std::string filename;
  std::uint32_t line_number = 0;
  std::string function;
  std::string message;
};

/// A reducer call from a client: arguments as BSATN, or SATS-JSON (an array).
struct reducer_call {
  identity caller;
  connection_id connection;  // all zero: none
  std::string reducer;
  std::string args;
  bool args_are_json = false;
  bool wrap_in_connection = false;  // run client_connected/disconnected around it (HTTP calls)
};

/// How a reducer call ended.
enum class call_result_kind : std::uint8_t {
  ok = 0,
  user_error,       // SenderError: the caller's fault
  internal_error,   // any other throw, a timeout, out of memory
  no_such_reducer,
  bad_arguments,    // also: calling a lifecycle reducer directly
};

struct call_result {
  call_result_kind kind = call_result_kind::ok;
  std::string message;
  std::int64_t timestamp_micros = 0;
  std::string value_json;  // a procedure's return value, as SATS-JSON; empty for reducers
};

/// A request to one of a module's HTTP routes, and the answer.
struct route_request {
  std::string method;  // upper case
  std::string path;    // below /v1/database/:x/route: "" or starting with "/"
  std::string uri;     // the request's URL as the client used it, query included
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct route_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// The SQL endpoint's answer: an HTTP status and the body (JSON, or the error text).
struct sql_reply {
  int status = 200;
  std::string body;
};

/// What a database holds in memory, as its actor measured it.
struct database_usage {
  bool awake = false;               // asleep: the rest is zero
  bool idle = false;                // no clients and nothing in flight: it may be put to sleep
  std::uint64_t heap_bytes = 0;     // its module's isolate (module_instance::memory_bytes)
  std::uint64_t table_bytes = 0;    // its tables (datastore::memory_bytes)
  std::uint64_t queued = 0;         // messages in its mailbox and calls waiting for their commit
  std::int64_t idle_micros = 0;     // since its last message
  std::uint64_t total() const { return heap_bytes + table_bytes; }
};

/// A subscribed query as the console's query monitor shows it: who follows it
/// and what evaluating it has cost (on subscribing and after each commit).
struct subscribed_query {
  std::string text;
  std::uint64_t subscribers = 0;  // distinct connections
  std::uint64_t evaluations = 0, micros = 0, rows = 0;
};

/// A request about access: `verb` on `scope` (database, project, team, or
/// mine: the caller's own view), naming `target` (a database, project or
/// team), `subject` (a grantee: hex identity or team:<name>; a database; a
/// member) and `level` (a role's name), as the verb needs.
struct access_request {
  identity caller;
  std::string scope, verb, target, subject, level;
};

/// Errors the host reports to its callers; each maps to one HTTP status.
enum class host_errc : std::uint8_t {
  no_such_database = 1,  // 404
  not_owner,             // 403
  name_taken,            // 401: the name (the message) belongs to another identity
  invalid_argument,      // 400
  locked,                // 403
  storage_failure,       // 500
  busy,                  // 503: a limit on what the host serves at once
};

/// A caf::error carrying `message` for the user.
caf::error make_error(host_errc code, std::string message);
/// The user-facing message of an error made by `make_error` (or CAF's own text).
std::string error_message(const caf::error& err);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, identity& x) {
  return f(caf::meta::type_name("identity"), x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_id& x) {
  return f(caf::meta::type_name("connection_id"), x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reducer_call& x) {
  return f(caf::meta::type_name("reducer_call"), x.caller, x.connection, x.reducer, x.args, x.args_are_json,
           x.wrap_in_connection);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_result& x) {
  return f(caf::meta::type_name("call_result"), x.kind, x.message, x.timestamp_micros, x.value_json);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_request& x) {
  return f(caf::meta::type_name("client_request"), x.type, x.request_id, x.query_set_id, x.flags, x.queries, x.name,
           x.args, x.json);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sql_reply& x) {
  return f(caf::meta::type_name("sql_reply"), x.status, x.body);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, database_record& x) {
  return f(caf::meta::type_name("database_record"), x.id, x.database_identity, x.owner, x.names,
           x.program_hash, x.locked, x.created_micros, x.updated_micros);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_request& x) {
  return f(caf::meta::type_name("publish_request"), x.caller, x.target, x.bundle, x.clear, x.break_clients,
           x.module_hash);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_result& x) {
  return f(caf::meta::type_name("publish_result"), x.record, x.created);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, access_request& x) {
  return f(caf::meta::type_name("access_request"), x.caller, x.scope, x.verb, x.target, x.subject, x.level);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscribed_query& x) {
  return f(caf::meta::type_name("subscribed_query"), x.text, x.subscribers, x.evaluations, x.micros, x.rows);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, database_usage& x) {
  return f(caf::meta::type_name("database_usage"), x.awake, x.idle, x.heap_bytes, x.table_bytes, x.queued,
           x.idle_micros);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_request& x) {
  return f(caf::meta::type_name("route_request"), x.method, x.path, x.uri, x.headers, x.body);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_response& x) {
  return f(caf::meta::type_name("route_response"), x.status, x.headers, x.body);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_record& x) {
  return f(caf::meta::type_name("log_record"), x.level, x.ts_micros, x.target, x.filename,
           x.line_number, x.function, x.message);
}

} // namespace orrery

CAF_BEGIN_TYPE_ID_BLOCK(orrery, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(orrery, (orrery::identity))
  CAF_ADD_TYPE_ID(orrery, (orrery::database_record))
  CAF_ADD_TYPE_ID(orrery, (std::vector<orrery::database_record>))
  CAF_ADD_TYPE_ID(orrery, (orrery::publish_request))
  CAF_ADD_TYPE_ID(orrery, (orrery::publish_result))
  CAF_ADD_TYPE_ID(orrery, (orrery::log_record))
  CAF_ADD_TYPE_ID(orrery, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(orrery, (orrery::connection_id))
  CAF_ADD_TYPE_ID(orrery, (orrery::reducer_call))
  CAF_ADD_TYPE_ID(orrery, (orrery::call_result))
  CAF_ADD_TYPE_ID(orrery, (orrery::sql_reply))
  CAF_ADD_TYPE_ID(orrery, (orrery::client_request))
  CAF_ADD_TYPE_ID(orrery, (orrery::database_usage))
  CAF_ADD_TYPE_ID(orrery, (orrery::route_request))
  CAF_ADD_TYPE_ID(orrery, (orrery::route_response))
  CAF_ADD_TYPE_ID(orrery, (orrery::subscribed_query))
  CAF_ADD_TYPE_ID(orrery, (std::vector<orrery::subscribed_query>))
  CAF_ADD_TYPE_ID(orrery, (orrery::access_request))
  CAF_ADD_TYPE_ID(orrery, (std::vector<orrery::identity>))

  CAF_ADD_ATOM(orrery, orrery, publish_atom, "publish")
  CAF_ADD_ATOM(orrery, orrery, lookup_atom, "lookup")
  CAF_ADD_ATOM(orrery, orrery, list_atom, "list")
  CAF_ADD_ATOM(orrery, orrery, delete_atom, "delete")
  CAF_ADD_ATOM(orrery, orrery, names_atom, "names")
  CAF_ADD_ATOM(orrery, orrery, lock_atom, "lock")
  CAF_ADD_ATOM(orrery, orrery, append_atom, "append")
  CAF_ADD_ATOM(orrery, orrery, tail_atom, "tail")
  CAF_ADD_ATOM(orrery, orrery, follow_atom, "follow")
  CAF_ADD_ATOM(orrery, orrery, drop_atom, "drop")
  CAF_ADD_ATOM(orrery, orrery, line_atom, "line")
  CAF_ADD_ATOM(orrery, orrery, closed_atom, "closed")
  CAF_ADD_ATOM(orrery, orrery, open_atom, "open")
  CAF_ADD_ATOM(orrery, orrery, create_atom, "create")
  CAF_ADD_ATOM(orrery, orrery, update_atom, "update")
  CAF_ADD_ATOM(orrery, orrery, stop_atom, "stop")
  CAF_ADD_ATOM(orrery, orrery, call_atom, "call")
  CAF_ADD_ATOM(orrery, orrery, describe_atom, "describe")
  CAF_ADD_ATOM(orrery, orrery, durable_atom, "durable")
  CAF_ADD_ATOM(orrery, orrery, schedule_atom, "schedule")
  CAF_ADD_ATOM(orrery, orrery, sql_atom, "sql")
  CAF_ADD_ATOM(orrery, orrery, connect_atom, "connect")
  CAF_ADD_ATOM(orrery, orrery, client_atom, "client")
  CAF_ADD_ATOM(orrery, orrery, server_atom, "server")
  CAF_ADD_ATOM(orrery, orrery, frame_atom, "frame")
  CAF_ADD_ATOM(orrery, orrery, sleep_atom, "sleep")
  CAF_ADD_ATOM(orrery, orrery, wake_atom, "wake")
  CAF_ADD_ATOM(orrery, orrery, idle_atom, "idle")
  CAF_ADD_ATOM(orrery, orrery, usage_atom, "usage")
  CAF_ADD_ATOM(orrery, orrery, doze_atom, "doze")
  CAF_ADD_ATOM(orrery, orrery, route_atom, "route")
  CAF_ADD_ATOM(orrery, orrery, schema_atom, "schema")
  CAF_ADD_ATOM(orrery, orrery, plan_atom, "plan")
  CAF_ADD_ATOM(orrery, orrery, metrics_atom, "metrics")
  CAF_ADD_ATOM(orrery, orrery, sample_atom, "sample")
  CAF_ADD_ATOM(orrery, orrery, search_atom, "search")
  CAF_ADD_ATOM(orrery, orrery, queries_atom, "queries")
  CAF_ADD_ATOM(orrery, orrery, access_atom, "access")
  CAF_ADD_ATOM(orrery, orrery, role_atom, "role")
CAF_END_TYPE_ID_BLOCK(orrery)

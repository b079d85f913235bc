#pragma once
// The v1 JSON client protocol (`v1.json.spacetimedb`), for tools that speak
// JSON. Its client messages become the v2 requests the database takes, and
// the database's v2 server messages become v1 JSON: rows are JSON objects
// keyed by column name, sent as strings, as the reference sends them.
//
// What v1 asks for and v2 answers do not carry (the client's request ids,
// one-off message ids, which calls to report back, legacy `Subscribe`
// replacing the previous one) is kept in a v1_session per connection.
// Pure functions; the connection actor's thread.

#include "actors/client_protocol.hpp"
#include "modules/module_def.hpp"
#include "runtime/result.hpp"
#include "runtime/types/identity.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orrery {

struct v1_session {
  identity caller;
  connection_id connection;
  /// The running module: row types of tables and views, reducer ids,
  /// procedure return types. Replaced when the database is republished.
  std::shared_ptr<const module_def> def;

  /// A v2 request made for the client, by the id the host gave it.
  struct pending {
    enum class kind { replace, subscribe, subscribe_single, subscribe_multi, unsubscribe, one_off, reducer, procedure };
    kind type = kind::subscribe;
    std::uint32_t request_id = 0;  // the client's
    std::string message_id;        // one-off: hex, echoed back
    std::string name, args;        // calls: what the client called, with its JSON arguments
    bool notify = true;            // reducers: flags 0 (report the outcome to the caller)
  };
  std::map<std::uint32_t, pending> requests;
  std::map<std::uint32_t, bool> queries;  // subscribed query ids: true for SubscribeMulti
  /// A legacy Subscribe takes a fresh query set, and the one it replaces is
  /// dropped once it applied: a Subscribe that fails leaves the last in place.
  std::optional<std::uint32_t> legacy_set;
  std::uint32_t next_legacy_set = 0;
  std::uint32_t next_request = 1;
};

/// Query sets from here up are the legacy Subscribe's; other subscriptions'
/// query ids may not take them.
constexpr std::uint32_t v1_legacy_query_sets = 0xFFFF0000;

/// The largest v1 client message the host reads: JSON is parsed whole.
constexpr std::size_t v1_max_message_bytes = 1 << 20;

/// The v2 requests for one v1 client message (JSON text); an error names
/// what is malformed.
result<std::vector<client_request>> v1_decode_client(std::string_view text, v1_session& session);

/// What a v2 server message becomes for a v1 client: the JSON to send, if
/// any, and requests to make next (dropping a replaced legacy Subscribe).
struct v1_translation {
  std::optional<std::string> message;
  std::vector<client_request> then;
};
v1_translation v1_translate(std::string_view v2_message, v1_session& session);

/// The first message a v1 client gets.
std::string v1_identity_token(const identity& id, const connection_id& connection, const std::string& token);

} // namespace orrery

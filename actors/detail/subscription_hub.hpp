#pragma once
// Private to the database actor: its WebSocket clients and their
// subscriptions. Owns who is connected (identity, token, read mode, sink) and
// the query sets each subscribed to; identical queries are compiled and
// evaluated once per commit, whoever subscribed to them, and their changes
// fanned out to each client. Called on the database actor's thread only.

#include "actors/database_actor.hpp"
#include "actors/detail/live_query.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/sql/limits.hpp"
#include "runtime/sql/row_security.hpp"
#include "runtime/sql/subscription.hpp"

#include <caf/actor_addr.hpp>
#include <caf/error.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace orrery::detail {

class subscription_hub {
public:
  /// The changes one commit makes to the subscribed query sets, per client
  /// (connection id in hex).
  using changes = std::map<std::string, std::vector<query_set_changes>>;

  /// The live query of a query reading a view (`SELECT * FROM <view>`) as
  /// client `who` subscribes to it (`reads_private`: it may read private
  /// views); null when the query reads no view.
  using view_resolver = std::function<result<std::shared_ptr<live_query>>(const std::string& text, const identity& who,
                                                                          bool reads_private)>;

  /// A connected client as the calls it makes see it.
  struct connected_client {
    client_sink sink;
    identity id;
    connection_id connection;
    bool reads_private = false;
  };

  /// `self` sends to the clients and monitors them; `limits` (the
  /// database's) bound their queries and outlive the hub.
  subscription_hub(database_actor::pointer self, const sql::limits& limits);

  /// Connects a client, monitoring its sink; an error if its connection id
  /// is already connected. `confirmed`: its updates wait for durability.
  /// `reads_private`: its role lets it read private tables and rows past
  /// row-level security (roles.hpp), as it had when it connected.
  caf::error add(const identity& id, const connection_id& connection, const std::string& jwt, bool confirmed,
                 bool reads_private, client_sink sink);
  /// Ends a leaving client's subscriptions, and says who it was if it was
  /// connected. It stays connected (its token readable) until `remove`.
  std::optional<identity> leave(const connection_id& connection);
  void remove(const connection_id& connection);

  bool has_clients() const { return !clients_.empty(); }
  std::size_t client_count() const { return clients_.size(); }
  /// Distinct plans followed, whoever subscribed to them.
  std::size_t query_count() const { return queries_.size(); }
  std::optional<connected_client> find(const connection_id& connection) const;
  /// The client whose sink this is, if it is still connected.
  std::optional<connection_id> connection_of(const caf::actor_addr& sink) const;
  /// The JWT payload the client connected with; empty for none.
  std::string jwt(const connection_id& connection) const;

  /// A client's Subscribe and Unsubscribe, answered through `reply`. `ds`
  /// holds the tables the queries read; `visibility` restricts the rows that
  /// clients who may not read private data see.
  void subscribe(const connection_id& connection, const client_request& r, datastore& ds,
                 const sql::row_security& visibility, const view_resolver& views,
                 const std::function<void(std::string)>& reply);
  void unsubscribe(const connection_id& connection, const client_request& r,
                   const std::function<void(std::string)>& reply);
  /// Ends every subscription (their tables are going away); clients are told
  /// with a SubscriptionError that names no request.
  void end_all(const std::string& why);
  /// Closes every client's connection (the module changed in a way that
  /// breaks them); their subscriptions end now.
  void disconnect_all(const std::string& why);
  /// Closes the connections of `who` that read private data: their role no
  /// longer lets them (they come back with the role they hold then).
  void disconnect_readers(const std::set<identity>& who, const std::string& why);
  /// Plans every subscribed SQL query again, as a migration replaced the
  /// tables they read (views read them by id, and stay); the query sets of a
  /// query that no longer compiles end with its error.
  void recompile(datastore& ds, const sql::row_security& visibility, const view_resolver& views);

  /// Notes that `connection` reads rows with the module's definition (a v1
  /// JSON client): it is told each new one.
  void follow_definition(const connection_id& connection);
  bool definition_followed() const;
  /// Sends the module's new definition (RawModuleDefV9 JSON) to the clients
  /// following it whose updates are `confirmed` (or not): each must have it
  /// after the messages of the module before and before those of the new one.
  void announce_definition(const std::string& def_json, bool confirmed);

  /// Every subscribed query, by text (a query bound to each subscriber is one).
  std::vector<subscribed_query> report() const;

  bool has_queries() const { return !queries_.empty(); }
  /// The changes a commit makes to every subscribed query set, per client.
  changes fan_out(const commit_result& committed) const;
  /// Whether `connection` is connected and asked for unconfirmed reads: it
  /// hears of a commit's changes at once, before they are durable.
  bool hears_at_once(const std::string& connection) const;
  /// Sends `sets` as a TransactionUpdate to `connection`, if still connected.
  void send_update(const std::string& connection, const std::vector<query_set_changes>& sets) const;

private:
  struct client {
    client_sink sink;
    identity id;
    connection_id connection;
    std::string jwt;
    bool confirmed = true;  // updates wait for durability
    bool reads_private = false;
    bool follows_definition = false;
    std::map<std::uint32_t, std::vector<std::string>> query_sets;  // plan keys per query set
    std::size_t subscribed_queries = 0;
  };
  struct evaluation_cost {
    std::uint64_t evaluations = 0, micros = 0, rows = 0;
    void add(std::uint64_t took_micros, std::size_t row_count) {
      ++evaluations;
      micros += took_micros;
      rows += row_count;
    }
  };
  struct shared_query {
    std::string text;  // as subscribed (a plan key may add the subscriber)
    std::shared_ptr<live_query> query;
    std::set<std::pair<std::string, std::uint32_t>> users;  // (connection, query set)
    mutable evaluation_cost cost;  // counted as commits fan out
  };

  /// Subscribers share a plan only when the query means the same for them: a
  /// query naming `:sender`, or any query of a module with row-level
  /// security, is bound to each subscriber's own identity.
  static std::string plan_key(const client& c, const std::string& text, const sql::row_security& visibility);
  /// The plan for `text` as `c` may run it, and its key: the one already
  /// shared under its key, or a new one. Compiling first checks that `c` may
  /// see its tables. A view's plan is each subscriber's own.
  result<std::pair<std::string, std::shared_ptr<live_query>>> compile(const client& c, const std::string& text,
                                                                      datastore& ds,
                                                                      const sql::row_security& visibility,
                                                                      const view_resolver& views);
  void drop_query_set(const std::string& connection, std::uint32_t set_id, const std::vector<std::string>& plans);

  database_actor::pointer self_;
  const sql::limits& limits_;
  std::map<std::string, client> clients_;        // by connection id (hex)
  std::map<std::string, shared_query> queries_;  // by plan_key
};

} // namespace orrery::detail

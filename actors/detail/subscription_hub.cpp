#include "actors/detail/subscription_hub.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>

namespace orrery::detail {
namespace {

// Queries one client may subscribe to across all its query sets (one
// Subscribe names at most max_queries_per_subscribe: client_protocol.hpp).
constexpr std::size_t max_queries_per_client = 1024;

std::uint64_t micros_since(std::chrono::steady_clock::time_point start) {
  return std::uint64_t(
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
}

} // namespace

subscription_hub::subscription_hub(database_actor::pointer self, const sql::limits& limits)
    : self_(self), limits_(limits) {}

caf::error subscription_hub::add(const identity& id, const connection_id& connection, const std::string& jwt,
                                 bool confirmed, bool reads_private, client_sink sink) {
  std::string key = connection.to_hex();
  if (auto taken = clients_.find(key); taken != clients_.end())
    return make_error(host_errc::not_owner,
                      "connection id " + key + " is already connected" +
                        (taken->second.id == id ? "" : " under another identity"));
  // A client whose connection actor ends, however it ends, is disconnected.
  self_->monitor(sink);
  clients_[key] = client{sink, id, connection, jwt, confirmed, reads_private, false, {}};
  return {};
}

std::optional<identity> subscription_hub::leave(const connection_id& connection) {
  auto it = clients_.find(connection.to_hex());
  if (it == clients_.end()) return std::nullopt;
  for (auto& [set_id, texts] : it->second.query_sets) drop_query_set(it->first, set_id, texts);
  return it->second.id;
}

void subscription_hub::remove(const connection_id& connection) { clients_.erase(connection.to_hex()); }

std::optional<subscription_hub::connected_client> subscription_hub::find(const connection_id& connection) const {
  auto it = clients_.find(connection.to_hex());
  if (it == clients_.end()) return std::nullopt;
  return connected_client{it->second.sink, it->second.id, it->second.connection, it->second.reads_private};
}

std::optional<connection_id> subscription_hub::connection_of(const caf::actor_addr& sink) const {
  for (auto& [key, c] : clients_)
    if (c.sink.address() == sink) return c.connection;
  return std::nullopt;
}

std::string subscription_hub::jwt(const connection_id& connection) const {
  auto it = clients_.find(connection.to_hex());
  return it == clients_.end() ? std::string() : it->second.jwt;
}

std::string subscription_hub::plan_key(const client& c, const std::string& text, const sql::row_security& visibility) {
  if (visibility.empty() && text.find(":sender") == std::string::npos) return text;
  // Row-level security binds the query to the subscriber, unless its role reads past it.
  return text + '\n' + c.id.to_hex() + (c.reads_private ? "\nall rows" : "");
}

result<std::pair<std::string, std::shared_ptr<live_query>>> subscription_hub::compile(
  const client& c, const std::string& text, datastore& ds, const sql::row_security& visibility,
  const view_resolver& views) {
  if (views) {
    auto view = views(text, c.id, c.reads_private);
    if (!view) return view.error();
    if (*view) {
      std::string key = text + '\n' + c.id.to_hex();
      auto it = queries_.find(key);
      return std::make_pair(key, it != queries_.end() ? it->second.query : *view);
    }
  }
  auto compiled = sql::subscription_query::compile(ds, text, sql::caller{c.id, c.reads_private, false, &visibility}, limits_);
  if (!compiled) return compiled.error();
  std::string key = plan_key(c, text, visibility);
  auto it = queries_.find(key);
  return std::make_pair(key, it != queries_.end() ? it->second.query : sql_live_query(std::move(*compiled)));
}

void subscription_hub::subscribe(const connection_id& connection, const client_request& r, datastore& ds,
                                 const sql::row_security& visibility, const view_resolver& views,
                                 const std::function<void(std::string)>& reply) {
  auto found = clients_.find(connection.to_hex());
  if (found == clients_.end()) return;
  const std::string& key = found->first;
  client& c = found->second;
  auto refuse = [&](const std::string& why) { reply(encode_subscription_error(r.request_id, r.query_set_id, why)); };
  if (c.query_sets.count(r.query_set_id))
    return refuse("query set " + std::to_string(r.query_set_id) + " is already subscribed");
  std::vector<std::string> texts;
  std::set<std::string> seen;
  for (auto& q : r.queries)
    if (seen.insert(q).second) texts.push_back(q);
  if (c.subscribed_queries + texts.size() > max_queries_per_client)
    return refuse("a client may subscribe to at most " + std::to_string(max_queries_per_client) + " queries; it has " +
                  std::to_string(c.subscribed_queries) + " and asks for " + std::to_string(texts.size()) + " more");
  std::vector<std::pair<std::string, std::shared_ptr<live_query>>> compiled;
  std::vector<table_rows> rows;
  std::vector<std::uint64_t> took;
  for (auto& text : texts) {
    auto q = compile(c, text, ds, visibility, views);
    if (!q) return refuse(q.error().message);
    table_rows t{q->second->table_name(), {}};
    const auto start = std::chrono::steady_clock::now();
    if (auto filled = q->second->initial_rows(t.rows, limits_); !filled) return refuse(filled.error().message);
    took.push_back(micros_since(start));
    compiled.push_back(std::move(*q));
    rows.push_back(std::move(t));
  }
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < compiled.size(); ++i) {
    auto& [plan, query] = compiled[i];
    keys.push_back(plan);
    auto& shared = queries_[plan];
    shared.text = texts[i];
    shared.query = query;
    shared.users.insert({key, r.query_set_id});
    shared.cost.add(took[i], rows[i].rows.size());
  }
  c.subscribed_queries += keys.size();
  c.query_sets[r.query_set_id] = std::move(keys);
  reply(encode_subscribe_applied(r.request_id, r.query_set_id, rows));
}

void subscription_hub::unsubscribe(const connection_id& connection, const client_request& r,
                                   const std::function<void(std::string)>& reply) {
  auto found = clients_.find(connection.to_hex());
  if (found == clients_.end()) return;
  const std::string& key = found->first;
  client& c = found->second;
  auto set = c.query_sets.find(r.query_set_id);
  if (set == c.query_sets.end())
    return reply(encode_subscription_error(r.request_id, r.query_set_id,
                                           "query set " + std::to_string(r.query_set_id) + " is not subscribed"));
  std::optional<std::vector<table_rows>> dropped;
  if (r.flags == 1) {  // the client asked for the rows it drops
    dropped.emplace();
    for (auto& plan : set->second)
      if (auto q = queries_.find(plan); q != queries_.end()) {
        table_rows t{q->second.query->table_name(), {}};
        if (auto filled = q->second.query->initial_rows(t.rows, limits_); !filled)
          return reply(encode_subscription_error(r.request_id, r.query_set_id, filled.error().message));
        dropped->push_back(std::move(t));
      }
  }
  c.subscribed_queries -= set->second.size();
  drop_query_set(key, r.query_set_id, set->second);
  c.query_sets.erase(set);
  reply(encode_unsubscribe_applied(r.request_id, r.query_set_id, dropped));
}

void subscription_hub::end_all(const std::string& why) {
  for (auto& [key, c] : clients_) {
    for (auto& [set_id, texts] : c.query_sets)
      self_->send(c.sink, server_atom::value, encode_subscription_error(std::nullopt, set_id, why));
    c.query_sets.clear();
    c.subscribed_queries = 0;
  }
  queries_.clear();
}

void subscription_hub::disconnect_all(const std::string& why) {
  for (auto& [key, c] : clients_) {
    c.query_sets.clear();
    c.subscribed_queries = 0;
    self_->send(c.sink, closed_atom::value, why);
  }
  queries_.clear();
}

void subscription_hub::disconnect_readers(const std::set<identity>& who, const std::string& why) {
  for (auto& [key, c] : clients_) {
    if (!c.reads_private || !who.count(c.id)) continue;
    for (auto& [set_id, plans] : std::map<std::uint32_t, std::vector<std::string>>(c.query_sets))
      drop_query_set(key, set_id, plans);
    c.query_sets.clear();
    c.subscribed_queries = 0;
    c.reads_private = false;  // until its connection ends, it reads nothing more
    self_->send(c.sink, closed_atom::value, why);
  }
}

void subscription_hub::recompile(datastore& ds, const sql::row_security& visibility,
                                 const view_resolver& views) {
  std::map<std::string, std::string> failed;  // plan key -> why
  for (auto& [key, shared] : queries_) {
    auto user = shared.users.empty() ? clients_.end() : clients_.find(shared.users.begin()->first);
    if (user == clients_.end()) continue;
    const client& c = user->second;
    const std::string& text = shared.text;
    auto view = views ? views(text, c.id, c.reads_private) : result<std::shared_ptr<live_query>>(std::shared_ptr<live_query>());
    if (!view) {
      failed[key] = view.error().message;
    } else if (*view) {
      // A view's query reads tables by id through the module: it stays, with the rows it computed.
    } else if (auto q = sql::subscription_query::compile(ds, text, sql::caller{c.id, c.reads_private, false, &visibility},
                                                          limits_)) {
      shared.query = sql_live_query(std::move(*q));
    } else {
      failed[key] = q.error().message;
    }
  }
  for (auto& [key, why] : failed) {
    auto shared = queries_.find(key);
    if (shared == queries_.end()) continue;  // its sets ended with another failed query
    auto users = shared->second.users;       // a copy: dropping the sets changes it
    for (auto& [connection, set_id] : users) {
      auto it = clients_.find(connection);
      if (it == clients_.end() || !it->second.query_sets.count(set_id)) continue;
      self_->send(it->second.sink, server_atom::value,
                  encode_subscription_error(std::nullopt, set_id, "the module changed under this query: " + why));
      it->second.subscribed_queries -= it->second.query_sets[set_id].size();
      drop_query_set(connection, set_id, it->second.query_sets[set_id]);
      it->second.query_sets.erase(set_id);
    }
  }
}

void subscription_hub::follow_definition(const connection_id& connection) {
  if (auto it = clients_.find(connection.to_hex()); it != clients_.end()) it->second.follows_definition = true;
}

bool subscription_hub::definition_followed() const {
  return std::any_of(clients_.begin(), clients_.end(), [](auto& entry) { return entry.second.follows_definition; });
}

void subscription_hub::announce_definition(const std::string& def_json, bool confirmed) {
  for (auto& [key, c] : clients_)
    if (c.follows_definition && c.confirmed == confirmed) self_->send(c.sink, schema_atom::value, def_json);
}

void subscription_hub::drop_query_set(const std::string& connection, std::uint32_t set_id,
                                      const std::vector<std::string>& plans) {
  for (auto& plan : plans) {
    auto it = queries_.find(plan);
    if (it == queries_.end()) continue;
    it->second.users.erase({connection, set_id});
    if (it->second.users.empty()) queries_.erase(it);
  }
}

subscription_hub::changes subscription_hub::fan_out(const commit_result& committed) const {
  changes out;
  for (auto& [text, q] : queries_) {
    if (q.users.empty()) continue;
    std::vector<std::string> inserts, deletes;
    const auto start = std::chrono::steady_clock::now();
    q.query->delta(committed, inserts, deletes);
    q.cost.add(micros_since(start), inserts.size() + deletes.size());
    if (inserts.empty() && deletes.empty()) continue;
    for (auto& [connection, set_id] : q.users) {
      auto& sets = out[connection];
      auto set = std::find_if(sets.begin(), sets.end(), [&](auto& x) { return x.query_set_id == set_id; });
      if (set == sets.end()) set = sets.insert(sets.end(), query_set_changes{set_id, {}});
      auto table = std::find_if(set->tables.begin(), set->tables.end(),
                                [&](auto& t) { return t.table == q.query->table_name(); });
      if (table == set->tables.end())
        table = set->tables.insert(set->tables.end(),
                                   table_changes{q.query->table_name(), {}, {}, q.query->returns_events()});
      table->inserts.insert(table->inserts.end(), inserts.begin(), inserts.end());
      table->deletes.insert(table->deletes.end(), deletes.begin(), deletes.end());
    }
  }
  return out;
}

std::vector<subscribed_query> subscription_hub::report() const {
  std::map<std::string, std::pair<subscribed_query, std::set<std::string>>> by_text;
  for (auto& [key, q] : queries_) {
    auto& [line, connections] = by_text[q.text];
    line.text = q.text;
    line.evaluations += q.cost.evaluations;
    line.micros += q.cost.micros;
    line.rows += q.cost.rows;
    for (auto& [connection, set_id] : q.users) connections.insert(connection);
  }
  std::vector<subscribed_query> out;
  for (auto& [text, entry] : by_text) {
    entry.first.subscribers = entry.second.size();
    out.push_back(std::move(entry.first));
  }
  return out;
}

bool subscription_hub::hears_at_once(const std::string& connection) const {
  auto c = clients_.find(connection);
  return c != clients_.end() && !c->second.confirmed;
}

void subscription_hub::send_update(const std::string& connection, const std::vector<query_set_changes>& sets) const {
  auto it = clients_.find(connection);
  if (it != clients_.end()) self_->send(it->second.sink, server_atom::value, encode_transaction_update(sets));
}

} // namespace orrery::detail

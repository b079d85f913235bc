#include "actors/v1_json_protocol.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/names.hpp"
#include "runtime/types/sats_json.hpp"

#include <algorithm>

namespace orrery {
namespace {

// ---- client messages ----

const json_value* member(const json_value& j, std::string_view name) {
  if (j.type != json_value::kind::object) return nullptr;
  for (auto& [k, v] : j.fields)
    if (k == name) return &v;
  return nullptr;
}

const json_value& field(const json_value& j, std::string_view message, std::string_view name) {
  if (auto m = member(j, name)) return *m;
  throw bsatn_error(std::string(message) + " lacks `" + std::string(name) + "`");
}

std::string text(const json_value& j, std::string_view message, std::string_view name) {
  const json_value& v = field(j, message, name);
  if (v.type != json_value::kind::string)
    throw bsatn_error(std::string(message) + ": `" + std::string(name) + "` must be a string");
  return v.text;
}

std::uint32_t u32(const json_value& j, std::string_view message, std::string_view name) {
  const json_value& v = field(j, message, name);
  bool digits = v.type == json_value::kind::number && !v.text.empty() && v.text.size() <= 10 &&
                std::all_of(v.text.begin(), v.text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoull(v.text) > UINT32_MAX)
    throw bsatn_error(std::string(message) + ": `" + std::string(name) + "` must be a number from 0 to 4294967295");
  return std::uint32_t(std::stoull(v.text));
}

std::uint32_t query_id(const json_value& j, std::string_view message) {
  const json_value& id = field(j, message, "query_id");
  std::uint32_t n = u32(id, message, "id");
  if (n >= v1_legacy_query_sets)
    throw bsatn_error(std::string(message) + ": query ids from " + std::to_string(v1_legacy_query_sets) +
                      " up are reserved for Subscribe");
  return n;
}

std::vector<std::string> strings(const json_value& j, std::string_view message, std::string_view name) {
  const json_value& v = field(j, message, name);
  if (v.type != json_value::kind::array) throw bsatn_error(std::string(message) + ": `" + std::string(name) + "` must be an array");
  std::vector<std::string> out;
  for (auto& item : v.items) {
    if (item.type != json_value::kind::string)
      throw bsatn_error(std::string(message) + ": `" + std::string(name) + "` must hold strings");
    out.push_back(item.text);
  }
  if (out.size() > max_queries_per_subscribe)
    throw bsatn_error(std::string(message) + " names more than " + std::to_string(max_queries_per_subscribe) + " queries");
  return out;
}

// A message id: hex text, or an array of byte values; kept as hex.
std::string message_id(const json_value& j) {
  const json_value& v = field(j, "OneOffQuery", "message_id");
  if (v.type == json_value::kind::string) {
    bool hex = v.text.size() % 2 == 0 &&
               std::all_of(v.text.begin(), v.text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (!hex) throw bsatn_error("OneOffQuery: `message_id` must be hex digits");
    std::string lower = v.text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return char(std::tolower(static_cast<unsigned char>(c))); });
    return lower;
  }
  if (v.type != json_value::kind::array) throw bsatn_error("OneOffQuery: `message_id` must be hex or an array of bytes");
  std::string bytes;
  for (auto& b : v.items) {
    bool digits = b.type == json_value::kind::number && !b.text.empty() && b.text.size() <= 3 &&
                  std::all_of(b.text.begin(), b.text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(b.text) > 255)
      throw bsatn_error("OneOffQuery: `message_id` bytes must be numbers from 0 to 255");
    bytes += char(std::stoul(b.text));
  }
  return to_hex(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

v1_session::pending pending_of(v1_session::pending::kind type, std::uint32_t request_id = 0) {
  v1_session::pending p;
  p.type = type;
  p.request_id = request_id;
  return p;
}

std::uint32_t next_id(v1_session& s) {
  if (s.next_request == 0) s.next_request = 1;
  return s.next_request++;
}

client_request request(client_request::kind type, std::uint32_t id) {
  client_request r;
  r.type = type;
  r.request_id = id;
  r.json = true;
  return r;
}

// ---- server messages ----

/// Row types by table or view name, for the rows of one message.
class row_types {
public:
  explicit row_types(const module_def* def) : def_(def) {}

  /// The row in `bsatn` of `table` as a JSON object, quoted as a JSON string.
  std::string row(const std::string& table, std::string_view bsatn) {
    const algebraic_type* type = find(table);
    if (!type) return "null";
    auto decoded = decode_value(*type, bsatn);
    return decoded ? json_quote(row_to_json_object(*decoded, *type)) : std::string("null");
  }

  std::uint32_t table_id(const std::string& table) const {
    if (!def_) return 0;
    for (std::size_t i = 0; i < def_->tables.size(); ++i)
      if (def_->tables[i].name == table) return std::uint32_t(4096 + i);
    for (std::size_t i = 0; i < def_->views.size(); ++i)
      if (def_->views[i].schema.name == table) return std::uint32_t(4096 + def_->tables.size() + i);
    return 0;
  }

private:
  const algebraic_type* find(const std::string& table) {
    auto it = cache_.find(table);
    if (it != cache_.end()) return &it->second;
    if (!def_) return nullptr;
    for (auto& t : def_->tables)
      if (t.name == table) return &cache_.emplace(table, t.row_type()).first->second;
    if (auto v = def_->view(table)) return &cache_.emplace(table, v->schema.row_type()).first->second;
    return nullptr;
  }

  const module_def* def_;
  std::map<std::string, algebraic_type> cache_;
};

/// A BsatnRowList as a JSON array of row strings; `rows_are_json` when the
/// host already wrote each row as JSON (one-off answers to v1 clients).
std::string rows_json(bsatn_reader& in, const std::string& table, row_types& types, std::size_t& count,
                      bool rows_are_json = false) {
  std::uint8_t hint = in.u8();
  std::vector<std::uint64_t> offsets;
  std::uint16_t fixed = 0;
  if (hint == 0) fixed = in.fixed<std::uint16_t>();
  else if (hint == 1)
    for (std::uint32_t n = in.u32(); n > 0; --n) offsets.push_back(in.fixed<std::uint64_t>());
  else throw bsatn_error("unknown row size hint");
  std::string_view data = in.take(in.u32());
  std::vector<std::string_view> rows;
  if (hint == 0) {
    for (std::size_t at = 0; fixed > 0 && at + fixed <= data.size(); at += fixed) rows.push_back(data.substr(at, fixed));
  } else {
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      std::uint64_t end = i + 1 < offsets.size() ? offsets[i + 1] : data.size();
      if (offsets[i] > end || end > data.size()) throw bsatn_error("row offsets past the rows");
      rows.push_back(data.substr(offsets[i], end - offsets[i]));
    }
  }
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) out += ',';
    out += rows_are_json ? json_quote(rows[i]) : types.row(table, rows[i]);
  }
  count += rows.size();
  return out + "]";
}

std::string table_update(const std::string& table, row_types& types, std::size_t rows, const std::string& deletes,
                         const std::string& inserts) {
  return "{\"table_id\":" + std::to_string(types.table_id(table)) + ",\"table_name\":" + json_quote(table) +
         ",\"num_rows\":" + std::to_string(rows) + ",\"updates\":[{\"deletes\":" + deletes + ",\"inserts\":" + inserts +
         "}]}";
}

/// QueryRows as TableUpdates, the rows as inserts (or deletes, for rows
/// dropped); `names` gets their tables' names.
std::vector<std::string> query_rows(bsatn_reader& in, row_types& types, bool dropped, std::vector<std::string>& names) {
  std::vector<std::string> tables;
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    std::string table(in.string());
    std::size_t count = 0;
    std::string rows = rows_json(in, table, types, count);
    tables.push_back(table_update(table, types, count, dropped ? rows : "[]", dropped ? "[]" : rows));
    names.push_back(std::move(table));
  }
  return tables;
}

/// SubscribeRows of a single query's one table.
std::string subscribe_rows(const std::vector<std::string>& tables, const std::vector<std::string>& names, row_types& types) {
  std::string name = names.empty() ? "" : names[0];
  return "{\"table_id\":" + std::to_string(types.table_id(name)) + ",\"table_name\":" + json_quote(name) +
         ",\"table_rows\":" + (tables.empty() ? table_update("", types, 0, "[]", "[]") : tables[0]) + "}";
}

/// A v2 TransactionUpdate's query sets as one DatabaseUpdate.
std::string database_update(bsatn_reader& in, row_types& types) {
  std::string tables;
  for (std::uint32_t sets = in.u32(); sets > 0; --sets) {
    in.u32();  // query set id
    for (std::uint32_t n = in.u32(); n > 0; --n) {
      std::string table(in.string());
      for (std::uint32_t updates = in.u32(); updates > 0; --updates) {
        bool event = in.u8() == 1;
        std::size_t count = 0;
        std::string inserts = rows_json(in, table, types, count);
        std::string deletes = event ? "[]" : rows_json(in, table, types, count);
        tables += (tables.empty() ? "" : ",") + table_update(table, types, count, deletes, inserts);
      }
    }
  }
  return "{\"tables\":[" + tables + "]}";
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

std::string timestamp_json(std::int64_t micros) {
  return "{\"__timestamp_micros_since_unix_epoch__\":" + std::to_string(micros) + "}";
}

std::string duration_json(std::int64_t micros) { return "{\"__time_duration_micros__\":" + std::to_string(micros) + "}"; }

std::string identity_json(const identity& id) { return "{\"__identity__\":\"0x" + id.to_hex() + "\"}"; }

std::string connection_json(const connection_id& c) {
  unsigned __int128 n = 0;
  for (auto b : c.bytes) n = n << 8 | b;  // the hex form is big-endian
  return "{\"__connection_id__\":" + to_string(static_cast<u128>(n)) + "}";
}

std::string option_u32(std::optional<std::uint32_t> x) {
  return x ? "{\"some\":" + std::to_string(*x) + "}" : std::string("{\"none\":[]}");
}

std::string subscription_error(std::optional<std::uint32_t> request_id, std::optional<std::uint32_t> query,
                               const std::string& error) {
  return "{\"SubscriptionError\":{\"total_host_execution_duration_micros\":0,\"request_id\":" + option_u32(request_id) +
         ",\"query_id\":" + option_u32(query) + ",\"table_id\":{\"none\":[]},\"error\":" + json_quote(error) + "}}";
}

std::optional<v1_session::pending> take(v1_session& s, std::uint32_t id) {
  auto it = s.requests.find(id);
  if (it == s.requests.end()) return std::nullopt;
  v1_session::pending p = std::move(it->second);
  s.requests.erase(it);
  return p;
}

/// A reducer or procedure by the name the client called it: canonical, or
/// the module's source name (the definition keeps canonical names only).
template <class Lookup>
auto by_called_name(const std::string& called, Lookup lookup) {
  auto found = lookup(called);
  return found ? found : lookup(snake_case(called));
}

std::string reducer_update(const v1_session& s, const v1_session::pending& call, std::int64_t timestamp,
                           const std::string& status) {
  std::uint32_t reducer_id = UINT32_MAX;
  if (s.def)
    if (auto id = by_called_name(call.name, [&](const std::string& n) { return s.def->reducer_id(n); })) reducer_id = *id;
  return "{\"TransactionUpdate\":{\"status\":" + status + ",\"timestamp\":" + timestamp_json(timestamp) +
         ",\"caller_identity\":" + identity_json(s.caller) + ",\"caller_connection_id\":" + connection_json(s.connection) +
         ",\"reducer_call\":{\"reducer_name\":" + json_quote(call.name) + ",\"reducer_id\":" + std::to_string(reducer_id) +
         ",\"args\":" + json_quote(call.args) + ",\"request_id\":" + std::to_string(call.request_id) +
         "},\"energy_quanta_used\":{\"quanta\":0},\"total_host_execution_duration\":" + duration_json(0) + "}}";
}

std::optional<std::string> translate(bsatn_reader& in, v1_session& s, std::vector<client_request>& then) {
  row_types types(s.def.get());
  using kind = v1_session::pending::kind;
  switch (in.u8()) {
    case 1: {  // SubscribeApplied
      std::uint32_t id = in.u32();
      std::uint32_t set = in.u32();
      std::vector<std::string> names;
      auto tables = query_rows(in, types, false, names);
      auto p = take(s, id);
      if (!p) return std::nullopt;
      if (p->type == kind::subscribe) {
        if (s.legacy_set && *s.legacy_set != set) {  // the Subscribe this one replaces
          auto drop = request(client_request::kind::unsubscribe, next_id(s));
          drop.query_set_id = *s.legacy_set;
          s.requests[drop.request_id] = pending_of(kind::replace);
          then.push_back(std::move(drop));
        }
        s.legacy_set = set;
        return "{\"InitialSubscription\":{\"database_update\":{\"tables\":[" + joined(tables) + "]},\"request_id\":" +
               std::to_string(p->request_id) + ",\"total_host_execution_duration\":" + duration_json(0) + "}}";
      }
      s.queries[set] = p->type == kind::subscribe_multi;
      std::string head = "{\"request_id\":" + std::to_string(p->request_id) +
                         ",\"total_host_execution_duration_micros\":0,\"query_id\":{\"id\":" + std::to_string(set) + "}";
      if (p->type == kind::subscribe_multi)
        return "{\"SubscribeMultiApplied\":" + head + ",\"update\":{\"tables\":[" + joined(tables) + "]}}}";
      return "{\"SubscribeApplied\":" + head + ",\"rows\":" + subscribe_rows(tables, names, types) + "}}";
    }
    case 2: {  // UnsubscribeApplied
      std::uint32_t id = in.u32();
      std::uint32_t set = in.u32();
      std::vector<std::string> tables, names;
      if (in.u8() == 0) tables = query_rows(in, types, true, names);
      auto p = take(s, id);
      if (!p || p->type == kind::replace) return std::nullopt;
      auto followed = s.queries.find(set);
      const bool multi = followed != s.queries.end() && followed->second;
      if (followed != s.queries.end()) s.queries.erase(followed);
      std::string head = "{\"request_id\":" + std::to_string(p->request_id) +
                         ",\"total_host_execution_duration_micros\":0,\"query_id\":{\"id\":" + std::to_string(set) + "}";
      if (multi) return "{\"UnsubscribeMultiApplied\":" + head + ",\"update\":{\"tables\":[" + joined(tables) + "]}}}";
      return "{\"UnsubscribeApplied\":" + head + ",\"rows\":" + subscribe_rows(tables, names, types) + "}}";
    }
    case 3: {  // SubscriptionError
      std::optional<std::uint32_t> id;
      if (in.u8() == 0) id = in.u32();
      std::uint32_t set = in.u32();
      std::string error(in.string());
      std::optional<std::uint32_t> query;  // a legacy Subscribe's set is not the client's to name
      if (set < v1_legacy_query_sets) query = set;
      if (id) {  // a request failed: what the client had stays as it was
        auto p = take(s, *id);
        if (!p) return std::nullopt;
        if (p->type == kind::replace) return std::nullopt;
        return subscription_error(p->request_id, query, error);
      }
      // The host ended the set (the module changed under it).
      if (s.legacy_set == set) s.legacy_set.reset();
      s.queries.erase(set);
      return subscription_error(std::nullopt, query, error);
    }
    case 4:  // TransactionUpdate: another client's (or a schedule's) commit
      return "{\"TransactionUpdateLight\":{\"request_id\":0,\"update\":" + database_update(in, types) + "}}";
    case 5: {  // OneOffQueryResult
      std::uint32_t id = in.u32();
      std::string tables, error = "{\"none\":[]}";
      if (in.u8() == 0) {
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          std::string table(in.string());
          std::size_t count = 0;
          tables += (tables.empty() ? "" : ",") + std::string("{\"table_name\":") + json_quote(table) +
                    ",\"rows\":" + rows_json(in, table, types, count, true) + "}";
        }
      } else {
        error = "{\"some\":" + json_quote(in.string()) + "}";
      }
      auto p = take(s, id);
      if (!p) return std::nullopt;
      return "{\"OneOffQueryResponse\":{\"message_id\":" + json_quote(p->message_id) + ",\"error\":" + error +
             ",\"tables\":[" + tables + "],\"total_host_execution_duration\":" + duration_json(0) + "}}";
    }
    case 6: {  // ReducerResult: the caller's own call
      std::uint32_t id = in.u32();
      std::int64_t timestamp = in.fixed<std::int64_t>();
      std::uint8_t outcome = in.u8();
      std::string status, update;
      if (outcome == 0) {
        in.take(in.u32());  // the return value: reducers of TypeScript modules return nothing
        update = database_update(in, types);
        status = "{\"Committed\":" + update + "}";
      } else if (outcome == 1) {  // OkEmpty: committed, nothing the caller follows changed
        update = "{\"tables\":[]}";
        status = "{\"Committed\":" + update + "}";
      } else if (outcome == 2) {
        bsatn_reader message(in.string());
        status = "{\"Failed\":" + json_quote(message.string()) + "}";
      } else {
        status = "{\"Failed\":" + json_quote(in.string()) + "}";
      }
      auto p = take(s, id);
      if (!p) return std::nullopt;
      if (p->notify) return reducer_update(s, *p, timestamp, status);
      // NoSuccessNotify: the caller hears its changes as any subscriber would, and nothing on failure.
      if (outcome != 0 || update == "{\"tables\":[]}") return std::nullopt;
      return "{\"TransactionUpdateLight\":{\"request_id\":" + std::to_string(p->request_id) + ",\"update\":" + update + "}}";
    }
    case 7: {  // ProcedureResult
      std::uint8_t status_tag = in.u8();
      std::string status;
      std::string_view returned;
      if (status_tag == 0) returned = in.take(in.u32());
      else status = "{\"InternalError\":" + json_quote(in.string()) + "}";
      std::int64_t timestamp = in.fixed<std::int64_t>();
      std::int64_t duration = in.fixed<std::int64_t>();
      auto p = take(s, in.u32());
      if (!p) return std::nullopt;
      if (status_tag == 0) {
        auto procedure = s.def ? by_called_name(p->name, [&](const std::string& n) { return s.def->procedure_id(n); })
                               : std::nullopt;
        const algebraic_type* type = procedure ? &s.def->procedures[*procedure].returns : nullptr;
        auto value = type ? decode_value(*type, returned) : result<orrery::value>(failure{errc::bsatn_decode, ""});
        status = "{\"Returned\":" + json_quote(value ? to_sats_json(*value, *type) : std::string("null")) + "}";
      }
      return "{\"ProcedureResult\":{\"status\":" + status + ",\"timestamp\":" + timestamp_json(timestamp) +
             ",\"total_host_execution_duration\":" + duration_json(duration) +
             ",\"request_id\":" + std::to_string(p->request_id) + "}}";
    }
    default: return std::nullopt;
  }
}

} // namespace

result<std::vector<client_request>> v1_decode_client(std::string_view message, v1_session& s) {
  if (message.size() > v1_max_message_bytes)
    return fail(errc::invalid_argument, "a v1 JSON message of " + std::to_string(message.size()) +
                                          " bytes is larger than the limit of " + std::to_string(v1_max_message_bytes));
  auto parsed = json_value::parse(message);
  if (!parsed) return fail(errc::invalid_argument, "bad client message: " + parsed.error().message);
  if (parsed->type != json_value::kind::object || parsed->fields.size() != 1)
    return fail(errc::invalid_argument, "bad client message: expected an object naming one message, as {\"Subscribe\": {...}}");
  const std::string& name = parsed->fields[0].first;
  const json_value& body = parsed->fields[0].second;
  using kind = v1_session::pending::kind;
  std::vector<client_request> out;
  try {
    if (name == "CallReducer" || name == "CallProcedure") {
      const bool procedure = name == "CallProcedure";
      std::uint32_t flags = member(body, "flags") ? u32(body, name, "flags") : 0;
      if (flags > (procedure ? 0u : 1u)) throw bsatn_error(name + ": unknown flags " + std::to_string(flags));
      auto r = request(procedure ? client_request::kind::call_procedure : client_request::kind::call_reducer, next_id(s));
      r.name = text(body, name, procedure ? "procedure" : "reducer");
      r.args = text(body, name, "args");
      auto p = pending_of(procedure ? kind::procedure : kind::reducer, u32(body, name, "request_id"));
      p.name = r.name;
      p.args = r.args;
      p.notify = flags == 0;
      s.requests[r.request_id] = std::move(p);
      out.push_back(std::move(r));
    } else if (name == "Subscribe") {
      auto r = request(client_request::kind::subscribe, next_id(s));
      r.queries = strings(body, name, "query_strings");
      do r.query_set_id = v1_legacy_query_sets + (s.next_legacy_set++ & 0xFFFF);
      while (r.query_set_id == s.legacy_set);
      s.requests[r.request_id] = pending_of(kind::subscribe, u32(body, name, "request_id"));
      out.push_back(std::move(r));
    } else if (name == "SubscribeSingle" || name == "SubscribeMulti") {
      const bool multi = name == "SubscribeMulti";
      auto r = request(client_request::kind::subscribe, next_id(s));
      r.query_set_id = query_id(body, name);
      r.queries = multi ? strings(body, name, "query_strings") : std::vector<std::string>{text(body, name, "query")};
      auto p = pending_of(multi ? kind::subscribe_multi : kind::subscribe_single, u32(body, name, "request_id"));
      s.requests[r.request_id] = std::move(p);
      out.push_back(std::move(r));
    } else if (name == "Unsubscribe" || name == "UnsubscribeMulti") {
      auto r = request(client_request::kind::unsubscribe, next_id(s));
      r.query_set_id = query_id(body, name);
      r.flags = 1;  // with the rows it drops
      s.requests[r.request_id] = pending_of(kind::unsubscribe, u32(body, name, "request_id"));
      out.push_back(std::move(r));
    } else if (name == "OneOffQuery") {
      auto r = request(client_request::kind::one_off_query, next_id(s));
      r.queries = {text(body, name, "query_string")};
      auto p = pending_of(kind::one_off);
      p.message_id = message_id(body);
      s.requests[r.request_id] = std::move(p);
      out.push_back(std::move(r));
    } else {
      throw bsatn_error("unknown message `" + name + "`");
    }
  } catch (const std::exception& e) {
    return fail(errc::invalid_argument, std::string("bad client message: ") + e.what());
  }
  return out;
}

v1_translation v1_translate(std::string_view v2_message, v1_session& session) {
  v1_translation out;
  try {
    bsatn_reader in(v2_message);
    out.message = translate(in, session, out.then);
  } catch (const bsatn_error&) {
    out.message.reset();  // not a message the host sends
  }
  return out;
}

std::string v1_identity_token(const identity& id, const connection_id& connection, const std::string& token) {
  return "{\"IdentityToken\":{\"identity\":" + identity_json(id) + ",\"token\":" + json_quote(token) +
         ",\"connection_id\":" + connection_json(connection) + "}}";
}

} // namespace orrery

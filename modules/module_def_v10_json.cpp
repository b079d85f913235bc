// The module as SATS-JSON in the shape of RawModuleDefV10, as the reference
// answers `GET /schema?version=10`: a list of sections, canonical names kept
// in ExplicitNames, and the typespace's table rows carrying canonical column
// names (V10 has no column-level explicit names).
#include "modules/module_def.hpp"

#include "runtime/types/identity.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"
#include "runtime/types/value.hpp"

namespace orrery {
namespace {

std::string unit_variant(const char* name) { return std::string("{\"") + name + "\":[]}"; }

std::string some(const std::string& json) { return "{\"some\":" + json + "}"; }

std::string columns_json(const std::vector<std::uint16_t>& cols) {
  std::string out = "[";
  for (std::size_t i = 0; i < cols.size(); ++i) out += (i ? "," : "") + std::to_string(cols[i]);
  return out + "]";
}

/// Comma-joined JSON items, as one array.
struct json_list {
  std::string items;
  void add(const std::string& item) { items += (items.empty() ? "" : ",") + item; }
  bool empty() const { return items.empty(); }
  std::string array() const { return "[" + items + "]"; }
};

/// `type` with its product fields named as `columns` name them.
algebraic_type with_column_names(algebraic_type type, const std::vector<column_schema>& columns) {
  if (type.kind != type_kind::product) return type;
  for (std::size_t i = 0; i < type.elements.size() && i < columns.size(); ++i) type.elements[i].name = columns[i].name;
  return type;
}

std::string joined_column_names(const table_schema& t, const std::vector<std::uint16_t>& cols) {
  std::string out;
  for (auto c : cols) out += "_" + (c < t.columns.size() ? t.columns[c].name : std::to_string(c));
  return out;
}

std::string table_json(const table_schema& t, const table_source& source) {
  json_list indexes, constraints, sequences, defaults;
  for (std::size_t k = 0; k < t.indexes.size(); ++k) {
    auto& ix = t.indexes[k];
    std::string algorithm = ix.algorithm == index_algorithm::hash     ? "{\"Hash\":" + columns_json(ix.columns) + "}"
                            : ix.algorithm == index_algorithm::direct ? "{\"Direct\":" + std::to_string(ix.columns[0]) + "}"
                                                                      : "{\"BTree\":" + columns_json(ix.columns) + "}";
    auto accessor = k < source.index_accessors.size() ? source.index_accessors[k] : std::nullopt;
    indexes.add("{\"source_name\":" + some(json_quote(ix.name)) +
                ",\"accessor_name\":" + (accessor ? some(json_quote(*accessor)) : unit_variant("none")) +
                ",\"algorithm\":" + algorithm + "}");
    if (ix.unique)
      constraints.add("{\"source_name\":" + some(json_quote(t.name + joined_column_names(t, ix.columns) + "_key")) +
                      ",\"data\":{\"Unique\":{\"columns\":" + columns_json(ix.columns) + "}}}");
  }
  for (auto& s : t.sequences)
    sequences.add("{\"source_name\":" + some(json_quote(t.name + joined_column_names(t, {s.column}) + "_seq")) +
                  ",\"column\":" + std::to_string(s.column) + ",\"start\":" + some(to_string(s.start)) +
                  ",\"min_value\":" + some(to_string(s.min_value)) +
                  ",\"max_value\":" + (s.max_value == 0 ? unit_variant("none") : some(to_string(s.max_value))) +
                  ",\"increment\":" + to_string(s.increment) + "}");
  for (std::size_t c = 0; c < t.columns.size(); ++c)
    if (auto& bytes = t.columns[c].default_bsatn)
      defaults.add("{\"col_id\":" + std::to_string(c) + ",\"value\":\"" +
                   to_hex(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()) + "\"}");
  std::vector<std::uint16_t> pk;
  if (t.primary_key) pk.push_back(*t.primary_key);
  return "{\"source_name\":" + json_quote(source.name) + ",\"product_type_ref\":" + std::to_string(source.row_type) +
         ",\"primary_key\":" + columns_json(pk) + ",\"indexes\":" + indexes.array() +
         ",\"constraints\":" + constraints.array() + ",\"sequences\":" + sequences.array() +
         ",\"table_type\":" + unit_variant("User") + ",\"table_access\":" +
         unit_variant(t.is_public ? "Public" : "Private") + ",\"default_values\":" + defaults.array() +
         ",\"is_event\":" + (t.is_event ? "true" : "false") + "}";
}

std::string visibility_json(bool client_callable) {
  return unit_variant(client_callable ? "ClientCallable" : "Private");
}

std::string method_json(const std::optional<std::string>& method) {
  if (!method) return unit_variant("Any");
  static const char* known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  static const char* variants[] = {"Get", "Head", "Post", "Put", "Delete", "Connect", "Options", "Trace", "Patch"};
  for (std::size_t i = 0; i < std::size(known); ++i)
    if (*method == known[i]) return "{\"Method\":" + unit_variant(variants[i]) + "}";
  return "{\"Method\":{\"Extension\":" + json_quote(*method) + "}}";
}

std::string name_mapping(const char* kind, const std::string& source, const std::string& canonical) {
  return std::string("{\"") + kind + "\":{\"source_name\":" + json_quote(source) +
         ",\"canonical_name\":" + json_quote(canonical) + "}}";
}

} // namespace

std::string module_def_v10_json(const module_def& def) {
  std::vector<algebraic_type> typespace = def.typespace;
  for (std::size_t i = 0; i < def.tables.size(); ++i) {
    auto ref = def.table_sources[i].row_type;
    if (ref < typespace.size()) typespace[ref] = with_column_names(typespace[ref], def.tables[i].columns);
  }
  for (auto& v : def.views)
    if (v.source.row_type < typespace.size())
      typespace[v.source.row_type] = with_column_names(typespace[v.source.row_type], v.schema.columns);

  json_list sections, types, tables, schedules, reducers, lifecycles, procedures, views, view_keys, handlers, routes,
      filters, explicit_names;
  json_list typespace_types;
  for (auto& t : typespace) typespace_types.add(type_to_json(t));
  sections.add("{\"Typespace\":{\"types\":" + typespace_types.array() + "}}");

  for (auto& n : def.type_names)
    types.add("{\"source_name\":{\"scope\":[],\"source_name\":" + json_quote(n.name) + "},\"ty\":" +
              std::to_string(n.ref) + ",\"custom_ordering\":true}");
  if (!types.empty()) sections.add("{\"Types\":" + types.array() + "}");

  for (std::size_t i = 0; i < def.tables.size(); ++i) {
    const table_schema& t = def.tables[i];
    tables.add(table_json(t, def.table_sources[i]));
    explicit_names.add(name_mapping("Table", def.table_sources[i].name, t.name));
    if (t.schedule)
      schedules.add("{\"source_name\":" + some(json_quote(t.name + "_sched")) + ",\"table_name\":" + json_quote(t.name) +
                    ",\"schedule_at_col\":" + std::to_string(t.schedule->at_column) +
                    ",\"function_name\":" + json_quote(t.schedule->reducer) + "}");
  }
  if (!tables.empty()) sections.add("{\"Tables\":" + tables.array() + "}");

  for (auto& r : def.reducers) {
    // TypeScript reducers return nothing, or fail with a message.
    reducers.add("{\"source_name\":" + json_quote(r.source_name) + ",\"params\":" + product_elements_json(r.params) +
                 ",\"visibility\":" + visibility_json(r.client_callable) +
                 ",\"ok_return_type\":{\"Product\":{\"elements\":[]}},\"err_return_type\":{\"String\":[]}}");
    explicit_names.add(name_mapping("Function", r.source_name, r.name));
    const char* kind = r.kind == lifecycle::init            ? "Init"
                       : r.kind == lifecycle::on_connect    ? "OnConnect"
                       : r.kind == lifecycle::on_disconnect ? "OnDisconnect"
                                                            : nullptr;
    if (kind)
      lifecycles.add("{\"lifecycle_spec\":" + unit_variant(kind) + ",\"function_name\":" + json_quote(r.name) + "}");
  }
  if (!reducers.empty()) sections.add("{\"Reducers\":" + reducers.array() + "}");

  for (auto& p : def.procedures) {
    procedures.add("{\"source_name\":" + json_quote(p.source_name) + ",\"params\":" + product_elements_json(p.params) +
                   ",\"return_type\":" + type_to_json(p.returns) + ",\"visibility\":" +
                   visibility_json(p.client_callable) + "}");
    explicit_names.add(name_mapping("Function", p.source_name, p.name));
  }
  if (!procedures.empty()) sections.add("{\"Procedures\":" + procedures.array() + "}");

  for (auto& h : def.http_handlers) handlers.add("{\"source_name\":" + json_quote(h) + "}");
  if (!handlers.empty()) sections.add("{\"HttpHandlers\":" + handlers.array() + "}");
  for (auto& r : def.http_routes)
    routes.add("{\"handler_function\":" +
               json_quote(r.handler < def.http_handlers.size() ? def.http_handlers[r.handler] : std::string()) +
               ",\"method\":" + method_json(r.method) + ",\"path\":" + json_quote(r.path) + "}");
  if (!routes.empty()) sections.add("{\"HttpRoutes\":" + routes.array() + "}");

  for (auto& v : def.views) {
    views.add("{\"source_name\":" + json_quote(v.source.name) + ",\"index\":" + std::to_string(v.hook_id) +
              ",\"is_public\":" + (v.schema.is_public ? "true" : "false") + ",\"is_anonymous\":" +
              (v.anonymous ? "true" : "false") + ",\"params\":{\"elements\":[]},\"return_type\":{\"Array\":{\"Ref\":" +
              std::to_string(v.source.row_type) + "}}}");
    explicit_names.add(name_mapping("Function", v.source.name, v.schema.name));
    if (v.schema.primary_key)
      view_keys.add("{\"view_source_name\":" + json_quote(v.source.name) + ",\"columns\":[" +
                    json_quote(v.schema.columns[*v.schema.primary_key].name) + "]}");
  }
  if (!views.empty()) sections.add("{\"Views\":" + views.array() + "}");
  if (!view_keys.empty()) sections.add("{\"ViewPrimaryKeys\":" + view_keys.array() + "}");
  if (!schedules.empty()) sections.add("{\"Schedules\":" + schedules.array() + "}");
  if (!lifecycles.empty()) sections.add("{\"LifeCycleReducers\":" + lifecycles.array() + "}");
  for (auto& sql : def.row_filters) filters.add("{\"sql\":" + json_quote(sql) + "}");
  if (!filters.empty()) sections.add("{\"RowLevelSecurity\":" + filters.array() + "}");
  sections.add("{\"ExplicitNames\":{\"entries\":" + explicit_names.array() + "}}");
  return "{\"sections\":" + sections.array() + "}";
}

} // namespace orrery

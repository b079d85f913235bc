#include "modules/module_def.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"

#include <cctype>
#include <algorithm>
#include <map>

namespace orrery {
namespace {

std::string read_string(bsatn_reader& in) { return std::string(in.string()); }

std::optional<std::string> read_option_string(bsatn_reader& in) {
  std::uint8_t tag = in.u8();
  if (tag == 0) return read_string(in);
  if (tag != 1) throw bsatn_error("bad Option tag");
  return std::nullopt;
}

std::optional<i128> read_option_i128(bsatn_reader& in) {
  std::uint8_t tag = in.u8();
  if (tag == 0) return in.fixed<i128>();
  if (tag != 1) throw bsatn_error("bad Option tag");
  return std::nullopt;
}

std::vector<std::uint16_t> read_columns(bsatn_reader& in) {
  std::uint32_t n = in.u32();
  // Two bytes a column: refuse a count the input cannot hold before allocating.
  if (in.remaining() / 2 < n)
    throw bsatn_error("a list of " + std::to_string(n) + " column ids is longer than its input");
  std::vector<std::uint16_t> cols(n);
  for (auto& c : cols) c = in.fixed<std::uint16_t>();
  return cols;
}

// Product element lists: u32 count, then (Option<name>, AlgebraicType) each.
algebraic_type read_product(bsatn_reader& in) {
  std::vector<type_element> fields;
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    type_element e;
    e.name = read_option_string(in);
    e.type = read_type(in, 1);  // inside the product
    fields.push_back(std::move(e));
  }
  return algebraic_type::product(std::move(fields));
}

// Replaces type references by the typespace entries they name. A reference
// hop counts as a level of depth, so recursive types end at max_type_depth;
// `nodes_left` bounds the whole module, as references may share (and so
// double) a type at every level.
class resolver {
public:
  explicit resolver(const std::vector<algebraic_type>& space) : space_(space) {}

  algebraic_type operator()(const algebraic_type& t, const std::string& what) {
    what_ = &what;
    return resolve(t, 0);
  }

private:
  algebraic_type resolve(const algebraic_type& t, std::size_t depth) {
    if (depth > max_type_depth)
      throw bsatn_error("the type of " + *what_ + " nests deeper than " + std::to_string(max_type_depth) +
                        " levels, counting type references (recursive types are not supported)");
    if (nodes_left_ == 0)
      throw bsatn_error("the module's types expand to more than " + std::to_string(max_module_type_nodes) +
                        " parts once type references are resolved (at " + *what_ + ")");
    --nodes_left_;
    switch (t.kind) {
      case type_kind::ref:
        if (t.ref >= space_.size())
          throw bsatn_error("the type of " + *what_ + " refers to type " + std::to_string(t.ref) +
                            ", but the typespace has " + std::to_string(space_.size()) + " types");
        return resolve(space_[t.ref], depth + 1);
      case type_kind::array: return algebraic_type::array_of(resolve(*t.element, depth + 1));
      case type_kind::sum:
      case type_kind::product: {
        algebraic_type out = t;
        for (auto& e : out.elements) e.type = resolve(e.type, depth + 1);
        return out;
      }
      default: return t;
    }
  }

  const std::vector<algebraic_type>& space_;
  const std::string* what_ = nullptr;
  std::size_t nodes_left_ = max_module_type_nodes;
};

[[noreturn]] void missing_column(const std::string& table, const std::string& what, std::uint32_t column,
                                 std::size_t columns) {
  throw bsatn_error("table `" + table + "`: " + what + " names column " + std::to_string(column) +
                    ", but the table has " + std::to_string(columns) + " columns (0 to " +
                    std::to_string(columns == 0 ? 0 : columns - 1) + ")");
}

void check_columns(const std::string& table, const std::string& what, const std::vector<std::uint16_t>& columns,
                   std::size_t count) {
  if (columns.empty()) throw bsatn_error("table `" + table + "`: " + what + " names no columns");
  for (auto c : columns)
    if (c >= count) missing_column(table, what, c, count);
}

// Every column id a decoded table schema holds must name one of its columns;
// `table` is the name to show.
void check_table(const table_schema& s, const std::string& table) {
  const std::size_t count = s.columns.size();
  if (s.primary_key && *s.primary_key >= count) missing_column(table, "the primary key", *s.primary_key, count);
  for (auto& ix : s.indexes) check_columns(table, "index `" + ix.name + "`", ix.columns, count);
  for (auto& q : s.sequences) {
    if (q.column >= count) missing_column(table, "a sequence", q.column, count);
    if (!s.columns[q.column].type.is_integer())
      throw bsatn_error("table `" + table + "`: the sequence on column " + std::to_string(q.column) + " (`" +
                        s.columns[q.column].name + "`) needs an integer column, not " +
                        type_name(s.columns[q.column].type));
  }
  if (s.schedule) {
    std::uint16_t at = s.schedule->at_column;
    if (at >= count) missing_column(table, "the schedule", at, count);
    if (s.columns[at].type.special() != special_type::schedule_at)
      throw bsatn_error("table `" + table + "`: the schedule names column " + std::to_string(at) + " (`" +
                        s.columns[at].name + "`), which is " + type_name(s.columns[at].type) +
                        ", not a ScheduleAt");
  }
}

struct raw_index {
  std::optional<std::string> source_name;
  std::optional<std::string> accessor;
  index_algorithm algorithm;
  std::vector<std::uint16_t> columns;
};

struct raw_table {
  std::string source_name;
  std::uint32_t type_ref;
  std::vector<std::uint16_t> primary_key;
  std::vector<raw_index> indexes;
  std::vector<std::vector<std::uint16_t>> unique;
  std::vector<sequence_schema> sequences;
  bool is_public;
  std::vector<std::pair<std::uint16_t, std::string>> defaults;
  bool is_event;
};

// Indexes, constraints and sequences: laid out alike in V9 and V10.
void read_indexes_constraints_sequences(bsatn_reader& in, raw_table& t) {
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    raw_index ix;
    ix.source_name = read_option_string(in);
    ix.accessor = read_option_string(in);
    std::uint8_t algo = in.u8();
    if (algo == 0 || algo == 1) ix.columns = read_columns(in);
    else if (algo == 2) ix.columns = {in.fixed<std::uint16_t>()};
    else throw bsatn_error("unknown index algorithm " + std::to_string(algo));
    ix.algorithm = index_algorithm(algo);
    t.indexes.push_back(std::move(ix));
  }
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    read_option_string(in);
    if (in.u8() != 0) throw bsatn_error("unknown constraint kind");
    t.unique.push_back(read_columns(in));
  }
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    sequence_schema q;
    read_option_string(in);
    q.column = in.fixed<std::uint16_t>();
    q.start = read_option_i128(in).value_or(1);
    q.min_value = read_option_i128(in).value_or(1);
    q.max_value = read_option_i128(in).value_or(0);
    q.increment = in.fixed<i128>();
    t.sequences.push_back(q);
  }
}

raw_table read_table(bsatn_reader& in) {
  raw_table t;
  t.source_name = read_string(in);
  t.type_ref = in.u32();
  t.primary_key = read_columns(in);
  read_indexes_constraints_sequences(in, t);
  in.u8();  // table type: user tables only reach us
  t.is_public = in.u8() == 0;
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    std::uint16_t col = in.fixed<std::uint16_t>();
    std::uint32_t len = in.u32();
    t.defaults.emplace_back(col, std::string(in.take(len)));
  }
  t.is_event = in.boolean();
  return t;
}

void require_empty(bsatn_reader& in, const char* what) {
  if (in.u32() != 0) throw bsatn_error(std::string("the module declares ") + what + ", which this host does not support yet");
}

// HttpMethod: 0 Get ... 8 Patch, 9 Extension(string).
std::string read_http_method(bsatn_reader& in) {
  static const char* const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  std::uint8_t tag = in.u8();
  if (tag < 9) return names[tag];
  if (tag == 9) return std::string(in.string());
  throw bsatn_error("unknown HTTP method tag " + std::to_string(tag));
}

std::string index_name(const std::string& table, const raw_index& ix, const table_schema& schema) {
  if (ix.source_name) return *ix.source_name;
  std::string name = table;
  for (auto c : ix.columns) name += "_" + schema.columns.at(c).name;
  return name + (ix.algorithm == index_algorithm::hash ? "_idx_hash" : "_idx_btree");
}

// What a module definition declares, read but not yet checked or named.
struct raw_module {
  module_def def;  // typespace, named types, reducers, procedures, filters and HTTP handlers so far
  std::vector<raw_table> tables;
  std::vector<std::tuple<std::string, std::string, std::uint16_t>> schedules;  // table, reducer, column
  std::vector<std::pair<std::uint8_t, std::string>> lifecycles;
  std::map<std::string, std::string> table_names, function_names, index_names;  // source -> canonical
  struct route {
    std::string handler;
    std::optional<std::string> method;
    std::string path;
  };
  std::vector<route> routes;
  struct view {
    std::string source_name;
    std::uint32_t index = 0;
    bool is_public = true, anonymous = false;
    algebraic_type params, returns;
  };
  std::vector<view> views;
  std::vector<std::pair<std::string, std::vector<std::string>>> view_keys;  // view source name, key columns
  bool snake = true;                       // V10's default case conversion; V9 names are kept as written
  bool scheduled_reducers_private = true;  // V10 makes scheduled reducers private; V9 leaves them callable
};

// A view (RawViewDefV9 and V10 alike).
raw_module::view read_view(bsatn_reader& in) {
  raw_module::view v;
  v.source_name = read_string(in);
  v.index = in.u32();
  v.is_public = in.boolean();
  v.anonymous = in.boolean();
  v.params = read_product(in);
  v.returns = read_type(in);
  return v;
}

// A named type (RawTypeDefV9 and V10 alike): the host keeps its name and
// type; its scope and ordering are for code generators.
named_type read_type_name(bsatn_reader& in) {
  for (std::uint32_t s = in.u32(); s > 0; --s) in.string();
  std::string name(in.string());
  named_type out{std::move(name), in.u32()};
  in.boolean();
  return out;
}

// RawModuleDefV10: a list of sections.
void read_v10(bsatn_reader& in, raw_module& raw) {
  module_def& def = raw.def;
  for (std::uint32_t sections = in.u32(); sections > 0; --sections) {
    std::uint8_t tag = in.u8();
    switch (tag) {
      case 0:
        for (std::uint32_t n = in.u32(); n > 0; --n) def.typespace.push_back(read_type(in));
        break;
      case 1:  // named types: for code generators only
        for (std::uint32_t n = in.u32(); n > 0; --n) def.type_names.push_back(read_type_name(in));
        break;
      case 2:
        for (std::uint32_t n = in.u32(); n > 0; --n) raw.tables.push_back(read_table(in));
        break;
      case 3:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          reducer_def r;
          r.source_name = read_string(in);
          r.params = read_product(in);
          r.client_callable = in.u8() == 1;
          read_type(in);
          read_type(in);
          def.reducers.push_back(std::move(r));
        }
        break;
      case 4:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          procedure_def p;
          p.source_name = read_string(in);
          p.params = read_product(in);
          p.returns = read_type(in);
          p.client_callable = in.u8() == 1;
          def.procedures.push_back(std::move(p));
        }
        break;
      case 5:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          raw.views.push_back(read_view(in));
        }
        break;
      case 6:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          read_option_string(in);
          std::string table = read_string(in);
          std::uint16_t column = in.fixed<std::uint16_t>();
          raw.schedules.emplace_back(table, read_string(in), column);
        }
        break;
      case 7:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          std::uint8_t kind = in.u8();
          if (kind > 2) throw bsatn_error("unknown lifecycle kind " + std::to_string(kind));
          raw.lifecycles.emplace_back(kind, read_string(in));
        }
        break;
      case 8:
        for (std::uint32_t n = in.u32(); n > 0; --n) def.row_filters.push_back(read_string(in));
        break;
      case 9: raw.snake = in.u8() == 1; break;
      case 10:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          std::uint8_t kind = in.u8();
          if (kind > 2) throw bsatn_error("unknown explicit name kind " + std::to_string(kind));
          std::string source = read_string(in), canonical = read_string(in);
          (kind == 0 ? raw.table_names : kind == 1 ? raw.function_names : raw.index_names)[source] = canonical;
        }
        break;
      case 11:
        for (std::uint32_t n = in.u32(); n > 0; --n) def.http_handlers.push_back(read_string(in));
        break;
      case 12:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          std::string handler = read_string(in);
          std::optional<std::string> method;
          if (in.u8() == 1) method = read_http_method(in);
          raw.routes.push_back({std::move(handler), std::move(method), read_string(in)});
        }
        break;
      case 13:
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          std::string view = read_string(in);
          std::vector<std::string> columns;
          for (std::uint32_t c = in.u32(); c > 0; --c) columns.push_back(read_string(in));
          raw.view_keys.emplace_back(std::move(view), std::move(columns));
        }
        break;
      case 14: require_empty(in, "submodules"); break;
      default: throw bsatn_error("unknown module definition section " + std::to_string(tag));
    }
  }
}

// RawModuleDefV9 (the 1.x library's): typespace, tables, reducers, types,
// misc exports and row-level security, in that order. Names are canonical as
// written.
void read_v9(bsatn_reader& in, raw_module& raw) {
  module_def& def = raw.def;
  raw.snake = false;
  raw.scheduled_reducers_private = false;
  for (std::uint32_t n = in.u32(); n > 0; --n) def.typespace.push_back(read_type(in));
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    raw_table t;
    t.source_name = read_string(in);
    t.type_ref = in.u32();
    t.primary_key = read_columns(in);
    read_indexes_constraints_sequences(in, t);
    if (in.u8() == 0) {  // a schedule
      read_option_string(in);
      std::string reducer = read_string(in);
      raw.schedules.emplace_back(t.source_name, std::move(reducer), in.fixed<std::uint16_t>());
    }
    in.u8();  // table type: user tables only reach us
    t.is_public = in.u8() == 0;
    t.is_event = false;
    raw.tables.push_back(std::move(t));
  }
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    reducer_def r;
    r.source_name = read_string(in);
    r.params = read_product(in);
    if (in.u8() == 0) {
      std::uint8_t kind = in.u8();
      if (kind > 2) throw bsatn_error("unknown lifecycle kind " + std::to_string(kind));
      raw.lifecycles.emplace_back(kind, r.source_name);
    }
    def.reducers.push_back(std::move(r));
  }
  for (std::uint32_t n = in.u32(); n > 0; --n) def.type_names.push_back(read_type_name(in));
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    std::uint8_t kind = in.u8();
    if (kind == 0) {  // a column's default value
      std::string table = read_string(in);
      std::uint16_t column = in.fixed<std::uint16_t>();
      std::uint32_t length = in.u32();
      std::string value(in.take(length));
      auto it = std::find_if(raw.tables.begin(), raw.tables.end(), [&](auto& t) { return t.source_name == table; });
      if (it == raw.tables.end())
        throw bsatn_error("a column default names table `" + table + "`, which the module does not declare");
      it->defaults.emplace_back(column, std::move(value));
    } else if (kind == 1) {
      procedure_def p;
      p.source_name = read_string(in);
      p.params = read_product(in);
      p.returns = read_type(in);
      def.procedures.push_back(std::move(p));
    } else if (kind == 2) {
      raw.views.push_back(read_view(in));
    } else {
      throw bsatn_error("unknown module export kind " + std::to_string(kind));
    }
  }
  for (std::uint32_t n = in.u32(); n > 0; --n) def.row_filters.push_back(read_string(in));
}

} // namespace

const reducer_def* module_def::reducer(std::string_view name) const {
  for (auto& r : reducers)
    if (r.name == name || r.source_name == name) return &r;
  return nullptr;
}

std::optional<std::uint32_t> module_def::reducer_id(std::string_view name) const {
  for (std::size_t i = 0; i < reducers.size(); ++i)
    if (reducers[i].name == name || reducers[i].source_name == name) return std::uint32_t(i);
  // A reducer may also be named by its id: its position in the definition.
  if (!name.empty() && name.size() < 10 && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::uint32_t id = std::uint32_t(std::stoul(std::string(name)));
    if (id < reducers.size()) return id;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> module_def::procedure_id(std::string_view name) const {
  for (std::size_t i = 0; i < procedures.size(); ++i)
    if (procedures[i].name == name || procedures[i].source_name == name) return std::uint32_t(i);
  return std::nullopt;
}

const view_def* module_def::view(std::string_view name) const {
  for (auto& v : views)
    if (v.schema.name == name) return &v;
  return nullptr;
}

const http_route_def* module_def::route(std::string_view method, std::string_view path) const {
  for (auto& r : http_routes)
    if (r.path == path && (!r.method || *r.method == method)) return &r;
  return nullptr;
}

std::optional<std::uint32_t> module_def::lifecycle_reducer(lifecycle kind) const {
  for (std::size_t i = 0; i < reducers.size(); ++i)
    if (reducers[i].kind == kind) return std::uint32_t(i);
  return std::nullopt;
}

result<module_def> decode_module_def(std::string_view bytes) {
  try {
    bsatn_reader in(bytes);
    std::uint8_t version = in.u8();
    if (version != 1 && version != 2)
      return fail(errc::invalid_argument, "module definition version " + std::to_string(version) +
                                            " is not supported: build with spacetimedb 1.x (RawModuleDef V9) or 2.x (V10)");
    raw_module parsed;
    if (version == 2) read_v10(in, parsed);
    else read_v9(in, parsed);
    if (in.remaining() != 0) throw bsatn_error("trailing bytes after the module definition");
    module_def& def = parsed.def;
    auto& tables = parsed.tables;
    auto& schedules = parsed.schedules;
    auto& lifecycles = parsed.lifecycles;
    auto& table_names = parsed.table_names;
    auto& function_names = parsed.function_names;
    auto& index_names = parsed.index_names;
    auto& routes = parsed.routes;
    auto& raw_views = parsed.views;
    auto& view_keys = parsed.view_keys;
    const bool snake = parsed.snake;
    auto canonical = [&](const std::map<std::string, std::string>& explicit_names, const std::string& source) {
      auto it = explicit_names.find(source);
      if (it != explicit_names.end()) return it->second;
      return snake ? snake_case(source) : source;
    };

    for (auto& [name, ref] : def.type_names)
      if (ref >= def.typespace.size())
        throw bsatn_error("named type `" + name + "` refers to type " + std::to_string(ref) + ", but the typespace has " +
                          std::to_string(def.typespace.size()) + " types");
    for (auto& r : def.reducers) r.name = canonical(function_names, r.source_name);
    // The reducer a lifecycle entry or a schedule names, by source or canonical name.
    auto find_reducer = [&](const std::string& fn) -> reducer_def* {
      std::string named = canonical(function_names, fn);
      for (auto& r : def.reducers)
        if (r.source_name == fn || r.name == fn || r.name == named) return &r;
      return nullptr;
    };
    for (auto& [kind, fn] : lifecycles) {
      reducer_def* r = find_reducer(fn);
      if (!r) throw bsatn_error("the lifecycle entry names reducer `" + fn + "`, which the module does not declare");
      r->kind = kind == 0 ? lifecycle::init : kind == 1 ? lifecycle::on_connect : lifecycle::on_disconnect;
    }
    resolver resolve(def.typespace);
    for (auto& r : def.reducers) r.params = resolve(r.params, "the parameters of reducer `" + r.source_name + "`");
    for (auto& p : def.procedures) {
      p.name = canonical(function_names, p.source_name);
      p.params = resolve(p.params, "the parameters of procedure `" + p.source_name + "`");
      p.returns = resolve(p.returns, "the return type of procedure `" + p.source_name + "`");
      for (auto& r : def.reducers)
        if (r.name == p.name)
          throw bsatn_error("the module declares `" + p.name + "` both a reducer and a procedure");
    }
    for (auto& [table, reducer, column] : schedules) {
      bool declared = false;
      for (auto& raw : tables) declared = declared || raw.source_name == table || canonical(table_names, raw.source_name) == table;
      if (!declared) throw bsatn_error("a schedule names table `" + table + "`, which the module does not declare");
      reducer_def* scheduled = find_reducer(reducer);
      for (auto& p : def.procedures)
        if (!scheduled && (p.source_name == reducer || canonical(function_names, p.source_name) == reducer))
          throw bsatn_error("the schedule of table `" + table + "` names procedure `" + reducer +
                            "`: scheduled procedures are not supported by this host yet");
      if (!scheduled)
        throw bsatn_error("the schedule of table `" + table + "` names reducer `" + reducer +
                          "`, which the module does not declare");
      if (parsed.scheduled_reducers_private) scheduled->client_callable = false;  // only its schedule calls it
    }

    for (auto& raw : tables) {
      if (raw.type_ref >= def.typespace.size())
        throw bsatn_error("table `" + raw.source_name + "` names row type " + std::to_string(raw.type_ref) +
                          ", but the typespace has " + std::to_string(def.typespace.size()) + " types");
      algebraic_type row = resolve(def.typespace[raw.type_ref], "table `" + raw.source_name + "`");
      if (row.kind != type_kind::product) throw bsatn_error("table `" + raw.source_name + "` row type is not a product");
      table_schema s;
      s.name = canonical(table_names, raw.source_name);
      for (std::size_t i = 0; i < row.elements.size(); ++i)
        s.columns.push_back({canonical({}, row.elements[i].name.value_or("col_" + std::to_string(i))), row.elements[i].type, {}});
      const std::size_t count = s.columns.size();
      for (auto& [col, value] : raw.defaults) {
        if (col >= count) missing_column(raw.source_name, "a default value", col, count);
        if (auto problem = validate(s.columns[col].type, value))
          throw bsatn_error("table `" + raw.source_name + "`: the default value of column " + std::to_string(col) +
                            " (`" + s.columns[col].name + "`) is not a " + type_name(s.columns[col].type) + ": " +
                            *problem);
        s.columns[col].default_bsatn = value;
      }
      for (auto c : raw.primary_key)
        if (c >= count) missing_column(raw.source_name, "the primary key", c, count);
      if (raw.primary_key.size() == 1) s.primary_key = raw.primary_key[0];
      for (auto& u : raw.unique) check_columns(raw.source_name, "a unique constraint", u, count);
      table_source origin{raw.source_name, raw.type_ref, {}, {}};
      for (auto& ix : raw.indexes) {
        check_columns(raw.source_name, ix.source_name ? "index `" + *ix.source_name + "`" : std::string("an index"),
                      ix.columns, count);
        bool unique = false;
        for (auto& u : raw.unique) unique = unique || u == ix.columns;
        std::string source = index_name(raw.source_name, ix, s);
        origin.index_names.push_back(source);
        origin.index_accessors.push_back(ix.accessor);
        s.indexes.push_back({0, canonical(index_names, source), ix.algorithm, ix.columns, unique});
      }
      // A unique constraint without a matching index gets one.
      for (auto& u : raw.unique) {
        bool covered = false;
        for (auto& ix : s.indexes) covered = covered || ix.columns == u;
        if (!covered) {
          raw_index implicit{std::nullopt, std::nullopt, index_algorithm::btree, u};
          std::string source = index_name(raw.source_name, implicit, s);
          origin.index_names.push_back(source);
          origin.index_accessors.push_back(std::nullopt);
          s.indexes.push_back({0, source, index_algorithm::btree, u, true});
        }
      }
      s.sequences = raw.sequences;
      for (auto& [table, reducer, column] : schedules)
        if (table == raw.source_name || table == s.name) s.schedule = schedule_schema{find_reducer(reducer)->name, column};
      s.is_public = raw.is_public;
      s.is_event = raw.is_event;
      if (s.is_event && s.schedule)
        throw bsatn_error("the module schedules event table `" + raw.source_name +
                          "`, whose rows do not outlive their transaction");
      check_table(s, raw.source_name);
      def.tables.push_back(std::move(s));
      def.table_sources.push_back(std::move(origin));
    }
    for (auto& key : view_keys) {
      const std::string& view = key.first;
      if (std::none_of(raw_views.begin(), raw_views.end(), [&](auto& v) { return v.source_name == view; }))
        throw bsatn_error("a view primary key names view `" + view + "`, which the module does not declare");
    }
    for (auto& raw : raw_views) {
      const std::string what = "view `" + raw.source_name + "`";
      if (!raw.params.elements.empty())
        throw bsatn_error("the module declares " + what + " with parameters, which this host does not support yet");
      // Views return an array or an option of rows; the rows' type is a product.
      const algebraic_type* element = nullptr;
      if (raw.returns.kind == type_kind::array) element = raw.returns.element.get();
      else if (raw.returns.special() == special_type::option) element = &raw.returns.elements[0].type;
      if (!element) throw bsatn_error(what + " must return an array or an option of rows");
      algebraic_type row = resolve(*element, what);
      if (row.kind != type_kind::product) throw bsatn_error(what + " must return rows of a product type");
      view_def v;
      v.schema.name = canonical(function_names, raw.source_name);
      v.schema.is_public = raw.is_public;
      for (std::size_t i = 0; i < row.elements.size(); ++i)
        v.schema.columns.push_back({canonical({}, row.elements[i].name.value_or("col_" + std::to_string(i))),
                                    row.elements[i].type, {}});
      v.source = {raw.source_name, element->kind == type_kind::ref ? element->ref : UINT32_MAX, {}, {}};
      v.hook_id = raw.index;
      v.anonymous = raw.anonymous;
      for (auto& [name, columns] : view_keys) {
        if (name != raw.source_name) continue;
        if (columns.size() != 1) throw bsatn_error(what + " must have a primary key of one column");
        for (std::size_t i = 0; i < row.elements.size(); ++i)
          if (row.elements[i].name == columns[0]) v.schema.primary_key = std::uint16_t(i);
        if (!v.schema.primary_key) throw bsatn_error(what + " has no column `" + columns[0] + "` for its primary key");
      }
      for (auto& t : def.tables)
        if (t.name == v.schema.name) throw bsatn_error("the module declares `" + t.name + "` both a table and a view");
      for (auto& r : def.reducers)
        if (r.name == v.schema.name) throw bsatn_error("the module declares `" + r.name + "` both a reducer and a view");
      for (auto& p : def.procedures)
        if (p.name == v.schema.name) throw bsatn_error("the module declares `" + p.name + "` both a procedure and a view");
      def.views.push_back(std::move(v));
    }
    for (auto& r : routes) {
      auto handler = std::find(def.http_handlers.begin(), def.http_handlers.end(), r.handler);
      if (handler == def.http_handlers.end())
        throw bsatn_error("HTTP route `" + r.path + "` names handler `" + r.handler + "`, which the module does not declare");
      bool path_ok = r.path.empty() || r.path[0] == '/';
      for (char c : r.path)
        path_ok = path_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' || c == '/');
      if (!path_ok)
        throw bsatn_error("HTTP route `" + r.path + "`: a path is empty or starts with `/`, and holds only a-z 0-9 - _ ~ /");
      if (r.method == "OPTIONS")
        throw bsatn_error("HTTP route `" + r.path + "` answers OPTIONS, which this host keeps for CORS preflight");
      for (auto& other : def.http_routes)
        if (other.path == r.path && (!other.method || !r.method || *other.method == *r.method))
          throw bsatn_error("HTTP routes overlap at `" + r.path + "`");
      def.http_routes.push_back({std::uint32_t(handler - def.http_handlers.begin()), r.method, r.path});
    }
    auto visibility = sql::row_security::compile(def.row_filters, def.tables);
    if (!visibility) return visibility.error();
    def.visibility = std::move(*visibility);
    return std::move(def);
  } catch (const bsatn_error& e) {
    return fail(errc::invalid_argument, std::string("cannot read the module definition: ") + e.what());
  }
}

// ---- JSON in the shape of RawModuleDefV9 ----

namespace {

std::string unit_variant(const char* name) { return std::string("{\"") + name + "\":[]}"; }

std::string option_json(const std::optional<std::string>& s) {
  return s ? "{\"some\":" + json_quote(*s) + "}" : unit_variant("none");
}

std::string columns_json(const std::vector<std::uint16_t>& cols) {
  std::string out = "[";
  for (std::size_t i = 0; i < cols.size(); ++i) out += (i ? "," : "") + std::to_string(cols[i]);
  return out + "]";
}

} // namespace

std::string module_def_json(const module_def& def) {
  // Each table's row type goes in the typespace, in table order.
  // They are named as the module names them, for code generators.
  std::string types, type_names, tables;
  for (std::size_t i = 0; i < def.tables.size(); ++i) {
    const table_schema& t = def.tables[i];
    if (i) types += ",", type_names += ",", tables += ",";
    types += type_to_json(t.row_type());
    std::string name = def.table_sources[i].name;
    for (auto& n : def.type_names)
      if (n.ref == def.table_sources[i].row_type) name = n.name;
    type_names += "{\"name\":{\"scope\":[],\"name\":" + json_quote(name) + "},\"ty\":" + std::to_string(i) +
                  ",\"custom_ordering\":true}";
    std::string indexes, constraints, sequences;
    for (std::size_t k = 0; k < t.indexes.size(); ++k) {
      auto& ix = t.indexes[k];
      const char* algo = ix.algorithm == index_algorithm::hash ? "Hash" : ix.algorithm == index_algorithm::direct ? "Direct" : "BTree";
      std::string algo_value = ix.algorithm == index_algorithm::direct ? std::to_string(ix.columns[0]) : columns_json(ix.columns);
      indexes += std::string(k ? "," : "") + "{\"name\":" + option_json(ix.name) + ",\"accessor_name\":" +
                 option_json(k < def.table_sources[i].index_accessors.size() ? def.table_sources[i].index_accessors[k]
                                                                               : std::nullopt) + ",\"algorithm\":{\"" + algo + "\":" + algo_value + "}}";
      if (ix.unique)
        constraints += std::string(constraints.empty() ? "" : ",") + "{\"name\":" + option_json(ix.name) +
                       ",\"data\":{\"Unique\":{\"columns\":" + columns_json(ix.columns) + "}}}";
    }
    for (std::size_t k = 0; k < t.sequences.size(); ++k)
      sequences += std::string(k ? "," : "") + "{\"name\":" + option_json(std::nullopt) + ",\"column\":" +
                   std::to_string(t.sequences[k].column) + ",\"start\":" + unit_variant("none") + ",\"min_value\":" +
                   unit_variant("none") + ",\"max_value\":" + unit_variant("none") + ",\"increment\":" +
                   to_string(t.sequences[k].increment) + "}";
    std::string schedule = t.schedule ? "{\"some\":{\"name\":" + option_json(std::nullopt) + ",\"reducer_name\":" +
                                          json_quote(t.schedule->reducer) + ",\"scheduled_at_column\":" +
                                          std::to_string(t.schedule->at_column) + "}}"
                                      : unit_variant("none");
    std::vector<std::uint16_t> pk;
    if (t.primary_key) pk.push_back(*t.primary_key);
    tables += "{\"name\":" + json_quote(t.name) + ",\"product_type_ref\":" + std::to_string(i) +
              ",\"primary_key\":" + columns_json(pk) + ",\"indexes\":[" + indexes + "],\"constraints\":[" +
              constraints + "],\"sequences\":[" + sequences + "],\"schedule\":" + schedule +
              ",\"table_type\":" + unit_variant("User") + ",\"table_access\":" +
              unit_variant(t.is_public ? "Public" : "Private") + ",\"is_event\":" + (t.is_event ? "true" : "false") +
              "}";
  }
  std::string reducers;
  for (std::size_t i = 0; i < def.reducers.size(); ++i) {
    auto& r = def.reducers[i];
    const char* kind = r.kind == lifecycle::init ? "Init" : r.kind == lifecycle::on_connect ? "OnConnect"
                       : r.kind == lifecycle::on_disconnect ? "OnDisconnect" : nullptr;
    reducers += std::string(i ? "," : "") + "{\"name\":" + json_quote(r.name) + ",\"params\":" +
                product_elements_json(r.params) + ",\"lifecycle\":" +
                (kind ? "{\"some\":" + unit_variant(kind) + "}" : unit_variant("none")) + "}";
  }
  std::string procedures;
  for (auto& p : def.procedures)
    procedures += std::string(procedures.empty() ? "" : ",") + "{\"Procedure\":{\"name\":" + json_quote(p.name) +
                  ",\"params\":" + product_elements_json(p.params) + ",\"return_type\":" + type_to_json(p.returns) + "}}";
  for (auto& v : def.views)
    procedures += std::string(procedures.empty() ? "" : ",") + "{\"View\":{\"name\":" + json_quote(v.schema.name) +
                  ",\"index\":" + std::to_string(v.hook_id) + ",\"is_public\":" + (v.schema.is_public ? "true" : "false") +
                  ",\"is_anonymous\":" + (v.anonymous ? "true" : "false") + ",\"params\":{\"elements\":[]}" +
                  ",\"return_type\":{\"Array\":" + type_to_json(v.schema.row_type()) + "}}}";
  std::string filters;
  for (auto& sql : def.row_filters) filters += std::string(filters.empty() ? "" : ",") + "{\"sql\":" + json_quote(sql) + "}";
  return "{\"typespace\":{\"types\":[" + types + "]},\"tables\":[" + tables + "],\"reducers\":[" + reducers +
         "],\"types\":[" + type_names + "],\"misc_exports\":[" + procedures + "],\"row_level_security\":[" + filters + "]}";
}

namespace {

const json_value* member(const json_value& j, std::string_view name) {
  for (auto& [k, v] : j.fields)
    if (k == name) return &v;
  return nullptr;
}

const json_value& required(const json_value& j, std::string_view name) {
  if (auto m = member(j, name)) return *m;
  throw bsatn_error("the module definition lacks `" + std::string(name) + "`");
}

std::optional<std::string> option_text(const json_value& j) {
  if (j.type == json_value::kind::object && !j.fields.empty() && j.fields[0].first == "some") return j.fields[0].second.text;
  return std::nullopt;
}

// A decimal number in [0, max], as the JSON form writes column ids and type refs.
std::uint32_t number(const json_value& j, std::uint32_t max, const char* what) {
  bool digits = j.type == json_value::kind::number && !j.text.empty() && j.text.size() <= 10 &&
                std::all_of(j.text.begin(), j.text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoull(j.text) > max)
    throw bsatn_error(std::string(what) + " must be a number from 0 to " + std::to_string(max) + ", not `" +
                      (j.type == json_value::kind::number || j.type == json_value::kind::string ? j.text : "?") + "`");
  return std::uint32_t(std::stoull(j.text));
}

std::uint16_t column_id(const json_value& j) { return std::uint16_t(number(j, UINT16_MAX, "a column id")); }

std::vector<std::uint16_t> numbers(const json_value& list) {
  std::vector<std::uint16_t> out;
  for (auto& item : list.items) out.push_back(column_id(item));
  return out;
}

} // namespace

result<module_def> module_def_from_json(std::string_view text) {
  auto parsed = json_value::parse(text);
  if (!parsed) return parsed.error();
  try {
    module_def def;
    for (auto& t : required(required(*parsed, "typespace"), "types").items) {
      auto type = type_from_json(t);
      if (!type) return type.error();
      def.typespace.push_back(*type);
    }
    for (auto& t : required(*parsed, "tables").items) {
      table_schema s;
      s.name = required(t, "name").text;
      std::uint32_t ref = number(required(t, "product_type_ref"), UINT32_MAX, "a type reference");
      if (ref >= def.typespace.size())
        throw bsatn_error("table `" + s.name + "` names row type " + std::to_string(ref) + ", but the typespace has " +
                          std::to_string(def.typespace.size()) + " types");
      const algebraic_type& row = def.typespace[ref];
      if (row.kind != type_kind::product) throw bsatn_error("table `" + s.name + "` row type is not a product");
      for (auto& e : row.elements) s.columns.push_back({e.name.value_or(""), e.type, {}});
      auto pk = numbers(required(t, "primary_key"));
      if (!pk.empty()) s.primary_key = pk[0];
      std::vector<std::vector<std::uint16_t>> unique;
      for (auto& c : required(t, "constraints").items)
        unique.push_back(numbers(required(required(required(c, "data"), "Unique"), "columns")));
      for (auto& ix : required(t, "indexes").items) {
        auto& algorithm = required(ix, "algorithm").fields.at(0);
        index_schema index;
        index.name = option_text(required(ix, "name")).value_or("");
        index.algorithm = algorithm.first == "Hash" ? index_algorithm::hash
                          : algorithm.first == "Direct" ? index_algorithm::direct : index_algorithm::btree;
        index.columns = algorithm.first == "Direct" ? std::vector<std::uint16_t>{column_id(algorithm.second)}
                                                    : numbers(algorithm.second);
        index.unique = std::find(unique.begin(), unique.end(), index.columns) != unique.end();
        s.indexes.push_back(std::move(index));
      }
      for (auto& q : required(t, "sequences").items)
        s.sequences.push_back({column_id(required(q, "column"))});
      s.is_public = !required(t, "table_access").fields.empty() && required(t, "table_access").fields[0].first == "Public";
      if (auto event = member(t, "is_event")) s.is_event = event->type == json_value::kind::boolean && event->flag;
      for (auto& u : unique) check_columns(s.name, "a unique constraint", u, s.columns.size());
      check_table(s, s.name);
      table_source origin{s.name, ref, {}, {}};
      for (auto& ix : s.indexes) origin.index_names.push_back(ix.name);
      for (auto& ix : required(t, "indexes").items) origin.index_accessors.push_back(option_text(required(ix, "accessor_name")));
      def.table_sources.push_back(std::move(origin));
      def.tables.push_back(std::move(s));
    }
    for (auto& r : required(*parsed, "reducers").items) {
      reducer_def reducer;
      reducer.name = reducer.source_name = required(r, "name").text;
      auto params = type_from_json(json_value{json_value::kind::object, false, {}, {}, {{"Product", required(r, "params")}}});
      if (!params) return params.error();
      reducer.params = *params;
      const json_value& kind = required(r, "lifecycle");
      if (auto some = member(kind, "some"); some && !some->fields.empty()) {
        const std::string& k = some->fields[0].first;
        reducer.kind = k == "Init" ? lifecycle::init : k == "OnConnect" ? lifecycle::on_connect : lifecycle::on_disconnect;
      }
      def.reducers.push_back(std::move(reducer));
    }
    if (auto exports = member(*parsed, "misc_exports"))
      for (auto& e : exports->items) {
        if (const json_value* v = member(e, "View")) {
          view_def view;
          view.schema.name = required(*v, "name").text;
          view.hook_id = number(required(*v, "index"), UINT32_MAX, "a view index");
          view.schema.is_public = required(*v, "is_public").flag;
          view.anonymous = required(*v, "is_anonymous").flag;
          auto returns = type_from_json(required(*v, "return_type"));
          if (!returns) return returns.error();
          if (returns->kind != type_kind::array || returns->element->kind != type_kind::product)
            throw bsatn_error("view `" + view.schema.name + "` does not return an array of rows");
          for (auto& c : returns->element->elements) view.schema.columns.push_back({c.name.value_or(""), c.type, {}});
          view.source = {view.schema.name, UINT32_MAX, {}, {}};
          def.views.push_back(std::move(view));
          continue;
        }
        const json_value* p = member(e, "Procedure");
        if (!p) continue;
        procedure_def procedure;
        procedure.name = procedure.source_name = required(*p, "name").text;
        auto params = type_from_json(json_value{json_value::kind::object, false, {}, {}, {{"Product", required(*p, "params")}}});
        if (!params) return params.error();
        auto returns = type_from_json(required(*p, "return_type"));
        if (!returns) return returns.error();
        procedure.params = *params;
        procedure.returns = *returns;
        def.procedures.push_back(std::move(procedure));
      }
    if (auto names = member(*parsed, "types"))
      for (auto& n : names->items) {
        std::uint32_t ref = number(required(n, "ty"), UINT32_MAX, "a type reference");
        if (ref >= def.typespace.size()) throw bsatn_error("named type " + std::to_string(ref) + " is not in the typespace");
        def.type_names.push_back({required(required(n, "name"), "name").text, ref});
      }
    if (auto filters = member(*parsed, "row_level_security"))
      for (auto& f : filters->items) def.row_filters.push_back(required(f, "sql").text);
    auto visibility = sql::row_security::compile(def.row_filters, def.tables);
    if (!visibility) return visibility.error();
    def.visibility = std::move(*visibility);
    return def;
  } catch (const std::exception& e) {
    return fail(errc::invalid_argument, std::string("cannot read the module definition: ") + e.what());
  }
}

} // namespace orrery

#include "modules/typescript_bindings.hpp"

#include "runtime/types/json_value.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

namespace orrery {
namespace {

// ---- names ----

std::string pascal(const std::string& name) {
  std::string out;
  bool up = true;
  for (char c : name) {
    if (c == '_' || c == '-') {
      up = true;
      continue;
    }
    out.push_back(up ? char(std::toupper(static_cast<unsigned char>(c))) : c);
    up = false;
  }
  return out;
}

std::string camel(const std::string& name) {
  std::string out = pascal(name);
  if (!out.empty()) out[0] = char(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

std::string quote(const std::string& s) { return json_quote(s); }

// The SDK's strings in table options are written single-quoted.
std::string single_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return out + "'";
}

// ---- type builders ----

/// Writes `__t` builder expressions for the module's types. Named types are
/// referred to by name (they live in types.ts); a field whose type refers to
/// one is written as a getter, as the named constant may be defined later.
class type_writer {
public:
  explicit type_writer(const module_def& def) : def_(def) {
    for (auto& n : def.type_names) names_.emplace(n.ref, pascal(n.name));
  }

  std::optional<std::string> name_of(std::uint32_t ref) const {
    auto it = names_.find(ref);
    if (it == names_.end()) return std::nullopt;
    return it->second;
  }

  /// Named types a type refers to, in the order of their references.
  void named_refs(const algebraic_type& t, std::vector<std::uint32_t>& out) const {
    if (t.kind == type_kind::ref) {
      if (names_.count(t.ref)) {
        if (std::find(out.begin(), out.end(), t.ref) == out.end()) out.push_back(t.ref);
      } else if (t.ref < def_.typespace.size()) {
        named_refs(def_.typespace[t.ref], out);
      }
      return;
    }
    if (t.element) named_refs(*t.element, out);
    for (auto& e : t.elements) named_refs(e.type, out);
  }

  bool refers_to_named(const algebraic_type& t) const {
    std::vector<std::uint32_t> refs;
    named_refs(t, refs);
    return !refs.empty();
  }

  std::string builder(const algebraic_type& t, int depth = 0) const {
    if (depth > 64) return "__t.unit()";  // the module's types nest no deeper (module_def.hpp)
    switch (t.special()) {
      case special_type::identity: return "__t.identity()";
      case special_type::connection_id: return "__t.connectionId()";
      case special_type::timestamp: return "__t.timestamp()";
      case special_type::time_duration: return "__t.timeDuration()";
      case special_type::uuid: return "__t.uuid()";
      case special_type::schedule_at: return "__t.scheduleAt()";
      case special_type::option: return "__t.option(" + builder(t.elements[0].type, depth + 1) + ")";
      case special_type::none: break;
    }
    static const char* primitives[] = {"", "", "", "", "string", "bool", "i8", "u8", "i16", "u16",
                                       "i32", "u32", "i64", "u64", "i128", "u128", "i256", "u256", "f32", "f64"};
    switch (t.kind) {
      case type_kind::ref: {
        if (auto name = name_of(t.ref)) return *name;
        if (t.ref < def_.typespace.size()) return builder(def_.typespace[t.ref], depth + 1);
        return "__t.unit()";
      }
      case type_kind::array:
        if (t.is_bytes()) return "__t.byteArray()";
        return "__t.array(" + builder(*t.element, depth + 1) + ")";
      case type_kind::product:
        if (t.elements.empty()) return "__t.unit()";
        return "__t.object(\"Anonymous\", {\n" + fields(t, "  ", depth + 1) + "})";
      case type_kind::sum: return "__t.enum(\"Anonymous\", {\n" + variants(t, "  ", depth + 1) + "})";
      default: return std::string("__t.") + primitives[int(t.kind)] + "()";
    }
  }

  /// One line per field: `key: builder,` or a getter when the type refers to a named type.
  std::string field(const std::string& key, const std::string& expression, bool getter, const std::string& indent) const {
    if (!getter) return indent + key + ": " + expression + ",\n";
    return indent + "get " + key + "() {\n" + indent + "  return " + expression + ";\n" + indent + "},\n";
  }

  std::string fields(const algebraic_type& product, const std::string& indent, int depth = 0) const {
    std::string out;
    for (auto& e : product.elements)
      out += field(camel(e.name.value_or("")), builder(e.type, depth), refers_to_named(e.type), indent);
    return out;
  }

  std::string variants(const algebraic_type& sum, const std::string& indent, int depth = 0) const {
    std::string out;
    for (auto& e : sum.elements)
      out += field(pascal(e.name.value_or("")), builder(e.type, depth), refers_to_named(e.type), indent);
    return out;
  }

private:
  const module_def& def_;
  std::map<std::uint32_t, std::string> names_;
};

// ---- files ----

const char* banner = R"TS(// THIS FILE IS AUTOMATICALLY GENERATED BY ORRERY. EDITS TO THIS FILE
// WILL NOT BE SAVED. MODIFY TABLES IN YOUR MODULE SOURCE CODE INSTEAD.
)TS";

const char* type_imports = R"TS(
/* eslint-disable */
/* tslint:disable */
import {
  TypeBuilder as __TypeBuilder,
  t as __t,
  type AlgebraicTypeType as __AlgebraicTypeType,
  type Infer as __Infer,
} from "spacetimedb";
)TS";

const char* index_imports = R"TS(
/* eslint-disable */
/* tslint:disable */
import {
  DbConnectionBuilder as __DbConnectionBuilder,
  DbConnectionImpl as __DbConnectionImpl,
  SubscriptionBuilderImpl as __SubscriptionBuilderImpl,
  TypeBuilder as __TypeBuilder,
  Uuid as __Uuid,
  convertToAccessorMap as __convertToAccessorMap,
  makeQueryBuilder as __makeQueryBuilder,
  procedureSchema as __procedureSchema,
  procedures as __procedures,
  reducerSchema as __reducerSchema,
  reducers as __reducers,
  schema as __schema,
  t as __t,
  table as __table,
  type AlgebraicTypeType as __AlgebraicTypeType,
  type DbConnectionConfig as __DbConnectionConfig,
  type ErrorContextInterface as __ErrorContextInterface,
  type EventContextInterface as __EventContextInterface,
  type Infer as __Infer,
  type QueryBuilder as __QueryBuilder,
  type ReducerEventContextInterface as __ReducerEventContextInterface,
  type RemoteModule as __RemoteModule,
  type SubscriptionEventContextInterface as __SubscriptionEventContextInterface,
  type SubscriptionHandleImpl as __SubscriptionHandleImpl,
} from "spacetimedb";
)TS";

const char* index_footer = R"TS(
/** The remote module schema, both runtime and type information. */
const REMOTE_MODULE = {
  versionInfo: {
    cliVersion: "2.0.0" as const,
  },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...proceduresSchema,
} satisfies __RemoteModule<
  typeof tablesSchema.schemaType,
  typeof reducersSchema.reducersType,
  typeof proceduresSchema
>;

/** The tables available in this remote module. Each table reference doubles as a query builder. */
export const tables: __QueryBuilder<typeof tablesSchema.schemaType> = __makeQueryBuilder(tablesSchema.schemaType);

/** The reducers available in this remote module. */
export const reducers = __convertToAccessorMap(reducersSchema.reducersType.reducers);

/** The procedures available in this remote module. */
export const procedures = __convertToAccessorMap(proceduresSchema.procedures);

/** The context type returned in callbacks for all possible events. */
export type EventContext = __EventContextInterface<typeof REMOTE_MODULE>;
/** The context type returned in callbacks for reducer events. */
export type ReducerEventContext = __ReducerEventContextInterface<typeof REMOTE_MODULE>;
/** The context type returned in callbacks for subscription events. */
export type SubscriptionEventContext = __SubscriptionEventContextInterface<typeof REMOTE_MODULE>;
/** The context type returned in callbacks for error events. */
export type ErrorContext = __ErrorContextInterface<typeof REMOTE_MODULE>;
/** The subscription handle type to manage active subscriptions created from a {@link SubscriptionBuilder}. */
export type SubscriptionHandle = __SubscriptionHandleImpl<typeof REMOTE_MODULE>;

/** Builder class to configure a new subscription to the remote module. */
export class SubscriptionBuilder extends __SubscriptionBuilderImpl<typeof REMOTE_MODULE> {}

/** Builder class to configure a new database connection to the remote module. */
export class DbConnectionBuilder extends __DbConnectionBuilder<DbConnection> {}

/** The typed database connection to manage connections to the remote module. */
export class DbConnection extends __DbConnectionImpl<typeof REMOTE_MODULE> {
  /** Creates a new {@link DbConnectionBuilder} to configure and connect to the remote module. */
  static builder = (): DbConnectionBuilder => {
    return new DbConnectionBuilder(REMOTE_MODULE, (config: __DbConnectionConfig<typeof REMOTE_MODULE>) => new DbConnection(config));
  };

  /** Creates a new {@link SubscriptionBuilder} to configure a subscription to the remote module. */
  override subscriptionBuilder = (): SubscriptionBuilder => {
    return new SubscriptionBuilder(this);
  };
}
)TS";

const char* algorithm_name(index_algorithm a) {
  return a == index_algorithm::hash ? "hash" : a == index_algorithm::direct ? "direct" : "btree";
}

/// `import { A, B } from "<from>";` for the named types `refs`, or nothing.
std::string import_types(const type_writer& types, const std::vector<std::uint32_t>& refs, const std::string& from) {
  if (refs.empty()) return "";
  std::string out = "import {\n";
  for (auto r : refs) out += "  " + *types.name_of(r) + ",\n";
  return out + "} from " + quote(from) + ";\n\n";
}

// The row type of a table (or view): its fields keyed as the module's source
// names them (camelCase), with the column's canonical name where it differs.
std::string table_file(const module_def& def, const table_schema& t, const table_source& source, const type_writer& types) {
  const algebraic_type* row = source.row_type < def.typespace.size() ? &def.typespace[source.row_type] : nullptr;
  if (row && row->kind == type_kind::ref && row->ref < def.typespace.size()) row = &def.typespace[row->ref];
  std::vector<std::uint32_t> refs;
  std::string fields;
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const auto& column = t.columns[c];
    const algebraic_type& type = row && c < row->elements.size() ? row->elements[c].type : column.type;
    std::string key = camel(row && c < row->elements.size() ? row->elements[c].name.value_or(column.name) : column.name);
    types.named_refs(type, refs);
    std::string expression = types.builder(type);
    if (t.primary_key == c) expression += ".primaryKey()";
    if (key != column.name) expression += ".name(" + quote(column.name) + ")";
    fields += types.field(key, expression, types.refers_to_named(type), "  ");
  }
  std::string imports = import_types(types, refs, "./types");
  return std::string(banner) + type_imports + "\n" + imports + (imports.empty() ? "" : "\n") +
         "export default __t.row({\n" + fields + "});\n";
}

// A file of function parameters: the banner, imports of the named types they
// (and `returns`, if given) refer to, then `open`, one line per parameter, `close`.
std::string params_file(const algebraic_type& params, const algebraic_type* returns, const std::string& open,
                        const std::string& close, const type_writer& types) {
  std::vector<std::uint32_t> refs;
  std::string fields;
  for (auto& p : params.elements) {
    types.named_refs(p.type, refs);
    fields += types.field(camel(p.name.value_or("")), types.builder(p.type), types.refers_to_named(p.type), "  ");
  }
  if (returns) types.named_refs(*returns, refs);
  std::string imports = import_types(types, refs, "./types");
  return std::string(banner) + type_imports + "\n" + imports + (imports.empty() ? "" : "\n") + open +
         (fields.empty() ? "" : "\n" + fields) + close;
}

std::string reducer_file(const reducer_def& r, const type_writer& types) {
  return params_file(r.params, nullptr, "export default {", "};\n", types);
}

std::string procedure_file(const procedure_def& p, const type_writer& types) {
  return params_file(p.params, &p.returns, "export const params = {",
                     "};\nexport const returnType = " + types.builder(p.returns) + ";\n", types);
}

std::string types_file(const module_def& def, const type_writer& types) {
  std::vector<const named_type*> sorted;
  for (auto& n : def.type_names) sorted.push_back(&n);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return pascal(a->name) < pascal(b->name); });
  std::string out = std::string(banner) + type_imports + "\n";
  std::set<std::string> written;  // a reducer's parameters are a named type: types/reducers.ts has those
  for (auto& r : def.reducers) written.insert(pascal(r.name));
  for (auto* n : sorted) {
    std::string name = pascal(n->name);
    if (!written.insert(name).second || n->ref >= def.typespace.size()) continue;
    const algebraic_type& t = def.typespace[n->ref];
    if (t.kind == type_kind::sum && t.special() == special_type::none) {
      out += "// The tagged union or sum type for the algebraic type `" + name + "`.\nexport const " + name +
             " = __t.enum(" + quote(name) + ", {\n" + types.variants(t, "  ") + "});\n";
    } else if (t.kind == type_kind::product && t.special() == special_type::none) {
      out += "export const " + name + " = __t.object(" + quote(name) + ", {\n" + types.fields(t, "  ") + "});\n";
    } else {
      out += "export const " + name + " = " + types.builder(t) + ";\n";
    }
    out += "export type " + name + " = __Infer<typeof " + name + ">;\n\n";
  }
  return out;
}

} // namespace

std::vector<std::pair<std::string, std::string>> typescript_bindings(const module_def& def, bool include_private) {
  type_writer types(def);
  std::vector<std::pair<std::string, std::string>> files;

  // Tables and views (which clients read as tables), keyed by their accessor
  // in camelCase; in the schema sorted by canonical name.
  struct table_entry {
    const table_schema* schema;
    const table_source* source;
  };
  std::vector<table_entry> tables;
  for (std::size_t i = 0; i < def.tables.size(); ++i)
    if (include_private || def.tables[i].is_public) tables.push_back({&def.tables[i], &def.table_sources[i]});
  for (auto& v : def.views)
    if (include_private || v.schema.is_public) tables.push_back({&v.schema, &v.source});
  std::string table_imports;
  {
    std::vector<table_entry> by_accessor = tables;
    std::sort(by_accessor.begin(), by_accessor.end(), [](auto& a, auto& b) { return a.source->name < b.source->name; });
    for (auto& entry : by_accessor) {
      const std::string& accessor = entry.source->name;
      std::string file = snake_case(accessor) + "_table";
      files.emplace_back(file + ".ts", table_file(def, *entry.schema, *entry.source, types));
      table_imports += "import " + pascal(accessor) + "Row from \"./" + file + "\";\n";
    }
  }
  std::sort(tables.begin(), tables.end(), [](auto& a, auto& b) { return a.schema->name < b.schema->name; });
  std::string schema = "\n/** The schema information for all tables in this module. This is defined the same way as the "
                       "tables would have been defined in the server. */\nconst tablesSchema = __schema({\n";
  for (auto& entry : tables) {
    const table_schema& t = *entry.schema;
    const table_source& source = *entry.source;
    auto column_key = [&](std::uint16_t c) { return single_quote(camel(t.columns[c].name)); };
    std::string indexes, constraints;
    for (std::size_t k = 0; k < t.indexes.size(); ++k) {
      const index_schema& ix = t.indexes[k];
      if (ix.unique) {
        std::string name = t.name, cols;
        for (auto c : ix.columns) name += "_" + t.columns[c].name, cols += std::string(cols.empty() ? "" : ", ") + column_key(c);
        constraints += "      { name: " + single_quote(name + "_key") + ", constraint: 'unique', columns: [" + cols + "] },\n";
      }
      if (k >= source.index_accessors.size() || !source.index_accessors[k]) continue;  // implicit indexes
      indexes += "      { accessor: " + single_quote(*source.index_accessors[k]) + ", name: " + single_quote(ix.name) +
                 ", algorithm: '" + algorithm_name(ix.algorithm) + "', columns: [\n";
      for (auto c : ix.columns) indexes += "        " + column_key(c) + ",\n";
      indexes += "      ] },\n";
    }
    schema += "  " + camel(source.name) + ": __table({\n    name: " + single_quote(t.name) + ",\n" +
              (t.is_event ? "    event: true,\n" : "") + "    indexes: [\n" + indexes + "    ],\n    constraints: [\n" +
              constraints + "    ],\n  }, " + pascal(source.name) + "Row),\n";
  }
  schema += "});\n";

  // Reducers clients may call, in the module's order.
  std::string reducer_imports, reducer_types, reducer_schemas;
  for (auto& r : def.reducers) {
    if (r.kind != lifecycle::none || (!r.client_callable && !include_private)) continue;
    std::string file = snake_case(r.name) + "_reducer";
    files.emplace_back(file + ".ts", reducer_file(r, types));
    reducer_imports += "import " + pascal(r.name) + "Reducer from \"./" + file + "\";\n";
    reducer_types += "import " + pascal(r.name) + "Reducer from \"../" + file + "\";\n";
    reducer_schemas += "  __reducerSchema(" + quote(r.name) + ", " + pascal(r.name) + "Reducer),\n";
  }
  std::string reducer_params;
  for (auto& r : def.reducers)
    if (r.kind == lifecycle::none && (r.client_callable || include_private))
      reducer_params += "export type " + pascal(r.name) + "Params = __Infer<typeof " + pascal(r.name) + "Reducer>;\n";

  // Procedures clients may call.
  std::string procedure_imports, procedure_types, procedure_schemas, procedure_results;
  for (auto& p : def.procedures) {
    if (!p.client_callable && !include_private) continue;
    std::string file = snake_case(p.name) + "_procedure", symbol = pascal(p.name) + "Procedure";
    files.emplace_back(file + ".ts", procedure_file(p, types));
    procedure_imports += "import * as " + symbol + " from \"./" + file + "\";\n";
    procedure_types += "import * as " + symbol + " from \"../" + file + "\";\n";
    procedure_schemas += "  __procedureSchema(" + quote(p.name) + ", " + symbol + ".params, " + symbol + ".returnType),\n";
    procedure_results += "export type " + pascal(p.name) + "Args = __Infer<typeof " + symbol + ".params>;\nexport type " +
                         pascal(p.name) + "Result = __Infer<typeof " + symbol + ".returnType>;\n";
  }

  files.emplace_back("types.ts", types_file(def, types));
  files.emplace_back("types/reducers.ts", std::string(banner) +
                                            "\n/* eslint-disable */\n/* tslint:disable */\nimport { type Infer as __Infer } "
                                            "from \"spacetimedb\";\n\n// Import all reducer arg schemas\n" +
                                            reducer_types + "\n" + reducer_params);
  files.emplace_back("types/procedures.ts", std::string(banner) +
                                              "\n/* eslint-disable */\n/* tslint:disable */\nimport { type Infer as "
                                              "__Infer } from \"spacetimedb\";\n\n// Import all procedure arg schemas\n" +
                                              procedure_types + "\n" + procedure_results);
  files.emplace_back("index.ts", std::string(banner) + index_imports + "\n// Import all reducer arg schemas\n" +
                                   reducer_imports + "\n// Import all procedure arg schemas\n" + procedure_imports +
                                   "\n// Import all table schema definitions\n" + table_imports + schema +
                                   "\n/** The schema information for all reducers in this module. */\nconst reducersSchema = "
                                   "__reducers(\n" + reducer_schemas + ");\n\n/** The schema information for all "
                                   "procedures in this module. */\nconst proceduresSchema = __procedures(\n" +
                                   procedure_schemas + ");\n" + index_footer);
  return files;
}

bool is_generated_binding(std::string_view text) { return text.rfind(banner, 0) == 0; }

} // namespace orrery

#pragma once
// A module's definition: the RawModuleDef that `__describe_module__` returns
// (V10 from the 2.x library, V9 from 1.x), decoded into table schemas and
// reducers the host can use.
//
// The bytes come from module code, so decoding trusts nothing: types nest at
// most max_type_depth deep (counting type references), resolving references
// builds at most max_module_type_nodes parts, and every column id, type
// reference and reducer name must name something the module declares.

#include "runtime/result.hpp"
#include "runtime/sql/row_security.hpp"
#include "runtime/types/names.hpp"
#include "runtime/types/algebraic_type.hpp"
#include "runtime/types/schema.hpp"

#include <optional>
#include <string>
#include <vector>

namespace orrery {

/// Most parts (sums, products, arrays, references, primitives) a module's
/// types may expand to once type references are resolved, across the module.
inline constexpr std::size_t max_module_type_nodes = 250000;

enum class lifecycle { none, init, on_connect, on_disconnect };

struct reducer_def {
  std::string name;         // canonical: what clients call
  std::string source_name;  // as exported by the module
  algebraic_type params;    // a product, references resolved
  bool client_callable = true;
  lifecycle kind = lifecycle::none;
};

/// A table as the module's source names it: the names the module looks it
/// and its indexes up by, and what generated client code calls them.
struct table_source {
  std::string name;            // the table's accessor in the module's schema
  std::uint32_t row_type = 0;  // in module_def::typespace, with the source's column names
  std::vector<std::string> index_names;                     // per index of the table schema
  std::vector<std::optional<std::string>> index_accessors;  // per index; none for implicit ones
};

struct named_type {
  std::string name;
  std::uint32_t ref = 0;  // in module_def::typespace
};

/// A procedure: runs outside any transaction (opening its own with
/// `ctx.withTx`), may call out over HTTP, and returns a value.
struct procedure_def {
  std::string name;         // canonical: what clients call
  std::string source_name;  // as exported by the module
  algebraic_type params;    // a product, references resolved
  algebraic_type returns;   // references resolved
  bool client_callable = true;
};

/// A view: a read-only function of the database (and of the caller, unless
/// anonymous) returning rows, which clients query and subscribe to as if it
/// were a table.
struct view_def {
  table_schema schema;        // canonical name, columns and primary key, as clients see it
  table_source source;        // the view's source name and its row type
  std::uint32_t hook_id = 0;  // what the view hook takes (anonymous views are numbered apart)
  bool anonymous = false;
};

/// A route of the module's HTTP API, served under /v1/database/:x/route.
struct http_route_def {
  std::uint32_t handler = 0;          // position in module_def::http_handlers
  std::optional<std::string> method;  // upper case; none: any method
  std::string path;                   // "" or starting with "/"
};

struct module_def {
  std::vector<algebraic_type> typespace;   // as declared: source names, references unresolved
  std::vector<named_type> type_names;      // the typespace's named types
  std::vector<table_schema> tables;        // ids unassigned; canonical names
  std::vector<table_source> table_sources; // per table
  std::vector<reducer_def> reducers;       // position = reducer id
  std::vector<procedure_def> procedures;   // position = procedure id
  std::vector<view_def> views;
  std::vector<std::string> http_handlers;  // source names; position = handler id
  std::vector<http_route_def> http_routes; // the first that matches serves
  std::vector<std::string> row_filters;    // client visibility filters, as declared
  sql::row_security visibility;            // the same, compiled against `tables`

  const reducer_def* reducer(std::string_view name) const;
  /// By canonical or source name, or by id written in decimal.
  std::optional<std::uint32_t> reducer_id(std::string_view name) const;
  std::optional<std::uint32_t> lifecycle_reducer(lifecycle kind) const;
  /// By canonical or source name.
  std::optional<std::uint32_t> procedure_id(std::string_view name) const;
  /// By canonical name.
  const view_def* view(std::string_view name) const;
  /// The route serving `method` (upper case) at `path`, if any.
  const http_route_def* route(std::string_view method, std::string_view path) const;
};

/// Decodes RawModuleDef BSATN (V9 or V10); fails naming what it cannot use.
result<module_def> decode_module_def(std::string_view bytes);


/// The module as JSON in the shape of RawModuleDefV9 (SATS-JSON), which
/// client code generators read.
std::string module_def_json(const module_def& def);
/// The module as JSON in the shape of RawModuleDefV10 (SATS-JSON).
std::string module_def_v10_json(const module_def& def);
/// Reads the V9-shaped JSON back (as `orrery generate` does for a published database).
result<module_def> module_def_from_json(std::string_view json);

} // namespace orrery

#pragma once
// Runs SQL statements against one database: binds names to tables and
// columns (hiding private tables from all but the owner), picks index scans
// for predicates an index can serve, joins with index lookups or hash joins,
// and applies INSERT, UPDATE and DELETE inside a transaction. A statement
// past its work bounds (sql/limits.hpp, and the database's row_limit) fails
// whole, never with part of its answer.
// Used from the database actor's thread only.

#include "runtime/result.hpp"
#include "runtime/sql/ast.hpp"
#include "runtime/sql/limits.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/types/identity.hpp"
#include "runtime/types/value.hpp"

#include <string>
#include <vector>

namespace orrery::sql {

class row_security;

/// Who runs a statement, and what their role on the database lets them do.
struct caller {
  identity id;
  bool reads_private = false;  // private tables, and rows past row-level security
  bool writes = false;         // INSERT, UPDATE, DELETE and SET
  /// The module's row-level security, which applies unless `reads_private`.
  const row_security* visibility = nullptr;
};

/// Database settings the SQL endpoint reads and SETs.
struct settings {
  /// The most rows a SELECT may return, count, or build while joining; 0: no limit.
  std::uint64_t row_limit = 0;
};

struct output_column {
  std::string name;
  algebraic_type type;
};

struct query_result {
  std::vector<output_column> columns;
  std::vector<std::vector<value>> rows;
  std::uint64_t rows_inserted = 0, rows_deleted = 0, rows_updated = 0, rows_scanned = 0;
};

/// Runs `stmt` within the work bounds of `bounds`; its time budget starts now.
/// Reads see `ds`'s tables as they are; writes go into `tx` (which the
/// caller commits when this succeeds, and rolls back when it fails).
result<query_result> run(datastore& ds, transaction& tx, const statement& stmt, const caller& who, settings& config,
                         const limits& bounds = {});

/// The SQL endpoint's response body for one statement.
std::string response_json(const query_result& result, std::int64_t duration_micros);

} // namespace orrery::sql

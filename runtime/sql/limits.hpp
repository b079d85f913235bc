#pragma once
// The bounds one SQL statement runs within, so that no statement, however it
// is written, can exhaust the host's stack, memory or time: the parser
// refuses statements past the syntax bounds, the engine and the subscription
// engine stop a statement past the work bounds. Plain values, any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace orrery::sql {

struct limits {
  // ---- syntax, checked by the parser ----
  std::size_t max_statement_bytes = 64 * 1024;
  /// Parentheses and NOTs nested in one condition; every recursive pass over
  /// a condition (parse, bind, evaluate, destroy) is this deep at most.
  std::size_t max_expression_depth = 64;
  /// Comparisons in one WHERE clause.
  std::size_t max_where_terms = 1024;
  std::size_t max_joins = 8;
  std::size_t max_select_items = 256;
  std::size_t max_order_by_columns = 8;

  // ---- work, checked while a statement runs ----
  /// Rows the joins of one SELECT may build, whatever the database's
  /// row_limit says: join output is held in memory until the end.
  std::uint64_t max_join_rows = 1'000'000;
  /// Values (rows times columns) one SELECT may return.
  std::uint64_t max_result_values = 4'000'000;
  /// Wall time one statement may run, or one subscription's initial rows
  /// take; zero for none.
  std::chrono::milliseconds time_budget{5000};
};

} // namespace orrery::sql

#pragma once
// Subscription queries: `SELECT * | t.* FROM t [[INNER] JOIN u ON t.a = u.b]
// [WHERE ...]`. Compiled once, they give their initial rows and, for each
// commit, the rows entering and leaving the result, computed from the
// commit's inserted and deleted rows alone (never by re-running the query).
// Queries past the syntax bounds of sql/limits.hpp do not compile; initial
// rows past the time budget are refused.
// Used from the database actor's thread only.

#include "runtime/result.hpp"
#include "runtime/sql/engine.hpp"
#include "runtime/sql/limits.hpp"
#include "runtime/storage/datastore.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace orrery::sql {

class subscription_query {
public:
  static result<std::shared_ptr<subscription_query>> compile(datastore& ds, std::string_view sql, const caller& who,
                                                             const limits& bounds = {});
  ~subscription_query();

  /// The table whose rows the query returns.
  const std::string& table_name() const;
  table_id table() const;
  /// Whether that table is an event table, whose rows live one transaction.
  bool returns_events() const;

  /// Appends the rows the query returns now, within the time budget of
  /// `bounds` (which starts now); past it, appends nothing and fails.
  result<done> initial_rows(std::vector<std::string>& out, const limits& bounds = {}) const;
  /// The returned table's rows that `commit` added to and removed from the result.
  void delta(const commit_result& commit, std::vector<std::string>& inserts, std::vector<std::string>& deletes) const;

  struct state;

private:
  explicit subscription_query(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

} // namespace orrery::sql

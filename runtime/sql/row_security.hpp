#pragma once
// A module's row-level security: its client visibility filters, such as
// `SELECT * FROM note WHERE owner = :sender`. A row of a filtered table is
// visible to a caller other than the database owner when at least one of
// its table's filters selects it; the owner sees every row. Queries and
// subscriptions add these conditions to their WHERE clause (binder).

#include "runtime/result.hpp"
#include "runtime/sql/ast.hpp"
#include "runtime/types/schema.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace orrery::sql {

class row_security {
public:
  /// Parses and checks `filters` against the module's tables; fails naming
  /// the first filter that is not valid or that this host cannot apply.
  static result<row_security> compile(const std::vector<std::string>& filters, const std::vector<table_schema>& tables);

  bool empty() const { return by_table_.empty(); }

  /// The condition a row of `table`, named `alias` in a query, must meet to
  /// be visible to a caller other than the owner; null when every row is.
  std::unique_ptr<expr> condition(const std::string& table, const std::string& alias) const;

private:
  // Per table, each filter's WHERE clause; a null one selects every row.
  std::map<std::string, std::vector<std::shared_ptr<const expr>>> by_table_;
};

} // namespace orrery::sql

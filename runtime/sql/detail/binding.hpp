#pragma once
// Private to runtime/sql: names bound to tables and columns, literals typed
// against columns, and predicate evaluation over rows. Shared by the SQL
// engine and the subscription engine.

#include "runtime/sql/ast.hpp"
#include "runtime/sql/engine.hpp"
#include "runtime/sql/limits.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/index_key.hpp"
#include "runtime/types/names.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace orrery::sql::detail {

/// Thrown while binding or running; the public entry points turn it into a failure.
struct sql_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void error(const std::string& message);
/// What a caller who may not see private tables is told about `name`.
std::string hidden_table(const std::string& name);
/// The BSATN of `l` as a value of `type` (for column `column`).
std::string literal_bsatn(const literal& l, const algebraic_type& type, const std::string& column, const caller& who);
/// The index-key encoding of a BSATN value.
std::string key_of_bsatn(const algebraic_type& type, std::string_view bsatn);


/// A statement's time budget. Work calls `step()` once per row it touches;
/// the clock is read only every `stride` steps, so a step costs next to nothing.
class budget {
public:
  explicit budget(std::chrono::milliseconds limit);
  void step() {
    if (++steps_ % stride == 0) check();
  }

private:
  static constexpr std::uint64_t stride = 1024;
  void check() const;
  std::chrono::milliseconds limit_;
  std::chrono::steady_clock::time_point deadline_;
  std::uint64_t steps_ = 0;
};

struct bound_table {
  const table* t;
  std::string alias;
  std::vector<std::uint32_t> fixed_offsets;  // column offsets when every column has a fixed size
};

struct bound_column {
  std::size_t slot;
  std::uint16_t column;
  const algebraic_type* type;
  std::string name;
};

struct bound_operand {
  std::optional<bound_column> column;
  std::string key;  // the constant's key encoding
};

struct bound_expr {
  expr::kind type = expr::kind::compare;
  compare_op op = compare_op::eq;
  bound_operand left, right;
  std::vector<bound_expr> children;
};

using tuple = std::vector<std::string_view>;  // one row per table slot

class binder {
public:
  binder(datastore& ds, const caller& who) : ds_(ds), who_(who) {}

  std::vector<bound_table> tables;

  std::size_t add_table(const table_ref& ref) {
    const table* t = ds_.find_table(ref.name);
    if (!t) t = ds_.find_table(snake_case(ref.name));  // the module's source name (an alias)
    if (!t || (!who_.reads_private && !t->schema().is_public)) error(hidden_table(ref.name));
    for (auto& b : tables)
      if (b.alias == ref.alias) error("table alias `" + ref.alias + "` is used twice");
    bound_table b{t, ref.alias, {}};
    if (t->row_type().fixed_size()) {
      std::uint32_t offset = 0;
      for (auto& c : t->schema().columns) {
        b.fixed_offsets.push_back(offset);
        offset += std::uint32_t(*c.type.fixed_size());
      }
    }
    tables.push_back(std::move(b));
    return tables.size() - 1;
  }

  bound_column resolve(const column_ref& ref) const {
    std::optional<bound_column> found;
    for (std::size_t slot = 0; slot < tables.size(); ++slot) {
      const auto& b = tables[slot];
      if (!ref.table.empty() && ref.table != b.alias) continue;
      auto col = b.t->schema().column_index(ref.column);
      if (!col) col = b.t->schema().column_index(snake_case(ref.column));  // the module's source name
      if (!col) continue;
      if (found) error("column `" + ref.column + "` is ambiguous: qualify it with a table name");
      found = bound_column{slot, *col, &b.t->schema().columns[*col].type, ref.column};
    }
    if (found) return *found;
    if (!ref.table.empty()) {
      bool known = std::any_of(tables.begin(), tables.end(), [&](auto& b) { return b.alias == ref.table; });
      if (!known) error("unknown table `" + ref.table + "` in `" + ref.table + "." + ref.column + "`");
      error("unknown column `" + ref.column + "` in table `" + ref.table + "`");
    }
    error("unknown column `" + ref.column + "`" +
          (tables.size() == 1 ? " in table `" + tables[0].t->schema().name + "`" : std::string()));
  }

  /// `where` (if any) and, for a caller other than the owner, the row-level
  /// security condition of each table bound so far: the rows the query may
  /// see. Top-level terms stay flat, so index selection sees them all.
  std::optional<bound_expr> bind_where(const expr* where) const;

  /// Recurses as deep as the condition nests (limits::max_expression_depth).
  bound_expr bind(const expr& e) const {
    bound_expr b;
    b.type = e.type;
    b.op = e.op;
    if (e.type != expr::kind::compare) {
      b.children.reserve(e.children.size());
      for (auto& c : e.children) b.children.push_back(bind(*c));
      return b;
    }
    if (!e.left.column && !e.right.column) error("a comparison needs a column on at least one side");
    if (e.left.column) b.left.column = resolve(*e.left.column);
    if (e.right.column) b.right.column = resolve(*e.right.column);
    if (b.left.column && b.right.column) {
      if (*b.left.column->type != *b.right.column->type)
        error("type mismatch: `" + b.left.column->name + "` is " + type_name(*b.left.column->type) + " but `" +
              b.right.column->name + "` is " + type_name(*b.right.column->type));
      return b;
    }
    const bound_column& col = b.left.column ? *b.left.column : *b.right.column;
    const literal& lit = b.left.column ? e.right.constant : e.left.constant;
    std::string key = key_of_bsatn(*col.type, literal_bsatn(lit, *col.type, col.name, who_));
    (b.left.column ? b.right : b.left).key = std::move(key);
    return b;
  }

private:
  datastore& ds_;
  const caller& who_;
};


/// The key encoding of one column of a row.
void column_key(const bound_table& b, std::string_view row, std::uint16_t column, std::string& out);
value column_value(const bound_table& b, std::string_view row, std::uint16_t column);

class evaluator {
public:
  explicit evaluator(const std::vector<bound_table>& tables) : tables_(tables) {}

  /// Recurses as deep as the condition nests (limits::max_expression_depth).
  bool test(const bound_expr& e, const tuple& row) {
    switch (e.type) {
      case expr::kind::and_:
        for (auto& c : e.children)
          if (!test(c, row)) return false;
        return true;
      case expr::kind::or_:
        for (auto& c : e.children)
          if (test(c, row)) return true;
        return false;
      case expr::kind::not_: return !test(e.children[0], row);
      case expr::kind::compare: break;
    }
    const std::string& l = operand_key(e.left, row, left_);
    const std::string& r = operand_key(e.right, row, right_);
    int c = l.compare(r);
    switch (e.op) {
      case compare_op::eq: return c == 0;
      case compare_op::ne: return c != 0;
      case compare_op::lt: return c < 0;
      case compare_op::le: return c <= 0;
      case compare_op::gt: return c > 0;
      case compare_op::ge: return c >= 0;
    }
    return false;
  }

  const std::string& operand_key(const bound_operand& o, const tuple& row, std::string& scratch) {
    if (!o.column) return o.key;
    column_key(tables_[o.column->slot], row[o.column->slot], o.column->column, scratch);
    return scratch;
  }

private:
  const std::vector<bound_table>& tables_;
  std::string left_, right_;
};


} // namespace orrery::sql::detail

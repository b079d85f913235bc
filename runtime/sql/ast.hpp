#pragma once
// The syntax tree of one SQL statement, as the parser builds it. Names are
// unresolved; the engine binds them to tables and columns.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orrery::sql {

struct column_ref {
  std::string table;  // empty when unqualified
  std::string column;
  std::size_t position = 0;  // in the query text, for error messages
};

struct literal {
  enum class kind { integer, floating, string, boolean, hex, null, sender };
  kind type = kind::null;
  std::string text;  // digits, string contents, hex digits
  std::size_t position = 0;
};

struct operand {
  std::optional<column_ref> column;  // else `constant`
  literal constant;
};

enum class compare_op { eq, ne, lt, le, gt, ge };

struct expr {
  enum class kind { compare, and_, or_, not_ };
  kind type = kind::compare;
  compare_op op = compare_op::eq;
  operand left, right;                          // compare
  std::vector<std::unique_ptr<expr>> children;  // and/or: one per term, flat; not: one
};

struct table_ref {
  std::string name;
  std::string alias;  // the name itself when there is no alias
  std::size_t position = 0;
};

struct join {
  table_ref table;
  std::optional<column_ref> left, right;  // ON left = right; absent for a cross join
};

struct select_item {
  enum class kind { all, table_all, column, count };
  kind type = kind::all;
  std::string table;  // table_all
  column_ref column;  // column
  std::string alias;  // column and count
};

struct order_item {
  column_ref column;
  bool descending = false;
};

struct select_statement {
  std::vector<select_item> items;
  table_ref from;
  std::vector<join> joins;
  std::unique_ptr<expr> where;
  std::vector<order_item> order_by;
  std::optional<std::uint64_t> limit;
  std::uint64_t offset = 0;  // rows skipped before the LIMIT counts
};

struct insert_statement {
  table_ref table;
  std::vector<std::string> columns;  // empty: all, in order
  std::vector<std::vector<literal>> rows;
};

struct assignment {
  std::string column;
  literal value;
  std::size_t position = 0;
};

struct update_statement {
  table_ref table;
  std::vector<assignment> assignments;
  std::unique_ptr<expr> where;
};

struct delete_statement {
  table_ref table;
  std::unique_ptr<expr> where;
};

struct set_statement {
  std::string name;
  literal value;
};

struct show_statement {
  std::string name;
};

struct statement {
  enum class kind { select, insert, update, delete_, set, show };
  kind type = kind::select;
  select_statement select;
  insert_statement insert;
  update_statement update;
  delete_statement remove;
  set_statement set;
  show_statement show;

  bool writes() const { return type == kind::insert || type == kind::update || type == kind::delete_ || type == kind::set; }
};

} // namespace orrery::sql

#include "runtime/sql/row_security.hpp"

#include "runtime/sql/detail/binding.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/types/names.hpp"

#include <algorithm>

namespace orrery::sql {

using namespace detail;

namespace {

/// A copy of `e` whose columns all name the table by `alias`.
std::unique_ptr<expr> requalified(const expr& e, const std::string& alias) {
  auto copy = std::make_unique<expr>();
  copy->type = e.type;
  copy->op = e.op;
  copy->left = e.left;
  copy->right = e.right;
  for (auto* o : {&copy->left, &copy->right})
    if (o->column) o->column->table = alias;
  for (auto& c : e.children) copy->children.push_back(requalified(*c, alias));
  return copy;
}

/// Checks that every column `e` names is a column of `t` (as `alias` or
/// unqualified) and that every literal fits the column it is compared with.
void check_condition(const expr& e, const table_schema& t, const std::string& alias) {
  for (auto& c : e.children) check_condition(*c, t, alias);
  if (e.type != expr::kind::compare) return;
  const algebraic_type* types[2] = {nullptr, nullptr};
  const operand* sides[2] = {&e.left, &e.right};
  for (int i = 0; i < 2; ++i) {
    if (!sides[i]->column) continue;
    const column_ref& ref = *sides[i]->column;
    if (!ref.table.empty() && ref.table != alias && ref.table != t.name)
      error("`" + ref.table + "." + ref.column + "` names another table; filters that join tables are not supported yet");
    auto col = t.column_index(ref.column);
    if (!col) col = t.column_index(snake_case(ref.column));
    if (!col) error("unknown column `" + ref.column + "` in table `" + t.name + "`");
    types[i] = &t.columns[*col].type;
  }
  if (!types[0] && !types[1]) error("a comparison needs a column on at least one side");
  if (types[0] && types[1]) {
    if (*types[0] != *types[1])
      error("type mismatch: `" + e.left.column->column + "` is " + type_name(*types[0]) + " but `" +
            e.right.column->column + "` is " + type_name(*types[1]));
    return;
  }
  int column = types[0] ? 0 : 1;
  literal_bsatn(sides[1 - column]->constant, *types[column], sides[column]->column->column, caller{});
}

} // namespace

result<row_security> row_security::compile(const std::vector<std::string>& filters,
                                           const std::vector<table_schema>& tables) {
  row_security out;
  for (auto& sql : filters) {
    auto refuse = [&](const std::string& why) {
      return fail(errc::invalid_argument, "row-level security filter `" + sql + "`: " + why);
    };
    auto parsed = parse(sql);
    if (!parsed) return refuse(parsed.error().message);
    if (parsed->type != statement::kind::select) return refuse("a filter is a SELECT query");
    const select_statement& s = parsed->select;
    if (!s.joins.empty()) return refuse("filters that join tables are not supported yet");
    if (!s.order_by.empty() || s.limit || s.offset) return refuse("a filter takes no ORDER BY, LIMIT or OFFSET");
    bool whole_rows = s.items.size() == 1 && (s.items[0].type == select_item::kind::all ||
                                              (s.items[0].type == select_item::kind::table_all &&
                                               s.items[0].table == s.from.alias));
    if (!whole_rows) return refuse("a filter selects whole rows of its table: SELECT * or SELECT t.*");
    auto t = std::find_if(tables.begin(), tables.end(),
                          [&](auto& x) { return x.name == s.from.name || x.name == snake_case(s.from.name); });
    if (t == tables.end()) return refuse("the module declares no table `" + s.from.name + "`");
    try {
      if (s.where) check_condition(*s.where, *t, s.from.alias);
    } catch (const sql_error& e) {
      return refuse(e.what());
    } catch (const bsatn_error& e) {
      return refuse(e.what());
    }
    out.by_table_[t->name].push_back(s.where ? requalified(*s.where, s.from.alias) : nullptr);
  }
  return out;
}

std::unique_ptr<expr> row_security::condition(const std::string& table, const std::string& alias) const {
  auto it = by_table_.find(table);
  if (it == by_table_.end()) return nullptr;
  auto any = std::make_unique<expr>();
  any->type = expr::kind::or_;
  for (auto& filter : it->second) {
    if (!filter) return nullptr;
    any->children.push_back(requalified(*filter, alias));
  }
  if (any->children.size() == 1) return std::move(any->children[0]);
  return any;
}

} // namespace orrery::sql

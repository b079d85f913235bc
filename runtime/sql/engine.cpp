#include "runtime/sql/engine.hpp"

#include "runtime/sql/detail/binding.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/index_key.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <functional>
#include <unordered_map>

namespace orrery::sql {
namespace {

using namespace detail;

// Top-level AND terms of a predicate (the parser keeps AND chains flat).
void conjuncts(const bound_expr& e, std::vector<const bound_expr*>& out) {
  if (e.type != expr::kind::and_) out.push_back(&e);
  else
    for (auto& c : e.children) out.push_back(&c);
}

compare_op flipped(compare_op op) {
  switch (op) {
    case compare_op::lt: return compare_op::gt;
    case compare_op::le: return compare_op::ge;
    case compare_op::gt: return compare_op::lt;
    case compare_op::ge: return compare_op::le;
    default: return op;
  }
}

/// Visits the rows of table `slot` that may satisfy `where`: through an index
/// when a conjunct compares an indexed column with a constant, else every row.
template <class Visit>
void for_each_candidate(const bound_table& b, std::size_t slot, const bound_expr* where, std::uint64_t& scanned,
                        budget& time, Visit&& visit) {
  const table& t = *b.t;
  auto emit = [&](row_id r) {
    ++scanned;
    time.step();
    visit(t.row(r));
  };
  if (where) {
    std::vector<const bound_expr*> terms;
    conjuncts(*where, terms);
    // (column, op, key) for terms on this table against constants.
    struct term {
      std::uint16_t column;
      compare_op op;
      const std::string* key;
    };
    std::vector<term> usable;
    for (auto* e : terms) {
      if (e->type != expr::kind::compare || e->op == compare_op::ne) continue;
      if (e->left.column && !e->right.column && e->left.column->slot == slot)
        usable.push_back({e->left.column->column, e->op, &e->right.key});
      else if (e->right.column && !e->left.column && e->right.column->slot == slot)
        usable.push_back({e->right.column->column, flipped(e->op), &e->left.key});
    }
    // Equality on the leading columns of an index: a point or prefix lookup.
    for (auto& ix : t.indexes()) {
      const auto& cols = ix->schema().columns;
      std::string prefix;
      std::size_t matched = 0;
      for (auto c : cols) {
        auto it = std::find_if(usable.begin(), usable.end(), [&](const term& u) { return u.column == c && u.op == compare_op::eq; });
        if (it == usable.end()) break;
        prefix += *it->key;
        ++matched;
      }
      if (matched == 0 || (!ix->ordered() && matched < cols.size())) continue;
      if (ix->schema().unique && matched == cols.size()) {
        if (auto r = ix->find_unique(prefix)) emit(*r);
      } else {
        ix->visit_prefix(prefix, emit);
      }
      return;
    }
    // Bounds on the first column of a btree index: a range scan.
    for (auto& ix : t.indexes()) {
      if (!ix->ordered()) continue;
      std::uint16_t first = ix->schema().columns[0];
      key_range range;
      bool bounded = false;
      std::optional<std::string> upper;
      for (auto& u : usable) {
        if (u.column != first) continue;
        if (u.op == compare_op::gt || u.op == compare_op::ge) {
          std::string lower = u.op == compare_op::ge ? *u.key : key_prefix_end(*u.key);
          if (!bounded || range.lower < lower) range.lower = lower;
          bounded = true;
        } else if (u.op == compare_op::lt || u.op == compare_op::le) {
          std::string candidate = u.op == compare_op::lt ? *u.key : key_prefix_end(*u.key);
          if (!upper || candidate < *upper) upper = candidate;
        }
      }
      if (!bounded && !upper) continue;
      range.upper = upper;
      ix->visit_range(range, emit);
      return;
    }
  }
  t.scan(emit);
}

// ---- SELECT ----

[[noreturn]] void past_row_limit(const std::string& what, const settings& config, const char* remedy) {
  error(what + " more than row_limit (" + std::to_string(config.row_limit) + ") rows; " + remedy +
        ", or raise it with SET row_limit");
}

query_result run_select(datastore& ds, const select_statement& s, const caller& who, const settings& config,
                        const limits& bounds, budget& time) {
  binder scope(ds, who);
  scope.add_table(s.from);
  for (auto& j : s.joins) scope.add_table(j.table);
  std::optional<bound_expr> where = scope.bind_where(s.where.get());
  query_result out;
  evaluator eval(scope.tables);
  auto kept = [&](const tuple& t) { return !where || eval.test(*where, t); };
  bool counting = std::any_of(s.items.begin(), s.items.end(), [](auto& i) { return i.type == select_item::kind::count; });
  if (counting && s.items.size() != 1) error("COUNT(*) cannot be combined with other columns");
  if (counting && s.offset) error("COUNT(*) takes no OFFSET: it answers one row");
  // Without ORDER BY, rows past the OFFSET and LIMIT are never needed.
  auto full = [&](const std::vector<tuple>& rows) {
    return s.limit && s.order_by.empty() && rows.size() >= s.offset && rows.size() - s.offset >= *s.limit;
  };

  // First table, through an index when the WHERE clause allows. Without
  // joins the filter runs during the scan, so only matching rows are kept,
  // and COUNT(*) keeps none.
  std::vector<tuple> tuples;
  if (s.joins.empty()) {
    tuple current(1);
    std::uint64_t matches = 0;
    bool count_only = counting && !s.limit;
    for_each_candidate(scope.tables[0], 0, where ? &*where : nullptr, out.rows_scanned, time, [&](std::string_view row) {
      current[0] = row;
      if (!kept(current)) return;
      if (!count_only) {
        if (!full(tuples)) tuples.push_back(current);
      } else if (++matches > config.row_limit && config.row_limit) {
        past_row_limit("the query counts", config, "add a WHERE");
      }
    });
    if (count_only) {
      out.columns.push_back({s.items[0].alias, algebraic_type::primitive(type_kind::u64)});
      out.rows.push_back({value(matches)});
      return out;
    }
  } else {
    for_each_candidate(scope.tables[0], 0, where ? &*where : nullptr, out.rows_scanned, time,
                       [&](std::string_view row) { tuples.push_back({row}); });
  }

  // Each join: an index lookup on the new table when its column is indexed,
  // else a hash join; without ON, a cross join. Join output stays in memory,
  // so each join may build at most row_limit rows (and never more than
  // max_join_rows); the last one keeps only rows the WHERE clause accepts.
  std::uint64_t join_cap = config.row_limit ? std::min(config.row_limit, bounds.max_join_rows) : bounds.max_join_rows;
  for (std::size_t k = 0; k < s.joins.size(); ++k) {
    std::size_t slot = k + 1;
    const bound_table& inner = scope.tables[slot];
    const join& j = s.joins[k];
    bool last = slot == s.joins.size();
    std::vector<tuple> joined;
    auto add = [&](const tuple& left, std::string_view row) {
      time.step();
      if (last && full(joined)) return;
      tuple t = left;
      t.push_back(row);
      if (last && !kept(t)) return;
      if (joined.size() == join_cap) {
        std::string what = "the join with `" + j.table.alias + "` builds";
        if (join_cap == config.row_limit) past_row_limit(what, config, "narrow it with ON or WHERE");
        error(what + " more than " + std::to_string(join_cap) +
              " rows, the limit for one query; narrow it with ON or WHERE");
      }
      joined.push_back(std::move(t));
    };
    if (!j.left) {  // cross join
      for (auto& left : tuples) inner.t->scan([&](row_id r) { add(left, inner.t->row(r)); });
      out.rows_scanned += inner.t->row_count();
      tuples = std::move(joined);
      continue;
    }
    bound_column a = scope.resolve(*j.left), b = scope.resolve(*j.right);
    if (a.slot == slot) std::swap(a, b);
    if (b.slot != slot || a.slot >= slot)
      error("the ON clause of the join with `" + j.table.alias + "` must compare one of its columns with a column of an earlier table");
    if (*a.type != *b.type)
      error("type mismatch in join: `" + a.name + "` is " + type_name(*a.type) + " but `" + b.name + "` is " + type_name(*b.type));
    const table_index* index = nullptr;
    for (auto& ix : inner.t->indexes())
      if (ix->schema().columns[0] == b.column && (ix->ordered() || ix->schema().columns.size() == 1)) index = ix.get();
    std::string key;
    if (index) {
      for (auto& left : tuples) {
        time.step();
        column_key(scope.tables[a.slot], left[a.slot], a.column, key);
        auto partner = [&](row_id r) { add(left, inner.t->row(r)); };
        if (index->schema().unique && index->schema().columns.size() == 1) {
          if (auto r = index->find_unique(key)) partner(*r);
        } else {
          index->visit_prefix(key, partner);
        }
      }
    } else {
      std::unordered_multimap<std::string, std::string_view> built;
      inner.t->scan([&](row_id r) {
        time.step();
        column_key(inner, inner.t->row(r), b.column, key);
        built.emplace(key, inner.t->row(r));
      });
      out.rows_scanned += inner.t->row_count();
      for (auto& left : tuples) {
        time.step();
        column_key(scope.tables[a.slot], left[a.slot], a.column, key);
        auto [first, end] = built.equal_range(key);
        for (auto it = first; it != end; ++it) add(left, it->second);
      }
    }
    tuples = std::move(joined);
  }

  if (!s.order_by.empty()) {
    std::vector<bound_column> keys;
    for (auto& o : s.order_by) keys.push_back(scope.resolve(o.column));
    std::vector<std::pair<std::vector<std::string>, std::size_t>> sortable;
    for (std::size_t i = 0; i < tuples.size(); ++i) {
      time.step();
      std::vector<std::string> k(keys.size());
      for (std::size_t c = 0; c < keys.size(); ++c)
        column_key(scope.tables[keys[c].slot], tuples[i][keys[c].slot], keys[c].column, k[c]);
      sortable.emplace_back(std::move(k), i);
    }
    std::stable_sort(sortable.begin(), sortable.end(), [&](auto& x, auto& y) {
      time.step();
      for (std::size_t c = 0; c < keys.size(); ++c) {
        int cmp = x.first[c].compare(y.first[c]);
        if (cmp != 0) return s.order_by[c].descending ? cmp > 0 : cmp < 0;
      }
      return false;
    });
    std::vector<tuple> ordered;
    for (auto& [k, i] : sortable) ordered.push_back(std::move(tuples[i]));
    tuples = std::move(ordered);
  }
  tuples.erase(tuples.begin(), tuples.begin() + std::ptrdiff_t(std::min<std::uint64_t>(s.offset, tuples.size())));
  if (s.limit && tuples.size() > *s.limit) tuples.resize(*s.limit);

  // Projection.
  if (counting) {
    if (config.row_limit && tuples.size() > config.row_limit) past_row_limit("the query counts", config, "add a WHERE");
    out.columns.push_back({s.items[0].alias, algebraic_type::primitive(type_kind::u64)});
    out.rows.push_back({value(std::uint64_t(tuples.size()))});
    return out;
  }
  std::vector<bound_column> projected;
  for (auto& item : s.items) {
    switch (item.type) {
      case select_item::kind::all:
        for (std::size_t slot = 0; slot < scope.tables.size(); ++slot) {
          const auto& cols = scope.tables[slot].t->schema().columns;
          for (std::uint16_t c = 0; c < cols.size(); ++c) projected.push_back({slot, c, &cols[c].type, cols[c].name});
        }
        break;
      case select_item::kind::table_all: {
        auto it = std::find_if(scope.tables.begin(), scope.tables.end(), [&](auto& b) { return b.alias == item.table; });
        if (it == scope.tables.end()) error("unknown table `" + item.table + "` in `" + item.table + ".*`");
        std::size_t slot = std::size_t(it - scope.tables.begin());
        const auto& cols = it->t->schema().columns;
        for (std::uint16_t c = 0; c < cols.size(); ++c) projected.push_back({slot, c, &cols[c].type, cols[c].name});
        break;
      }
      case select_item::kind::column: {
        bound_column c = scope.resolve(item.column);
        c.name = item.alias;
        projected.push_back(c);
        break;
      }
      case select_item::kind::count: break;
    }
  }
  if (config.row_limit && tuples.size() > config.row_limit)
    error("the query returns " + std::to_string(tuples.size()) + " rows, more than row_limit (" +
          std::to_string(config.row_limit) + "); add a WHERE or LIMIT, or raise it with SET row_limit");
  if (!projected.empty() && tuples.size() > bounds.max_result_values / projected.size())
    error("the result would hold " + std::to_string(tuples.size()) + " rows of " + std::to_string(projected.size()) +
          " columns, more than the limit of " + std::to_string(bounds.max_result_values) +
          " values; select fewer columns, or add a WHERE or LIMIT");
  for (auto& c : projected) out.columns.push_back({c.name, *c.type});
  for (auto& t : tuples) {
    time.step();
    std::vector<value> row;
    row.reserve(projected.size());
    for (auto& c : projected) row.push_back(column_value(scope.tables[c.slot], t[c.slot], c.column));
    out.rows.push_back(std::move(row));
  }
  return out;
}

// ---- DML ----

void require_writer(const caller& who, const char* what) {
  if (!who.writes) error(std::string(what) + " needs the developer role or above on this database");
}

void check(const result<std::string>& r) {
  if (!r) error(r.error().message);
}

std::vector<std::string_view> matching_rows(const table_ref& ref, const expr* where, binder& scope,
                                            std::uint64_t& scanned, budget& time) {
  scope.add_table(ref);
  std::optional<bound_expr> bound = scope.bind_where(where);
  evaluator eval(scope.tables);
  std::vector<std::string_view> out;
  tuple current(1);
  for_each_candidate(scope.tables[0], 0, bound ? &*bound : nullptr, scanned, time, [&](std::string_view row) {
    current[0] = row;
    if (!bound || eval.test(*bound, current)) out.push_back(row);
  });
  return out;
}

// Row views stay readable until the transaction ends, so they can name the rows to delete.
void delete_rows(transaction& tx, table_id table, const std::vector<std::string_view>& rows, budget& time) {
  for (auto row : rows) {
    time.step();
    auto removed = tx.delete_row(table, row);
    if (!removed) error(removed.error().message);
  }
}

query_result run_insert(datastore& ds, transaction& tx, const insert_statement& s, const caller& who, budget& time) {
  require_writer(who, "INSERT");
  binder scope(ds, who);
  scope.add_table(s.table);
  const table& t = *scope.tables[0].t;
  const auto& columns = t.schema().columns;
  std::vector<std::uint16_t> targets;
  if (s.columns.empty()) {
    for (std::uint16_t c = 0; c < columns.size(); ++c) targets.push_back(c);
  } else {
    for (auto& name : s.columns) {
      auto c = t.schema().column_index(name);
      if (!c) error("unknown column `" + name + "` in table `" + t.schema().name + "`");
      if (std::find(targets.begin(), targets.end(), *c) != targets.end()) error("column `" + name + "` is given twice");
      targets.push_back(*c);
    }
  }
  query_result out;
  for (auto& values : s.rows) {
    time.step();
    if (values.size() != targets.size())
      error("INSERT gives " + std::to_string(values.size()) + " values for " + std::to_string(targets.size()) + " columns");
    std::string row;
    for (std::uint16_t c = 0; c < columns.size(); ++c) {
      auto at = std::find(targets.begin(), targets.end(), c);
      if (at != targets.end()) {
        row += literal_bsatn(values[std::size_t(at - targets.begin())], columns[c].type, columns[c].name, who);
        continue;
      }
      bool generated = std::any_of(t.schema().sequences.begin(), t.schema().sequences.end(),
                                   [&](auto& q) { return q.column == c; });
      if (generated) row += std::string(*columns[c].type.fixed_size(), '\0');
      else if (columns[c].default_bsatn) row += *columns[c].default_bsatn;
      else if (columns[c].type.special() == special_type::option) row += '\x01';  // NULL
      else error("missing a value for column `" + columns[c].name + "`");
    }
    check(tx.insert(t.schema().id, row));
    ++out.rows_inserted;
  }
  return out;
}

query_result run_update(datastore& ds, transaction& tx, const update_statement& s, const caller& who, budget& time) {
  require_writer(who, "UPDATE");
  binder scope(ds, who);
  query_result out;
  auto rows = matching_rows(s.table, s.where.get(), scope, out.rows_scanned, time);
  const table& t = *scope.tables[0].t;
  const auto& columns = t.schema().columns;
  std::vector<std::pair<std::uint16_t, std::string>> changes;
  for (auto& a : s.assignments) {
    auto c = t.schema().column_index(a.column);
    if (!c) error("unknown column `" + a.column + "` in table `" + t.schema().name + "`");
    if (std::any_of(changes.begin(), changes.end(), [&](auto& ch) { return ch.first == *c; }))
      error("column `" + a.column + "` is assigned twice");
    changes.emplace_back(*c, literal_bsatn(a.value, columns[*c].type, a.column, who));
  }
  std::vector<std::string> replacements;
  std::vector<std::uint32_t> offsets;
  for (auto row : rows) {
    time.step();
    t.column_offsets(row, offsets);
    offsets.push_back(std::uint32_t(row.size()));
    std::string updated;
    for (std::uint16_t c = 0; c < columns.size(); ++c) {
      auto change = std::find_if(changes.begin(), changes.end(), [&](auto& ch) { return ch.first == c; });
      if (change != changes.end()) updated += change->second;
      else updated.append(row.substr(offsets[c], offsets[c + 1] - offsets[c]));
    }
    replacements.push_back(std::move(updated));
  }
  // Delete every old row first, so rows may trade unique values among themselves.
  delete_rows(tx, t.schema().id, rows, time);
  for (auto& row : replacements) {
    time.step();
    check(tx.insert(t.schema().id, row));
  }
  out.rows_updated = rows.size();
  return out;
}

query_result run_delete(datastore& ds, transaction& tx, const delete_statement& s, const caller& who, budget& time) {
  require_writer(who, "DELETE");
  binder scope(ds, who);
  query_result out;
  auto rows = matching_rows(s.table, s.where.get(), scope, out.rows_scanned, time);
  delete_rows(tx, scope.tables[0].t->schema().id, rows, time);
  out.rows_deleted = rows.size();
  return out;
}

std::uint64_t setting_value(const literal& l) {
  if (l.type != literal::kind::integer || l.text.empty() || l.text[0] == '-') error("row_limit must be a whole number");
  return std::stoull(l.text);
}

} // namespace

result<query_result> run(datastore& ds, transaction& tx, const statement& stmt, const caller& who, settings& config,
                         const limits& bounds) {
  budget time(bounds.time_budget);
  try {
    switch (stmt.type) {
      case statement::kind::select: return run_select(ds, stmt.select, who, config, bounds, time);
      case statement::kind::insert: return run_insert(ds, tx, stmt.insert, who, time);
      case statement::kind::update: return run_update(ds, tx, stmt.update, who, time);
      case statement::kind::delete_: return run_delete(ds, tx, stmt.remove, who, time);
      case statement::kind::set:
        require_writer(who, "SET");
        if (stmt.set.name != "row_limit") error("unknown setting `" + stmt.set.name + "` (there is row_limit)");
        config.row_limit = setting_value(stmt.set.value);
        return query_result{};
      case statement::kind::show: {
        if (stmt.show.name != "row_limit") error("unknown setting `" + stmt.show.name + "` (there is row_limit)");
        query_result out;
        out.columns.push_back({"row_limit", algebraic_type::primitive(type_kind::u64)});
        out.rows.push_back({value(config.row_limit)});
        return out;
      }
    }
    return fail(errc::invalid_argument, "unsupported statement");
  } catch (const sql_error& e) {
    return fail(errc::invalid_argument, e.what());
  } catch (const bsatn_error& e) {
    return fail(errc::invalid_argument, e.what());
  } catch (const std::out_of_range&) {
    return fail(errc::invalid_argument, "a number in the statement is out of range");
  }
}

std::string response_json(const query_result& r, std::int64_t duration_micros) {
  std::string out = "[{\"schema\":{\"elements\":[";
  for (std::size_t i = 0; i < r.columns.size(); ++i) {
    if (i) out += ",";
    out += "{\"name\":{\"some\":" + json_quote(r.columns[i].name) + "},\"algebraic_type\":" + type_to_json(r.columns[i].type) + "}";
  }
  out += "]},\"rows\":[";
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    out += i ? ",[" : "[";
    for (std::size_t c = 0; c < r.rows[i].size(); ++c) {
      if (c) out += ",";
      append_sats_json(out, r.rows[i][c], r.columns[c].type);
    }
    out += "]";
  }
  out += "],\"total_duration_micros\":" + std::to_string(duration_micros) + ",\"stats\":{\"rows_inserted\":" +
         std::to_string(r.rows_inserted) + ",\"rows_deleted\":" + std::to_string(r.rows_deleted) +
         ",\"rows_updated\":" + std::to_string(r.rows_updated) + ",\"rows_scanned\":" + std::to_string(r.rows_scanned) + "}}]";
  return out;
}

} // namespace orrery::sql

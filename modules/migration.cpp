#include "modules/migration.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"
#include "runtime/types/schema.hpp"

#include <algorithm>

namespace orrery {
namespace {

std::string quoted(const std::string& name) { return "`" + name + "`"; }

std::string columns_of(const table_schema& t, const std::vector<std::uint16_t>& cols) {
  std::string out = "[";
  for (std::size_t i = 0; i < cols.size(); ++i)
    out += (i ? ", " : "") + (cols[i] < t.columns.size() ? t.columns[cols[i]].name : std::to_string(cols[i]));
  return out + "]";
}

const index_schema* index_named(const table_schema& t, const std::string& name) {
  for (auto& ix : t.indexes)
    if (ix.name == name) return &ix;
  return nullptr;
}

const sequence_schema* sequence_on(const table_schema& t, std::uint16_t column) {
  for (auto& q : t.sequences)
    if (q.column == column) return &q;
  return nullptr;
}

class planner {
public:
  planner(const stored_rows& rows) : rows_(rows) {}

  void add(change_class kind, std::string text) { plan.steps.push_back({kind, std::move(text)}); }

  void table(const table_schema& old, const table_schema& next) {
    const std::size_t steps_before = plan.steps.size();
    compare(old, next);
    if (plan.steps.size() == steps_before && !same_layout(old, next))
      add(change_class::safe, "Rebuilt table " + quoted(next.name) + " (column defaults or index details changed)");
  }

  migration_plan plan;

private:
  /// Whether the tables are stored alike (ids aside).
  static bool same_layout(table_schema a, table_schema b) {
    a.id = b.id = 0;
    for (auto* t : {&a, &b})
      for (auto& ix : t->indexes) ix.id = 0;
    return encode_schema(a) == encode_schema(b);
  }

  void compare(const table_schema& old, const table_schema& next) {
    const std::string t = quoted(next.name);
    if (old.is_event != next.is_event)
      add(change_class::forbidden, "Changing whether table " + t + " is an event table requires clearing the data");
    columns(old, next);
    if (old.schedule.has_value() != next.schedule.has_value())
      add(change_class::forbidden, std::string(next.schedule ? "Making" : "Ending") + " table " + t +
                                     (next.schedule ? " a schedule table" : " as a schedule table") +
                                     " requires clearing the data");
    else if (old.schedule && old.schedule->reducer != next.schedule->reducer)
      add(change_class::safe, "Table " + t + " now schedules reducer " + quoted(next.schedule->reducer) +
                                " (was " + quoted(old.schedule->reducer) + ")");
    indexes(old, next);
    if (old.primary_key != next.primary_key) {
      if (!next.primary_key)
        add(change_class::breaking, "Removed the primary key of table " + t);
      else
        add(change_class::forbidden, std::string(old.primary_key ? "Changing" : "Adding") + " the primary key of table " +
                                       t + " (" + quoted(next.columns[*next.primary_key].name) +
                                       ") requires clearing the data");
    }
    for (auto& q : next.sequences)
      if (!sequence_on(old, q.column))
        add(change_class::safe, "Added auto-increment on " + t + "." + quoted(next.columns[q.column].name));
    for (auto& q : old.sequences)
      if (!sequence_on(next, q.column) && q.column < next.columns.size())
        add(change_class::safe, "Removed auto-increment on " + t + "." + quoted(old.columns[q.column].name));
    if (old.is_public != next.is_public)
      add(next.is_public ? change_class::safe : change_class::breaking,
          "Changed access for table " + t + (next.is_public ? " (private → public)" : " (public → private)"));
  }

  void columns(const table_schema& old, const table_schema& next) {
    const std::string t = quoted(next.name);
    for (std::size_t i = 0; i < old.columns.size(); ++i) {
      const column_schema& c = old.columns[i];
      auto found = std::find_if(next.columns.begin(), next.columns.end(), [&](auto& n) { return n.name == c.name; });
      if (found == next.columns.end())
        add(change_class::forbidden, "Removing (or renaming) column " + quoted(c.name) + " of table " + t +
                                       " requires clearing the data, or a new table migrated to incrementally");
      else if (std::size_t(found - next.columns.begin()) != i)
        add(change_class::forbidden, "Reordering the columns of table " + t + " (" + quoted(c.name) + " moves from " +
                                       std::to_string(i) + " to " + std::to_string(found - next.columns.begin()) +
                                       ") requires clearing the data");
      else if (found->type != c.type)
        add(change_class::forbidden, "Changing the type of column " + quoted(c.name) + " of table " + t + " from " +
                                       type_name(c.type) + " to " + type_name(found->type) + " requires clearing the data");
    }
    for (std::size_t i = 0; i < next.columns.size(); ++i) {
      const column_schema& c = next.columns[i];
      if (std::any_of(old.columns.begin(), old.columns.end(), [&](auto& o) { return o.name == c.name; })) continue;
      if (i < old.columns.size())
        add(change_class::forbidden, "Adding column " + quoted(c.name) + " to table " + t +
                                       " anywhere but after its last column requires clearing the data");
      else if (!c.default_bsatn)
        add(change_class::forbidden, "Adding column " + quoted(c.name) + " to table " + t +
                                       " requires a default value (`.default(...)`) for its existing rows");
      else {
        auto value = decode_value(c.type, *c.default_bsatn);
        add(change_class::breaking, "Added column " + quoted(c.name) + ": " + type_name(c.type) + " to table " + t +
                                      " (existing rows get " + (value ? to_sats_json(*value, c.type) : "its default") +
                                      ")");
      }
    }
  }

  /// A unique index of `next` over the stored rows: safe when no two share its values.
  void unique_check(const table_schema& old, const table_schema& next, const index_schema& ix, const std::string& what) {
    std::vector<std::uint16_t> stored;  // the index's columns as the stored rows have them
    for (auto c : ix.columns) {
      auto same = std::find_if(old.columns.begin(), old.columns.end(), [&](auto& o) { return o.name == next.columns[c].name; });
      if (same == old.columns.end()) {  // a new column: every stored row gets its one default
        if (rows_.count(next.name) > 1)
          add(change_class::forbidden, what + ": its stored rows would all share the default of new column " +
                                         quoted(next.columns[c].name));
        else
          add(change_class::safe, what);
        return;
      }
      stored.push_back(std::uint16_t(same - old.columns.begin()));
    }
    if (auto duplicate = rows_.duplicate(next.name, stored))
      add(change_class::forbidden, what + ": its rows share " + columns_of(next, ix.columns) + " = " + *duplicate +
                                     "; make them distinct first");
    else
      add(change_class::safe, what);
  }

  static bool same_index(const index_schema& a, const index_schema& b, const table_schema& old, const table_schema& next) {
    if (a.algorithm != b.algorithm || a.columns.size() != b.columns.size()) return false;
    for (std::size_t i = 0; i < a.columns.size(); ++i)
      if (old.columns[a.columns[i]].name != next.columns[b.columns[i]].name) return false;
    return true;
  }

  void indexes(const table_schema& old, const table_schema& next) {
    const std::string t = quoted(next.name);
    for (auto& ix : old.indexes) {
      const index_schema* kept = index_named(next, ix.name);
      if (!kept || !same_index(ix, *kept, old, next)) {
        add(change_class::breaking, "Removed index " + quoted(ix.name) + " on " + columns_of(old, ix.columns) +
                                      " of table " + t);
      } else if (ix.unique && !kept->unique) {
        add(change_class::safe, "Removed unique constraint on " + columns_of(old, ix.columns) + " of table " + t);
      } else if (!ix.unique && kept->unique) {
        unique_check(old, next, *kept, "Added unique constraint on " + columns_of(next, kept->columns) + " of table " + t);
      }
    }
    for (auto& ix : next.indexes) {
      const index_schema* was = index_named(old, ix.name);
      if (was && same_index(*was, ix, old, next)) continue;
      std::string what = "Created " + std::string(ix.unique ? "unique " : "") + "index " + quoted(ix.name) + " on " +
                         columns_of(next, ix.columns) + " of table " + t;
      if (ix.unique) unique_check(old, next, ix, what);
      else add(change_class::safe, what);
    }
  }

  const stored_rows& rows_;
};

std::string kind_name(change_class k) {
  return k == change_class::safe ? "safe" : k == change_class::breaking ? "breaking" : "forbidden";
}

} // namespace

bool migration_plan::breaks_clients() const {
  return std::any_of(steps.begin(), steps.end(), [](auto& s) { return s.kind == change_class::breaking; });
}

bool migration_plan::forbidden() const {
  return std::any_of(steps.begin(), steps.end(), [](auto& s) { return s.kind == change_class::forbidden; });
}

std::string migration_plan::text() const {
  std::string out = "Database migration plan\n";
  if (steps.empty()) out += "  (no changes to tables, reducers or views)\n";
  for (auto& s : steps)
    out += std::string("  ") + (s.kind == change_class::safe ? "▸ " : s.kind == change_class::breaking ? "! " : "✗ ") +
           s.text + "\n";
  if (forbidden())
    out += "Refused: the changes marked ✗ need the data cleared (--delete-data) or an incremental migration.\n";
  else if (breaks_clients())
    out += "The changes marked ! break existing clients: they will be disconnected.\n";
  return out;
}

std::string migration_plan::json() const {
  std::string items;
  for (auto& s : steps)
    items += (items.empty() ? "" : ",") + std::string("{\"kind\":\"") + kind_name(s.kind) + "\",\"text\":" +
             json_quote(s.text) + "}";
  return "{\"steps\":[" + items + "],\"breaks_clients\":" + (breaks_clients() ? "true" : "false") +
         ",\"forbidden\":" + (forbidden() ? "true" : "false") + ",\"text\":" + json_quote(text()) + "}";
}

migration_plan plan_migration(const module_def& running, const std::vector<table_schema>& stored, const module_def& next,
                              const stored_rows& rows) {
  planner p(rows);
  for (auto& old : stored) {
    auto kept = std::find_if(next.tables.begin(), next.tables.end(), [&](auto& t) { return t.name == old.name; });
    if (kept != next.tables.end()) continue;
    std::size_t n = rows.count(old.name);
    if (n == 0) p.add(change_class::breaking, "Removed empty table " + quoted(old.name));
    else
      p.add(change_class::forbidden, "Removing table " + quoted(old.name) + ", which holds " + std::to_string(n) +
                                       " rows, requires clearing the data (or deleting its rows first)");
  }
  for (auto& t : next.tables) {
    auto old = std::find_if(stored.begin(), stored.end(), [&](auto& s) { return s.name == t.name; });
    if (old == stored.end()) p.add(change_class::safe, "Created table " + quoted(t.name) + (t.is_public ? " (public)" : " (private)"));
    else p.table(*old, t);
  }

  // Clients call reducers: removing or changing one they may call breaks them.
  auto callable = [](const reducer_def& r) { return r.client_callable && r.kind == lifecycle::none; };
  for (auto& r : running.reducers) {
    const reducer_def* kept = next.reducer(r.name);
    const change_class kind = callable(r) ? change_class::breaking : change_class::safe;
    if (!kept) p.add(kind, "Removed reducer " + quoted(r.name));
    else if (kept->params != r.params)
      p.add(kind, "Changed the parameters of reducer " + quoted(r.name));
    else if (kept->kind != r.kind)
      p.add(kind, "Changed when reducer " + quoted(r.name) + " runs (lifecycle)");
    else if (callable(*kept) != callable(r))
      p.add(kind, std::string(callable(*kept) ? "Clients may now call reducer " : "Clients may no longer call reducer ") +
                    quoted(r.name));
  }
  for (auto& r : next.reducers)
    if (!running.reducer(r.name)) p.add(change_class::safe, "Added reducer " + quoted(r.name));

  auto find_procedure = [](const module_def& d, const std::string& name) -> const procedure_def* {
    for (auto& x : d.procedures)
      if (x.name == name) return &x;
    return nullptr;
  };
  for (auto& r : running.procedures) {
    const procedure_def* kept = find_procedure(next, r.name);
    if (!kept) p.add(change_class::breaking, "Removed procedure " + quoted(r.name));
    else if (kept->params != r.params || kept->returns != r.returns || kept->client_callable != r.client_callable)
      p.add(change_class::breaking, "Changed procedure " + quoted(r.name));
  }
  for (auto& r : next.procedures)
    if (!find_procedure(running, r.name)) p.add(change_class::safe, "Added procedure " + quoted(r.name));

  for (auto& v : running.views) {
    const view_def* kept = next.view(v.schema.name);
    if (!kept) p.add(change_class::breaking, "Removed view " + quoted(v.schema.name));
    else if (kept->schema.row_type() != v.schema.row_type() || kept->anonymous != v.anonymous ||
             kept->schema.primary_key != v.schema.primary_key)
      p.add(change_class::breaking, "Changed the rows of view " + quoted(v.schema.name));
    else if (kept->schema.is_public != v.schema.is_public)
      p.add(kept->schema.is_public ? change_class::safe : change_class::breaking,
            "Changed access for view " + quoted(v.schema.name) +
              (kept->schema.is_public ? " (private → public)" : " (public → private)"));
  }
  for (auto& v : next.views)
    if (!running.view(v.schema.name)) p.add(change_class::safe, "Added view " + quoted(v.schema.name));

  for (auto& sql : running.row_filters)
    if (std::find(next.row_filters.begin(), next.row_filters.end(), sql) == next.row_filters.end())
      p.add(change_class::breaking, "Removed row-level security filter `" + sql + "`");
  for (auto& sql : next.row_filters)
    if (std::find(running.row_filters.begin(), running.row_filters.end(), sql) == running.row_filters.end())
      p.add(change_class::breaking, "Added row-level security filter `" + sql + "`");
  return std::move(p.plan);
}

} // namespace orrery

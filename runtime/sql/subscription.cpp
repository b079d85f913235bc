#include "runtime/sql/subscription.hpp"

#include "runtime/sql/detail/binding.hpp"
#include "runtime/sql/parser.hpp"

#include <unordered_set>

namespace orrery::sql {

using namespace detail;

struct subscription_query::state {
  datastore* ds = nullptr;
  std::unique_ptr<binder> scope;
  std::optional<bound_expr> where;
  std::size_t returned = 0;  // slot of the returned table
  // Joins only: the join column in each slot, and the index serving it.
  std::uint16_t join_column[2] = {0, 0};
  const table_index* join_index[2] = {nullptr, nullptr};

  bool joined() const { return scope->tables.size() == 2; }
  const orrery::table& table_at(std::size_t slot) const { return *scope->tables[slot].t; }
};

namespace {

const table_index* index_on(const orrery::table& t, std::uint16_t column) {
  for (auto& ix : t.indexes())
    if (ix->schema().columns[0] == column && (ix->ordered() || ix->schema().columns.size() == 1)) return ix.get();
  return nullptr;
}

const table_update* update_of(const commit_result& commit, table_id id) {
  for (auto& u : commit.updates)
    if (u.table == id) return &u;
  return nullptr;
}

} // namespace

subscription_query::subscription_query(std::unique_ptr<state> s) : state_(std::move(s)) {}
subscription_query::~subscription_query() = default;

result<std::shared_ptr<subscription_query>> subscription_query::compile(datastore& ds, std::string_view sql,
                                                                       const caller& who, const limits& bounds) {
  auto parsed = parse(sql, bounds);
  if (!parsed) return parsed.error();
  if (parsed->type != statement::kind::select)
    return fail(errc::invalid_argument, "subscriptions take SELECT queries only");
  const select_statement& s = parsed->select;
  try {
    auto st = std::make_unique<state>();
    st->ds = &ds;
    st->scope = std::make_unique<binder>(ds, who);
    st->scope->add_table(s.from);
    if (s.joins.size() > 1) error("a subscription may join at most two tables");
    if (!s.order_by.empty() || s.limit || s.offset) error("subscriptions do not take ORDER BY, LIMIT or OFFSET");
    if (s.items.size() != 1 || (s.items[0].type != select_item::kind::all && s.items[0].type != select_item::kind::table_all))
      error("a subscription returns whole rows of one table: SELECT * or SELECT t.*");
    if (!s.joins.empty()) {
      const join& j = s.joins[0];
      st->scope->add_table(j.table);
      if (!j.left) error("a subscription join needs ON a.x = b.y");
      // Event rows vanish without a delete, so a join over them could not be kept up to date.
      for (auto& b : st->scope->tables)
        if (b.t->schema().is_event) error("`" + b.t->schema().name + "` is an event table, which a subscription cannot join");
      bound_column a = st->scope->resolve(*j.left), b = st->scope->resolve(*j.right);
      if (a.slot == b.slot) error("the join must compare columns of the two tables");
      if (*a.type != *b.type) error("type mismatch in join: `" + a.name + "` is " + type_name(*a.type) + " but `" + b.name + "` is " + type_name(*b.type));
      for (auto& c : {a, b}) {
        st->join_column[c.slot] = c.column;
        st->join_index[c.slot] = index_on(*st->scope->tables[c.slot].t, c.column);
        if (!st->join_index[c.slot])
          error("join column `" + st->scope->tables[c.slot].alias + "." + c.name + "` needs an index for a subscription");
      }
      if (s.items[0].type == select_item::kind::all) error("a join subscription returns one table: SELECT t.* FROM ...");
    }
    if (s.items[0].type == select_item::kind::table_all) {
      auto& tables = st->scope->tables;
      auto it = std::find_if(tables.begin(), tables.end(), [&](auto& b) { return b.alias == s.items[0].table; });
      if (it == tables.end()) error("unknown table `" + s.items[0].table + "` in `" + s.items[0].table + ".*`");
      st->returned = std::size_t(it - tables.begin());
    }
    st->where = st->scope->bind_where(s.where.get());
    return std::shared_ptr<subscription_query>(new subscription_query(std::move(st)));
  } catch (const sql_error& e) {
    return fail(errc::invalid_argument, e.what());
  } catch (const bsatn_error& e) {
    return fail(errc::invalid_argument, e.what());
  }
}

const std::string& subscription_query::table_name() const { return state_->table_at(state_->returned).schema().name; }
table_id subscription_query::table() const { return state_->table_at(state_->returned).schema().id; }
bool subscription_query::returns_events() const { return state_->table_at(state_->returned).schema().is_event; }

namespace {

// Does `row` (of the returned slot) have a partner in the other table that
// satisfies the WHERE clause? `before` looks at the other table as it was
// before `commit`.
bool has_partner(const subscription_query::state& st, std::string_view row, const table_update* other_changes,
                 bool before, evaluator& eval, budget& time) {
  std::size_t r = st.returned, o = 1 - r;
  const bound_table& mine = st.scope->tables[r];
  const orrery::table& other = st.table_at(o);
  std::string key;
  column_key(mine, row, st.join_column[r], key);
  tuple t(2);
  t[r] = row;
  auto test = [&](std::string_view partner) {
    t[o] = partner;
    return !st.where || eval.test(*st.where, t);
  };
  std::unordered_set<std::string_view> inserted;
  if (before && other_changes) inserted.insert(other_changes->inserts.begin(), other_changes->inserts.end());
  bool found = false;
  auto visit = [&](row_id id) {
    if (found) return;
    time.step();
    std::string_view partner = other.row(id);
    if (before && inserted.count(partner)) return;
    found = test(partner);
  };
  if (st.join_index[o]->schema().unique && st.join_index[o]->schema().columns.size() == 1) {
    if (auto id = st.join_index[o]->find_unique(key)) visit(*id);
  } else {
    st.join_index[o]->visit_prefix(key, visit);
  }
  if (!found && before && other_changes) {
    std::string partner_key;
    for (auto& gone : other_changes->deletes) {
      column_key(st.scope->tables[o], gone, st.join_column[o], partner_key);
      if (partner_key == key && test(gone)) return true;
    }
  }
  return found;
}

bool present(const orrery::table& t, std::string_view row) {
  auto c = t.find_conflict(row);
  return c && !c->index;
}

} // namespace

result<done> subscription_query::initial_rows(std::vector<std::string>& out, const limits& bounds) const {
  const state& st = *state_;
  evaluator eval(st.scope->tables);
  budget time(bounds.time_budget);
  const orrery::table& t = st.table_at(st.returned);
  std::size_t before = out.size();
  try {
    tuple one(1);
    t.scan([&](row_id id) {
      time.step();
      one[0] = t.row(id);
      bool in = st.joined() ? has_partner(st, one[0], nullptr, false, eval, time)
                            : !st.where || eval.test(*st.where, one);
      if (in) out.emplace_back(one[0]);
    });
  } catch (const sql_error& e) {
    out.resize(before);
    return fail(errc::invalid_argument, e.what());
  }
  return done{};
}

void subscription_query::delta(const commit_result& commit, std::vector<std::string>& inserts,
                               std::vector<std::string>& deletes) const {
  const state& st = *state_;
  evaluator eval(st.scope->tables);
  // Deltas run without a time budget: a subscriber must see every change,
  // and a delta looks only at the commit's rows and their join partners.
  budget unbounded(std::chrono::milliseconds::zero());
  const orrery::table& mine = st.table_at(st.returned);
  const table_update* my_changes = update_of(commit, mine.schema().id);
  if (!st.joined()) {
    if (!my_changes) return;
    tuple one(1);
    for (auto& row : my_changes->inserts) {
      one[0] = row;
      if (!st.where || eval.test(*st.where, one)) inserts.push_back(row);
    }
    for (auto& row : my_changes->deletes) {
      one[0] = row;
      if (!st.where || eval.test(*st.where, one)) deletes.push_back(row);
    }
    return;
  }
  std::size_t o = 1 - st.returned;
  const orrery::table& other = st.table_at(o);
  const table_update* other_changes = update_of(commit, other.schema().id);
  if (!my_changes && !other_changes) return;

  // Rows whose membership may have changed: our own changes, and our rows
  // joined to a changed row of the other table (now or before).
  std::vector<std::string> affected;
  std::unordered_set<std::string> seen;
  auto add = [&](std::string_view row) {
    if (seen.emplace(row).second) affected.emplace_back(row);
  };
  if (my_changes) {
    for (auto& row : my_changes->inserts) add(row);
    for (auto& row : my_changes->deletes) add(row);
  }
  if (other_changes) {
    std::string key;
    auto partners_of = [&](const std::string& row) {
      column_key(st.scope->tables[o], row, st.join_column[o], key);
      auto visit = [&](row_id id) { add(mine.row(id)); };
      const table_index* ix = st.join_index[st.returned];
      if (ix->schema().unique && ix->schema().columns.size() == 1) {
        if (auto id = ix->find_unique(key)) visit(*id);
      } else {
        ix->visit_prefix(key, visit);
      }
      if (my_changes)  // our rows deleted in this commit are no longer in the index
        for (auto& gone : my_changes->deletes) {
          std::string mine_key;
          column_key(st.scope->tables[st.returned], gone, st.join_column[st.returned], mine_key);
          if (mine_key == key) add(gone);
        }
    };
    for (auto& row : other_changes->inserts) partners_of(row);
    for (auto& row : other_changes->deletes) partners_of(row);
  }
  std::unordered_set<std::string_view> inserted_now, deleted_now;
  if (my_changes) {
    inserted_now.insert(my_changes->inserts.begin(), my_changes->inserts.end());
    deleted_now.insert(my_changes->deletes.begin(), my_changes->deletes.end());
  }
  for (auto& row : affected) {
    bool now = present(mine, row);
    bool then = (now && !inserted_now.count(row)) || deleted_now.count(row);
    bool in_after = now && has_partner(st, row, other_changes, false, eval, unbounded);
    bool in_before = then && has_partner(st, row, other_changes, true, eval, unbounded);
    if (in_after && !in_before) inserts.push_back(row);
    if (in_before && !in_after) deletes.push_back(row);
  }
}

} // namespace orrery::sql

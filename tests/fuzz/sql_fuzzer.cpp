// SQL statements, as the SQL endpoint and subscriptions take them, against a
// small in-memory database (fuzz::sql_tables) with tight work bounds.
//
// Each input is parsed, then run by a stranger and by the owner inside a
// transaction that is rolled back, so every input sees the same rows. When it
// compiles as a subscription query, these must hold:
// - its initial rows are the rows the SQL engine returns for it (as sets:
//   the engine keeps one row per join partner);
// - its delta for a fixed commit turns the initial rows before that commit
//   into the initial rows after it.

#include "tests/fuzz/fuzz.hpp"

#include "runtime/sql/engine.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/sql/subscription.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/types/bsatn.hpp"

#include <set>

using namespace orrery;

namespace {

sql::limits fuzz_bounds() {
  sql::limits bounds;
  bounds.max_join_rows = 20000;
  bounds.max_result_values = 200000;
  bounds.time_budget = std::chrono::milliseconds(250);
  return bounds;
}

sql::caller owner() { return {identity::from_claims("orrery", "owner"), true, true}; }
sql::caller stranger() { return {identity::from_claims("orrery", "stranger"), false, false}; }

void run_or_die(datastore& ds, transaction& tx, const std::string& text) {
  auto parsed = sql::parse(text);
  ORRERY_FUZZ_CHECK(parsed.ok(), "a statement setting up the database does not parse");
  sql::settings config;
  auto ran = sql::run(ds, tx, *parsed, owner(), config);
  if (!ran) std::fprintf(stderr, "%s\n%s\n", text.c_str(), ran.error().message.c_str());
  ORRERY_FUZZ_CHECK(ran.ok(), "a statement setting up the database failed");
}

std::unique_ptr<datastore> base_database() {
  auto ds = datastore::open(nullptr, nullptr, 1);
  ORRERY_FUZZ_CHECK(ds.ok(), "an in-memory datastore did not open");
  for (auto& schema : fuzz::sql_tables()) ORRERY_FUZZ_CHECK((*ds)->create_table(schema).ok(), "a table was refused");
  auto tx = (*ds)->begin();
  for (auto& text : fuzz::sql_rows()) run_or_die(**ds, tx, text);
  // A book the owner's `:sender` finds.
  run_or_die(**ds, tx,
             "INSERT INTO book VALUES (14, 2, 'His Master''s Voice', 1968, 4, 7.5, 0x03, 0x" + owner().id.to_hex() +
               ", '1968-01-01T00:00:00Z', 'owned', 2)");
  tx.commit();
  return std::move(*ds);
}

struct databases {
  std::unique_ptr<datastore> before = base_database();  // the rows before `change`
  std::unique_ptr<datastore> after = base_database();   // and after it
  commit_result change;

  databases() {
    auto tx = after->begin();
    for (const char* text : {
           "INSERT INTO person (name, age, city, score, active) VALUES ('gus', 30, 'London', 5.0, true)",
           "UPDATE person SET city = 'Rome' WHERE name = 'ada'",
           "DELETE FROM person WHERE name = 'eve'",
           "UPDATE book SET author_id = 2, note = 'moved' WHERE id = 10",
           "DELETE FROM author WHERE id = 3",
           "INSERT INTO author VALUES (4, 'Jemisin')",
           "INSERT INTO book (id, author_id, title, year, isbn, price, cover, owner, added, note, rank) VALUES "
           "(13, 4, 'The Fifth Season', 2015, 3, 20.0, 0x02, "
           "0xc200000000000000000000000000000000000000000000000000000000000003, '2015-08-04T00:00:00Z', NULL, 1)",
           "UPDATE secret SET text = 'there is no cake' WHERE id = 1",
         })
      run_or_die(*after, tx, text);
    change = tx.commit();
  }
};

std::set<std::string> initial_rows(datastore& ds, std::string_view text, const sql::caller& who,
                                   const sql::limits& bounds, std::shared_ptr<sql::subscription_query>* query,
                                   bool* complete) {
  std::set<std::string> rows;
  auto compiled = sql::subscription_query::compile(ds, text, who, bounds);
  ORRERY_FUZZ_CHECK(compiled.ok(), "a subscription query compiles on one database but not on another with the same tables");
  std::vector<std::string> out;
  *complete = (*compiled)->initial_rows(out, bounds).ok();
  for (auto& r : out) {
    bool fresh = rows.insert(r).second;
    ORRERY_FUZZ_CHECK(fresh, "a subscription's initial rows hold a row twice");
  }
  if (query) *query = *compiled;
  return rows;
}

void check_subscription(databases& db, std::string_view text, const sql::caller& who, const sql::limits& bounds) {
  auto probe = sql::subscription_query::compile(*db.after, text, who, bounds);
  if (!probe) return;

  std::shared_ptr<sql::subscription_query> query;
  bool after_complete = false, before_complete = false;
  std::set<std::string> after = initial_rows(*db.after, text, who, bounds, &query, &after_complete);
  std::set<std::string> before = initial_rows(*db.before, text, who, bounds, nullptr, &before_complete);
  if (!after_complete || !before_complete) return;  // past the time budget

  // The SQL engine's answer to the same query, row by row.
  auto parsed = sql::parse(text, bounds);
  ORRERY_FUZZ_CHECK(parsed.ok(), "a subscription query compiled but does not parse");
  sql::settings config;
  auto tx = db.after->begin();
  auto ran = sql::run(*db.after, tx, *parsed, who, config, bounds);
  tx.rollback();
  if (ran) {
    std::set<std::string> engine_rows;
    for (auto& row : ran->rows) engine_rows.insert(encode_value(product_value{row}));
    ORRERY_FUZZ_CHECK(engine_rows == after, "a subscription's initial rows differ from the SQL engine's rows");
  }

  std::vector<std::string> inserts, deletes;
  query->delta(db.change, inserts, deletes);
  std::set<std::string> applied = before;
  for (auto& r : deletes) {
    bool was_there = applied.erase(r) == 1;
    ORRERY_FUZZ_CHECK(was_there, "a subscription's delta deletes a row it did not hold");
  }
  for (auto& r : inserts) {
    bool fresh = applied.insert(r).second;
    ORRERY_FUZZ_CHECK(fresh, "a subscription's delta inserts a row it already held");
  }
  ORRERY_FUZZ_CHECK(applied == after, "a subscription's delta does not lead from the rows before a commit to those after");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static databases db;
  static const sql::limits bounds = fuzz_bounds();
  std::string_view text = fuzz::as_text(data, size);

  auto parsed = sql::parse(text, bounds);
  if (!parsed) return 0;
  for (const sql::caller& who : {stranger(), owner()}) {
    sql::settings config;  // SET changes only this run's settings
    auto tx = db.after->begin();
    auto ran = sql::run(*db.after, tx, *parsed, who, config, bounds);
    if (ran) (void)sql::response_json(*ran, 0);
    tx.rollback();
  }
  for (const sql::caller& who : {stranger(), owner()}) check_subscription(db, text, who, bounds);
  return 0;
}

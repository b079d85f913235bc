// Runs the declarative SQL tests in tests/sql/*.test against a real datastore.
//
// A file is a list of blocks separated by blank lines:
//   table NAME public|private (COL TYPE [pk] [unique] [autoinc] [btree] [hash], ...)
//   index NAME btree|hash (COL, ...)          a multi-column index on table NAME
//   filter SQL                                a row-level security filter
//   as owner | as stranger                    who runs what follows
//   statement ok / SQL                        must succeed (DML is committed)
//   query [scanned N] / SQL / ---- / rows     rows as JSON arrays, in order
//   error / SQL / ---- / text                 must fail with a message containing text
// TYPE is bool, i8..i256, u8..u256, f32, f64, string, bytes, identity,
// timestamp, or any of these followed by `?` for an Option.
//
// The Catch2 cases at the end build statements too big to write by hand.

#include "runtime/sql/engine.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/sql/row_security.hpp"
#include "runtime/sql/subscription.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/sats_json.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace orrery;

namespace {

algebraic_type parse_type(std::string name) {
  if (!name.empty() && name.back() == '?') return algebraic_type::option(parse_type(name.substr(0, name.size() - 1)));
  static const std::map<std::string, type_kind> kinds = {
    {"bool", type_kind::boolean}, {"i8", type_kind::i8},     {"u8", type_kind::u8},     {"i16", type_kind::i16},
    {"u16", type_kind::u16},      {"i32", type_kind::i32},   {"u32", type_kind::u32},   {"i64", type_kind::i64},
    {"u64", type_kind::u64},      {"i128", type_kind::i128}, {"u128", type_kind::u128}, {"i256", type_kind::i256},
    {"u256", type_kind::u256},    {"f32", type_kind::f32},   {"f64", type_kind::f64},   {"string", type_kind::string}};
  if (auto it = kinds.find(name); it != kinds.end()) return algebraic_type::primitive(it->second);
  if (name == "bytes") return algebraic_type::array_of(algebraic_type::primitive(type_kind::u8));
  if (name == "identity") return algebraic_type::identity();
  if (name == "timestamp") return algebraic_type::timestamp();
  FAIL("unknown column type " << name);
  return {};
}

std::vector<std::string> split(const std::string& s, char by) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == by) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

struct database {
  std::unique_ptr<datastore> ds = std::move(*datastore::open(nullptr, nullptr, 1));
  sql::settings config;
  sql::row_security visibility;
  sql::caller who{identity::from_claims("test", "owner"), true, true, &visibility};

  table_schema table_from(const std::string& line) {
    // table NAME public|private (COL TYPE flags, ...)
    auto open = line.find('('), close = line.rfind(')');
    auto head = split(trim(line.substr(5, open - 5)), ' ');
    table_schema s;
    s.name = head[0];
    s.is_public = head.size() > 1 && head[1] == "public";
    for (auto& part : split(line.substr(open + 1, close - open - 1), ',')) {
      auto words = split(trim(part), ' ');
      std::uint16_t col = std::uint16_t(s.columns.size());
      s.columns.push_back({words[0], parse_type(words[1]), {}});
      for (std::size_t i = 2; i < words.size(); ++i) {
        const std::string& flag = words[i];
        if (flag == "pk") {
          s.primary_key = col;
          s.indexes.push_back({0, s.name + "_" + words[0] + "_pk", index_algorithm::btree, {col}, true});
        } else if (flag == "unique") {
          s.indexes.push_back({0, s.name + "_" + words[0] + "_unique", index_algorithm::btree, {col}, true});
        } else if (flag == "btree" || flag == "hash") {
          s.indexes.push_back({0, s.name + "_" + words[0] + "_" + flag,
                               flag == "hash" ? index_algorithm::hash : index_algorithm::btree, {col}, false});
        } else if (flag == "autoinc") {
          s.sequences.push_back({col});
        }
      }
    }
    return s;
  }
};

std::string row_json(const std::vector<value>& row, const std::vector<sql::output_column>& columns) {
  std::string out = "[";
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i) out += ",";
    append_sats_json(out, row[i], columns[i].type);
  }
  return out + "]";
}

void run_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  database db;
  std::vector<table_schema> pending;  // tables are created once all `index` lines are read
  std::vector<table_schema> created;
  std::vector<std::string> filters;
  auto flush_tables = [&] {
    for (auto& s : pending) REQUIRE(db.ds->create_table(s).ok());
    created.insert(created.end(), pending.begin(), pending.end());
    pending.clear();
    auto compiled = sql::row_security::compile(filters, created);
    INFO((compiled ? "" : compiled.error().message));
    REQUIRE(compiled.ok());
    db.visibility = std::move(*compiled);
  };
  std::size_t i = 0;
  auto block = [&]() {  // lines up to a blank line
    std::vector<std::string> out;
    while (i < lines.size() && !trim(lines[i]).empty()) out.push_back(lines[i++]);
    return out;
  };
  while (i < lines.size()) {
    std::string line = trim(lines[i]);
    if (line.empty() || line[0] == '#') {
      ++i;
      continue;
    }
    std::size_t at = i + 1;
    INFO(file.filename().string() << ":" << at);
    if (line.rfind("table ", 0) == 0) {
      pending.push_back(db.table_from(line));
      ++i;
      continue;
    }
    if (line.rfind("filter ", 0) == 0) {
      filters.push_back(line.substr(7));
      ++i;
      continue;
    }
    if (line.rfind("index ", 0) == 0) {
      auto words = split(trim(line.substr(6, line.find('(') - 6)), ' ');
      auto cols = split(line.substr(line.find('(') + 1, line.rfind(')') - line.find('(') - 1), ',');
      auto it = std::find_if(pending.begin(), pending.end(), [&](auto& s) { return s.name == words[0]; });
      REQUIRE(it != pending.end());
      index_schema ix{0, words[0] + "_multi_" + std::to_string(it->indexes.size()),
                      words[1] == "hash" ? index_algorithm::hash : index_algorithm::btree, {}, false};
      for (auto& c : cols) ix.columns.push_back(*it->column_index(trim(c)));
      it->indexes.push_back(ix);
      ++i;
      continue;
    }
    flush_tables();
    if (line == "as owner" || line == "as stranger") {
      db.who = line == "as owner" ? sql::caller{identity::from_claims("test", "owner"), true, true, &db.visibility}
                                  : sql::caller{identity::from_claims("test", "stranger"), false, false, &db.visibility};
      ++i;
      continue;
    }
    auto words = split(line, ' ');
    ++i;
    auto body = block();
    std::string sql_text, expected_text;
    std::vector<std::string> expected;
    bool in_expected = false;
    for (auto& b : body) {
      if (trim(b) == "----") {
        in_expected = true;
        continue;
      }
      if (in_expected) expected.push_back(b);
      else sql_text += (sql_text.empty() ? "" : " ") + b;
    }
    INFO(sql_text);
    auto parsed = sql::parse(sql_text);
    std::optional<result<sql::query_result>> outcome;
    if (parsed) {
      auto tx = db.ds->begin();
      outcome.emplace(sql::run(*db.ds, tx, *parsed, db.who, db.config));
      if (outcome->ok()) tx.commit();
      else tx.rollback();
    }
    std::string error = !parsed ? parsed.error().message : !outcome->ok() ? outcome->error().message : "";
    if (words[0] == "statement") {
      CHECK(error == "");
    } else if (words[0] == "error") {
      REQUIRE(expected.size() == 1);
      CHECK_FALSE(error.empty());
      CHECK_THAT(error, Catch::Matchers::Contains(expected[0]));
    } else if (words[0] == "query") {
      REQUIRE(error == "");
      std::vector<std::string> got;
      for (auto& row : (*outcome)->rows) got.push_back(row_json(row, (*outcome)->columns));
      CHECK(got == expected);
      if (words.size() == 3 && words[1] == "scanned") CHECK((*outcome)->rows_scanned == std::stoull(words[2]));
    } else {
      FAIL("unknown directive: " << line);
    }
  }
}

} // namespace

TEST_CASE("declarative SQL tests", "[runtime][sql]") {
  std::vector<std::filesystem::path> files;
  for (auto& entry : std::filesystem::directory_iterator(ORRERY_SQL_TEST_DIR))
    if (entry.path().extension() == ".test") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE_FALSE(files.empty());
  for (auto& f : files) {
    INFO("file " << f.filename().string());
    run_file(f);
  }
}

namespace {

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Runs one statement as the SQL endpoint does, committing it when it succeeds.
result<sql::query_result> execute(database& db, const std::string& text, const sql::limits& bounds = {}) {
  auto parsed = sql::parse(text, bounds);
  if (!parsed) return parsed.error();
  auto tx = db.ds->begin();
  auto ran = sql::run(*db.ds, tx, *parsed, db.who, db.config, bounds);
  if (ran) tx.commit();
  else tx.rollback();
  return ran;
}

std::string error_of(const result<sql::query_result>& r) { return r ? std::string() : r.error().message; }

std::uint64_t count_of(database& db, const std::string& text) {
  auto r = execute(db, text);
  INFO(text.substr(0, 200));
  REQUIRE(error_of(r) == "");
  return *r->rows.at(0).at(0).get<std::uint64_t>();
}

// Table `num` with ids 0..rows-1 and v = id % 10.
void fill_numbers(database& db, std::size_t rows) {
  REQUIRE(db.ds->create_table(db.table_from("table num public (id u32 pk, v u32)")).ok());
  for (std::size_t from = 0; from < rows; from += 1000) {
    std::string text = "INSERT INTO num VALUES ";
    for (std::size_t i = from; i < std::min(rows, from + 1000); ++i)
      text += (i == from ? "(" : ", (") + std::to_string(i) + ", " + std::to_string(i % 10) + ")";
    REQUIRE(error_of(execute(db, text)) == "");
  }
}

// Room for statements past the length bound, so that only the bound under test refuses them.
sql::limits roomy() {
  sql::limits bounds;
  bounds.max_statement_bytes = 16 << 20;
  return bounds;
}

// 999 comparisons no row passes, then v = 3: every row evaluates all 1000.
std::string slow_condition() {
  std::string terms;
  for (int i = 0; i < 999; ++i) terms += "v = " + std::to_string(100 + i) + " OR ";
  return terms + "v = 3";
}

} // namespace

TEST_CASE("SQL statement length is bounded", "[runtime][sql]") {
  std::string text = "SELECT * FROM num WHERE id = 1" + std::string(70000, ' ');
  auto parsed = sql::parse(text);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().code == errc::invalid_argument);
  CHECK(parsed.error().message == "the statement is 70030 bytes long, past the limit of 65536 bytes; split it into "
                                  "several statements");
  CHECK(sql::parse(text, roomy()));
}

TEST_CASE("SQL conditions nest at most max_expression_depth deep", "[runtime][sql]") {
  database db;
  fill_numbers(db, 10);
  auto nested = [](std::size_t depth) {
    return "SELECT id FROM num WHERE " + repeat("(", depth) + "id = 1" + repeat(")", depth);
  };
  for (const std::string& text : {nested(100000), "SELECT id FROM num WHERE " + repeat("NOT ", 100000) + "id = 1"}) {
    auto parsed = sql::parse(text, roomy());
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == errc::invalid_argument);
    CHECK_THAT(parsed.error().message,
               Catch::Matchers::Contains("nests parentheses and NOT deeper than the limit of 64"));
    CHECK_THAT(sql::parse(text).error().message, Catch::Matchers::Contains("past the limit of 65536 bytes"));
  }
  CHECK_THAT(error_of(execute(db, nested(65))), Catch::Matchers::Contains("deeper than the limit of 64"));
  auto at_limit = execute(db, nested(64));
  REQUIRE(error_of(at_limit) == "");
  REQUIRE(at_limit->rows.size() == 1);
  CHECK(at_limit->rows[0][0] == value(std::uint32_t(1)));
  // An even number of NOTs at the limit.
  CHECK(count_of(db, "SELECT COUNT(*) FROM num WHERE " + repeat("NOT ", 64) + "v = 3") == 1);
}

TEST_CASE("SQL WHERE clauses hold at most max_where_terms comparisons", "[runtime][sql]") {
  database db;
  fill_numbers(db, 1000);
  auto chain = [](const char* op, std::size_t terms, auto term) {
    std::string text = "SELECT COUNT(*) AS n FROM num WHERE ";
    for (std::size_t i = 0; i < terms; ++i) text += (i ? op : "") + term(i);
    return text;
  };
  auto even_ids = [](std::size_t i) { return "id = " + std::to_string(2 * i); };

  for (const char* op : {" OR ", " AND "}) {
    auto parsed = sql::parse(chain(op, 200000, even_ids), roomy());
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == errc::invalid_argument);
    CHECK_THAT(parsed.error().message, Catch::Matchers::Contains("more comparisons than the limit of 1024"));
  }
  CHECK_THAT(error_of(execute(db, chain(" OR ", 1025, even_ids))),
             Catch::Matchers::Contains("more comparisons than the limit of 1024"));
  CHECK(count_of(db, chain(" OR ", 1024, even_ids)) == 500);

  // A long chain gives the answer a short one would.
  CHECK(count_of(db, chain(" OR ", 500, even_ids)) == 500);
  CHECK(count_of(db, chain(" OR ", 500, [](std::size_t i) { return "id = " + std::to_string(1000 + i); })) == 0);
  CHECK(count_of(db, chain(" OR ", 500, [](std::size_t i) { return "(v = 3 AND id = " + std::to_string(2 * i + 1) + ")"; })) == 100);
  CHECK(count_of(db, chain(" AND ", 500, [](std::size_t i) { return "id != " + std::to_string(i); })) == 500);

  // The index still serves one conjunct of a long AND chain.
  auto pinned = execute(db, chain(" AND ", 500, [](std::size_t i) { return i ? "v != " + std::to_string(10 + i) : std::string("id = 7"); }));
  REQUIRE(error_of(pinned) == "");
  CHECK(pinned->rows_scanned == 1);
  CHECK(pinned->rows[0][0] == value(std::uint64_t(1)));
}

TEST_CASE("SQL select lists are bounded", "[runtime][sql]") {
  database db;
  fill_numbers(db, 5000);
  CHECK_THAT(error_of(execute(db, "SELECT " + repeat("id, ", 256) + "id FROM num")),
             Catch::Matchers::Contains("selects more items than the limit of 256"));
  CHECK(error_of(execute(db, "SELECT " + repeat("id, ", 255) + "id FROM num LIMIT 1")) == "");

  sql::limits small;
  small.max_result_values = 100;
  CHECK(error_of(execute(db, "SELECT * FROM num", small)) ==
        "the result would hold 5000 rows of 2 columns, more than the limit of 100 values; select fewer columns, or add a "
        "WHERE or LIMIT");
  auto fits = execute(db, "SELECT * FROM num LIMIT 50", small);
  REQUIRE(error_of(fits) == "");
  CHECK(fits->rows.size() == 50);
}

TEST_CASE("SQL joins build at most max_join_rows rows, whatever row_limit says", "[runtime][sql]") {
  database db;
  fill_numbers(db, 100);
  sql::limits small;
  small.max_join_rows = 1000;
  std::string cross = "SELECT COUNT(*) AS n FROM num a JOIN num b";
  CHECK(error_of(execute(db, cross, small)) ==
        "the join with `b` builds more than 1000 rows, the limit for one query; narrow it with ON or WHERE");
  CHECK(count_of(db, cross) == 10000);

  // row_limit applies when it is the tighter bound.
  db.config.row_limit = 500;
  CHECK_THAT(error_of(execute(db, cross, small)), Catch::Matchers::Contains("more than row_limit (500) rows"));
  db.config.row_limit = 5000;
  CHECK_THAT(error_of(execute(db, cross, small)), Catch::Matchers::Contains("more than 1000 rows, the limit"));
}

TEST_CASE("SQL joins stop at one million rows by default", "[runtime][sql][.]") {
  database db;
  fill_numbers(db, 101);
  sql::limits unhurried;
  unhurried.time_budget = std::chrono::milliseconds::zero();
  CHECK(error_of(execute(db, "SELECT COUNT(*) AS n FROM num a JOIN num b JOIN num c", unhurried)) ==
        "the join with `c` builds more than 1000000 rows, the limit for one query; narrow it with ON or WHERE");
}

TEST_CASE("SQL statements stop at their time budget", "[runtime][sql]") {
  database db;
  fill_numbers(db, 5000);
  sql::limits tight;
  tight.time_budget = std::chrono::milliseconds(1);
  // 25 million joined rows to look at, 500 of them counted.
  std::string heavy = "SELECT COUNT(*) AS n FROM num a JOIN num b WHERE a.id = b.id AND b.v = 4";
  auto stopped = execute(db, heavy, tight);
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().code == errc::invalid_argument);
  CHECK(stopped.error().message ==
        "the query ran past its time budget of 1 ms; narrow it, for instance with a WHERE on an indexed column");

  // Single-table scans and DML are budgeted too; a stopped DELETE deletes nothing.
  std::string where = " WHERE " + slow_condition();
  CHECK_THAT(error_of(execute(db, "SELECT COUNT(*) AS n FROM num" + where, tight)),
             Catch::Matchers::Contains("time budget of 1 ms"));
  CHECK_THAT(error_of(execute(db, "DELETE FROM num" + where, tight)), Catch::Matchers::Contains("time budget of 1 ms"));
  CHECK(count_of(db, "SELECT COUNT(*) AS n FROM num") == 5000);

  sql::limits unhurried;
  unhurried.time_budget = std::chrono::milliseconds::zero();
  auto counted = execute(db, "SELECT COUNT(*) AS n FROM num" + where, unhurried);
  REQUIRE(error_of(counted) == "");
  CHECK(counted->rows[0][0] == value(std::uint64_t(500)));
}

TEST_CASE("subscription initial rows stop at their time budget", "[runtime][sql]") {
  database db;
  fill_numbers(db, 5000);
  auto query = sql::subscription_query::compile(*db.ds, "SELECT * FROM num WHERE " + slow_condition(), db.who);
  REQUIRE(query);

  sql::limits tight;
  tight.time_budget = std::chrono::milliseconds(1);
  std::vector<std::string> rows{"kept"};
  auto stopped = (*query)->initial_rows(rows, tight);
  REQUIRE_FALSE(stopped);
  CHECK_THAT(stopped.error().message, Catch::Matchers::Contains("time budget of 1 ms"));
  CHECK(rows == std::vector<std::string>{"kept"});

  rows.clear();
  REQUIRE((*query)->initial_rows(rows));
  CHECK(rows.size() == 500);

  auto deep = sql::subscription_query::compile(*db.ds, "SELECT * FROM num WHERE " + repeat("(", 65) + "id = 1" +
                                                            repeat(")", 65), db.who);
  REQUIRE_FALSE(deep);
  CHECK_THAT(deep.error().message, Catch::Matchers::Contains("deeper than the limit of 64"));
}

TEST_CASE("row-level security: a subscriber gets and hears of the rows its filters select", "[runtime][sql]") {
  database db;
  table_schema note = db.table_from("table note public (id u32 pk, owner identity)");
  REQUIRE(db.ds->create_table(note).ok());
  auto compiled = sql::row_security::compile({"SELECT * FROM note WHERE owner = :sender"}, {note});
  REQUIRE(compiled);
  db.visibility = std::move(*compiled);
  identity alice = identity::from_claims("test", "alice"), bob = identity::from_claims("test", "bob");
  auto insert = [&](int id, const identity& who) {
    auto parsed = sql::parse("INSERT INTO note VALUES (" + std::to_string(id) + ", 0x" + who.to_hex() + ")");
    REQUIRE(parsed);
    auto tx = db.ds->begin();
    REQUIRE(sql::run(*db.ds, tx, *parsed, db.who, db.config));
    return tx.commit();
  };
  insert(1, alice);
  insert(2, bob);

  sql::caller as_alice{alice, false, false, &db.visibility};
  auto query = sql::subscription_query::compile(*db.ds, "SELECT * FROM note", as_alice);
  REQUIRE(query);
  std::vector<std::string> rows;
  REQUIRE((*query)->initial_rows(rows));
  REQUIRE(rows.size() == 1);
  std::string alices_row("\x01\0\0\0", 4);  // id 1, then the identity as a little-endian u256
  alices_row.append(alice.bytes.rbegin(), alice.bytes.rend());
  CHECK(rows[0] == alices_row);

  std::vector<std::string> inserts, deletes;
  (*query)->delta(insert(3, bob), inserts, deletes);
  CHECK(inserts.empty());
  (*query)->delta(insert(4, alice), inserts, deletes);
  CHECK(inserts.size() == 1);

  // The owner bypasses the filters.
  auto owned = sql::subscription_query::compile(*db.ds, "SELECT * FROM note", db.who);
  REQUIRE(owned);
  rows.clear();
  REQUIRE((*owned)->initial_rows(rows));
  CHECK(rows.size() == 4);
}

TEST_CASE("row-level security filters are checked against the module's tables", "[runtime][sql]") {
  database db;
  std::vector<table_schema> tables{db.table_from("table note public (id u32 pk, owner identity)"),
                                   db.table_from("table topic public (id u32 pk)")};
  auto refusal = [&](const std::string& filter) {
    auto compiled = sql::row_security::compile({filter}, tables);
    return compiled ? std::string() : compiled.error().message;
  };
  CHECK(refusal("SELECT * FROM note WHERE owner = :sender") == "");
  CHECK(refusal("SELECT note.* FROM note") == "");
  CHECK_THAT(refusal("SELECT * FROM nosuch"), Catch::Matchers::Contains("the module declares no table `nosuch`"));
  CHECK_THAT(refusal("SELECT * FROM note WHERE writer = :sender"),
             Catch::Matchers::Contains("unknown column `writer` in table `note`"));
  CHECK_THAT(refusal("SELECT * FROM note WHERE id = :sender"), Catch::Matchers::Contains("type mismatch"));
  CHECK_THAT(refusal("SELECT id FROM note"), Catch::Matchers::Contains("SELECT * or SELECT t.*"));
  CHECK_THAT(refusal("SELECT n.* FROM note n JOIN topic t ON t.id = n.id"),
             Catch::Matchers::Contains("filters that join tables are not supported yet"));
  CHECK_THAT(refusal("DELETE FROM note"), Catch::Matchers::Contains("row-level security filter `DELETE FROM note`"));
  CHECK_THAT(refusal("SELECT * FROM note WHERE"), Catch::Matchers::Contains("row-level security filter"));
}

// Runs the declarative SQL tests in tests/sql/*.test against a real datastore.
//
// A file is a list of blocks separated by blank lines:
//   table NAME public|private (COL TYPE [pk] [unique] [autoinc] [btree] [hash], ...)
//   index NAME btree|hash (COL, ...)          a multi-column index on table NAME
//   as owner | as stranger                    who runs what follows
//   statement ok / SQL                        must succeed (DML is committed)
//   query [scanned N] / SQL / ---- / rows     rows as JSON arrays, in order
//   error / SQL / ---- / text                 must fail with a message containing text
// TYPE is bool, i8..i256, u8..u256, f32, f64, string, bytes, identity,
// timestamp, or any of these followed by `?` for an Option.

#include "runtime/bsatn.hpp"
#include "runtime/datastore.hpp"
#include "runtime/sats_json.hpp"
#include "runtime/sql/engine.hpp"
#include "runtime/sql/parser.hpp"

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
  sql::caller who{identity::from_claims("test", "owner"), true};

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
  auto flush_tables = [&] {
    for (auto& s : pending) REQUIRE(db.ds->create_table(s).ok());
    pending.clear();
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
      db.who = line == "as owner" ? sql::caller{identity::from_claims("test", "owner"), true}
                                  : sql::caller{identity::from_claims("test", "stranger"), false};
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

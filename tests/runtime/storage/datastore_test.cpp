// The datastore: every index kind, transactions, sequences, durability.

#include "runtime/storage/committer.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/identity.hpp"
#include "runtime/types/row_codec.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <random>

using namespace orrery;

namespace {
using T = algebraic_type;

struct temp_store {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("orrery-ds-" + random_uuid());
  std::unique_ptr<store> db;
  std::unique_ptr<committer> durability;
  temp_store() { reopen(); }
  ~temp_store() {
    durability.reset();
    db.reset();
    std::filesystem::remove_all(path);
  }
  void reopen() {
    durability.reset();
    db.reset();
    std::string error;
    db = store::open(path.string(), error);
    REQUIRE(db);
    durability = std::make_unique<committer>(*db);
  }
};

// account(id u64 pk auto_inc, name string unique, team u32, score i64)
// indexes: pk btree, name unique hash, (team, score) btree
table_schema accounts() {
  table_schema s;
  s.name = "account";
  s.columns = {{"id", T::primitive(type_kind::u64), {}},
               {"name", T::primitive(type_kind::string), {}},
               {"team", T::primitive(type_kind::u32), {}},
               {"score", T::primitive(type_kind::i64), {}}};
  s.primary_key = 0;
  s.indexes = {{0, "account_id_idx_btree", index_algorithm::btree, {0}, true},
               {0, "account_name_idx_hash", index_algorithm::hash, {1}, true},
               {0, "account_team_score_idx_btree", index_algorithm::btree, {2, 3}, false}};
  s.sequences = {{0}};
  s.is_public = true;
  return s;
}

std::string row(std::uint64_t id, const std::string& name, std::uint32_t team, std::int64_t score) {
  return encode_value(product_value{{id, name, team, score}});
}

std::string u64_key(std::uint64_t x) { return encode_value(x); }

struct fixture {
  std::unique_ptr<datastore> ds;
  table_id account = 0;
  index_id pk = 0, by_name = 0, by_team_score = 0;

  explicit fixture(store* db = nullptr, committer* c = nullptr, bool create = true,
                   std::size_t checkpoint_bytes = 4 << 20) {
    auto opened = datastore::open(db, c, 7, checkpoint_bytes);
    REQUIRE(opened.ok());
    ds = std::move(*opened);
    if (create) REQUIRE(ds->create_table(accounts()).ok());
    const table* t = ds->find_table("account");
    REQUIRE(t);
    account = t->schema().id;
    pk = t->schema().index_named("account_id_idx_btree")->id;
    by_name = t->schema().index_named("account_name_idx_hash")->id;
    by_team_score = t->schema().index_named("account_team_score_idx_btree")->id;
  }
};

std::vector<std::string> sorted(std::vector<std::string_view> rows) {
  std::vector<std::string> out(rows.begin(), rows.end());
  std::sort(out.begin(), out.end());
  return out;
}
} // namespace

TEST_CASE("inserts, point lookups and set semantics", "[runtime]") {
  fixture f;
  auto tx = f.ds->begin();
  REQUIRE(tx.insert(f.account, row(10, "ada", 1, 5)).ok());
  REQUIRE(tx.insert(f.account, row(11, "bob", 1, 7)).ok());
  // The same row again is a no-op, not an error.
  REQUIRE(tx.insert(f.account, row(10, "ada", 1, 5)).ok());
  CHECK(*tx.row_count(f.account) == 2);
  auto found = tx.scan_point(f.pk, u64_key(11));
  REQUIRE(found.ok());
  REQUIRE(found->size() == 1);
  CHECK((*found)[0] == row(11, "bob", 1, 7));
  CHECK(tx.scan_point(f.pk, u64_key(12))->empty());
  auto by_name = tx.scan_point(f.by_name, encode_value(std::string("ada")));
  REQUIRE(by_name->size() == 1);
  CHECK((*by_name)[0] == row(10, "ada", 1, 5));
  tx.commit();
}

TEST_CASE("unique violations are told apart from other errors", "[runtime]") {
  fixture f;
  auto tx = f.ds->begin();
  REQUIRE(tx.insert(f.account, row(1, "ada", 1, 5)).ok());
  auto same_pk = tx.insert(f.account, row(1, "eve", 2, 0));
  REQUIRE_FALSE(same_pk.ok());
  CHECK(same_pk.error().code == errc::unique_already_exists);
  CHECK(same_pk.error().message.find("account_id_idx_btree") != std::string::npos);
  auto same_name = tx.insert(f.account, row(2, "ada", 2, 0));
  CHECK(same_name.error().code == errc::unique_already_exists);
  CHECK(same_name.error().message.find("account_name_idx_hash") != std::string::npos);
  auto garbage = tx.insert(f.account, "\x01\x02");
  CHECK(garbage.error().code == errc::bsatn_decode);
  CHECK(tx.insert(999, row(3, "x", 0, 0)).error().code == errc::no_such_table);
  CHECK(tx.scan_point(999, u64_key(1)).error().code == errc::no_such_index);
  CHECK(*tx.row_count(f.account) == 1);
}

TEST_CASE("auto-increment fills zero and writes the value back", "[runtime]") {
  fixture f;
  auto tx = f.ds->begin();
  auto first = tx.insert(f.account, row(0, "a", 0, 0));
  auto second = tx.insert(f.account, row(0, "b", 0, 0));
  REQUIRE(first.ok());
  CHECK(*first == u64_key(1));
  CHECK(*second == u64_key(2));
  CHECK(tx.insert(f.account, row(50, "c", 0, 0))->empty());  // explicit values are kept
  CHECK(tx.scan_point(f.pk, u64_key(2))->at(0) == row(2, "b", 0, 0));
  CHECK(tx.scan_point(f.pk, u64_key(50))->size() == 1);
}

TEST_CASE("btree point, prefix and range scans over two columns", "[runtime]") {
  fixture f;
  auto tx = f.ds->begin();
  std::uint64_t id = 1;
  for (std::uint32_t team : {1u, 2u, 3u})
    for (std::int64_t score : {-5, 0, 5, 10}) {
      REQUIRE(tx.insert(f.account, row(id, "p" + std::to_string(id), team, score)).ok());
      ++id;
    }

  std::string team2 = encode_value(std::uint32_t(2));
  auto point = tx.scan_point(f.by_team_score, team2 + encode_value(std::int64_t(5)));
  REQUIRE(point->size() == 1);

  auto scores = [&](const range_scan& r) {
    std::vector<std::int64_t> out;
    auto rows = tx.scan_range(f.by_team_score, r);
    REQUIRE(rows.ok());
    for (auto bytes : *rows) out.push_back(std::get<std::int64_t>(decode_value(f.ds->find_table(f.account)->row_type(), bytes)->get<product_value>()->fields[3].v));
    return out;
  };
  std::string zero = encode_value(std::int64_t(0)), ten = encode_value(std::int64_t(10));
  using B = bound::kind;
  // Prefix only: the whole team, in score order.
  CHECK(scores({team2, 1, {B::unbounded, {}}, {B::unbounded, {}}}) == std::vector<std::int64_t>{-5, 0, 5, 10});
  CHECK(scores({team2, 1, {B::included, zero}, {B::excluded, ten}}) == std::vector<std::int64_t>{0, 5});
  CHECK(scores({team2, 1, {B::excluded, zero}, {B::included, ten}}) == std::vector<std::int64_t>{5, 10});
  CHECK(scores({team2, 1, {B::unbounded, {}}, {B::excluded, zero}}) == std::vector<std::int64_t>{-5});
  // Range on the first column: teams 2..3 inclusive.
  std::string team3 = encode_value(std::uint32_t(3));
  CHECK(scores({"", 0, {B::included, team2}, {B::included, team3}}).size() == 8);
  CHECK(scores({"", 0, {B::excluded, team2}, {B::unbounded, {}}}).size() == 4);
  // Hash indexes do not do ranges.
  auto hash_range = tx.scan_range(f.by_name, {"", 0, {B::unbounded, {}}, {B::unbounded, {}}});
  CHECK(hash_range.error().code == errc::wrong_index_algorithm);
  // Prefix scan through the point API: all of team 3.
  CHECK(tx.scan_point(f.by_team_score, team3).error().code == errc::bsatn_decode);
}

TEST_CASE("update by unique index, and its failures", "[runtime]") {
  fixture f;
  auto tx = f.ds->begin();
  REQUIRE(tx.insert(f.account, row(1, "ada", 1, 5)).ok());
  REQUIRE(tx.insert(f.account, row(2, "bob", 1, 7)).ok());
  REQUIRE(tx.update(f.account, f.pk, row(1, "ada", 1, 50)).ok());
  CHECK(tx.scan_point(f.pk, u64_key(1))->at(0) == row(1, "ada", 1, 50));
  CHECK(tx.update(f.account, f.pk, row(3, "cat", 1, 1)).error().code == errc::no_such_row);
  CHECK(tx.update(f.account, f.by_team_score, row(1, "ada", 1, 1)).error().code == errc::index_not_unique);
  // Renaming ada to bob collides with bob: ada's row must survive unchanged.
  CHECK(tx.update(f.account, f.pk, row(1, "bob", 1, 5)).error().code == errc::unique_already_exists);
  CHECK(tx.scan_point(f.pk, u64_key(1))->at(0) == row(1, "ada", 1, 50));
  CHECK(tx.scan_point(f.by_name, encode_value(std::string("ada")))->size() == 1);
  // Update through the hash index.
  REQUIRE(tx.update(f.account, f.by_name, row(2, "bob", 9, 9)).ok());
  CHECK(tx.scan_point(f.pk, u64_key(2))->at(0) == row(2, "bob", 9, 9));
}

TEST_CASE("deletes by point, range, row and clear", "[runtime]") {
  fixture f;
  auto tx = f.ds->begin();
  for (std::uint64_t i = 1; i <= 10; ++i) REQUIRE(tx.insert(f.account, row(i, "n" + std::to_string(i), std::uint32_t(i % 2), std::int64_t(i))).ok());
  CHECK(*tx.delete_point(f.pk, u64_key(3)) == 1);
  CHECK(*tx.delete_point(f.pk, u64_key(3)) == 0);
  using B = bound::kind;
  std::string odd = encode_value(std::uint32_t(1));
  // Odd team, scores 5..9 inclusive: 5, 7, 9.
  CHECK(*tx.delete_range(f.by_team_score, {odd, 1, {B::included, encode_value(std::int64_t(5))}, {B::included, encode_value(std::int64_t(9))}}) == 3);
  CHECK(*tx.delete_row(f.account, row(2, "n2", 0, 2)) == true);
  CHECK(*tx.delete_row(f.account, row(2, "n2", 0, 2)) == false);
  CHECK(*tx.row_count(f.account) == 5);
  CHECK(*tx.clear(f.account) == 5);
  CHECK(tx.scan(f.account)->empty());
}

TEST_CASE("rollback restores rows and indexes; commits report their changes", "[runtime]") {
  fixture f;
  {
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(1, "ada", 1, 5)).ok());
    REQUIRE(tx.insert(f.account, row(2, "bob", 1, 7)).ok());
    auto result = tx.commit();
    REQUIRE(result.updates.size() == 1);
    CHECK(result.updates[0].inserts.size() == 2);
    CHECK(result.updates[0].table_name == "account");
  }
  {
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(3, "cat", 2, 1)).ok());
    REQUIRE(*tx.delete_point(f.pk, u64_key(1)) == 1);
    REQUIRE(tx.update(f.account, f.pk, row(2, "bob", 1, 70)).ok());
    tx.rollback();
  }
  {
    auto tx = f.ds->begin();
    CHECK(sorted(*tx.scan(f.account)) == std::vector<std::string>{row(1, "ada", 1, 5), row(2, "bob", 1, 7)});
    CHECK(tx.scan_point(f.by_name, encode_value(std::string("cat")))->empty());
    CHECK(tx.scan_point(f.by_name, encode_value(std::string("ada")))->size() == 1);
    // A row inserted and deleted in one transaction leaves no trace.
    REQUIRE(tx.insert(f.account, row(4, "dan", 0, 0)).ok());
    REQUIRE(*tx.delete_point(f.pk, u64_key(4)) == 1);
    REQUIRE(*tx.delete_point(f.pk, u64_key(1)) == 1);
    auto result = tx.commit();
    REQUIRE(result.updates.size() == 1);
    CHECK(result.updates[0].inserts.empty());
    CHECK(result.updates[0].deletes == std::vector<std::string>{row(1, "ada", 1, 5)});
  }
  {
    // Dropping an open transaction rolls it back.
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(9, "zed", 0, 0)).ok());
  }
  auto tx = f.ds->begin();
  CHECK(*tx.row_count(f.account) == 1);
}

TEST_CASE("data, indexes and sequences survive reopening", "[runtime]") {
  temp_store s;
  std::uint64_t last_id = 0;
  {
    fixture f(s.db.get(), s.durability.get());
    auto tx = f.ds->begin();
    for (int i = 0; i < 100; ++i) {
      auto gen = tx.insert(f.account, row(0, "u" + std::to_string(i), std::uint32_t(i % 3), i));
      REQUIRE(gen.ok());
      last_id = std::get<std::uint64_t>(decode_value(T::primitive(type_kind::u64), *gen)->v);
    }
    REQUIRE(*tx.delete_point(f.pk, u64_key(5)) == 1);
    bool durable = false;
    tx.commit([&] { durable = true; });
    s.durability->flush();
    CHECK(durable);
  }
  s.reopen();
  fixture f(s.db.get(), s.durability.get(), false);
  auto tx = f.ds->begin();
  CHECK(*tx.row_count(f.account) == 99);
  CHECK(tx.scan_point(f.pk, u64_key(5))->empty());
  CHECK(tx.scan_point(f.by_name, encode_value(std::string("u42")))->at(0) == row(43, "u42", 0, 42));
  using B = bound::kind;
  CHECK(tx.scan_range(f.by_team_score, {encode_value(std::uint32_t(1)), 1, {B::unbounded, {}}, {B::unbounded, {}}})->size() == 32);  // 33 in team 1, id 5 deleted
  // A sequence never hands out a value again after a restart.
  auto gen = tx.insert(f.account, row(0, "after", 0, 0));
  REQUIRE(gen.ok());
  CHECK(std::get<std::uint64_t>(decode_value(T::primitive(type_kind::u64), *gen)->v) > last_id);
}

TEST_CASE("an event table's rows reach the commit's update and are never kept", "[runtime]") {
  temp_store s;
  table_schema ping;
  ping.name = "ping";
  ping.columns = {{"id", T::primitive(type_kind::u32), {}}};
  ping.indexes = {{0, "ping_id_idx_btree", index_algorithm::btree, {0}, true}};
  ping.is_event = true;
  table_id id = 0;
  {
    fixture f(s.db.get(), s.durability.get());
    auto created = f.ds->create_table(ping);
    REQUIRE(created);
    id = *created;
    for (std::uint32_t round = 0; round < 3; ++round) {
      auto tx = f.ds->begin();
      REQUIRE(tx.insert(id, encode_value(product_value{{std::uint32_t(1)}})));
      REQUIRE(tx.insert(id, encode_value(product_value{{std::uint32_t(2)}})));
      REQUIRE(*tx.delete_row(id, encode_value(product_value{{std::uint32_t(2)}})));
      REQUIRE(tx.insert(f.account, row(0, "r" + std::to_string(round), 0, 0)));
      CHECK(*tx.row_count(id) == 1);  // the transaction sees its own events
      commit_result done = tx.commit();
      auto update = std::find_if(done.updates.begin(), done.updates.end(), [&](auto& u) { return u.table == id; });
      REQUIRE(update != done.updates.end());
      CHECK(update->inserts == std::vector<std::string>{encode_value(product_value{{std::uint32_t(1)}})});
      CHECK(update->deletes.empty());
      // Empty again: the same unique key inserts in the next round.
      CHECK(f.ds->find_table(id)->row_count() == 0);
    }
    f.ds->checkpoint_now();
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(id, encode_value(product_value{{std::uint32_t(3)}})));
    tx.commit();
    s.durability->flush();
  }
  s.reopen();
  fixture f(s.db.get(), s.durability.get(), false);
  REQUIRE(f.ds->find_table("ping"));
  CHECK(f.ds->find_table("ping")->row_count() == 0);
  CHECK(f.ds->find_table("account")->row_count() == 3);
}

TEST_CASE("renamed columns keep their rows and indexes, across reopens", "[runtime]") {
  temp_store s;
  {
    fixture f(s.db.get(), s.durability.get());
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(0, "ada", 1, 10)));
    tx.commit();
    REQUIRE(f.ds->rename_columns(f.account, {"id", "display_name", "team_id", "score"}));
    CHECK(f.ds->find_table(f.account)->schema().columns[1].name == "display_name");
    CHECK_FALSE(f.ds->rename_columns(f.account, {"id"}));
    s.durability->flush();
  }
  s.reopen();
  fixture f(s.db.get(), s.durability.get(), false);
  const table_schema& schema = f.ds->find_table(f.account)->schema();
  CHECK(schema.columns[2].name == "team_id");
  CHECK(*f.ds->find_table(f.account)->row_type().elements[2].name == "team_id");
  auto tx = f.ds->begin();
  CHECK(tx.scan_point(f.by_name, encode_value(std::string("ada")))->size() == 1);
}

TEST_CASE("randomized operations match a simple model, across reopens", "[runtime]") {
  // Never checkpointed (the log replays) and checkpointed every few commits.
  const std::size_t checkpoint_bytes = GENERATE(std::size_t(4) << 20, std::size_t(256));
  temp_store s;
  auto f = std::make_unique<fixture>(s.db.get(), s.durability.get(), true, checkpoint_bytes);
  std::map<std::uint64_t, std::string> model;  // id -> row
  std::mt19937_64 rng(7);
  auto name_of = [](std::uint64_t id, int gen) { return "n" + std::to_string(id) + "g" + std::to_string(gen); };
  for (int round = 0; round < 300; ++round) {
    auto committed = model;
    auto tx = f->ds->begin();
    int ops = 1 + int(rng() % 20);
    for (int op = 0; op < ops; ++op) {
      std::uint64_t id = 1 + rng() % 200;
      switch (rng() % 4) {
        case 0: {  // insert
          std::string r = row(id, name_of(id, int(rng() % 3)), std::uint32_t(rng() % 5), std::int64_t(rng() % 100) - 50);
          auto got = tx.insert(f->account, r);
          // Names embed the id, so only the primary key can collide.
          if (model.count(id) && model[id] != r) CHECK(got.error().code == errc::unique_already_exists);
          else {
            REQUIRE(got.ok());
            model[id] = r;
          }
          break;
        }
        case 1: {  // delete by pk
          auto n = tx.delete_point(f->pk, u64_key(id));
          CHECK(*n == model.erase(id));
          break;
        }
        case 2: {  // update score
          auto it = model.find(id);
          if (it == model.end()) {
            CHECK(tx.update(f->account, f->pk, row(id, "x", 0, 0)).error().code == errc::no_such_row);
            break;
          }
          auto v = decode_value(f->ds->find_table(f->account)->row_type(), it->second);
          auto fields = v->get<product_value>()->fields;
          fields[3] = std::int64_t(rng() % 1000);
          std::string r = encode_value(product_value{fields});
          REQUIRE(tx.update(f->account, f->pk, r).ok());
          it->second = r;
          break;
        }
        case 3: {  // range delete on one team
          std::uint32_t team = std::uint32_t(rng() % 5);
          using B = bound::kind;
          auto n = tx.delete_range(f->by_team_score, {encode_value(team), 1, {B::included, encode_value(std::int64_t(0))}, {B::unbounded, {}}});
          std::size_t expected = 0;
          for (auto it = model.begin(); it != model.end();) {
            auto fields = decode_value(f->ds->find_table(f->account)->row_type(), it->second)->get<product_value>()->fields;
            if (std::get<std::uint32_t>(fields[2].v) == team && std::get<std::int64_t>(fields[3].v) >= 0) {
              it = model.erase(it);
              ++expected;
            } else {
              ++it;
            }
          }
          CHECK(*n == expected);
          break;
        }
      }
    }
    if (rng() % 4 == 0) {
      tx.rollback();
      model = committed;
    } else {
      tx.commit();
    }
    if (round % 50 == 49) {  // reopen from the store
      s.durability->flush();
      f.reset();
      s.reopen();
      f = std::make_unique<fixture>(s.db.get(), s.durability.get(), false, checkpoint_bytes);
    }
    auto check = f->ds->begin();
    std::vector<std::string> expected;
    for (auto& [k, v] : model) expected.push_back(v);
    std::sort(expected.begin(), expected.end());
    REQUIRE(sorted(*check.scan(f->account)) == expected);
    for (auto& [k, v] : model) REQUIRE(check.scan_point(f->pk, u64_key(k))->at(0) == v);
    check.rollback();
  }
}

namespace {
std::size_t keys_under(const store& db, const std::string& prefix) {
  std::size_t n = 0;
  db.scan(prefix, [&](std::string_view, std::string_view) { return ++n, true; });
  return n;
}
} // namespace

TEST_CASE("commits go to the commit log until a checkpoint writes their tables whole", "[runtime]") {
  temp_store s;
  const std::string snapshot = keys::table_snapshot(7, 1), log = keys::commit_log(7);
  const std::size_t checkpoint_bytes = 400;
  {
    fixture f(s.db.get(), s.durability.get(), true, checkpoint_bytes);
    REQUIRE(f.account == 1);
    for (std::uint64_t id = 1; id <= 4; ++id) {
      auto tx = f.ds->begin();
      REQUIRE(tx.insert(f.account, row(id, "n" + std::to_string(id), 1, 0)).ok());
      tx.commit();
    }
    auto tx = f.ds->begin();
    REQUIRE(tx.update(f.account, f.pk, row(2, "n2", 1, 50)).ok());
    REQUIRE(*tx.delete_point(f.pk, u64_key(3)) == 1);
    tx.commit();
    s.durability->flush();
    CHECK(keys_under(*s.db, snapshot) == 0);
    CHECK(keys_under(*s.db, log) == 5);
  }
  s.reopen();  // the log replays
  {
    fixture f(s.db.get(), s.durability.get(), false, checkpoint_bytes);
    auto tx = f.ds->begin();
    CHECK(sorted(*tx.scan(f.account)) ==
          std::vector<std::string>{row(1, "n1", 1, 0), row(2, "n2", 1, 50), row(4, "n4", 1, 0)});
    tx.commit();
    for (std::uint64_t id = 10; keys_under(*s.db, log) > 0; ++id) {  // until a checkpoint
      REQUIRE(id < 100);
      auto more = f.ds->begin();
      REQUIRE(more.insert(f.account, row(id, "m" + std::to_string(id), 2, 0)).ok());
      more.commit();
      s.durability->flush();
    }
    CHECK(keys_under(*s.db, snapshot) == 1);  // one chunk
    auto later = f.ds->begin();
    REQUIRE(*later.delete_point(f.pk, u64_key(10)) == 1);
    later.commit();
    s.durability->flush();
    CHECK(keys_under(*s.db, log) == 1);
  }
  s.reopen();  // the snapshot, then the log after it
  {
    fixture f(s.db.get(), s.durability.get(), false, checkpoint_bytes);
    auto tx = f.ds->begin();
    CHECK(tx.scan_point(f.pk, u64_key(10))->empty());
    CHECK(tx.scan_point(f.pk, u64_key(11))->size() == 1);
    CHECK(tx.scan_point(f.pk, u64_key(2))->at(0) == row(2, "n2", 1, 50));
    CHECK(tx.scan_point(f.pk, u64_key(3))->empty());
    tx.commit();
    bool durable = false;
    f.ds->checkpoint_now([&] { durable = true; });  // as a database does before it sleeps
    s.durability->flush();
    CHECK(durable);
    CHECK(keys_under(*s.db, log) == 0);
  }
  s.reopen();
  fixture f(s.db.get(), s.durability.get(), false, checkpoint_bytes);
  CHECK(f.ds->begin().scan_point(f.pk, u64_key(10))->empty());
}

TEST_CASE("rows stored one per key by earlier versions load, and a checkpoint replaces them", "[runtime]") {
  temp_store s;
  {
    fixture f(s.db.get(), s.durability.get());
    s.durability->flush();
  }
  write_batch earlier;  // as earlier versions stored two rows
  for (std::uint64_t id : {1, 2}) {
    std::string value;
    row_to_msgpack(accounts(), row(id, "e" + std::to_string(id), 1, 0), value);
    earlier.put(keys::table_rows(7, 1) + encode_value(id), value);
  }
  REQUIRE(s.db->write(earlier, true).ok());
  fixture f(s.db.get(), s.durability.get(), false, 1);
  CHECK(*f.ds->begin().row_count(f.account) == 2);
  std::uint64_t id = 3;
  do {  // until a checkpoint writes the table whole
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(id, "e" + std::to_string(id), 1, 0)).ok());
    tx.commit();
    s.durability->flush();
  } while (keys_under(*s.db, keys::commit_log(7)) > 0 && ++id < 10);
  CHECK(keys_under(*s.db, keys::commit_log(7)) == 0);
  CHECK(keys_under(*s.db, keys::table_rows(7, 1)) == 0);
  CHECK(keys_under(*s.db, keys::table_snapshot(7, 1)) == 1);
  s.reopen();
  fixture again(s.db.get(), s.durability.get(), false);
  CHECK(*again.ds->begin().row_count(again.account) == id);
}

namespace {
// A store with the account table and one committed row, still in the commit log.
fixture logged_ada(temp_store& s) {
  fixture f(s.db.get(), s.durability.get());
  auto tx = f.ds->begin();
  REQUIRE(tx.insert(f.account, row(1, "ada", 1, 0)).ok());
  tx.commit();
  s.durability->flush();
  return f;
}
} // namespace

TEST_CASE("a dropped table's logged rows do not come back", "[runtime]") {
  temp_store s;
  {
    fixture f = logged_ada(s);
    REQUIRE(f.ds->drop_table(f.account).ok());
    s.durability->flush();
  }
  s.reopen();
  auto opened = datastore::open(s.db.get(), s.durability.get(), 7);
  REQUIRE(opened.ok());
  CHECK_FALSE((*opened)->find_table("account"));
  // A table created again under the same id starts empty.
  REQUIRE((*opened)->create_table(accounts()).ok());
  CHECK((*opened)->find_table("account")->schema().id == 1);
  CHECK((*opened)->find_table("account")->row_count() == 0);
}

// team(id u32): a table a migration creates.
table_schema team() {
  table_schema t;
  t.name = "team";
  t.columns = {{"id", T::primitive(type_kind::u32), {}}};
  return t;
}

TEST_CASE("a migration backfills added columns, builds indexes and sequences, and survives a reopen", "[runtime]") {
  temp_store s;
  {
    fixture f(s.db.get(), s.durability.get());
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(0, "ada", 1, 10)));
    REQUIRE(tx.insert(f.account, row(0, "bo", 2, 10)));
    tx.commit();  // logged, not yet checkpointed: the migration must not replay it in the old layout
    table_schema next = accounts();
    next.id = f.account;
    next.columns.push_back({"level", T::primitive(type_kind::u32), encode_value(std::uint32_t(7))});
    next.indexes.push_back({0, "account_level_idx_btree", index_algorithm::btree, {4}, false});
    datastore::schema_change change;
    change.alter.push_back(next);
    change.create.push_back(team());
    write_batch module;
    module.put(keys::running_module(7), "new-module");
    REQUIRE(f.ds->migrate(change, std::move(module)).ok());
    auto later = f.ds->begin();
    auto inserted = later.insert(f.account, encode_value(product_value{{std::uint64_t(0), std::string("cy"),
                                                                          std::uint32_t(3), std::int64_t(5),
                                                                          std::uint32_t(9)}}));
    REQUIRE(inserted.ok());
    CHECK(inserted->size() == 8);  // the sequence went on (id 3)
    later.commit();
    s.durability->flush();
  }
  s.reopen();
  fixture f(s.db.get(), s.durability.get(), false);
  CHECK(s.db->get(keys::running_module(7)) == std::optional<std::string>("new-module"));
  const table* t = f.ds->find_table(f.account);
  REQUIRE(t->schema().columns.size() == 5);
  CHECK(f.ds->find_table("team"));
  auto tx = f.ds->begin();
  const index_schema* level = t->schema().index_named("account_level_idx_btree");
  REQUIRE(level);
  CHECK(tx.scan_point(level->id, encode_value(std::uint32_t(7)))->size() == 2);  // backfilled
  CHECK(tx.scan_point(level->id, encode_value(std::uint32_t(9)))->size() == 1);
  CHECK(tx.scan_point(f.pk, u64_key(3))->size() == 1);
}

TEST_CASE("a migration that cannot hold changes nothing", "[runtime]") {
  temp_store s;
  {
    fixture f(s.db.get(), s.durability.get());
    auto tx = f.ds->begin();
    REQUIRE(tx.insert(f.account, row(0, "ada", 1, 10)));
    REQUIRE(tx.insert(f.account, row(0, "bo", 1, 10)));
    tx.commit();
    // A unique index over values two rows share.
    table_schema unique = accounts();
    unique.id = f.account;
    unique.indexes[2].unique = true;
    datastore::schema_change change;
    change.alter.push_back(unique);
    change.create.push_back(team());
    write_batch module;
    module.put(keys::running_module(7), "new-module");
    auto refused = f.ds->migrate(change, std::move(module));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("account_team_score_idx_btree") != std::string::npos);
    // A column added without a default for the stored rows.
    table_schema wider = accounts();
    wider.id = f.account;
    wider.columns.push_back({"level", T::primitive(type_kind::u32), {}});
    datastore::schema_change no_default;
    no_default.alter.push_back(wider);
    CHECK_FALSE(f.ds->migrate(no_default, write_batch{}).ok());
    CHECK_FALSE(f.ds->find_table("team"));
    CHECK(f.ds->find_table(f.account)->schema().columns.size() == 4);
    s.durability->flush();
  }
  s.reopen();
  fixture f(s.db.get(), s.durability.get(), false);
  CHECK_FALSE(s.db->get(keys::running_module(7)));
  CHECK_FALSE(f.ds->find_table("team"));
  CHECK(f.ds->find_table(f.account)->row_count() == 2);
}

TEST_CASE("a damaged commit record stops the database from loading, and says so", "[runtime]") {
  temp_store s;
  logged_ada(s);
  write_batch damage;
  damage.put(keys::commit_record(7, 1), "p\x05");  // two bytes: not even a table id
  REQUIRE(s.db->write(damage, true).ok());
  auto opened = datastore::open(s.db.get(), s.durability.get(), 7);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().message == "commit record 1 of database 7 is damaged");

  write_batch bad_row;  // whole framing, a row cut short: table 1, inserted, 1 byte
  bad_row.put(keys::commit_record(7, 1), std::string("\x01\0\0\0i\x01\0\0\0\x07", 10));
  REQUIRE(s.db->write(bad_row, true).ok());
  auto again = datastore::open(s.db.get(), s.durability.get(), 7);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message.rfind("commit record 1 of database 7: a row of table `account` is damaged", 0) == 0);
}

// The migration planner's classification, on module definitions made here.

#include "modules/migration.hpp"

#include "runtime/types/bsatn.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace orrery;

namespace {

using T = algebraic_type;

// player(id u32 pk, name string, score u32 indexed), as stored with `rows` rows.
table_schema player() {
  table_schema t;
  t.name = "player";
  t.columns = {{"id", T::primitive(type_kind::u32), {}},
               {"name", T::primitive(type_kind::string), {}},
               {"score", T::primitive(type_kind::u32), {}}};
  t.primary_key = 0;
  t.indexes = {{0, "player_id_idx_btree", index_algorithm::btree, {0}, true},
               {0, "player_score_idx_btree", index_algorithm::btree, {2}, false}};
  t.is_public = true;
  return t;
}

module_def with(std::vector<table_schema> tables, std::vector<reducer_def> reducers = {}) {
  module_def d;
  d.tables = std::move(tables);
  d.reducers = std::move(reducers);
  return d;
}

struct rows_of {
  std::size_t count = 3;
  bool duplicates = false;
  stored_rows get() const {
    return {[this](const std::string&) { return count; },
            [this](const std::string&, const std::vector<std::uint16_t>&) -> std::optional<std::string> {
              return duplicates ? std::optional<std::string>("[20]") : std::nullopt;
            }};
  }
};

std::map<std::string, change_class> kinds(const migration_plan& plan) {
  std::map<std::string, change_class> out;
  for (auto& s : plan.steps) out[s.text] = s.kind;
  return out;
}

} // namespace

TEST_CASE("a unique index over a new column is refused when stored rows would share its default", "[modules]") {
  table_schema next = player();
  next.columns.push_back({"slug", T::primitive(type_kind::string), encode_value(std::string(""))});
  next.indexes.push_back({0, "player_slug_idx_btree", index_algorithm::btree, {3}, true});
  rows_of three;
  auto plan = plan_migration(with({player()}), {player()}, with({next}), three.get());
  CHECK(plan.forbidden());
  bool named = false;
  for (auto& s : plan.steps) named = named || s.text.find("would all share the default of new column `slug`") != std::string::npos;
  CHECK(named);
  rows_of one{1};
  CHECK_FALSE(plan_migration(with({player()}), {player()}, with({next}), one.get()).forbidden());
}

TEST_CASE("an index keeping its name over other columns is removed and created", "[modules]") {
  table_schema next = player();
  next.indexes[1].columns = {1};  // the same name, now over `name`
  rows_of rows;
  auto steps = kinds(plan_migration(with({player()}), {player()}, with({next}), rows.get()));
  CHECK(steps["Removed index `player_score_idx_btree` on [score] of table `player`"] == change_class::breaking);
  CHECK(steps["Created index `player_score_idx_btree` on [name] of table `player`"] == change_class::safe);
}

TEST_CASE("primary keys: removing one breaks clients, adding or changing one is refused", "[modules]") {
  rows_of rows;
  table_schema none = player();
  none.primary_key.reset();
  CHECK(plan_migration(with({player()}), {player()}, with({none}), rows.get()).breaks_clients());
  CHECK_FALSE(plan_migration(with({player()}), {player()}, with({none}), rows.get()).forbidden());
  CHECK(plan_migration(with({none}), {none}, with({player()}), rows.get()).forbidden());
  table_schema other = player();
  other.primary_key = 1;
  CHECK(plan_migration(with({player()}), {player()}, with({other}), rows.get()).forbidden());
}

TEST_CASE("reducers clients cannot call change without breaking them", "[modules]") {
  reducer_def init{"init", "init", T::unit(), false, lifecycle::init};
  reducer_def tick{"tick", "tick", T::unit(), false, lifecycle::none};
  reducer_def send{"send", "send", T::product({{"text", T::primitive(type_kind::string)}}), true, lifecycle::none};
  rows_of rows;
  auto plan = plan_migration(with({player()}, {init, tick, send}), {player()}, with({player()}, {send}), rows.get());
  CHECK_FALSE(plan.breaks_clients());
  auto steps = kinds(plan);
  CHECK(steps["Removed reducer `init`"] == change_class::safe);
  CHECK(steps["Removed reducer `tick`"] == change_class::safe);
  reducer_def changed = send;
  changed.params = T::unit();
  CHECK(kinds(plan_migration(with({player()}, {send}), {player()}, with({player()}, {changed}), rows.get()))
          ["Changed the parameters of reducer `send`"] == change_class::breaking);
}

TEST_CASE("a schedule may name another reducer; a table may not start or stop being a schedule table", "[modules]") {
  table_schema timer;
  timer.name = "timer";
  timer.columns = {{"id", T::primitive(type_kind::u64), {}}, {"at", T::schedule_at(), {}}};
  timer.schedule = schedule_schema{"tick", 1};
  table_schema retargeted = timer;
  retargeted.schedule->reducer = "tock";
  table_schema plain = timer;
  plain.schedule.reset();
  rows_of rows;
  auto moved = plan_migration(with({timer}), {timer}, with({retargeted}), rows.get());
  CHECK_FALSE(moved.forbidden());
  CHECK_FALSE(moved.breaks_clients());
  CHECK(plan_migration(with({timer}), {timer}, with({plain}), rows.get()).forbidden());
}

TEST_CASE("a table rebuilt for a new default says so, and nothing else changes", "[modules]") {
  table_schema next = player();
  next.columns[2].default_bsatn = encode_value(std::uint32_t(0));
  rows_of rows;
  auto plan = plan_migration(with({player()}), {player()}, with({next}), rows.get());
  REQUIRE(plan.steps.size() == 1);
  CHECK(plan.steps[0].kind == change_class::safe);
  CHECK(plan.steps[0].text.find("Rebuilt table `player`") == 0);
  CHECK(plan_migration(with({player()}), {player()}, with({player()}), rows.get()).steps.empty());
}

// The registry actor on a real actor system and a store in a temporary folder:
// supervision of database actors, and module updates racing renames and deletes.

#include "actors/actor_system_settings.hpp"
#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "actors/roles.hpp"
#include "modules/module_image.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/blake3.hpp"
#include "tests/support/bundles.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

using namespace orrery;
using orrery::testing::read_bundle;

namespace {

std::string hash_of(const std::string& bundle) { return to_hex(blake3(bundle).data(), 32); }

/// A reply or the error that came instead.
template <class T>
struct answer {
  std::optional<T> value;
  caf::error error;
};

/// A host without HTTP: store, committer, log and registry actors in a temp folder.
struct host {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("orrery-registry-test-" + random_uuid());
  std::unique_ptr<store> db;
  std::unique_ptr<committer> durability;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  module_image_cache images;
  log_actor logs;
  registry_actor registry;
  identity owner = identity::from_claims("test", "owner");

  /// `before_start` may write into the store before the registry loads it;
  /// databases idle for `idle_timeout` fall asleep (0: never).
  explicit host(const std::function<void(store&)>& before_start = {},
                std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(0),
                std::uint64_t memory_budget_bytes = 0) {
    std::string error;
    db = store::open(dir.string(), error);
    REQUIRE(db);
    if (before_start) before_start(*db);
    durability = std::make_unique<committer>(*db);
    apply_actor_system_settings(cfg);
    system = std::make_unique<caf::actor_system>(cfg);
    logs = spawn_log_actor(*system, *db);
    database_context context{db.get(), durability.get(), logs};
    context.idle_timeout = idle_timeout;
    context.memory_budget_bytes = memory_budget_bytes;
    context.images = &images;
    registry = spawn_registry_actor(*system, context);
  }

  ~host() {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(logs, caf::exit_reason::user_shutdown);
    system.reset();  // waits for every actor
    durability.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }

  publish_request publishing(const std::string& target, const std::string& bundle) const {
    return publish_request{owner, target, bundle, false, false, ""};
  }
};

template <class T, class Handle, class... Args>
answer<T> ask(caf::scoped_actor& self, const Handle& to, Args&&... args) {
  answer<T> out;
  self->request(to, std::chrono::seconds(60), std::forward<Args>(args)...)
    .receive([&](T& value) { out.value = std::move(value); }, [&](caf::error& err) { out.error = std::move(err); });
  return out;
}

std::pair<database_record, database_actor> open_database(caf::scoped_actor& self, host& h, const std::string& target) {
  std::pair<database_record, database_actor> out;
  self->request(h.registry, std::chrono::seconds(60), open_atom::value, target)
    .receive([&](database_record& r, database_actor& a) { out = {std::move(r), std::move(a)}; },
             [&](caf::error& err) { FAIL("open " << target << ": " << error_message(err)); });
  return out;
}

bool log_mentions(caf::scoped_actor& self, host& h, std::uint64_t id, const std::string& text) {
  auto lines = ask<std::vector<std::string>>(self, h.logs, tail_atom::value, id, std::uint32_t(0));
  REQUIRE(lines.value);
  for (auto& line : *lines.value)
    if (line.find(text) != std::string::npos) return true;
  return false;
}

} // namespace

TEST_CASE("a database actor that dies is dropped, logged and started again by the next request", "[actors]") {
  host h;
  caf::scoped_actor self{*h.system};
  auto created = ask<publish_result>(self, h.registry, publish_atom::value, h.publishing("phoenix", read_bundle("chat")));
  INFO(error_message(created.error));
  REQUIRE(created.value);

  auto opened = open_database(self, h, "phoenix");
  const database_record record = opened.first;
  const database_actor first = opened.second;
  REQUIRE(ask<std::string>(self, first, describe_atom::value, std::uint32_t{9}).value);

  self->monitor(first);
  caf::anon_send_exit(first, caf::exit_reason::kill);
  self->receive([&](caf::down_msg& down) { CHECK(down.source == first.address()); });

  // The registry hears of the death on its own; until then it may still hand out the old actor.
  database_actor second;
  for (int attempt = 0; attempt < 500; ++attempt) {
    second = open_database(self, h, "phoenix").second;
    if (second.address() != first.address()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(second.address() != first.address());
  auto described = ask<std::string>(self, second, describe_atom::value, std::uint32_t{9});
  INFO(error_message(described.error));
  CHECK(described.value);
  CHECK(log_mentions(self, h, record.id, "stopped unexpectedly"));

  // The fresh actor stays the live one: asking again gives the same actor.
  CHECK(open_database(self, h, "phoenix").second.address() == second.address());
}

TEST_CASE("a module update keeps a rename and a lock made while the module loaded", "[actors]") {
  host h;
  caf::scoped_actor self{*h.system};
  std::string first = read_bundle("chat"), second = first + "\n// the second version\n";
  REQUIRE(ask<publish_result>(self, h.registry, publish_atom::value, h.publishing("before", first)).value);

  // The rename reaches the registry while the database actor loads the new
  // module (milliseconds of V8 work); the update is recorded after it.
  auto update = self->request(h.registry, std::chrono::seconds(60), publish_atom::value, h.publishing("before", second));
  auto renamed = ask<database_record>(self, h.registry, names_atom::value, h.owner, std::string("before"),
                                      std::vector<std::string>{"after"}, true);
  INFO(error_message(renamed.error));
  REQUIRE(renamed.value);
  update.receive([](publish_result&) {}, [&](caf::error& err) { FAIL("update: " << error_message(err)); });

  auto now = ask<database_record>(self, h.registry, lookup_atom::value, std::string("after"));
  REQUIRE(now.value);
  CHECK(now.value->names == std::vector<std::string>{"after"});
  CHECK(now.value->program_hash == hash_of(second));
  CHECK_FALSE(ask<database_record>(self, h.registry, lookup_atom::value, std::string("before")).value);
  CHECK(h.db->get(keys::program(hash_of(second))));
  CHECK_FALSE(h.db->get(keys::program(hash_of(first))));

  // Same with a lock taken during an update.
  std::string third = first + "\n// the third version\n";
  auto update_again = self->request(h.registry, std::chrono::seconds(60), publish_atom::value, h.publishing("after", third));
  REQUIRE(ask<database_record>(self, h.registry, lock_atom::value, h.owner, std::string("after"), true).value);
  update_again.receive([](publish_result&) {}, [&](caf::error& err) { FAIL("update: " << error_message(err)); });
  auto locked = ask<database_record>(self, h.registry, lookup_atom::value, std::string("after"));
  REQUIRE(locked.value);
  CHECK(locked.value->locked);
  CHECK(locked.value->program_hash == hash_of(third));
}

TEST_CASE("a database deleted while its new module loaded stays deleted", "[actors]") {
  host h;
  caf::scoped_actor self{*h.system};
  std::string first = read_bundle("chat"), second = first + "\n// the second version\n";
  auto created = ask<publish_result>(self, h.registry, publish_atom::value, h.publishing("doomed", first));
  REQUIRE(created.value);
  std::uint64_t id = created.value->record.id;

  auto update = self->request(h.registry, std::chrono::seconds(60), publish_atom::value, h.publishing("doomed", second));
  auto removal = ask<database_record>(self, h.registry, delete_atom::value, h.owner, std::string("doomed"));
  REQUIRE(removal.value);
  caf::error update_error;
  update.receive([](publish_result&) {}, [&](caf::error& err) { update_error = err; });
  INFO(error_message(update_error));
  if (update_error) CHECK(error_message(update_error).find("deleted") != std::string::npos);

  CHECK_FALSE(ask<database_record>(self, h.registry, lookup_atom::value, std::string("doomed")).value);
  CHECK(ask<std::vector<database_record>>(self, h.registry, list_atom::value, h.owner).value->empty());
  CHECK_FALSE(h.db->get(keys::record(id)));
  CHECK_FALSE(h.db->get(keys::program(hash_of(first))));
  CHECK_FALSE(h.db->get(keys::program(hash_of(second))));
}

TEST_CASE("unreadable registry records are skipped and reported, and their ids never reused", "[actors]") {
  host h([](store& db) {
    write_batch batch;
    batch.put(keys::record(5), "{ not json");
    batch.put(keys::record(6), R"({"id":6,"identity":"zz","owner":"zz","names":["broken"],"program":"",)"
                             R"("locked":false,"created":0})");
    REQUIRE(db.write(batch, true).ok());
  });
  caf::scoped_actor self{*h.system};
  auto missing = ask<database_record>(self, h.registry, lookup_atom::value, std::string("broken"));
  CHECK_FALSE(missing.value);
  CHECK(missing.error);
  CHECK(log_mentions(self, h, 5, "cannot be read"));
  CHECK(log_mentions(self, h, 6, "cannot be read"));

  auto created = ask<publish_result>(self, h.registry, publish_atom::value, h.publishing("fresh", read_bundle("chat")));
  INFO(error_message(created.error));
  REQUIRE(created.value);
  CHECK(created.value->record.id > 6);
}

/// Asks database `name` (opened afresh) and returns its actor and answer. A
/// database that falls asleep between the open and the request bounces it;
/// like the host's callers, ask again.
template <class T, class... Args>
std::pair<database_actor, answer<T>> ask_database(caf::scoped_actor& self, host& h, const std::string& name,
                                                  Args... args) {
  for (int attempt = 0;; ++attempt) {
    auto actor = open_database(self, h, name).second;
    auto reply = ask<T>(self, actor, args...);
    if (reply.error != caf::sec::request_receiver_down || attempt == 4) return {actor, std::move(reply)};
  }
}

/// Waits until `actor` has ended without an error (a database that fell
/// asleep), or was gone already when watched.
bool ended_normally(caf::scoped_actor& self, const database_actor& actor) {
  self->monitor(actor);
  bool ended = false;
  self->receive(
    [&](caf::down_msg& down) {
      ended = down.source == actor.address() && (!down.reason || down.reason == caf::exit_reason::unknown);
    },
    caf::after(std::chrono::seconds(10)) >> [] {});
  return ended;
}

TEST_CASE("after a crash between a migration and its record, the database comes back with the migrated-to module",
          "[actors]") {
  // The store as a crash leaves it: the migration's batch (the new module and
  // the database's running-module key) is written, the record is not.
  const std::string before = read_bundle("chat"), after = read_bundle("library");
  const identity owner = identity::from_claims("test", "owner");
  host h([&](store& db) {
    write_batch batch;
    batch.put(keys::record(5), R"({"id":5,"identity":")" + identity::from_claims("test", "db").to_hex() +
                                 R"(","owner":")" + owner.to_hex() + R"(","names":["migrated"],"program":")" +
                                 hash_of(before) + R"(","locked":false,"created":0})");
    batch.put(keys::program(hash_of(before)), before);
    batch.put(keys::program(hash_of(after)), after);
    batch.put(keys::running_module(5), hash_of(after));
    REQUIRE(db.write(batch, true).ok());
  });
  caf::scoped_actor self{*h.system};
  auto found = ask<database_record>(self, h.registry, lookup_atom::value, std::string("migrated"));
  REQUIRE(found.value);
  CHECK(found.value->program_hash == hash_of(after));
  CHECK(log_mentions(self, h, 5, "Recovered the module of the last migration"));
  auto described = ask_database<std::string>(self, h, "migrated", describe_atom::value, std::uint32_t{9}).second;
  REQUIRE(described.value);
  CHECK(described.value->find("\"book\"") != std::string::npos);
}

TEST_CASE("an idle database falls asleep, and the next request wakes it with its data", "[actors]") {
  host h({}, std::chrono::milliseconds(100));
  caf::scoped_actor self{*h.system};
  auto created = ask<publish_result>(self, h.registry, publish_atom::value, h.publishing("dozer", read_bundle("bank")));
  INFO(error_message(created.error));
  REQUIRE(created.value);
  const database_record record = created.value->record;
  reducer_call seed{h.owner, connection_id{}, "seed", "[10, 5]", true, true};
  auto [first, seeded] = ask_database<call_result>(self, h, "dozer", call_atom::value, seed);
  INFO(error_message(seeded.error));
  REQUIRE(seeded.value);
  REQUIRE(seeded.value->kind == call_result_kind::ok);

  // A database that sleeps ends its actor, normally.
  REQUIRE(ended_normally(self, first));
  CHECK(log_mentions(self, h, record.id, "Asleep after 0.1 s"));
  auto [second, counted] = ask_database<sql_reply>(self, h, "dozer", sql_atom::value, h.owner, std::uint8_t(role::owner),
                                                   std::string("SELECT COUNT(*) AS n FROM account"));
  CHECK(second.address() != first.address());
  REQUIRE(counted.value);
  CHECK(counted.value->status == 200);
  CHECK(counted.value->body.find("[10]") != std::string::npos);
  CHECK(log_mentions(self, h, record.id, "Awake"));
  // Its first wake stored its module's image (definition and code cache)
  // beside the bundle, for the wakes after it.
  auto image = h.db->get(keys::program_image(record.program_hash));
  REQUIRE(image);
  auto decoded = decode_stored_image(read_bundle("bank"), *image);
  REQUIRE(decoded);
  CHECK(!decoded->code_cache.empty());
  CHECK(ended_normally(self, second));

  // An actor that is opened and never sent anything falls asleep all the same.
  auto third = open_database(self, h, "dozer").second;
  CHECK(third.address() != second.address());
  CHECK(ended_normally(self, third));
}

TEST_CASE("over the memory budget, idle databases sleep and one with a client stays", "[actors]") {
  // A budget of one byte: every awake database is over it. Databases never
  // sleep on their own here.
  host h({}, std::chrono::milliseconds(0), 1);
  caf::scoped_actor self{*h.system};
  for (const char* name : {"quiet", "watched"}) {
    auto created = ask<publish_result>(self, h.registry, publish_atom::value, h.publishing(name, read_bundle("chat")));
    INFO(error_message(created.error));
    REQUIRE(created.value);
  }
  auto usage = [&](const std::string& name) {
    database_usage out;
    self->request(h.registry, std::chrono::seconds(10), usage_atom::value, h.owner, name)
      .receive([&](database_record&, database_usage& u) { out = u; },
               [&](caf::error& err) { FAIL("usage of " << name << ": " << error_message(err)); });
    return out;
  };
  // A connected client keeps "watched" from being put to sleep.
  auto sink = h.system->spawn([]() -> client_sink::behavior_type {
    return {[](server_atom, const std::string&) {}, [](schema_atom, const std::string&) {},
            [](closed_atom, const std::string&) {}};
  });
  auto [watched, connected] = ask_database<bool>(self, h, "watched", connect_atom::value, h.owner,
                                                 connection_id::random(), std::string("{}"), false, true, sink);
  INFO(error_message(connected.error));
  REQUIRE(connected.value);
  auto before = usage("watched");
  CHECK(before.awake);
  CHECK_FALSE(before.idle);
  CHECK(before.heap_bytes > 0);

  const std::uint64_t quiet_id = ask<database_record>(self, h.registry, lookup_atom::value, std::string("quiet")).value->id;
  bool slept = false;
  for (int i = 0; i < 100 && !slept; ++i) {
    slept = log_mentions(self, h, quiet_id, "Asleep to keep the host within its memory budget");
    if (!slept) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(slept);
  CHECK_FALSE(usage("quiet").awake);  // asking does not wake it
  CHECK(usage("watched").awake);
  CHECK(open_database(self, h, "watched").second == watched);  // the same actor: it never slept
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

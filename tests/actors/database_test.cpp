// A database actor on a real actor system whose store runs out of disk space:
// the call that needed the write fails, the database turns read-only with a
// logged reason, and it keeps answering reads.

#include "actors/actor_system_settings.hpp"
#include "actors/database_actor.hpp"
#include "actors/log_actor.hpp"
#include "actors/roles.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/blake3.hpp"
#include "runtime/types/identity.hpp"
#include "tests/support/faulty_file_system.hpp"
#include "tests/support/bundles.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

using namespace orrery;
using orrery::testing::read_bundle;

namespace {

/// Lines a log follower received, read from the test's thread.
class log_lines {
public:
  void add(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.push_back(line);
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

template <class T, class... Args>
T ask(caf::scoped_actor& self, const database_actor& db, Args&&... args) {
  T out{};
  self->request(db, std::chrono::seconds(60), std::forward<Args>(args)...)
    .receive([&](T& value) { out = std::move(value); },
             [&](caf::error& err) { FAIL("the database answered with an error: " << error_message(err)); });
  return out;
}

} // namespace

TEST_CASE("a full disk fails the call that needed it and leaves the database read-only, still answering reads",
          "[actors]") {
  auto dir = std::filesystem::temp_directory_path() / ("orrery-disk-full-" + random_uuid());
  auto files = std::make_shared<orrery::testing::faulty_file_system>();
  std::string error;
  auto db = store::open(dir.string(), error, files);
  REQUIRE(db);
  committer durability(*db);
  {
    caf::actor_system_config cfg;
    apply_actor_system_settings(cfg);
    caf::actor_system system{cfg};
    auto logs = spawn_log_actor(system, *db);
    database_record record;
    record.id = 1;
    record.database_identity = identity::from_claims("test", "database");
    record.owner = identity::from_claims("test", "owner");
    record.names = {"full"};
    record.program_hash = to_hex(blake3(read_bundle("chat")).data(), 32);
    auto database = spawn_database_actor(system, database_context{db.get(), &durability, logs}, record,
                                         read_bundle("chat"));
    caf::scoped_actor self{system};
    auto followed = std::make_shared<log_lines>();
    auto follower = system.spawn([followed]() -> log_listener::behavior_type {
      return {[followed](line_atom, const std::string& line) { followed->add(line); }, [](closed_atom) {}};
    });
    self->request(logs, std::chrono::seconds(10), follow_atom::value, record.id, std::uint32_t(0), record.owner, follower)
      .receive([](std::vector<std::string>&) {}, [&](caf::error& err) { FAIL(error_message(err)); });
    REQUIRE(ask<bool>(self, database, create_atom::value));

    auto send = [&](const std::string& text) {
      return ask<call_result>(self, database, call_atom::value,
                              reducer_call{record.owner, {}, "send_message", "[\"" + text + "\"]", true, false});
    };
    CHECK(send("before").kind == call_result_kind::ok);

    files->fail_writes(true);
    call_result lost = send("lost");
    CHECK(lost.kind == call_result_kind::internal_error);
    CHECK_THAT(lost.message, Catch::Contains("could not be written to disk"));
    CHECK_THAT(lost.message, Catch::Contains("no space left on device"));

    files->fail_writes(false);  // room again, but the host does not trust the store until restarted
    call_result refused = send("refused");
    CHECK(refused.kind == call_result_kind::internal_error);
    CHECK_THAT(refused.message, Catch::Contains("read-only"));

    sql_reply write = ask<sql_reply>(self, database, sql_atom::value, record.owner, std::uint8_t(role::owner),
                                     std::string("DELETE FROM message"));
    CHECK(write.status == 503);
    CHECK_THAT(write.body, Catch::Contains("read-only"));
    sql_reply read = ask<sql_reply>(self, database, sql_atom::value, record.owner, std::uint8_t(role::owner),
                                    std::string("SELECT text FROM message"));
    CHECK(read.status == 200);
    CHECK_THAT(read.body, Catch::Contains("before"));

    // The disk was full when the reason was logged: followers hear it, the stored log does not keep it.
    bool logged = false;
    for (int wait = 0; wait < 500 && !logged; ++wait) {
      for (auto& line : followed->lines()) logged = logged || line.find("The database is read-only") != std::string::npos;
      if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(logged);
    caf::anon_send_exit(follower, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(database, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(logs, caf::exit_reason::user_shutdown);
  }
  db.reset();
  std::filesystem::remove_all(dir);
}

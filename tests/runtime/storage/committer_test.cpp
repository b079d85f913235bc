// The committer: batches become durable in order, and a sync waits for the
// gap after the one before, gathering the batches that arrive meanwhile.

#include "runtime/storage/committer.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/identity.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <vector>

using namespace orrery;

TEST_CASE("batches submitted within a sync gap share one sync, in order", "[runtime]") {
  auto dir = std::filesystem::temp_directory_path() / ("orrery-committer-" + random_uuid());
  std::string error;
  auto db = store::open(dir.string(), error);
  REQUIRE(db);
  std::vector<int> durable;
  {
    // A gap far longer than submitting ten batches takes.
    committer durability(*db, std::chrono::milliseconds(200));
    write_batch first;
    first.put("k/0", "0");
    durability.submit(std::move(first), [&] { durable.push_back(0); });
    durability.flush();
    CHECK(durability.counters().syncs == 1);
    for (int i = 1; i <= 10; ++i) {
      write_batch batch;
      batch.put("k/" + std::to_string(i), std::to_string(i));
      durability.submit(std::move(batch), [&durable, i] { durable.push_back(i); });
    }
    durability.flush();
    CHECK(durability.counters().batches == 11);
    CHECK(durability.counters().syncs == 2);
  }
  CHECK(durable == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(db->get("k/10") == std::optional<std::string>("10"));
  db.reset();
  std::filesystem::remove_all(dir);
}

// The store under a file system that loses power (everything not synced is
// gone) and that runs out of space: no transaction reported durable is lost,
// none is present in part, and a failed write stops the committer without
// stopping the process.

#include "runtime/storage/committer.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/identity.hpp"
#include "tests/support/faulty_file_system.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

using namespace orrery;
using orrery::testing::faulty_file_system;

namespace {

table_schema ledger_schema() {
  table_schema s;
  s.name = "ledger";
  s.columns = {{"tx", algebraic_type::primitive(type_kind::u64), {}},
               {"part", algebraic_type::primitive(type_kind::u8), {}}};
  s.indexes = {{0, "ledger_tx_idx_btree", index_algorithm::btree, {0}, false}};
  return s;
}

struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("orrery-power-" + random_uuid());
  ~scratch_dir() { std::filesystem::remove_all(path); }
};

/// Parts per transaction found in the store in `dir`, opened as after a restart.
std::map<std::uint64_t, int> ledger_contents(const std::string& dir) {
  std::string error;
  auto db = store::open(dir, error);
  REQUIRE(db);
  committer durability(*db);
  auto opened = datastore::open(db.get(), &durability, 1);
  REQUIRE(opened);
  std::map<std::uint64_t, int> parts;
  if (const table* ledger = (*opened)->find_table("ledger"))
    ledger->scan([&](row_id r) {
      bsatn_reader in(ledger->row(r));
      ++parts[in.fixed<std::uint64_t>()];
    });
  return parts;
}

} // namespace

TEST_CASE("power loss keeps every transaction reported durable, and none in part", "[runtime]") {
  scratch_dir dir;
  std::mt19937 rng(7);
  std::int64_t acknowledged = -1;  // highest transaction reported durable so far
  std::uint64_t next_tx = 0;
  for (int round = 0; round < 12; ++round) {
    auto files = std::make_shared<faulty_file_system>();
    std::atomic<std::int64_t> durable{acknowledged};
    {
      std::string error;
      auto db = store::open(dir.path.string(), error, files);
      REQUIRE(db);
      committer durability(*db);
      auto opened = datastore::open(db.get(), &durability, 1);
      REQUIRE(opened);
      datastore& ds = **opened;
      if (!ds.find_table("ledger")) {
        REQUIRE(ds.create_table(ledger_schema()));
        durability.flush();
      }
      table_id ledger = ds.find_table("ledger")->schema().id;
      std::atomic<bool> stop{false}, insert_failed{false};
      std::thread writer([&] {
        while (!stop) {
          std::uint64_t n = next_tx++;
          auto tx = ds.begin();
          for (std::uint8_t part = 0; part < 3; ++part)
            if (!tx.insert(ledger, encode_value(product_value{{n, part}}))) insert_failed = true;
          tx.commit([&, n] {
            if (!durability.failure()) durable = std::int64_t(n);  // batches finish in order
          });
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 80));
      files->fail_writes(true);  // the power goes: nothing more reaches the disk
      stop = true;
      writer.join();
      durability.flush();
      REQUIRE_FALSE(insert_failed);
    }  // the store closes; what it writes now is lost with the rest
    files->drop_unsynced();
    acknowledged = durable;
    INFO("round " << round << ", transactions reported durable up to " << acknowledged);
    REQUIRE(acknowledged >= 0);
    auto parts = ledger_contents(dir.path.string());
    for (std::int64_t n = 0; n <= acknowledged; ++n) {
      auto found = parts.find(std::uint64_t(n));
      REQUIRE(found != parts.end());
    }
    for (auto& [tx, count] : parts) REQUIRE(count == 3);
    if (!parts.empty()) next_tx = parts.rbegin()->first + 1;
  }
}

TEST_CASE("a full disk fails the commits that needed it and every later one, and the process goes on", "[runtime]") {
  scratch_dir dir;
  auto files = std::make_shared<faulty_file_system>();
  std::string error;
  {
    auto db = store::open(dir.path.string(), error, files);
    REQUIRE(db);
    committer durability(*db);
    auto opened = datastore::open(db.get(), &durability, 1);
    REQUIRE(opened);
    datastore& ds = **opened;
    REQUIRE(ds.create_table(ledger_schema()));
    table_id ledger = ds.find_table("ledger")->schema().id;
    auto commit_one = [&](std::uint64_t n) {
      auto tx = ds.begin();
      REQUIRE(tx.insert(ledger, encode_value(product_value{{n, std::uint8_t(0)}})));
      auto written = std::make_shared<std::atomic<int>>(-1);
      tx.commit([&durability, written] { *written = durability.failure() ? 0 : 1; });
      durability.flush();
      return written->load();
    };
    CHECK(commit_one(1) == 1);
    files->fail_writes(true);
    CHECK(commit_one(2) == 0);
    REQUIRE(durability.failure());
    CHECK_THAT(*durability.failure(), Catch::Contains("no space left on device"));
    files->fail_writes(false);
    CHECK(commit_one(3) == 0);  // nothing after a failed write may be written
  }
  auto parts = ledger_contents(dir.path.string());
  CHECK(parts.count(1) == 1);
  CHECK(parts.count(2) == 0);
  CHECK(parts.count(3) == 0);
}

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/identity.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace orrery;

namespace {
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    path = std::filesystem::temp_directory_path() /
           ("orrery-store-test-" + random_uuid());
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};
} // namespace

TEST_CASE("store writes batches atomically and survives reopening", "[runtime]") {
  temp_dir dir;
  std::string error;
  {
    auto db = store::open(dir.path.string(), error);
    REQUIRE(db);
    write_batch batch;
    batch.put("a/1", "one");
    batch.put("a/2", "two");
    batch.put("b/1", "other");
    REQUIRE(db->write(batch, true).ok());
  }
  auto db = store::open(dir.path.string(), error);
  REQUIRE(db);
  CHECK(db->get("a/1") == std::optional<std::string>("one"));
  CHECK_FALSE(db->get("a/3"));

  std::vector<std::string> forward, backward;
  db->scan("a/", [&](std::string_view k, std::string_view) { forward.emplace_back(k); return true; });
  db->scan_reverse("a/", [&](std::string_view k, std::string_view) { backward.emplace_back(k); return true; });
  CHECK(forward == std::vector<std::string>{"a/1", "a/2"});
  CHECK(backward == std::vector<std::string>{"a/2", "a/1"});

  write_batch erase;
  erase.erase_prefix("a/");
  REQUIRE(db->write(erase, true).ok());
  CHECK_FALSE(db->get("a/1"));
  CHECK(db->get("b/1") == std::optional<std::string>("other"));
}

TEST_CASE("numeric key parts sort numerically", "[runtime]") {
  std::string small = keys::log_line(1, 255), large = keys::log_line(1, 256);
  CHECK(small < large);
  CHECK(read_u64(std::string_view(large).substr(keys::log(1).size())) == 256);
}

TEST_CASE("store reports a directory it cannot open", "[runtime]") {
  std::string error;
  auto db = store::open("/proc/orrery-cannot-be-here", error);
  CHECK_FALSE(db);
  CHECK(error.find("cannot open the data store") != std::string::npos);
}

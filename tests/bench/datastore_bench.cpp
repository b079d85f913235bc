// Datastore figures: point lookups, in-memory and durable one-row commits,
// and resident bytes per row, for a (u64 pk, u64, 16-char string) table.
// Usage: orrery_bench_datastore [rows]   (default 1,000,000)

#include "runtime/storage/committer.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/identity.hpp"
#include "tests/bench/item_table.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

using namespace orrery;
using clock_type = std::chrono::steady_clock;

namespace {

std::string item(std::uint64_t id) {
  char label[17];
  std::snprintf(label, sizeof label, "label-%010llu", static_cast<unsigned long long>(id));
  return encode_value(product_value{{id, id * 7, std::string(label)}});
}

long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * sysconf(_SC_PAGESIZE);
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  const std::uint64_t rows = argc > 1 ? std::stoull(argv[1]) : 1000000;

  // Resident memory of a table built in memory.
  auto ds = std::move(*datastore::open(nullptr, nullptr, 1));
  table_id id = *ds->create_table(item_schema());
  index_id pk = ds->find_table(id)->schema().indexes[0].id;
  std::vector<std::uint64_t> keys(rows);
  for (std::uint64_t i = 0; i < rows; ++i) keys[i] = i + 1;
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(1));
  malloc_trim(0);
  long before = resident_bytes();
  for (std::uint64_t start = 0; start < rows; start += 1000) {
    auto tx = ds->begin();
    for (std::uint64_t i = start; i < std::min(rows, start + 1000); ++i) (void)tx.insert(id, item(keys[i]));
    tx.commit();
  }
  malloc_trim(0);  // count what the table holds, not what the allocator keeps spare
  long after = resident_bytes();
  std::printf("rows:                         %llu (u64 pk, u64, 16-char string)\n",
              static_cast<unsigned long long>(rows));
  std::printf("resident bytes per row:       %.1f (target <= 150)\n", double(after - before) / double(rows));

  // Point lookups by primary key, random order.
  {
    auto tx = ds->begin();
    std::vector<std::string> probe;
    for (std::size_t i = 0; i < 1000000; ++i) probe.push_back(encode_value(keys[(i * 7919) % rows]));
    std::size_t found = 0;
    auto start = clock_type::now();
    for (auto& key : probe) found += tx.scan_point(pk, key)->size();
    double s = seconds_since(start);
    std::printf("point lookups:                %.0f per second, %.3f us each (target < 0.5 us), %zu found\n",
                double(probe.size()) / s, s * 1e6 / double(probe.size()), found);
  }

  // One-row insert transactions, in memory.
  {
    auto mem = std::move(*datastore::open(nullptr, nullptr, 2));
    table_id t = *mem->create_table(item_schema());
    const std::uint64_t n = 1000000;
    std::vector<std::string> items;
    for (std::uint64_t i = 0; i < n; ++i) items.push_back(item(i + 1));
    auto start = clock_type::now();
    for (auto& r : items) {
      auto tx = mem->begin();
      (void)tx.insert(t, r);
      tx.commit();
    }
    double s = seconds_since(start);
    std::printf("in-memory one-row commits:    %.0f per second, %.3f us each (target < 2 us)\n",
                double(n) / s, s * 1e6 / double(n));
  }

  // One-row insert transactions, durable with group commit.
  {
    auto dir = std::filesystem::temp_directory_path() / ("orrery-bench-" + random_uuid());
    std::string error;
    auto db = store::open(dir.string(), error);
    committer durability(*db);
    auto disk = std::move(*datastore::open(db.get(), &durability, 3));
    table_id t = *disk->create_table(item_schema());
    durability.flush();
    const std::uint64_t n = 300000;
    std::vector<std::string> items;
    for (std::uint64_t i = 0; i < n; ++i) items.push_back(item(i + 1));
    std::atomic<std::uint64_t> durable{0};
    auto start = clock_type::now();
    for (auto& r : items) {
      auto tx = disk->begin();
      (void)tx.insert(t, r);
      tx.commit([&] { durable.fetch_add(1, std::memory_order_relaxed); });
    }
    durability.flush();
    double s = seconds_since(start);
    auto stats = durability.counters();
    std::printf("durable one-row commits:      %.0f per second (target >= 100000), %llu durable, "
                "%.0f commits per sync\n",
                double(n) / s, static_cast<unsigned long long>(durable.load()),
                double(stats.batches) / double(stats.syncs));
    disk.reset();
    std::filesystem::remove_all(dir);
  }
  return 0;
}

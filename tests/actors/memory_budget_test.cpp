// Which awake databases the memory budget puts to sleep.

#include "actors/detail/memory_budget.hpp"

#include <catch2/catch.hpp>

using namespace orrery;

namespace {

database_usage awake(std::uint64_t mb, std::int64_t idle_seconds, bool idle = true) {
  database_usage u;
  u.awake = true;
  u.idle = idle;
  u.heap_bytes = mb << 20;
  u.idle_micros = idle_seconds * 1000000;
  return u;
}

std::vector<std::uint64_t> ids(const std::vector<std::pair<std::uint64_t, database_usage>>& chosen) {
  std::vector<std::uint64_t> out;
  for (auto& entry : chosen) out.push_back(entry.first);
  return out;
}

} // namespace

TEST_CASE("the memory budget chooses the least recently used, only as many as needed", "[actors]") {
  std::vector<std::pair<std::uint64_t, database_usage>> seen = {
    {1, awake(3, 5)}, {2, awake(3, 60)}, {3, awake(3, 1)}, {4, awake(3, 30)}, {5, database_usage{}}};
  const std::uint64_t mb = 1 << 20;
  CHECK(detail::least_recently_used_over(seen, 12 * mb).empty());      // 12 MB held: fits
  CHECK(ids(detail::least_recently_used_over(seen, 11 * mb)) == std::vector<std::uint64_t>{2});
  CHECK(ids(detail::least_recently_used_over(seen, 6 * mb)) == std::vector<std::uint64_t>{2, 4});
  CHECK(ids(detail::least_recently_used_over(seen, 0)) == std::vector<std::uint64_t>{2, 4, 1, 3});  // never the asleep one
}

TEST_CASE("the memory budget passes over a database with clients, however long it was quiet", "[actors]") {
  const std::uint64_t mb = 1 << 20;
  std::vector<std::pair<std::uint64_t, database_usage>> seen = {
    {1, awake(60, 300, false)}, {2, awake(60, 30)}, {3, awake(10, 1)}};
  // 130 MB held, 100 allowed: the quiet one with a client stays, the idle one goes.
  CHECK(ids(detail::least_recently_used_over(seen, 100 * mb)) == std::vector<std::uint64_t>{2});
  // Nothing idle is left to choose beyond these, even far over the budget.
  CHECK(ids(detail::least_recently_used_over(seen, 0)) == std::vector<std::uint64_t>{2, 3});
}

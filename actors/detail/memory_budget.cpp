#include "actors/detail/memory_budget.hpp"

#include <algorithm>

namespace orrery::detail {

std::vector<std::pair<std::uint64_t, database_usage>> least_recently_used_over(const std::vector<std::pair<std::uint64_t, database_usage>>& awake,
                                                    std::uint64_t budget_bytes) {
  std::uint64_t total = 0;
  for (auto& [id, usage] : awake) total += usage.awake ? usage.total() : 0;
  std::vector<std::pair<std::uint64_t, database_usage>> by_age;  // those that may be put to sleep
  for (auto& entry : awake)
    if (entry.second.awake && entry.second.idle) by_age.push_back(entry);
  std::stable_sort(by_age.begin(), by_age.end(),
                   [](const auto& a, const auto& b) { return a.second.idle_micros > b.second.idle_micros; });
  std::vector<std::pair<std::uint64_t, database_usage>> chosen;
  for (auto& entry : by_age) {
    if (total <= budget_bytes) break;
    chosen.push_back(entry);
    total -= entry.second.total();
  }
  return chosen;
}

} // namespace orrery::detail

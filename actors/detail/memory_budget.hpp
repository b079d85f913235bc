#pragma once
// Private to the registry: which awake databases to put to sleep so that the
// host stays within its memory budget (`orrery start --memory-budget`). Pure:
// the registry asks every awake database for its usage and acts on the answer.

#include "actors/messages.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace orrery::detail {

/// The databases (their ids and usage) to put to sleep, least recently used first, so
/// that the others' memory fits `budget_bytes`; none when everything fits.
/// Every awake database counts; only idle ones (no clients, nothing in
/// flight) are chosen, so fewer than needed may be.
std::vector<std::pair<std::uint64_t, database_usage>> least_recently_used_over(const std::vector<std::pair<std::uint64_t, database_usage>>& awake,
                                                    std::uint64_t budget_bytes);

} // namespace orrery::detail

#pragma once
// How a host schedules its actors. Databases share a pool of worker threads,
// one per core, with connections and requests: a database handles one message
// (one call) and goes to the back of the queue, so a busy database holds a
// worker for at most one call's time budget before the others get their turn.

#include <caf/actor_system_config.hpp>

#include <algorithm>
#include <cstddef>
#include <thread>

namespace orrery {

inline void apply_actor_system_settings(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", std::size_t(std::max(2u, std::thread::hardware_concurrency())));
  cfg.set("scheduler.max-throughput", std::size_t(1));
}

} // namespace orrery

// Module figures: module load (isolate, evaluation, describe), cold and warm;
// starting another instance from the first one's image; and transfer reducer calls per second through the database actor
// (no network), over 100,000 accounts with durable group commit.
// Usage: orrery_bench_modules [calls]   (default 200,000)

#include "actors/actor_system_settings.hpp"
#include "actors/database_actor.hpp"
#include "actors/log_actor.hpp"
#include "modules/module_host.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/blake3.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/identity.hpp"

#include <caf/all.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>

using namespace orrery;
using clock_type = std::chrono::steady_clock;

namespace {

struct quiet_env : module_environment {
  void log(log_level, std::string_view) override {}
  identity database_identity() const override { return {}; }
  std::string jwt_payload(const connection_id&) const override { return {}; }
  void schedule_immediate(std::string, std::string) override {}
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// User and system CPU time of this process, all threads.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  const std::uint64_t calls = argc > 1 ? std::stoull(argv[1]) : 200000;
  const std::uint32_t accounts = 100000;
  std::string bundle = read_file(std::string(ORRERY_BUNDLE_DIR) + "/bank.js");

  // Module load: the first in a process also starts V8. A database loads
  // its module once; later instances (a wake) start from its image.
  quiet_env env;
  auto start = clock_type::now();
  auto cold = module_instance::load(bundle, env);
  double cold_ms = ms_since(start);
  if (!cold) {
    std::fprintf(stderr, "load failed: %s\n", cold.error().message.c_str());
    return 1;
  }
  const int runs = 10;
  double load_total = 0, start_total = 0;
  for (int i = 0; i < runs; ++i) {
    start = clock_type::now();
    auto loaded = module_instance::load(bundle, env);
    load_total += ms_since(start);
    start = clock_type::now();
    auto started = module_instance::start((*cold)->image(), env);
    start_total += ms_since(start);
    if (!loaded || !started) return 1;
  }
  std::printf("module load, cold:            %.1f ms (V8 starts too)\n", cold_ms);
  std::printf("module load, warm:            %.1f ms (mean of %d; evaluate, describe)\n", load_total / runs, runs);
  std::printf("instance start from image:    %.1f ms (mean of %d; code cache of %.0f KB, no describe)\n",
              start_total / runs, runs, double((*cold)->image()->code_cache.size()) / 1e3);

  // Transfers through the database actor.
  auto dir = std::filesystem::temp_directory_path() / ("orrery-bench-modules-" + random_uuid());
  std::string error;
  auto db = store::open(dir.string(), error);
  committer durability(*db);
  {
    caf::actor_system_config cfg;
    apply_actor_system_settings(cfg);  // as a host runs: the database and the driver share the workers
    caf::actor_system system{cfg};
    auto logs = spawn_log_actor(system, *db);
    database_context context{db.get(), &durability, logs, std::chrono::milliseconds(5000)};
    database_record record;
    record.id = 1;
    record.database_identity = identity::from_claims("bench", "bank");
    record.owner = identity::from_claims("bench", "owner");
    record.names = {"bank"};
    record.program_hash = to_hex(blake3(bundle).data(), 32);
    auto bank = spawn_database_actor(system, context, record, bundle);
    caf::scoped_actor self{system};
    bool created = false;
    self->request(bank, caf::infinite, create_atom::value).receive([&](bool ok) { created = ok; }, [&](caf::error& e) {
      std::fprintf(stderr, "create failed: %s\n", caf::to_string(e).c_str());
    });
    if (!created) return 1;
    reducer_call seed{record.owner, connection_id{}, "seed",
                      encode_value(product_value{{accounts, std::int64_t(1000000)}}), false, false};
    self->request(bank, caf::infinite, call_atom::value, seed).receive([](const call_result&) {}, [](caf::error&) {});

    std::mt19937 rng(7);
    std::vector<reducer_call> requests;
    requests.reserve(calls);
    for (std::uint64_t i = 0; i < calls; ++i) {
      std::uint32_t from = rng() % accounts, to = rng() % accounts;
      requests.push_back({record.owner, connection_id{}, "transfer",
                          encode_value(product_value{{from, to, std::int64_t(1)}}), false, false});
    }
    std::promise<std::pair<std::uint64_t, double>> finished;
    start = clock_type::now();
    double cpu_before = process_cpu_seconds();
    // Callers keep calls in flight, as pipelining clients do: the actor runs
    // them one by one and replies as group commits make them durable. Each
    // caller is an actor of its own with a small window, as a connection is
    // (one actor with thousands of requests open would measure CAF's lookup
    // of open requests instead).
    const std::uint64_t callers = 64, window = 40;
    std::atomic<std::uint64_t> sent{0}, done{0}, failed_calls{0};
    std::function<void(caf::event_based_actor*)> send_next;  // lives until the callers are done
    send_next = [&](caf::event_based_actor* caller) {
      std::uint64_t i = sent++;
      if (i >= calls) return;
      caller->request(bank, caf::infinite, call_atom::value, requests[i]).then([&, caller](const call_result& r) {
        if (r.kind != call_result_kind::ok) ++failed_calls;
        if (++done == calls) finished.set_value({failed_calls.load(), ms_since(start)});
        else send_next(caller);
      });
    };
    for (std::uint64_t c = 0; c < callers; ++c)
      system.spawn([&](caf::event_based_actor* caller) {
        for (std::uint64_t i = 0; i < window; ++i) send_next(caller);
      });
    auto [failed, elapsed_ms] = finished.get_future().get();
    std::fflush(stdout);
    double cpu_micros = (process_cpu_seconds() - cpu_before) * 1e6 / double(calls);
    auto synced = durability.counters();
    std::printf("transfer calls:               %.0f per second (target >= 150000), %.1f us of CPU each (callers "
                "included), %llu calls, %llu failed, %llu accounts, %llu callers x %llu in flight, "
                "%.0f commits per sync\n",
                double(calls) / (elapsed_ms / 1000.0), cpu_micros, static_cast<unsigned long long>(calls),
                static_cast<unsigned long long>(failed), static_cast<unsigned long long>(accounts),
                static_cast<unsigned long long>(callers), static_cast<unsigned long long>(window),
                double(synced.batches) / double(std::max<std::uint64_t>(1, synced.syncs)));
    self->send_exit(bank, caf::exit_reason::user_shutdown);
    self->send_exit(logs, caf::exit_reason::user_shutdown);
  }
  std::filesystem::remove_all(dir);
  return 0;
}

// The transfer workload over WebSocket against a real `orrery start`, beside
// PostgreSQL doing the same work in the same run.
//
// 100,000 accounts; each call transfers 1 between two accounts chosen
// uniformly or by Zipf (alpha 1.5, as pgbench's random_zipfian); every reply
// is sent after its commit is durable. Each setting runs C connections, each
// keeping 40 calls in flight, and prints transfers per second, latency
// p50/p99, and the host's CPU time per transfer (from /proc). Where
// PostgreSQL is installed, the peer script's figures follow, with the ratio.
//
// Usage: orrery_bench_transfer [seconds per setting = 5]
// The peer script is ../shared/peers/postgres-transfer.sh beside the source
// tree, or $ORRERY_POSTGRES_PEER.

#include "tests/bench/host_process.hpp"
#include "tests/bench/ws_client.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t accounts = 100000;
constexpr std::uint32_t in_flight = 40;

enum class distribution { uniform, zipf };

const char* name_of(distribution d) { return d == distribution::uniform ? "uniform" : "zipf"; }

/// Account ids 0..accounts-1: uniform, or id k-1 with weight k^-1.5.
class account_picker {
public:
  explicit account_picker(distribution d) : dist_(d), rng_(42) {
    if (d == distribution::zipf) {
      cumulative_.reserve(accounts);
      double sum = 0;
      for (std::uint32_t k = 1; k <= accounts; ++k) cumulative_.push_back(sum += std::pow(double(k), -1.5));
    }
  }
  std::uint32_t next() {
    if (dist_ == distribution::uniform) return std::uniform_int_distribution<std::uint32_t>(0, accounts - 1)(rng_);
    double u = std::uniform_real_distribution<double>(0, cumulative_.back())(rng_);
    return std::uint32_t(std::lower_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
  }

private:
  distribution dist_;
  std::mt19937_64 rng_;
  std::vector<double> cumulative_;
};

/// User plus system CPU seconds of process `pid`, from /proc.
double cpu_seconds_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  return ticks / double(sysconf(_SC_CLK_TCK));
}

struct figures {
  double tps = 0, p50_ms = 0, p99_ms = 0, host_cpu_micros = 0;
  std::uint64_t calls = 0, failed = 0;
};

/// Runs `connections` × in_flight calls for `seconds` after a one-second warm-up.
figures run(const host_process& host, const std::string& token, int connections, distribution dist, double seconds) {
  boost::asio::io_context io;
  std::vector<std::shared_ptr<bench::ws_client>> clients;
  account_picker picker(dist);
  std::vector<double> latencies;
  std::uint64_t done = 0, failed = 0;
  bool measuring = false, sending = true;
  std::uint64_t outstanding = 0;
  boost::asio::steady_timer timer(io);  // the warm-up, the measurement, then the drain

  for (int c = 0; c < connections; ++c) {
    auto cl = std::make_shared<bench::ws_client>(io);
    cl->open(host.port, token);
    clients.push_back(cl);
  }
  for (auto& cl : clients) {
    auto sent_at = std::make_shared<std::map<std::uint32_t, clock_type::time_point>>();
    auto next_id = std::make_shared<std::uint32_t>(0);
    auto send_one = [&, cl = cl.get(), sent_at, next_id] {
      std::uint32_t id = (*next_id)++;
      (*sent_at)[id] = clock_type::now();
      ++outstanding;
      cl->send(bench::call_message(id, "transfer", bench::transfer_args(picker.next(), picker.next())));
    };
    cl->on_message = [&, sent_at, send_one](std::uint8_t tag, std::string_view body) {
      if (tag != bench::reducer_result_tag) return;
      orrery::bsatn_reader in(body);
      std::uint32_t id = in.u32();
      in.fixed<std::int64_t>();  // timestamp
      bool ok = in.u8() == 0;
      auto at = sent_at->find(id);
      if (at == sent_at->end()) return;
      if (measuring) {
        latencies.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - at->second).count());
        ++done;
        if (!ok) ++failed;
      }
      sent_at->erase(at);
      --outstanding;
      if (sending) send_one();
      else if (outstanding == 0) timer.cancel(), io.stop();
    };
    cl->read_loop();
    for (std::uint32_t i = 0; i < in_flight; ++i) send_one();
  }

  figures out;
  double cpu_start = 0;
  clock_type::time_point started;
  timer.expires_after(std::chrono::seconds(1));  // warm-up: connections settle, the reducer is optimized
  timer.async_wait([&](boost::system::error_code) {
    measuring = true;
    started = clock_type::now();
    cpu_start = cpu_seconds_of(host.pid);
    timer.expires_after(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds)));
    timer.async_wait([&](boost::system::error_code) {
      double elapsed = std::chrono::duration<double>(clock_type::now() - started).count();
      double cpu = cpu_seconds_of(host.pid) - cpu_start;
      measuring = false;
      sending = false;
      out.calls = done;
      out.failed = failed;
      out.tps = double(done) / elapsed;
      out.host_cpu_micros = done ? cpu * 1e6 / double(done) : 0;
      // Calls still in flight get ten seconds to answer: a lost socket must not hang the bench.
      timer.expires_after(std::chrono::seconds(10));
      timer.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        std::fprintf(stderr, "%llu calls did not answer\n", static_cast<unsigned long long>(outstanding));
        io.stop();
      });
    });
  });
  io.run();
  out.p50_ms = bench::percentile(latencies, 0.5);
  out.p99_ms = bench::percentile(latencies, 0.99);
  bench::close_all(io, clients);
  return out;
}

/// The peer script's tps per "dist clients", or empty when it cannot run.
std::map<std::string, double> postgres_figures(double seconds) {
  std::string script = std::getenv("ORRERY_POSTGRES_PEER") ? std::getenv("ORRERY_POSTGRES_PEER")
                                                             : std::string(ORRERY_SOURCE_DIR) +
                                                                 "/../shared/peers/postgres-transfer.sh";
  std::map<std::string, double> tps;
  if (!std::filesystem::exists(script)) {
    std::printf("postgres peer: no script at %s (set ORRERY_POSTGRES_PEER)\n", script.c_str());
    return tps;
  }
  std::string command = "bash '" + script + "' " + std::to_string(int(std::lround(seconds))) + " '16 64' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return tps;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    std::fputs(line, stdout);
    char dist[32];
    int clients = 0;
    double value = 0;
    if (std::sscanf(line, "postgres transfer dist=%31s clients=%d tps=%lf", dist, &clients, &value) == 3)
      tps[std::string(dist) + " " + std::to_string(clients)] = value;
  }
  pclose(pipe);
  return tps;
}

} // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::stod(argv[1]) : 5;
  host_process host;
  connection setup(host.port);
  std::string token = publish_bank(setup);
  if (token.empty()) return 1;
  auto seeded = setup.send("POST", "/v1/database/bank/call/seed", "[100000, 1000000000]", token);
  if (seeded.first != 200) {
    std::fprintf(stderr, "seeding failed: %d %s\n", seeded.first, seeded.second.c_str());
    return 1;
  }

  std::map<std::string, double> orrery_tps;
  for (distribution dist : {distribution::uniform, distribution::zipf})
    for (int connections : {16, 64}) {
      figures f = run(host, token, connections, dist, seconds);
      orrery_tps[std::string(name_of(dist)) + " " + std::to_string(connections)] = f.tps;
      std::printf("orrery transfer dist=%s connections=%d in_flight=%u: tps=%.0f p50_ms=%.2f p99_ms=%.2f "
                  "host_cpu_us=%.1f calls=%llu failed=%llu (targets at 64: tps >= 100000, p99 <= 15 ms, "
                  "host CPU <= 8 us)\n",
                  name_of(dist), connections, in_flight, f.tps, f.p50_ms, f.p99_ms, f.host_cpu_micros,
                  static_cast<unsigned long long>(f.calls), static_cast<unsigned long long>(f.failed));
      std::fflush(stdout);
    }
  std::printf("orrery zipf/uniform at 64 connections: %.2f (target >= 0.9)\n",
              orrery_tps["zipf 64"] / std::max(1.0, orrery_tps["uniform 64"]));
  std::fflush(stdout);

  auto peer = postgres_figures(seconds);
  for (auto& [setting, pg] : peer)
    if (orrery_tps.count(setting))
      std::printf("orrery/postgres %s clients: %.1fx (target >= 10x at uniform 16)\n", setting.c_str(),
                  orrery_tps[setting] / std::max(1.0, pg));
  return 0;
}

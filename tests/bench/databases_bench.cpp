// Many small databases on one real `orrery start` (the chat example, 4 client
// threads on loopback):
//  - creations per second from a stored module (by its hash: no upload);
//  - resident memory per sleeping database: host RSS once N databases sleep,
//    minus once the first one sleeps (V8 started), divided by N - 1;
//  - waking: the first call to a sleeping database that holds 1,000 rows, p50/p99;
//  - a restart of the host with all of them: start to a call answered;
//  - resident memory per awake idle database (a host whose databases never sleep);
//  - 1,000 awake databases called in turn: calls/s, beside one database alone.
// Usage: orrery_bench_databases [databases]   (default 10,000)

#include "tests/bench/host_process.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int threads = 4;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

/// Runs `work(connection, i)` for i in [0, n) on `threads` connections; false if any failed.
template <class Work>
bool on_connections(const host_process& host, int n, Work work) {
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      connection c(host.port);
      for (int i = next++; i < n && ok; i = next++)
        if (!work(c, i)) ok = false;
    });
  for (auto& t : pool) t.join();
  return ok;
}

bool expect_ok(const std::pair<int, std::string>& r, const char* what) {
  if (r.first == 200) return true;
  std::fprintf(stderr, "%s failed: HTTP %d %s\n", what, r.first, r.second.c_str());
  return false;
}

/// Publishes `bundle` as prefix-0 (an upload); its module hash, or "".
std::string publish_first(const host_process& host, const std::string& token, const std::string& bundle,
                          const std::string& prefix) {
  connection first(host.port);
  auto published = first.send("PUT", "/v1/database/" + prefix + "-0", bundle, token);
  if (!expect_ok(published, "publish")) return "";
  auto at = published.second.find("\"module_hash\":\"");
  return at == std::string::npos ? "" : published.second.substr(at + 15, 64);
}

/// Creates prefix-1 … prefix-(n-1) from stored module `hash` (no upload);
/// creations per second, or 0.
double create_from(const host_process& host, const std::string& token, const std::string& hash,
                   const std::string& prefix, int n) {
  auto start = clock_type::now();
  bool ok = on_connections(host, n - 1, [&](connection& c, int i) {
    return expect_ok(c.send("PUT", "/v1/database/" + prefix + "-" + std::to_string(i + 1) + "?module_hash=" + hash, "",
                            token),
                     "create from a module hash");
  });
  return ok ? (n - 1) / seconds_since(start) : 0;
}

/// prefix-0 … prefix-(n-1) of `bundle`: one upload, then the rest from its
/// hash; false if any failed.
bool create(const host_process& host, const std::string& token, const std::string& bundle, const std::string& prefix,
            int n) {
  std::string hash = publish_first(host, token, bundle, prefix);
  return !hash.empty() && (n == 1 || create_from(host, token, hash, prefix, n) > 0);
}

/// Calls `send_message` once on each of prefix-0 … prefix-(n-1), `rounds` times over; calls per second, or 0.
double call_each(const host_process& host, const std::string& token, const std::string& prefix, int n, int rounds) {
  auto start = clock_type::now();
  bool ok = on_connections(host, n * rounds, [&](connection& c, int i) {
    std::string db = prefix + "-" + std::to_string(i % n);
    return expect_ok(c.send("POST", "/v1/database/" + db + "/call/send_message", "[\"hi\"]", token), "call");
  });
  return ok ? n * rounds / seconds_since(start) : 0;
}

void sleeping(int databases) {
  const int idle_seconds = 1;
  host_process host({"--idle-timeout", std::to_string(idle_seconds)});
  connection setup(host.port);
  std::string token = mint_token(setup);
  // The first database starts V8 (its code pages count towards the host's
  // resident memory): the baseline is taken once it sleeps.
  std::string hash = publish_first(host, token, read_bundle("chat"), "chat");
  if (hash.empty()) return;
  std::this_thread::sleep_for(std::chrono::seconds(2 * idle_seconds + 1));
  std::size_t before = host.resident_bytes();

  double per_second = create_from(host, token, hash, "chat", databases);
  std::printf("creations from a stored module: %.0f per second (target >= 200), %d databases\n", per_second,
              databases);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(2 * idle_seconds + 1));  // every one asleep
  std::size_t asleep = host.resident_bytes();
  std::printf("resident memory per sleeping database: %.0f bytes (target <= 1024; host %.0f MB with one asleep, "
              "%.0f MB with %d asleep)\n", double(asleep - std::min(asleep, before)) / (databases - 1), before / 1e6,
              asleep / 1e6, databases);
  std::fflush(stdout);

  // Waking: databases of 1,000 accounts each, left to fall asleep, then called.
  const int wakers = 20, rounds = 5;
  if (!create(host, token, read_bundle("bank"), "bank", wakers)) return;
  on_connections(host, wakers, [&](connection& c, int i) {
    return expect_ok(c.send("POST", "/v1/database/bank-" + std::to_string(i) + "/call/seed", "[1000, 100]", token),
                     "seed");
  });
  std::vector<double> wake_ms;
  for (int round = 0; round < rounds; ++round) {
    std::this_thread::sleep_for(std::chrono::seconds(2 * idle_seconds + 1));
    connection c(host.port);
    for (int i = 0; i < wakers; ++i) {
      auto start = clock_type::now();
      if (!expect_ok(c.send("POST", "/v1/database/bank-" + std::to_string(i) + "/call/transfer", "[1, 2, 1]", token),
                     "transfer"))
        return;
      wake_ms.push_back(seconds_since(start) * 1000);
    }
  }
  std::printf("wake, first call answered, database with 1,000 rows: p50 %.1f ms, p99 %.1f ms (target p50 < 5, "
              "p99 < 20), %zu wakes\n", percentile(wake_ms, 0.5), percentile(wake_ms, 0.99), wake_ms.size());
  std::fflush(stdout);

  // A restart: from the start of the process to a call answered by a
  // database in the middle (every database stays asleep until used).
  host.stop();
  auto restarted = clock_type::now();
  host.start();
  connection c(host.port);
  std::string middle = "chat-" + std::to_string(databases / 2);
  if (!expect_ok(c.send("POST", "/v1/database/" + middle + "/call/send_message", "[\"back\"]", token), "call")) return;
  std::printf("restart with %d databases: %.0f ms from start to a call answered by %s (target < 1000)\n",
              databases + wakers, seconds_since(restarted) * 1000, middle.c_str());
  std::fflush(stdout);
}

void awake(int databases) {
  host_process host({"--idle-timeout", "0"});
  connection setup(host.port);
  std::string token = mint_token(setup);
  std::string hash = publish_first(host, token, read_bundle("chat"), "chat");  // V8 starts: part of the baseline
  if (hash.empty()) return;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::size_t before = host.resident_bytes();
  if (create_from(host, token, hash, "chat", databases) == 0) return;
  std::size_t after = host.resident_bytes();
  std::printf("resident memory per awake idle database: %.2f MB (target <= 1.5), %d databases\n",
              double(after - std::min(after, before)) / (databases - 1) / 1e6, databases);
  std::fflush(stdout);

  double spread = call_each(host, token, "chat", databases, 5);
  double alone = call_each(host, token, "chat", 1, 5 * databases);
  std::printf("%d awake databases called in turn: %.0f calls per second; one database alone: %.0f (%.0f%%; target "
              ">= 80%%)\n", databases, spread, alone, alone > 0 ? 100 * spread / alone : 0.0);
}

} // namespace

int main(int argc, char** argv) {
  int databases = argc > 1 ? std::stoi(argv[1]) : 10000;
  sleeping(databases);
  awake(std::min(databases, 1000));
  return 0;
}

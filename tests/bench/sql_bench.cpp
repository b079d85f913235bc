// SQL figures: rows per second for a filtered full scan of 1,000,000 rows in
// memory, and primary-key SELECT requests per second over HTTP against a real
// `orrery start` on loopback (keep-alive connections, one per client thread).
// Usage: orrery_bench_sql [rows] [http_requests]   (defaults 1,000,000 and 40,000)

#include "runtime/sql/engine.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/identity.hpp"
#include "tests/bench/host_process.hpp"
#include "tests/bench/item_table.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace orrery;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = boost::asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void scan_benchmark(std::uint64_t rows) {
  auto ds = std::move(*datastore::open(nullptr, nullptr, 1));
  table_id id = *ds->create_table(item_schema());
  for (std::uint64_t start = 0; start < rows; start += 10000) {
    auto tx = ds->begin();
    for (std::uint64_t i = start; i < std::min(rows, start + 10000); ++i)
      (void)tx.insert(id, encode_value(product_value{{i, (i * 7919) % rows, std::string("label-0000000000")}}));
    tx.commit();
  }
  auto parsed = sql::parse("SELECT COUNT(*) AS n FROM item WHERE value >= " + std::to_string(rows / 2));
  sql::settings config;
  sql::caller owner{identity::from_claims("bench", "owner"), true, true};
  double best = 1e9;
  std::uint64_t matched = 0;
  for (int run = 0; run < 5; ++run) {
    auto tx = ds->begin();
    auto start = clock_type::now();
    auto result = sql::run(*ds, tx, *parsed, owner, config);
    best = std::min(best, seconds_since(start));
    matched = std::get<std::uint64_t>(result->rows[0][0].v);
    tx.rollback();
  }
  std::printf("filtered full scan:           %.1f million rows per second (target >= 20), %llu rows, %llu matched\n",
              double(rows) / best / 1e6, static_cast<unsigned long long>(rows), static_cast<unsigned long long>(matched));
}



void http_benchmark(std::uint64_t requests) {
  host_process host;
  connection setup(host.port);
  std::string token = publish_bank(setup);
  if (token.empty()) return;
  const std::uint32_t accounts = 100000;
  setup.send("POST", "/v1/database/bank/call/seed", "[" + std::to_string(accounts) + ", 1000]", token);

  const int threads = 4;
  std::atomic<std::uint64_t> failures{0};
  std::vector<std::thread> workers;
  auto start = clock_type::now();
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      connection c(host.port);
      for (std::uint64_t i = std::uint64_t(t); i < requests; i += threads) {
        auto [status, body] = c.send("POST", "/v1/database/bank/sql",
                                     "SELECT * FROM account WHERE id = " + std::to_string((i * 7919) % accounts), token);
        if (status != 200 || body.find("\"rows\":[[") == std::string::npos) ++failures;
      }
    });
  for (auto& w : workers) w.join();
  double s = seconds_since(start);
  std::printf("point SELECTs over HTTP:      %.0f per second (target >= 10000), %llu requests, %d connections, "
              "%llu failed\n",
              double(requests) / s, static_cast<unsigned long long>(requests), threads,
              static_cast<unsigned long long>(failures.load()));
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t rows = argc > 1 ? std::stoull(argv[1]) : 1000000;
  std::uint64_t requests = argc > 2 ? std::stoull(argv[2]) : 40000;
  scan_benchmark(rows);
  std::fflush(stdout);
  http_benchmark(requests);
  return 0;
}

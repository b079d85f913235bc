// Live-client figures on loopback against a real `orrery start`:
// commit-to-delivery latency p50/p99 from one writer to 100 and to 1,000
// subscribers (time from the writer's call to each subscriber's update, so
// it includes the durable commit). Reducer throughput over WebSocket is
// orrery_bench_transfer's.

#include "tests/bench/host_process.hpp"
#include "tests/bench/ws_client.hpp"

#include <chrono>
#include <cstdio>

using clock_type = std::chrono::steady_clock;

namespace {

void delivery(const std::string& port, const std::string& token, int subscribers, int updates) {
  boost::asio::io_context io;
  std::vector<std::shared_ptr<bench::ws_client>> watchers;
  std::vector<double> latencies;
  clock_type::time_point sent_at;
  int applied = 0, received = 0;
  for (int s = 0; s < subscribers; ++s) {
    auto cl = std::make_shared<bench::ws_client>(io);
    cl->open(port, token);
    cl->on_message = [&](std::uint8_t tag, std::string_view) {
      if (tag == bench::subscribe_applied_tag) ++applied;
      if (tag == bench::transaction_update_tag) {
        latencies.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - sent_at).count());
        ++received;
      }
    };
    cl->read_loop();
    cl->send(bench::subscribe_message(1, 1, "SELECT * FROM account WHERE id = 7"));
    watchers.push_back(cl);
  }
  while (applied < subscribers) io.run_one();
  auto writer = std::make_shared<bench::ws_client>(io);
  writer->open(port, token);
  int sent = 0;
  writer->read_loop();
  auto next = [&] {
    sent_at = clock_type::now();
    writer->send(bench::call_message(std::uint32_t(sent), "transfer", bench::transfer_args(7, 8)));
    ++sent;
  };
  next();
  while (received < subscribers * updates) {
    io.run_one();
    if (received == subscribers * sent && sent < updates) next();
  }
  std::printf("commit-to-delivery, %4d subscribers: p50 %.2f ms, p99 %.2f ms (target p99 < 10 ms at 1000), "
              "%d updates each\n",
              subscribers, bench::percentile(latencies, 0.5), bench::percentile(latencies, 0.99), updates);
  watchers.push_back(writer);
  bench::close_all(io, watchers);
}

} // namespace

int main() {
  host_process host;
  connection setup(host.port);
  std::string token = publish_bank(setup);
  if (token.empty()) return 1;
  setup.send("POST", "/v1/database/bank/call/seed", "[10000, 1000000000]", token);
  // One token for every socket: the query parameter takes a token of this host.
  delivery(host.port, token, 100, 50);
  std::fflush(stdout);
  delivery(host.port, token, 1000, 20);
  return 0;
}

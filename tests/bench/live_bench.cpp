// Live-client figures on loopback against a real `orrery start`:
//  - reducer round trips per second over 1 and over 16 WebSocket connections,
//    each keeping a window of calls in flight, with p50/p99 latency;
//  - commit-to-delivery latency p50/p99 from one writer to 100 and to 1,000
//    subscribers (time from the writer's call to each subscriber's update).
// Usage: orrery_bench_live [calls_per_run]   (default 40,000)

#include "actors/client_protocol.hpp"
#include "runtime/types/bsatn.hpp"
#include "tests/bench/host_process.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>

using namespace orrery;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {



std::string call_message(std::uint32_t request_id, const std::string& reducer, const std::string& args) {
  std::string out;
  bsatn_writer w(out);
  w.u8(3);
  w.u32(request_id);
  w.u8(0);
  w.string(reducer);
  w.string(args);
  return out;
}

std::string subscribe_message(std::uint32_t request_id, std::uint32_t set, const std::string& query) {
  std::string out;
  bsatn_writer w(out);
  w.u8(0);
  w.u32(request_id);
  w.u32(set);
  w.u32(1);
  w.string(query);
  return out;
}

// One client socket driven by the io_context.
struct client : std::enable_shared_from_this<client> {
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::function<void(std::uint8_t tag, std::string_view body)> on_message;
  std::deque<std::string> outbox;

  explicit client(asio::io_context& io) : ws(io) {}

  void open(const std::string& port, const std::string& token) {
    ws.next_layer().connect(tcp::resolver(ws.get_executor()).resolve("127.0.0.1", port));
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(bhttp::field::sec_websocket_protocol, "v2.bsatn.spacetimedb");
    }));
    ws.binary(true);
    ws.handshake("127.0.0.1", "/v1/database/bank/subscribe?compression=None&token=" + token);
    ws.read(buffer);  // InitialConnection
    buffer.consume(buffer.size());
  }

  void read_loop() {
    ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      std::string data = beast::buffers_to_string(self->buffer.data());
      self->buffer.consume(self->buffer.size());
      if (data.size() > 1 && self->on_message) self->on_message(std::uint8_t(data[1]), std::string_view(data).substr(2));
      self->read_loop();
    });
  }

  void send(std::string message) {
    outbox.push_back(std::move(message));
    if (outbox.size() == 1) write_next();
  }

  void write_next() {
    ws.async_write(asio::buffer(outbox.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->outbox.pop_front();
      if (!ec && !self->outbox.empty()) self->write_next();
    });
  }
};

// Closes every socket and lets the pending operations finish before the
// io_context goes away.
void shut(asio::io_context& io, std::vector<std::shared_ptr<client>>& clients) {
  for (auto& cl : clients) {
    cl->on_message = nullptr;
    beast::error_code ec;
    cl->ws.next_layer().socket().close(ec);
  }
  io.restart();
  io.run();
  clients.clear();
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

std::string transfer_args(std::uint32_t from, std::uint32_t to) {
  return encode_value(product_value{{from, to, std::int64_t(1)}});
}

void round_trips(const std::string& port, const std::string& token, int connections, std::uint64_t calls) {
  asio::io_context io;
  const std::uint64_t window = 64;
  std::vector<std::shared_ptr<client>> clients;
  std::vector<double> latencies;
  std::uint64_t done = 0, failed = 0;
  auto start = clock_type::now();
  for (int c = 0; c < connections; ++c) {
    auto cl = std::make_shared<client>(io);
    cl->open(port, token);
    clients.push_back(cl);
  }
  start = clock_type::now();
  std::uint64_t per = calls / std::uint64_t(connections);
  for (int c = 0; c < connections; ++c) {
    auto cl = clients[std::size_t(c)];
    auto sent_at = std::make_shared<std::vector<clock_type::time_point>>(per);
    auto next = std::make_shared<std::uint32_t>(0);
    auto send_one = [cl, sent_at, next, c] {
      std::uint32_t id = (*next)++;
      (*sent_at)[id] = clock_type::now();
      cl->send(call_message(id, "transfer", transfer_args((id * 7919u + std::uint32_t(c)) % 10000, (id * 104729u) % 10000)));
    };
    cl->on_message = [&, sent_at, next, per, send_one](std::uint8_t tag, std::string_view body) {
      if (tag != 6) return;  // ReducerResult
      bsatn_reader in(body);
      std::uint32_t id = in.u32();
      in.fixed<std::int64_t>();
      if (in.u8() != 0) ++failed;
      latencies.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - (*sent_at)[id]).count());
      ++done;
      if (*next < per) send_one();
      if (done == per * std::uint64_t(connections)) io.stop();
    };
    cl->read_loop();
    for (std::uint64_t i = 0; i < std::min(window, per); ++i) send_one();
  }
  io.run();
  double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  std::printf("reducer round trips, %2d connection%s: %.0f per second (target >= 50000 pipelined), p50 %.2f ms, "
              "p99 %.2f ms, %llu calls, %llu failed\n",
              connections, connections == 1 ? " " : "s", double(done) / seconds, percentile(latencies, 0.5),
              percentile(latencies, 0.99), static_cast<unsigned long long>(done), static_cast<unsigned long long>(failed));
  shut(io, clients);
}

void delivery(const std::string& port, const std::string& token, int subscribers, int updates) {
  asio::io_context io;
  std::vector<std::shared_ptr<client>> watchers;
  std::vector<double> latencies;
  clock_type::time_point sent_at;
  int applied = 0, received = 0;
  for (int s = 0; s < subscribers; ++s) {
    auto cl = std::make_shared<client>(io);
    cl->open(port, token);
    cl->on_message = [&](std::uint8_t tag, std::string_view) {
      if (tag == 1) ++applied;
      if (tag == 4) {
        latencies.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - sent_at).count());
        ++received;
      }
    };
    cl->read_loop();
    cl->send(subscribe_message(1, 1, "SELECT * FROM account WHERE id = 7"));
    watchers.push_back(cl);
  }
  while (applied < subscribers) io.run_one();
  auto writer = std::make_shared<client>(io);
  writer->open(port, token);
  int sent = 0;
  writer->on_message = [&](std::uint8_t tag, std::string_view) {
    if (tag != 6) return;
  };
  writer->read_loop();
  auto next = [&] {
    sent_at = clock_type::now();
    writer->send(call_message(std::uint32_t(sent), "transfer", transfer_args(7, 8)));
    ++sent;
  };
  next();
  while (received < subscribers * updates) {
    io.run_one();
    if (received == subscribers * sent && sent < updates) next();
  }
  std::printf("commit-to-delivery, %4d subscribers: p50 %.2f ms, p99 %.2f ms (target p99 < 20 ms at 1000), "
              "%d updates each\n",
              subscribers, percentile(latencies, 0.5), percentile(latencies, 0.99), updates);
  watchers.push_back(writer);
  shut(io, watchers);
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t calls = argc > 1 ? std::stoull(argv[1]) : 40000;
  host_process host;
  connection setup(host.port);
  std::string token = publish_bank(setup);
  if (token.empty()) return 1;
  setup.send("POST", "/v1/database/bank/call/seed", "[10000, 1000000000]", token);
  // Keep the token for many sockets: the query parameter takes a token of this host.
  round_trips(host.port, token, 1, calls);
  std::fflush(stdout);
  round_trips(host.port, token, 16, calls);
  std::fflush(stdout);
  delivery(host.port, token, 100, 50);
  std::fflush(stdout);
  delivery(host.port, token, 1000, 20);
  return 0;
}

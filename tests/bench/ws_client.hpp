#pragma once
// A WebSocket client of the v2.bsatn.spacetimedb protocol for benchmarks: one
// socket driven by an io_context, the client messages the benchmarks send,
// and latency percentiles.

#include "runtime/types/bsatn.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// Server message tags the benchmarks read.
inline constexpr std::uint8_t subscribe_applied_tag = 1;
inline constexpr std::uint8_t transaction_update_tag = 4;
inline constexpr std::uint8_t reducer_result_tag = 6;

inline std::string call_message(std::uint32_t request_id, const std::string& reducer, const std::string& args) {
  std::string out;
  orrery::bsatn_writer w(out);
  w.u8(3);
  w.u32(request_id);
  w.u8(0);
  w.string(reducer);
  w.string(args);
  return out;
}

inline std::string subscribe_message(std::uint32_t request_id, std::uint32_t set, const std::string& query) {
  std::string out;
  orrery::bsatn_writer w(out);
  w.u8(0);
  w.u32(request_id);
  w.u32(set);
  w.u32(1);
  w.string(query);
  return out;
}

/// The arguments of the bank module's `transfer` reducer.
inline std::string transfer_args(std::uint32_t from, std::uint32_t to, std::int64_t amount = 1) {
  std::string out;
  orrery::bsatn_writer w(out);
  w.u32(from);
  w.u32(to);
  w.fixed<std::int64_t>(amount);
  return out;
}

/// One client socket driven by the io_context.
struct ws_client : std::enable_shared_from_this<ws_client> {
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws;
  boost::beast::flat_buffer buffer;
  /// Each server message: its tag and the rest (uncompressed).
  std::function<void(std::uint8_t tag, std::string_view body)> on_message;
  std::deque<std::string> outbox;

  explicit ws_client(boost::asio::io_context& io) : ws(io) {}

  /// Connects to database `database` and reads its InitialConnection.
  void open(const std::string& port, const std::string& token, const std::string& database = "bank") {
    namespace websocket = boost::beast::websocket;
    ws.next_layer().connect(boost::asio::ip::tcp::resolver(ws.get_executor()).resolve("127.0.0.1", port));
    ws.next_layer().socket().set_option(boost::asio::ip::tcp::no_delay(true));
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(boost::beast::http::field::sec_websocket_protocol, "v2.bsatn.spacetimedb");
    }));
    ws.binary(true);
    ws.handshake("127.0.0.1", "/v1/database/" + database + "/subscribe?compression=None&token=" + token);
    ws.read(buffer);
    buffer.consume(buffer.size());
  }

  void read_loop() {
    ws.async_read(buffer, [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
      if (ec) return;
      auto data = self->buffer.cdata();
      std::string_view bytes(static_cast<const char*>(data.data()), data.size());
      // [compression tag][message tag][body]
      if (bytes.size() > 1 && self->on_message) self->on_message(std::uint8_t(bytes[1]), bytes.substr(2));
      self->buffer.consume(self->buffer.size());
      self->read_loop();
    });
  }

  void send(std::string message) {
    outbox.push_back(std::move(message));
    if (outbox.size() == 1) write_next();
  }

private:
  void write_next() {
    ws.async_write(boost::asio::buffer(outbox.front()), [self = shared_from_this()](boost::beast::error_code ec,
                                                                                     std::size_t) {
      self->outbox.pop_front();
      if (!ec && !self->outbox.empty()) self->write_next();
    });
  }
};

/// Closes every socket and lets the pending operations finish before the
/// io_context goes away.
inline void close_all(boost::asio::io_context& io, std::vector<std::shared_ptr<ws_client>>& clients) {
  for (auto& cl : clients) {
    cl->on_message = nullptr;
    boost::beast::error_code ec;
    cl->ws.next_layer().socket().close(ec);
  }
  io.restart();
  io.run();
  clients.clear();
}

inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

} // namespace bench

#pragma once
// The HTTP server: Boost.Beast on its own Asio threads. Parses requests, hands
// them to the router, writes replies (every reply carries CORS headers).
// Construct, `start`, later `stop` from any thread; stop joins the threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace orrery {

class router;

/// What one client may hold of the server. Each limit, when passed, is
/// answered with an error that names it.
struct http_limits {
  std::size_t body_bytes = std::size_t(64) << 20;        // a request body (413)
  std::size_t connections = 10000;                       // open HTTP and WebSocket connections (503)
  std::size_t message_bytes = std::size_t(32) << 20;     // one WebSocket message from a client
  std::size_t inbound_bytes = std::size_t(4) << 20;      // received and not yet handled: reading pauses
  std::size_t outbound_bytes = std::size_t(64) << 20;    // queued for a slow client: it is closed
};

class http_server {
public:
  /// Binds `host:port` (port 0 picks a free one); throws std::runtime_error when it cannot.
  http_server(const router& routes, const std::string& host, std::uint16_t port, http_limits limits);
  ~http_server();

  std::uint16_t port() const;
  void start(int threads);
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orrery

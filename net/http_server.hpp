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

class http_server {
public:
  /// Binds `host:port` (port 0 picks a free one); throws std::runtime_error when it cannot.
  http_server(const router& routes, const std::string& host, std::uint16_t port,
              std::size_t body_limit);
  ~http_server();

  std::uint16_t port() const;
  void start(int threads);
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orrery

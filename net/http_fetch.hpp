#pragma once
// Outbound HTTP for procedures (`ctx.http.fetch`): one HTTP/1.1 request per
// call, with a timeout over the whole exchange and a bound on the answer's
// size. Private and special-purpose addresses (loopback, RFC 1918, link-local,
// ...) are refused unless the policy allows them, so a module cannot reach
// the host's own network. No redirects are followed; https is not supported
// yet. Blocks the calling thread; any thread. No Beast types here.

#include "modules/module_host.hpp"
#include "runtime/result.hpp"

#include <chrono>
#include <cstddef>

namespace orrery {

struct http_fetch_policy {
  bool allow_private_addresses = false;
  std::size_t max_response_bytes = std::size_t(16) << 20;
  std::chrono::milliseconds default_timeout{10000};
  std::chrono::milliseconds max_timeout{30000};
};

result<http_fetch_response> http_fetch(const http_fetch_request& request, const http_fetch_policy& policy);

} // namespace orrery

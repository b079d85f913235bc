#pragma once
// Matches a request's method and path against patterns such as
// "/v1/database/:name/logs" and runs the route's handler. A last segment
// "*name" takes the rest of the path (none or more segments); the method "*"
// takes any method.

#include "net/http.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace orrery {

/// One request in flight: what came in, the path parameters, and the way back.
/// Headers in `extra_headers` are added to every reply (for example a minted identity).
struct http_call {
  http_request request;
  std::map<std::string, std::string> params;
  std::shared_ptr<responder> out;
  std::vector<std::pair<std::string, std::string>> extra_headers;

  const std::string& param(const std::string& name) const { return params.at(name); }
  void reply(http_response response);
  void reply(int status, std::string text) { reply(http_response::text(status, std::move(text))); }
};

using call_ptr = std::shared_ptr<http_call>;
using route_handler = std::function<void(call_ptr)>;
using upgrade_handler = std::function<void(call_ptr, std::shared_ptr<websocket_upgrade>)>;

class router {
public:
  void add(std::string method, const std::string& pattern, route_handler handler);
  /// Runs the matching route, or answers 404 / 405 itself.
  void dispatch(http_request request, std::shared_ptr<responder> out) const;

  /// WebSocket routes: `out` rejects the upgrade (any reply), `upgrade` accepts it.
  void add_websocket(const std::string& pattern, upgrade_handler handler);
  void dispatch_upgrade(http_request request, std::shared_ptr<responder> out,
                        std::shared_ptr<websocket_upgrade> upgrade) const;

private:
  struct websocket_route {
    std::vector<std::string> segments;
    upgrade_handler handler;
  };
  std::vector<websocket_route> websocket_routes_;
  static bool match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                    std::map<std::string, std::string>& params);
  struct route {
    std::string method;
    std::vector<std::string> segments;  // ":name" segments capture
    route_handler handler;
  };
  std::vector<route> routes_;
};

/// Headers every reply carries so browsers may call the API from any origin.
void add_cors_headers(http_response& response);

} // namespace orrery

#pragma once
// Matches a request's method and path against patterns such as
// "/v1/database/:name/logs" and runs the route's handler.

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

class router {
public:
  void add(std::string method, const std::string& pattern, route_handler handler);
  /// Runs the matching route, or answers 404 / 405 itself.
  void dispatch(http_request request, std::shared_ptr<responder> out) const;

private:
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

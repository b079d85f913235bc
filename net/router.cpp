#include "net/router.hpp"

namespace orrery {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

} // namespace

std::optional<std::string> http_request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> http_request::query_value(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

http_response http_response::text(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http_response http_response::json(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

void add_cors_headers(http_response& response) {
  response.headers.emplace_back("Access-Control-Allow-Origin", "*");
  response.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
  response.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Accept, Content-Type");
  response.headers.emplace_back("Access-Control-Expose-Headers",
                                "spacetime-identity, spacetime-identity-token");
}

void http_call::reply(http_response response) {
  for (auto& h : extra_headers) response.headers.push_back(h);
  out->send(std::move(response));
}

void router::add(std::string method, const std::string& pattern, route_handler handler) {
  routes_.push_back({std::move(method), split_path(pattern), std::move(handler)});
}

bool router::match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                   std::map<std::string, std::string>& params) {
  if (!pattern.empty() && !pattern.back().empty() && pattern.back()[0] == '*') {
    if (path.size() < pattern.size() - 1) return false;
    std::string rest;
    for (std::size_t i = pattern.size() - 1; i < path.size(); ++i) rest += (rest.empty() ? "" : "/") + path[i];
    params[pattern.back().substr(1)] = rest;
    return match({pattern.begin(), pattern.end() - 1}, {path.begin(), path.begin() + std::ptrdiff_t(pattern.size() - 1)},
                 params);
  }
  if (pattern.size() != path.size()) return false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (!pattern[i].empty() && pattern[i][0] == ':') params[pattern[i].substr(1)] = path[i];
    else if (pattern[i] != path[i]) return false;
  }
  return true;
}

void router::add_websocket(const std::string& pattern, upgrade_handler handler) {
  websocket_routes_.push_back({split_path(pattern), std::move(handler)});
}

void router::dispatch_upgrade(http_request request, std::shared_ptr<responder> out,
                              std::shared_ptr<websocket_upgrade> upgrade) const {
  auto segments = split_path(request.path);
  for (auto& r : websocket_routes_) {
    std::map<std::string, std::string> params;
    if (!match(r.segments, segments, params)) continue;
    auto call = std::make_shared<http_call>();
    call->request = std::move(request);
    call->params = std::move(params);
    call->out = std::move(out);
    r.handler(call, std::move(upgrade));
    return;
  }
  out->send(http_response::text(404, "no WebSocket route for " + request.path));
}

void router::dispatch(http_request request, std::shared_ptr<responder> out) const {
  if (request.method == "OPTIONS") {
    out->send(http_response::text(204, ""));
    return;
  }
  auto segments = split_path(request.path);
  bool path_matched = false;
  for (auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!match(r.segments, segments, params)) continue;
    path_matched = true;
    if (r.method != request.method && r.method != "*") continue;
    auto call = std::make_shared<http_call>();
    call->request = std::move(request);
    call->params = std::move(params);
    call->out = std::move(out);
    r.handler(call);
    return;
  }
  if (path_matched) out->send(http_response::text(405, "method " + request.method + " is not allowed on " + request.path));
  else out->send(http_response::text(404, "no route for " + request.path));
}

} // namespace orrery

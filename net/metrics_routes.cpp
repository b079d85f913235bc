// GET /metrics: the host's figures in the Prometheus text format, one series
// per database (labelled by identity and name) and host-wide ones. Open to
// whoever reaches the host, unless it runs with --metrics-token: then only to
// scrapers sending it as a bearer token.

#include "net/host_api.hpp"

namespace orrery {

void add_metrics_routes(router& routes, host_services& host) {
  routes.add("GET", "/metrics", [&host](call_ptr call) {
    if (!host.metrics_token.empty() && call->request.header("authorization") != "Bearer " + host.metrics_token)
      return call->reply(401, "GET /metrics needs the host's metrics token: Authorization: Bearer <token>");
    ask(host, call, host.registry,
        [call](const std::string& text) {
          http_response r = http_response::text(200, text);
          r.content_type = "text/plain; version=0.0.4; charset=utf-8";
          call->reply(std::move(r));
        },
        metrics_atom::value);
  });
}

} // namespace orrery

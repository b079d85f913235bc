// GET /metrics: the host's figures in the Prometheus text format, one series
// per database (labelled by identity and name) and host-wide ones. Open to
// anyone who can reach the host, as Prometheus scrapes it.

#include "net/host_api.hpp"

namespace orrery {

void add_metrics_routes(router& routes, host_services& host) {
  routes.add("GET", "/metrics", [&host](call_ptr call) {
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

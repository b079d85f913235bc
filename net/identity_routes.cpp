// Routes under /v1/identity and /v1/ping: minting identities and tokens,
// verifying them, and listing an identity's databases.

#include "net/host_api.hpp"

#include <nlohmann/json.hpp>

namespace orrery {

using json = nlohmann::json;

void add_identity_routes(router& routes, host_services& host) {
  routes.add("GET", "/v1/ping", [](call_ptr call) { call->reply(200, ""); });

  routes.add("POST", "/v1/identity", [&host](call_ptr call) {
    identity minted;
    std::string token = host.tokens.mint(minted);
    call->reply(http_response::json(200, json{{"identity", minted.to_hex()}, {"token", token}}.dump()));
  });

  // Short-lived tokens keep long-lived ones out of WebSocket URLs.
  routes.add("POST", "/v1/identity/websocket-token", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, false);
    if (!caller) return;
    call->reply(http_response::json(200, json{{"token", host.tokens.resign(*caller, 60)}}.dump()));
  });

  routes.add("GET", "/v1/identity/public-key", [&host](call_ptr call) {
    http_response pem = http_response::text(200, host.tokens.public_key_pem());
    pem.content_type = "application/pem-certificate-chain";
    call->reply(std::move(pem));
  });

  routes.add("GET", "/v1/identity/:id/verify", [&host](call_ptr call) {
    auto wanted = identity::from_hex(call->param("id"));
    if (!wanted) return call->reply(400, "`" + call->param("id") + "` is not a 64-digit hex identity");
    auto caller = authenticate(host, *call, false);
    if (!caller) return;
    if (caller->id != *wanted) return call->reply(400, "the token belongs to identity " + caller->id.to_hex());
    call->reply(204, "");
  });

  routes.add("GET", "/v1/identity/:id/databases", [&host](call_ptr call) {
    auto owner = identity::from_hex(call->param("id"));
    if (!owner) return call->reply(400, "`" + call->param("id") + "` is not a 64-digit hex identity");
    ask(host, call, host.registry,
        [call](const std::vector<database_record>& owned) {
          json ids = json::array();
          for (auto& r : owned) ids.push_back(r.database_identity.to_hex());
          call->reply(http_response::json(200, json{{"identities", ids}}.dump()));
        },
        list_atom::value, *owner);
  });
}

} // namespace orrery

// GET /v1/database/:x/subscribe: the WebSocket endpoint of the client SDK.
// Negotiates the subprotocol and compression, authenticates (header, then the
// `token` parameter, else a fresh identity), and hands the socket to a new
// connection actor.

#include "actors/connection_actor.hpp"
#include "net/host_api.hpp"

#include <caf/send.hpp>

namespace orrery {
namespace {

std::string pick_protocol(const std::string& offered) {
  for (const char* wanted : {"v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb"})
    if (offered.find(wanted) != std::string::npos) return wanted;
  return {};
}

} // namespace

void add_subscribe_route(router& routes, host_services& host) {
  routes.add_websocket("/v1/database/:x/subscribe", [&host](call_ptr call, std::shared_ptr<websocket_upgrade> upgrade) {
    const http_request& req = call->request;
    std::string protocol = pick_protocol(req.header("sec-websocket-protocol").value_or(""));
    if (protocol.empty()) return call->reply(400, "no valid protocol selected");

    frame_compression compression = frame_compression::brotli;
    if (auto c = req.query_value("compression")) {
      if (*c == "None") compression = frame_compression::none;
      else if (*c == "Gzip") compression = frame_compression::gzip;
      else if (*c == "Brotli") compression = frame_compression::brotli;
      else return call->reply(400, "compression must be None, Gzip or Brotli, not `" + *c + "`");
    }
    bool confirmed = true;
    if (auto c = req.query_value("confirmed")) {
      if (*c != "true" && *c != "false") return call->reply(400, "confirmed must be true or false");
      confirmed = *c == "true";
    }
    connection_id connection = connection_id::random();
    if (auto hex = req.query_value("connection_id")) {
      auto parsed = connection_id::from_hex(*hex);
      if (!parsed) return call->reply(400, "connection_id must be 32 hex digits");
      if (parsed->is_zero()) return call->reply(400, "connection_id must not be zero");
      connection = *parsed;
    }

    // Credentials: the Authorization header, else the short-lived `token`, else a new identity.
    std::optional<verified_token> caller;
    std::string reply_token;
    if (req.header("authorization")) {
      caller = authenticate(host, *call, false);
      if (!caller) return;
    } else if (auto token = req.query_value("token")) {
      token_check check = host.tokens.verify(*token);
      if (!check.token)
        return call->reply(check.problem == token_problem::malformed ? 400 : 401, "invalid token: " + check.message);
      caller = check.token;
    } else {
      identity minted;
      caller = host.tokens.verify(host.tokens.mint(minted)).token;
    }
    reply_token = host.tokens.reissue(*caller);  // the client keeps it to come back as itself

    ask(host, call, host.registry,
        [&host, call, upgrade, protocol, compression, confirmed, connection, caller = *caller, reply_token](
          const database_record& record, const database_actor& db) {
          client_session session{db,          record.id,   host.registry, record.database_identity,
                                 caller.id,   connection,  reply_token,   caller.claims_json,
                                 compression, confirmed,   host.logs};
          upgrade->accept(protocol, [&host, session](std::shared_ptr<websocket_channel> channel) {
            client_link link{[channel](std::string m) { channel->send(std::move(m)); }, [channel] { channel->close(); },
                             [channel](std::size_t bytes) { channel->consumed(bytes); }};
            auto actor = spawn_connection_actor(host.system, session, link);
            return websocket_events{
              [actor](std::string message) { caf::anon_send(actor, frame_atom::value, std::move(message)); },
              [actor](const std::string& why) { caf::anon_send(actor, closed_atom::value, why); }};
          });
        },
        open_atom::value, call->param("x"));
  });
}

} // namespace orrery

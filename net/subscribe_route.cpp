// GET /v1/database/:x/subscribe: the WebSocket endpoint of the client SDK.
// Negotiates the subprotocol (v3 or v2 BSATN for the SDK, v1 JSON for tools
// that speak JSON) and compression, authenticates (header, then the
// `token` parameter, else a fresh identity), and hands the socket to a new
// connection actor.

#include "actors/connection_actor.hpp"
#include "actors/roles.hpp"
#include "net/host_api.hpp"

#include <caf/send.hpp>

#include <algorithm>
#include <optional>
#include <vector>

namespace orrery {
namespace {

// The first of ours the client offers (a comma-separated list), in our order.
std::string pick_protocol(const std::string& offered) {
  std::vector<std::string> tokens;
  std::size_t at = 0;
  while (at <= offered.size()) {
    std::size_t comma = offered.find(',', at);
    if (comma == std::string::npos) comma = offered.size();
    std::string token = offered.substr(at, comma - at);
    token.erase(0, token.find_first_not_of(" \t"));
    token.erase(token.find_last_not_of(" \t") + 1);
    tokens.push_back(token);
    at = comma + 1;
  }
  for (const char* wanted : {"v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb", "v1.json.spacetimedb"})
    if (std::find(tokens.begin(), tokens.end(), wanted) != tokens.end()) return wanted;
  return {};
}

std::optional<bool> flag(const http_request& req, const char* name, bool otherwise, call_ptr& call) {
  auto value = req.query_value(name);
  if (!value) return otherwise;
  if (*value == "true" || *value == "false") return *value == "true";
  call->reply(400, std::string(name) + " must be true or false");
  return std::nullopt;
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
    const client_protocol speaks = protocol == "v1.json.spacetimedb" ? client_protocol::v1_json : client_protocol::bsatn;
    // v1 clients read updates before they are durable unless they ask, as in the reference.
    auto confirmed = flag(req, "confirmed", speaks == client_protocol::bsatn, call);
    if (!confirmed) return;
    // Light mode: in the reference, other clients' updates reach a v1 client of a V10
    // module without the reducer's details either way; so they do here, always.
    if (!flag(req, "light", false, call)) return;
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

    // The caller's role, then the database (woken): the role decides whether it reads private data.
    auto open = [&host, call, upgrade, protocol, speaks, compression, confirmed = *confirmed, connection,
                 caller = *caller, reply_token](const database_record& opened, std::uint8_t held) {
      ask(host, call, host.registry,
        [&host, call, upgrade, protocol, speaks, compression, confirmed, connection, caller,
         reply_token, held](const database_record& record, const database_actor& db) {
          client_session session{db,     record.id,   host.registry, record.database_identity,
                                 caller.id, connection, reply_token, caller.claims_json,
                                 speaks, compression, confirmed,   host.logs,
                                 permits(role(held), action::read_private)};
          auto frames = speaks == client_protocol::v1_json ? websocket_frames::text : websocket_frames::binary;
          upgrade->accept(protocol, frames, [&host, session](std::shared_ptr<websocket_channel> channel) {
            client_link link{[channel](std::string m) { channel->send(std::move(m)); }, [channel] { channel->close(); },
                             [channel](std::size_t bytes) { channel->consumed(bytes); }};
            auto actor = spawn_connection_actor(host.system, session, link);
            return websocket_events{
              [actor](std::string message) { caf::anon_send(actor, frame_atom::value, std::move(message)); },
              [actor](const std::string& why) { caf::anon_send(actor, closed_atom::value, why); }};
          });
        },
        open_atom::value, opened.database_identity.to_hex());  // the database whose role was read
    };
    ask(host, call, host.registry, open, role_atom::value, caller->id, call->param("x"));
  });
}

} // namespace orrery

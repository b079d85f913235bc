#pragma once
// The connection actor: one per WebSocket client. Decodes the client's
// frames and forwards them to its database actor; frames, compresses and
// sends what the database replies. A v1 JSON client's messages are
// translated both ways (v1_json_protocol), with the module's definition. The socket bounds what a client may queue
// either way; the actor tells it, every 64 KiB, when what it received has been
// handled by the database.

#include "actors/database_actor.hpp"
#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include <functional>

namespace orrery {

using connection_actor = caf::typed_actor<caf::reacts_to<server_atom, std::string>,  // from the database
                                          caf::reacts_to<schema_atom, std::string>,  // from the database
                                          caf::reacts_to<frame_atom, std::string>,   // from the socket
                                          caf::reacts_to<closed_atom, std::string>>; // the socket closed (why)

/// The socket, seen from the actor: thread-safe functions over it.
struct client_link {
  std::function<void(std::string)> send;
  std::function<void()> close;
  std::function<void(std::size_t)> consumed;  // this many received bytes were handled
};

enum class frame_compression : std::uint8_t { none = 0, brotli = 1, gzip = 2 };

/// The subprotocol a client speaks: v2/v3 BSATN (the SDK), or v1 JSON text.
enum class client_protocol { bsatn, v1_json };

struct client_session {
  database_actor database;
  std::uint64_t database_id = 0;
  // Opens the database again when it fell asleep as the client connected.
  registry_actor registry;
  identity database_identity;
  identity caller;
  connection_id connection;
  std::string token;       // sent back in InitialConnection
  std::string jwt_claims;  // the caller's token claims, for the module
  client_protocol protocol = client_protocol::bsatn;
  frame_compression compression = frame_compression::gzip;  // BSATN frames only
  bool confirmed_reads = true;
  log_actor logs;
  bool reads_private = false;  // the caller's role reads private data (roles.hpp), as it connects
};

connection_actor spawn_connection_actor(caf::actor_system& system, client_session session, client_link link);

} // namespace orrery

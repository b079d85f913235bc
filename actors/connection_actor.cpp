#include "actors/connection_actor.hpp"

#include "actors/client_protocol.hpp"
#include "actors/v1_json_protocol.hpp"

#include <brotli/encode.h>
#include <caf/all.hpp>
#include <zlib.h>

#include <chrono>

namespace orrery {
namespace {

constexpr std::size_t compress_above = 1024;

std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, uLong(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = uInt(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string brotli(const std::string& data) {
  std::size_t size = BrotliEncoderMaxCompressedSize(data.size());
  std::string out(size ? size : data.size() + 1024, '\0');
  if (!BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY > 5 ? 5 : BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW,
                             BROTLI_MODE_GENERIC, data.size(), reinterpret_cast<const uint8_t*>(data.data()), &size,
                             reinterpret_cast<uint8_t*>(out.data())))
    return {};
  out.resize(size);
  return out;
}

// Server frames start with a tag: 0 none, 1 brotli, 2 gzip.
std::string frame(const std::string& message, frame_compression compression) {
  if (compression != frame_compression::none && message.size() > compress_above) {
    std::string packed = compression == frame_compression::gzip ? gzip(message) : brotli(message);
    if (!packed.empty()) return char(compression) + packed;
  }
  return char(frame_compression::none) + message;
}

struct connection_state {
  client_session session;
  client_link link;
  bool connected = false;
  bool closed = false;
  std::size_t unacknowledged = 0;  // bytes forwarded since the last acknowledgement request
  std::vector<std::string> early_frames;  // sent before the database accepted the client
  v1_session v1;                          // a v1 JSON client's translation state

  bool json() const { return session.protocol == client_protocol::v1_json; }

  /// Takes the module's definition (RawModuleDefV9 JSON) for v1 translation.
  bool use_definition(const std::string& json) {
    auto def = module_def_from_json(json);
    if (def) v1.def = std::make_shared<const module_def>(std::move(*def));
    else log("Cannot read the module definition for a v1 JSON client: " + def.error().message, "Error");
    return def.ok();
  }

  void log(const std::string& message, const char* level = "Info") {
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
    caf::anon_send(session.logs, append_atom::value, session.database_id,
                   log_record{level, now, "orrery", "", 0, "", message});
  }
};

using self_ptr = connection_actor::stateful_pointer<connection_state>;

// Received bytes are acknowledged to the socket in steps of this size, by a
// request the database answers once it has handled everything before it.
constexpr std::size_t acknowledge_every = 64 * 1024;

// Hands a frame's requests to the database; the socket reads on once the
// database has handled them.
void forward(self_ptr self, const std::string& bytes) {
  auto& st = self->state;
  auto decoded = st.json() ? v1_decode_client(bytes, st.v1) : decode_client_frame(bytes);
  if (!decoded) {
    st.log("Closing client " + st.session.connection.to_hex() + ": " + decoded.error().message, "Warn");
    st.link.consumed(bytes.size());
    st.link.close();
    return;
  }
  for (auto& request : *decoded) self->send(st.session.database, client_atom::value, st.session.connection, request);
  st.unacknowledged += bytes.size();
  if (st.unacknowledged < acknowledge_every) return;
  auto handled = [self, bytes = st.unacknowledged] { self->state.link.consumed(bytes); };
  st.unacknowledged = 0;
  self->request(st.session.database, caf::infinite, client_atom::value, st.session.connection)
    .then([handled](bool) { handled(); }, [handled](caf::error&) { handled(); });
}

void reject(self_ptr self, const caf::error& err) {
  self->state.log("Rejected client " + self->state.session.connection.to_hex() + ": " + error_message(err), "Warn");
  self->state.link.close();
  self->quit();
}

// The client is connected: it gets its identity, and what it sent meanwhile goes to the database.
void welcome(self_ptr self) {
  auto& st = self->state;
  if (st.closed) return;
  st.connected = true;
  if (st.json()) {
    st.v1.caller = st.session.caller;
    st.v1.connection = st.session.connection;
    st.link.send(v1_identity_token(st.session.caller, st.session.connection, st.session.token));
  } else {
    st.link.send(frame(encode_initial_connection(st.session.caller, st.session.connection, st.session.token),
                       st.session.compression));
  }
  for (auto& early : st.early_frames) forward(self, early);
  st.early_frames.clear();
}

// Connects the client to `database`. One that fell asleep as the request
// reached it bounces it: the registry wakes it and the client connects to
// its new actor. Once connected, the client goes when the database goes.
void connect(self_ptr self, database_actor database, int attempts) {
  auto& st = self->state;
  auto sink = caf::actor_cast<client_sink>(self);
  st.session.database = database;
  self->request(database, std::chrono::seconds(30), connect_atom::value, st.session.caller, st.session.connection,
                st.session.jwt_claims, st.session.confirmed_reads, st.session.reads_private, sink)
    .then(
      [self, database](bool) {
        auto& st = self->state;
        self->monitor(database);
        if (st.closed) return;
        if (!st.json()) return welcome(self);
        // A v1 JSON client's rows are read with the module's definition; later
        // ones come as schema messages, after this answer.
        self->request(database, std::chrono::seconds(30), schema_atom::value, st.session.connection)
          .then([self](const std::string& json) {
                  if (self->state.use_definition(json)) welcome(self);
                  else reject(self, make_error(host_errc::invalid_argument, "the module definition cannot be read"));
                },
                [self](caf::error& err) { reject(self, err); });
      },
      [self, attempts](caf::error& err) {
        auto& st = self->state;
        if (err == caf::sec::request_receiver_down && attempts > 1 && !st.closed) {
          self->request(st.session.registry, std::chrono::seconds(30), open_atom::value,
                        st.session.database_identity.to_hex())
            .then([self, attempts](const database_record&, const database_actor& woken) { connect(self, woken, attempts - 1); },
                  [self](caf::error& err) { reject(self, err); });
          return;
        }
        reject(self, err);
      });
}

} // namespace

connection_actor spawn_connection_actor(caf::actor_system& system, client_session session, client_link link) {
  return system.spawn([session, link](self_ptr self) -> connection_actor::behavior_type {
    auto& st = self->state;
    st.session = session;
    st.link = link;
    self->set_down_handler([self](const caf::down_msg&) {
      self->state.link.close();
      self->quit();
    });
    connect(self, session.database, 3);
    return {
      [self](server_atom, const std::string& message) {
        auto& st = self->state;
        if (st.closed) return;
        if (!st.json()) return st.link.send(frame(message, st.session.compression));
        auto translated = v1_translate(message, st.v1);
        if (translated.message) st.link.send(std::move(*translated.message));
        for (auto& request : translated.then) self->send(st.session.database, client_atom::value, st.session.connection, request);
      },
      [self](schema_atom, const std::string& json) {
        auto& st = self->state;
        if (st.json() && !st.use_definition(json)) {
          st.link.close();  // its rows could not be read any more
          self->quit();
        }
      },
      [self](frame_atom, const std::string& bytes) {
        auto& st = self->state;
        if (!st.connected) st.early_frames.push_back(bytes);
        else forward(self, bytes);
      },
      [self](closed_atom, const std::string& why) {  // the socket closed, or the database closes it
        auto& st = self->state;
        if (!why.empty()) st.log("Disconnected client " + st.session.connection.to_hex() + ": " + why, "Warn");
        st.closed = true;
        st.link.close();
        self->quit();  // the database monitors this actor and disconnects the client
      },
    };
  });
}

} // namespace orrery

#pragma once
// HTTP requests and replies as the routes see them, free of Beast types.
// A `responder` may be used from any thread; the server moves the work onto
// the connection's own strand.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace orrery {

struct http_request {
  std::string method;  // upper case: GET, POST, ...
  std::string target;  // as sent: path and query, not decoded
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;    // percent-decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::optional<std::string> header(const std::string& lower_name) const;
  std::optional<std::string> query_value(const std::string& name) const;
};

struct http_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static http_response text(int status, std::string body);
  static http_response json(int status, std::string body);
};

/// The way back to one client. Call `send` once, or `begin_stream`, then
/// `stream` any number of times, then `end_stream`.
class responder {
public:
  virtual ~responder() = default;
  virtual void send(http_response response) = 0;
  /// Starts a chunked reply; `head` gives status, content type and headers.
  virtual void begin_stream(http_response head) = 0;
  virtual void stream(std::string chunk) = 0;
  virtual void end_stream() = 0;
  /// `callback` runs once when a stream ends or its client goes away.
  virtual void on_close(std::function<void()> callback) = 0;
};

/// An open WebSocket. Thread-safe; `send` queues a binary message. A client
/// whose queue passes the server's outbound limit is closed (code 1008).
class websocket_channel {
public:
  virtual ~websocket_channel() = default;
  virtual void send(std::string message) = 0;
  /// Closes once what is queued has been written.
  virtual void close() = 0;
  /// A received message of `bytes` has been handled. Reading pauses while
  /// more than the server's inbound limit is unhandled: a client cannot queue
  /// work faster than its database takes it.
  virtual void consumed(std::size_t bytes) = 0;
};

/// What happens on an open WebSocket: each message, and the close (with the
/// server's reason when it closed the socket for breaking a limit).
struct websocket_events {
  std::function<void(std::string)> on_message;
  std::function<void(const std::string& reason)> on_close;
};

/// What an accepted WebSocket's messages are sent as.
enum class websocket_frames { binary, text };

/// A request to upgrade to WebSocket, not yet answered. Reject it through the
/// call's responder (any reply), or accept it.
class websocket_upgrade {
public:
  virtual ~websocket_upgrade() = default;
  /// Completes the handshake choosing `protocol`, sending messages as
  /// `frames`; `attach` receives the open channel and returns its event handlers.
  virtual void accept(std::string protocol, websocket_frames frames,
                      std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) = 0;
};

} // namespace orrery

#include "net/http_server.hpp"

#include "net/router.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <cerrno>
#include <deque>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

namespace orrery {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

constexpr auto read_timeout = std::chrono::seconds(60);

int hex_digit(char h) {
  if (h >= '0' && h <= '9') return h - '0';
  if (h >= 'a' && h <= 'f') return h - 'a' + 10;
  if (h >= 'A' && h <= 'F') return h - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size() && hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
      out.push_back(char(hex_digit(in[i + 1]) << 4 | hex_digit(in[i + 2])));
      i += 2;
    } else {
      out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return out;
}

http_request to_request(bhttp::request<bhttp::string_body>&& raw) {
  http_request req;
  req.method = std::string(raw.method_string());
  std::string_view target(raw.target().data(), raw.target().size());
  req.target = std::string(target);
  auto q = target.find('?');
  req.path = percent_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      auto eq = pair.find('=');
      std::string key = percent_decode(pair.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
      if (!key.empty()) req.query[key] = value;
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  for (auto& field : raw) {
    std::string name(field.name_string());
    for (auto& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    req.headers[name] = std::string(field.value());
  }
  req.body = std::move(raw.body());
  return req;
}

namespace websocket = beast::websocket;

// Counts open connections; a connection holds its slot until its last
// handler has run.
class connection_slot {
public:
  explicit connection_slot(std::shared_ptr<std::atomic<std::size_t>> count) : count_(std::move(count)) { ++*count_; }
  ~connection_slot() { --*count_; }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

private:
  std::shared_ptr<std::atomic<std::size_t>> count_;
};

// An accepted WebSocket: reads messages into the events' handlers, writes
// queued messages (all binary, or all text) one at a time, pings while idle, ends after 30 s
// without traffic. Everything below runs on the socket's strand, and every
// handler holds the session: a message in flight keeps its buffer alive
// however the session ends.
class ws_session : public websocket_channel, public std::enable_shared_from_this<ws_session> {
public:
  ws_session(beast::tcp_stream&& stream, std::unique_ptr<connection_slot> slot, const http_limits& limits)
      : ws_(std::move(stream)), slot_(std::move(slot)), limits_(limits) {}

  void start(bhttp::request<bhttp::string_body> req, std::string protocol, websocket_frames frames,
             std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout{std::chrono::seconds(30), std::chrono::seconds(30), true});
    ws_.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
      res.set(bhttp::field::server, "orrery");
      res.set(bhttp::field::sec_websocket_protocol, protocol);
    }));
    ws_.read_message_max(limits_.message_bytes);
    ws_.binary(frames == websocket_frames::binary);
    auto request = std::make_shared<bhttp::request<bhttp::string_body>>(std::move(req));
    ws_.async_accept(*request, [self = shared_from_this(), request, attach](beast::error_code ec) {
      if (ec) return self->finish();
      self->events_ = attach(self);
      self->read();
    });
  }

  void send(std::string message) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), message = std::move(message)]() mutable {
      self->enqueue(std::move(message));
    });
  }

  void close() override {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      self->close_after_queue(websocket::close_reason(websocket::close_code::normal));
    });
  }

  void consumed(std::size_t bytes) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), bytes] {
      self->unhandled_ -= std::min(bytes, self->unhandled_);
      if (self->read_paused_ && self->unhandled_ <= self->limits_.inbound_bytes) {
        self->read_paused_ = false;
        self->read();
      }
    });
  }

private:
  void read() {
    if (finished_) return;
    if (unhandled_ > limits_.inbound_bytes) {
      read_paused_ = true;
      return;
    }
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      // A message past read_message_max is answered by Beast itself: close code 1009.
      if (ec) return self->finish();
      std::string message = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      self->unhandled_ += message.size();
      if (self->events_.on_message) self->events_.on_message(std::move(message));
      self->read();
    });
  }

  void enqueue(std::string message) {
    if (finished_ || closing_) return;
    if (queued_ + message.size() > limits_.outbound_bytes)
      return close_now("the client fell behind: more than " + std::to_string(limits_.outbound_bytes >> 20) +
                       " MiB of messages queued");
    queued_ += message.size();
    queue_.push_back(std::move(message));
    if (!writing_) write_next();
  }

  void write_next() {
    if (queue_.empty() || finished_) {
      writing_ = false;
      queue_.clear();
      if (close_reason_ && !finished_) start_close();
      return;
    }
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->queued_ -= self->queue_.front().size();
      self->queue_.pop_front();
      if (ec) {
        self->writing_ = false;
        return self->finish();
      }
      self->write_next();
    });
  }

  // Sends the close frame once the queue is written.
  void close_after_queue(websocket::close_reason reason) {
    if (finished_ || close_reason_) return;
    close_reason_ = std::move(reason);
    if (!writing_) start_close();
  }

  // Drops what is queued (but the write in flight) and closes with `why`.
  void close_now(std::string why) {
    if (finished_ || close_reason_) return;
    if (!queue_.empty()) queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    limit_broken_ = why;
    if (why.size() > 120) why.resize(120);  // a close frame's reason holds 123 bytes
    close_after_queue(websocket::close_reason(websocket::close_code::policy_error, why));
  }

  void start_close() {
    closing_ = true;
    ws_.async_close(*close_reason_, [self = shared_from_this()](beast::error_code) { self->finish(); });
  }

  // Ends the session once: tells the owner, and tears the socket down, which
  // completes any read or write still in flight with an error.
  void finish() {
    if (finished_) return;
    finished_ = true;
    auto events = std::move(events_);
    events_ = {};
    if (events.on_close) events.on_close(limit_broken_);
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
    if (!writing_) queue_.clear();
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::unique_ptr<connection_slot> slot_;
  const http_limits limits_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::size_t queued_ = 0;     // bytes in queue_
  std::size_t unhandled_ = 0;  // bytes received, not yet consumed by the owner
  websocket_events events_;
  std::optional<websocket::close_reason> close_reason_;
  std::string limit_broken_;
  bool writing_ = false;
  bool read_paused_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, const router& routes, const http_limits& limits, std::unique_ptr<connection_slot> slot)
      : stream_(std::move(socket)), routes_(routes), limits_(limits), slot_(std::move(slot)) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  // Called on the strand.
  void write_response(http_response r) {
    if (closed_) return;  // the client went away, or the socket became a WebSocket
    add_cors_headers(r);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
      static_cast<bhttp::status>(r.status), 11);
    try {
      res->set(bhttp::field::server, "orrery");
      if (r.status != 204) res->set(bhttp::field::content_type, r.content_type);
      for (auto& [k, v] : r.headers) res->insert(k, v);
      res->body() = std::move(r.body);
      res->keep_alive(keep_alive_);
      res->prepare_payload();
    } catch (const std::exception& e) {  // a reply Beast cannot write (a module route's, say)
      res = std::make_shared<bhttp::response<bhttp::string_body>>(bhttp::status::internal_server_error, 11);
      res->set(bhttp::field::server, "orrery");
      res->set(bhttp::field::content_type, "text/plain; charset=utf-8");
      res->body() = std::string("the reply could not be written: ") + e.what();
      res->keep_alive(keep_alive_);
      res->prepare_payload();
    }
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (self->unread_body_) return self->drain_and_close();
      if (!self->keep_alive_) return self->close();
      self->read_request();
    });
  }

  void begin_stream(http_response head) {
    if (closed_) return;
    add_cors_headers(head);
    std::string text = "HTTP/1.1 " + std::to_string(head.status) + " " +
                       std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(head.status))) +
                       "\r\nServer: orrery\r\nContent-Type: " + head.content_type +
                       "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n";
    for (auto& [k, v] : head.headers) text += k + ": " + v + "\r\n";
    text += "\r\n";
    streaming_ = true;
    stream_.expires_never();
    enqueue(std::move(text));
    watch_for_close();
  }

  void stream_chunk(std::string data) {
    if (data.empty() || closed_) return;
    if (queued_ + data.size() > limits_.outbound_bytes) return close();  // a follower that stopped reading
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    enqueue(size + std::move(data) + "\r\n");
  }

  void end_stream() {
    if (closed_) return;
    enqueue("0\r\n\r\n");
    finishing_ = true;
  }

  void add_close_callback(std::function<void()> callback) {
    if (closed_) callback();
    else close_callbacks_.push_back(std::move(callback));
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

private:
  void read_request() {
    parser_.emplace();
    parser_->body_limit(limits_.body_bytes);
    stream_.expires_after(read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_request(ec);
    });
  }

  void on_request(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      keep_alive_ = false;
      unread_body_ = true;
      return write_response(http_response::text(
        413, "request body is larger than the limit of " + std::to_string(limits_.body_bytes) + " bytes"));
    }
    if (ec) return close();
    auto raw = parser_->release();
    keep_alive_ = raw.keep_alive();
    if (websocket::is_upgrade(raw)) {
      keep_alive_ = false;
      auto upgrade = std::make_shared<upgrade_request>(shared_from_this(), raw);
      routes_.dispatch_upgrade(to_request(std::move(raw)), make_responder(), upgrade);
      return;
    }
    routes_.dispatch(to_request(std::move(raw)), make_responder());
  }

  // Hands the connection to a WebSocket session (on the strand).
  void become_websocket(bhttp::request<bhttp::string_body> req, std::string protocol, websocket_frames frames,
                        std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) {
    if (closed_) return;
    closed_ = true;  // this HTTP session is done with the socket
    std::make_shared<ws_session>(std::move(stream_), std::move(slot_), limits_)
      ->start(std::move(req), std::move(protocol), frames, std::move(attach));
  }

  class upgrade_request : public websocket_upgrade {
  public:
    upgrade_request(std::shared_ptr<session> s, bhttp::request<bhttp::string_body> req)
        : session_(std::move(s)), request_(std::move(req)) {}
    void accept(std::string protocol, websocket_frames frames,
                std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) override {
      asio::post(session_->executor(), [s = session_, req = std::move(request_), protocol = std::move(protocol), frames,
                                        attach = std::move(attach)]() mutable {
        s->become_websocket(std::move(req), std::move(protocol), frames, std::move(attach));
      });
    }

  private:
    std::shared_ptr<session> session_;
    bhttp::request<bhttp::string_body> request_;
  };

  std::shared_ptr<responder> make_responder();

  void enqueue(std::string bytes) {
    if (closed_) return;
    queued_ += bytes.size();
    queue_.push_back(std::move(bytes));
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    asio::async_write(stream_.socket(), asio::buffer(queue_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->queued_ -= self->queue_.front().size();
                        self->queue_.pop_front();
                        if (ec) return self->close();
                        if (!self->queue_.empty()) return self->write_next();
                        if (self->finishing_) self->close();
                      });
  }

  // A streaming client sends nothing more; a finished read means it went away.
  void watch_for_close() {
    stream_.socket().async_read_some(asio::buffer(probe_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) self->close();
      else self->watch_for_close();
    });
  }

  // Closing while the client still uploads would reset the connection before it
  // reads our answer: stop sending, then discard its input until it finishes.
  void drain_and_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(read_timeout);
    stream_.async_read_some(asio::buffer(probe_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) self->close();
      else self->drain_and_close();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    auto callbacks = std::move(close_callbacks_);
    for (auto& cb : callbacks) cb();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const router& routes_;
  const http_limits limits_;
  std::unique_ptr<connection_slot> slot_;
  bool keep_alive_ = true;
  bool unread_body_ = false;
  bool streaming_ = false;
  bool finishing_ = false;
  bool closed_ = false;
  std::deque<std::string> queue_;
  std::size_t queued_ = 0;  // bytes in queue_
  std::vector<std::function<void()>> close_callbacks_;
  char probe_[16384];
};

class session_responder : public responder {
public:
  explicit session_responder(std::shared_ptr<session> s) : session_(std::move(s)) {}

  void send(http_response response) override {
    post([response = std::move(response)](session& s) mutable { s.write_response(std::move(response)); });
  }
  void begin_stream(http_response head) override {
    post([head = std::move(head)](session& s) mutable { s.begin_stream(std::move(head)); });
  }
  void stream(std::string chunk) override {
    post([chunk = std::move(chunk)](session& s) mutable { s.stream_chunk(std::move(chunk)); });
  }
  void end_stream() override {
    post([](session& s) { s.end_stream(); });
  }
  void on_close(std::function<void()> callback) override {
    post([callback = std::move(callback)](session& s) mutable { s.add_close_callback(std::move(callback)); });
  }

private:
  template <class F>
  void post(F f) {
    asio::post(session_->executor(), [s = session_, f = std::move(f)]() mutable { f(*s); });
  }
  std::shared_ptr<session> session_;
};

std::shared_ptr<responder> session::make_responder() {
  return std::make_shared<session_responder>(shared_from_this());
}

} // namespace

// Answers a connection past the limit and closes it.
void refuse_connection(tcp::socket socket, std::size_t limit) {
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  auto text = std::make_shared<std::string>();
  std::string body = "the host has reached its limit of " + std::to_string(limit) + " open connections\n";
  *text = "HTTP/1.1 503 Service Unavailable\r\nServer: orrery\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Retry-After: 1\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::async_write(*s, asio::buffer(*text), [s, text](beast::error_code, std::size_t) {
    beast::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
  });
}

struct http_server::impl {
  const router& routes;
  http_limits limits;
  std::shared_ptr<std::atomic<std::size_t>> open_connections = std::make_shared<std::atomic<std::size_t>>(0);
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_pause{io};
  std::vector<std::thread> threads;

  impl(const router& r, http_limits l) : routes(r), limits(l) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory) {
        // Out of file descriptors: retrying at once would spin. Wait for connections to close.
        accept_pause.expires_after(std::chrono::milliseconds(100));
        accept_pause.async_wait([this](beast::error_code wait) {
          if (wait != asio::error::operation_aborted) accept();
        });
        return;
      }
      if (!ec) {
        if (open_connections->load() >= limits.connections) refuse_connection(std::move(socket), limits.connections);
        else
          std::make_shared<session>(std::move(socket), routes, limits, std::make_unique<connection_slot>(open_connections))
            ->start();
      }
      accept();
    });
  }
};

http_server::http_server(const router& routes, const std::string& host, std::uint16_t port, http_limits limits)
    : impl_(std::make_unique<impl>(routes, limits)) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("cannot listen on `" + host + "`: not an IP address");
  tcp::endpoint endpoint{address, port};
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             ec.message());
}

http_server::~http_server() { stop(); }

std::uint16_t http_server::port() const { return impl_->acceptor.local_endpoint().port(); }

void http_server::start(int threads) {
  impl_->accept();
  for (int i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

void http_server::stop() {
  if (impl_->threads.empty()) return;
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->accept_pause.cancel();
  });
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

} // namespace orrery

#include "net/http_server.hpp"

#include "net/router.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <iostream>
#include <mutex>
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

// An accepted WebSocket: reads messages into the events' handlers, writes
// queued binary messages one at a time, pings while idle, ends after 30 s
// without traffic.
class ws_session : public websocket_channel, public std::enable_shared_from_this<ws_session> {
public:
  explicit ws_session(beast::tcp_stream&& stream) : ws_(std::move(stream)) {}

  void start(bhttp::request<bhttp::string_body> req, std::string protocol,
             std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout{std::chrono::seconds(30), std::chrono::seconds(30), true});
    ws_.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
      res.set(bhttp::field::server, "orrery");
      res.set(bhttp::field::sec_websocket_protocol, protocol);
    }));
    ws_.read_message_max(std::size_t(32) << 20);
    ws_.binary(true);
    auto request = std::make_shared<bhttp::request<bhttp::string_body>>(std::move(req));
    ws_.async_accept(*request, [self = shared_from_this(), request, attach](beast::error_code ec) {
      if (ec) return;
      self->events_ = attach(self);
      self->read();
    });
  }

  void send(std::string message) override {
    queued_ += message.size();
    asio::post(ws_.get_executor(), [self = shared_from_this(), message = std::move(message)]() mutable {
      if (self->finished_) return;
      self->queue_.push_back(std::move(message));
      if (self->queue_.size() == 1) self->write_next();
    });
  }

  void close() override {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      if (self->finished_) return;
      self->ws_.async_close(websocket::close_code::normal, [self](beast::error_code) { self->finish(); });
    });
  }

  std::size_t queued_bytes() const override { return queued_.load(); }

private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish();
      std::string message = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      if (self->events_.on_message) self->events_.on_message(std::move(message));
      self->read();
    });
  }

  void write_next() {
    ws_.async_write(asio::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->queued_ -= self->queue_.front().size();
      self->queue_.pop_front();
      if (ec) return self->finish();
      if (!self->queue_.empty()) self->write_next();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    queue_.clear();
    if (events_.on_close) events_.on_close();
    events_ = {};
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::atomic<std::size_t> queued_{0};
  websocket_events events_;
  bool finished_ = false;
};

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, const router& routes, std::size_t body_limit)
      : stream_(std::move(socket)), routes_(routes), body_limit_(body_limit) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  // Called on the strand.
  void write_response(http_response r) {
    add_cors_headers(r);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
      static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "orrery");
    if (r.status != 204) res->set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->insert(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (self->unread_body_) return self->drain_and_close();
      if (!self->keep_alive_) return self->close();
      self->read_request();
    });
  }

  void begin_stream(http_response head) {
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
    parser_->body_limit(body_limit_);
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
        413, "request body is larger than the limit of " + std::to_string(body_limit_) + " bytes"));
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
  void become_websocket(bhttp::request<bhttp::string_body> req, std::string protocol,
                        std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) {
    if (closed_) return;
    closed_ = true;  // this HTTP session is done with the socket
    std::make_shared<ws_session>(std::move(stream_))->start(std::move(req), std::move(protocol), std::move(attach));
  }

  class upgrade_request : public websocket_upgrade {
  public:
    upgrade_request(std::shared_ptr<session> s, bhttp::request<bhttp::string_body> req)
        : session_(std::move(s)), request_(std::move(req)) {}
    void accept(std::string protocol,
                std::function<websocket_events(std::shared_ptr<websocket_channel>)> attach) override {
      asio::post(session_->executor(), [s = session_, req = std::move(request_), protocol = std::move(protocol),
                                        attach = std::move(attach)]() mutable {
        s->become_websocket(std::move(req), std::move(protocol), std::move(attach));
      });
    }

  private:
    std::shared_ptr<session> session_;
    bhttp::request<bhttp::string_body> request_;
  };

  std::shared_ptr<responder> make_responder();

  void enqueue(std::string bytes) {
    queue_.push_back(std::move(bytes));
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    asio::async_write(stream_.socket(), asio::buffer(queue_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
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
  std::size_t body_limit_;
  bool keep_alive_ = true;
  bool unread_body_ = false;
  bool streaming_ = false;
  bool finishing_ = false;
  bool closed_ = false;
  std::deque<std::string> queue_;
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

struct http_server::impl {
  const router& routes;
  std::size_t body_limit;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;

  impl(const router& r, std::size_t limit) : routes(r), body_limit(limit) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<session>(std::move(socket), routes, body_limit)->start();
      accept();
    });
  }
};

http_server::http_server(const router& routes, const std::string& host, std::uint16_t port,
                         std::size_t body_limit)
    : impl_(std::make_unique<impl>(routes, body_limit)) {
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
  });
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

} // namespace orrery

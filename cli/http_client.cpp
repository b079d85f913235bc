#include "cli/http_client.hpp"

#include "cli/commands.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace orrery::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
};

void open(connection& c, const std::string& url, const std::string& host, const std::string& port) {
  try {
    tcp::resolver resolver(c.io);
    c.stream.connect(resolver.resolve(host, port));
  } catch (const std::exception& e) {
    throw cli_error("cannot reach the server at " + url + ": " + e.what() +
                    " (is `orrery start` running?)");
  }
}

bhttp::request<bhttp::string_body> make_request(const std::string& method, const std::string& target,
                                                const std::string& host, const std::string& token) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "orrery-cli");
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  return req;
}

} // namespace

http_client::http_client(const std::string& base_url, std::string token)
    : url_(base_url), token_(std::move(token)) {
  constexpr std::string_view scheme = "http://";
  if (base_url.compare(0, scheme.size(), scheme) != 0)
    throw cli_error("server URL `" + base_url + "` must start with http://");
  std::string rest = base_url.substr(scheme.size());
  auto colon = rest.rfind(':');
  host_ = colon == std::string::npos ? rest : rest.substr(0, colon);
  port_ = colon == std::string::npos ? "80" : rest.substr(colon + 1);
}

http_reply http_client::request(const std::string& method, const std::string& target,
                                const std::string& body, const std::string& content_type) const {
  connection c;
  open(c, url_, host_, port_);
  auto req = make_request(method, target, host_, token_);
  if (!body.empty()) req.set(bhttp::field::content_type, content_type);
  req.body() = body;
  req.prepare_payload();
  try {
    bhttp::write(c.stream, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t(1) << 40);  // Beast 1.74 misreads boost::none here
    bhttp::read(c.stream, buffer, parser);
    return {int(parser.get().result_int()), parser.get().body()};
  } catch (const std::exception& e) {
    throw cli_error("request to " + url_ + target + " failed: " + e.what());
  }
}

int http_client::stream(const std::string& target,
                        const std::function<void(std::string_view)>& on_data) const {
  connection c;
  open(c, url_, host_, port_);
  auto req = make_request("GET", target, host_, token_);
  req.prepare_payload();
  try {
    bhttp::write(c.stream, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t(1) << 40);  // Beast 1.74 misreads boost::none here
    bhttp::read_header(c.stream, buffer, parser);
    int status = int(parser.get().result_int());
    if (status < 200 || status >= 300 || !parser.chunked()) {
      bhttp::read(c.stream, buffer, parser);
      on_data(parser.get().body());
      return status;
    }
    auto on_chunk = [&](std::uint64_t, beast::string_view data, beast::error_code&) {
      on_data(std::string_view(data.data(), data.size()));
      return data.size();
    };
    parser.on_chunk_body(on_chunk);
    beast::error_code ec;
    while (!parser.is_done()) {
      bhttp::read_some(c.stream, buffer, parser, ec);
      if (ec) break;
    }
    return status;
  } catch (const std::exception& e) {
    throw cli_error("request to " + url_ + target + " failed: " + e.what());
  }
}

std::string url_encode(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

} // namespace orrery::cli

#include "net/http_fetch.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <optional>

namespace orrery {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct parsed_uri {
  std::string host, port = "80", target = "/";
};

result<parsed_uri> parse_uri(const std::string& uri) {
  auto bad = [&](const std::string& why) { return fail(errc::http_error, "cannot fetch `" + uri + "`: " + why); };
  const std::string http_scheme = "http://";
  if (uri.rfind("https://", 0) == 0) return bad("https is not supported by this host yet");
  if (uri.rfind(http_scheme, 0) != 0) return bad("the URL must start with http://");
  parsed_uri out;
  std::string rest = uri.substr(http_scheme.size());
  std::size_t path = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path);
  if (path != std::string::npos) out.target = rest.substr(path);
  if (out.target[0] != '/') out.target = "/" + out.target;
  if (auto hash = out.target.find('#'); hash != std::string::npos) out.target.resize(hash);
  if (authority.find('@') != std::string::npos) return bad("credentials in the URL are not supported");
  if (!authority.empty() && authority[0] == '[') {  // [v6 address]:port
    auto close = authority.find(']');
    if (close == std::string::npos) return bad("an unclosed [ in the host");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("text after the host");
      out.port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  if (out.host.empty()) return bad("no host");
  if (out.port.empty() || out.port.size() > 5 || !std::all_of(out.port.begin(), out.port.end(), ::isdigit))
    return bad("the port must be a number");
  return out;
}

// Loopback, private, link-local, shared, multicast, unspecified and other
// special-purpose ranges: not the public internet.
bool is_special(const asio::ip::address& a) {
  if (a.is_loopback() || a.is_unspecified() || a.is_multicast()) return true;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 100 && (b[1] & 0xc0) == 64) ||
           (b[0] == 169 && b[1] == 254) || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 192 && b[1] == 0 && b[2] == 0) || (b[0] == 198 && (b[1] & 0xfe) == 18) || b[0] >= 224;
  }
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return is_special(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
  auto b = v6.to_bytes();
  auto zeros = [&](int from, int to) { return std::all_of(b.begin() + from, b.begin() + to, [](auto x) { return x == 0; }); };
  // Forms that carry an IPv4 address (IPv4-compatible ::a.b.c.d, SIIT
  // ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16,
  // Teredo 2001::/32) are refused whole: they may lead to a private one.
  bool embeds_v4 = zeros(0, 12) || (zeros(0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) ||
                   (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) || (b[0] == 0x20 && b[1] == 0x02) ||
                   (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0);
  return embeds_v4 || v6.is_link_local() || v6.is_site_local() || (b[0] & 0xfe) == 0xfc;
}

} // namespace

result<http_fetch_response> http_fetch(const http_fetch_request& request, const http_fetch_policy& policy) {
  auto uri = parse_uri(request.uri);
  if (!uri) return uri.error();
  std::chrono::milliseconds timeout = request.timeout.count() > 0 ? request.timeout : policy.default_timeout;
  timeout = std::min(timeout, policy.max_timeout);
  auto failed = [&](const std::string& why) { return fail(errc::http_error, request.method + " " + request.uri + ": " + why); };

  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(uri->target);
  req.version(11);
  std::string host = uri->host.find(':') != std::string::npos ? "[" + uri->host + "]" : uri->host;
  req.set(http::field::host, uri->port == "80" ? host : host + ":" + uri->port);
  req.set(http::field::user_agent, "orrery");
  for (auto& [name, value] : request.headers) req.insert(name, value);
  req.body() = request.body;
  req.prepare_payload();

  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(policy.max_response_bytes);
  parser.header_limit(64 * 1024);
  std::optional<std::string> error;
  bool done = false;

  resolver.async_resolve(uri->host, uri->port, [&](beast::error_code ec, tcp::resolver::results_type found) {
    if (ec) return void(error = "cannot resolve " + uri->host + ": " + ec.message());
    std::vector<tcp::endpoint> allowed;
    for (auto& entry : found)
      if (policy.allow_private_addresses || !is_special(entry.endpoint().address())) allowed.push_back(entry.endpoint());
    if (allowed.empty()) return void(error = "refusing to connect to private or special-purpose addresses");
    stream.async_connect(allowed, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return void(error = "cannot connect: " + ec.message());
      http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
        if (ec) return void(error = "cannot send the request: " + ec.message());
        http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
          if (ec == http::error::body_limit)
            return void(error = "the response is larger than " + std::to_string(policy.max_response_bytes) + " bytes");
          if (ec) return void(error = "cannot read the response: " + ec.message());
          done = true;
        });
      });
    });
  });
  io.run_for(timeout);
  if (!done && !error) error = "no response within " + std::to_string(timeout.count()) + " ms";
  if (error) return failed(*error);

  auto& res = parser.get();
  http_fetch_response out;
  out.status = std::uint16_t(res.result_int());
  for (auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  out.body = std::move(res.body());
  return out;
}

} // namespace orrery

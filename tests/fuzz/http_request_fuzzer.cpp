// HTTP requests, from the bytes a client sends to the route a request
// reaches: Beast's request parser with the server's limits, the server's
// conversion into an http_request (percent-decoding, query, headers), and the
// router, in the order the server runs them on one keep-alive connection
// (pipelined requests one after another, a WebSocket upgrade ending it).
//
// The routes are the host's patterns (net/*_routes.cpp, net/subscribe_route.cpp)
// with handlers that need no actors: they read what the real ones read
// (parameters, query values, headers, the bearer token, which a real
// token_issuer verifies) and reply.
//
// The server's request conversion lives in an unnamed namespace of
// net/http_server.cpp, so this file includes that source file: the target
// runs the server's own code, and must not also link orrery_net.

#include "net/http_server.cpp"

#include "net/auth/token_issuer.hpp"
#include "tests/fuzz/fuzz.hpp"

#include <filesystem>

using namespace orrery;

namespace {

struct recording_responder : responder {
  int replies = 0;
  void send(http_response response) override {
    ORRERY_FUZZ_CHECK(response.status >= 100 && response.status <= 599, "a reply has no HTTP status");
    ++replies;
  }
  void begin_stream(http_response) override { ++replies; }
  void stream(std::string) override {}
  void end_stream() override {}
  void on_close(std::function<void()> callback) override { callback(); }
};

struct refusing_upgrade : websocket_upgrade {
  bool accepted = false;
  void accept(std::string, websocket_frames, std::function<websocket_events(std::shared_ptr<websocket_channel>)>) override {
    accepted = true;
  }
};

// A key pair in a directory of its own, removed at exit.
struct tokens {
  std::filesystem::path dir;
  std::unique_ptr<token_issuer> issuer;
  tokens() {
    char pattern[] = "/tmp/orrery-fuzz-http-XXXXXX";
    ORRERY_FUZZ_CHECK(mkdtemp(pattern) != nullptr, "no temporary directory for the token key");
    dir = pattern;
    std::string error;
    issuer = token_issuer::open(dir.string(), error);
    ORRERY_FUZZ_CHECK(issuer != nullptr, "the token issuer did not open");
  }
  ~tokens() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

token_issuer& issuer() {
  static tokens t;
  return *t.issuer;
}

// As host_api's authenticate: a missing header is fine, a bad one is refused.
bool authenticate(http_call& call) {
  auto header = call.request.header("authorization");
  if (!header) return true;
  constexpr std::string_view scheme = "Bearer ";
  if (header->compare(0, scheme.size(), scheme) != 0) {
    call.reply(400, "Authorization header must be `Bearer <token>`");
    return false;
  }
  token_check check = issuer().verify(header->substr(scheme.size()));
  if (!check.token) {
    call.reply(check.problem == token_problem::malformed ? 400 : 401, "invalid token: " + check.message);
    return false;
  }
  return true;
}

route_handler replying(std::vector<std::string> params, std::vector<std::string> query = {}) {
  return [params = std::move(params), query = std::move(query)](call_ptr call) {
    if (!authenticate(*call)) return;
    std::string body;
    for (auto& p : params) body += call->param(p) + "\n";
    for (auto& q : query) body += call->request.query_value(q).value_or("-") + "\n";
    body += std::to_string(call->request.body.size());
    call->reply(http_response::json(200, body));
  };
}

const router& routes() {
  static router r = [] {
    router r;
    r.add("GET", "/v1/ping", replying({}));
    r.add("POST", "/v1/identity", replying({}));
    r.add("POST", "/v1/identity/websocket-token", replying({}));
    r.add("GET", "/v1/identity/public-key", replying({}));
    r.add("GET", "/v1/identity/:id/verify", [](call_ptr call) {
      auto id = identity::from_hex(call->param("id"));
      if (!id) return call->reply(400, "not an identity");
      if (!authenticate(*call)) return;
      call->reply(204, "");
    });
    r.add("GET", "/v1/identity/:id/databases", replying({"id"}));
    r.add("POST", "/v1/database", replying({}, {"host_type", "clear"}));
    r.add("PUT", "/v1/database/:x", replying({"x"}, {"host_type", "clear"}));
    r.add("POST", "/v1/database/:x/call/:reducer", replying({"x", "reducer"}));
    r.add("POST", "/v1/database/:x/sql", replying({"x"}));
    r.add("GET", "/v1/database/:x/schema", replying({"x"}, {"version"}));
    r.add("GET", "/v1/database/:x/identity", replying({"x"}));
    r.add("DELETE", "/v1/database/:x", replying({"x"}));
    r.add("GET", "/v1/database/:x/names", replying({"x"}));
    r.add("POST", "/v1/database/:x/names", replying({"x"}));
    r.add("PUT", "/v1/database/:x/names", replying({"x"}));
    r.add("POST", "/v1/database/:x/lock", replying({"x"}));
    r.add("POST", "/v1/database/:x/unlock", replying({"x"}));
    r.add("GET", "/v1/database/:x/logs", [](call_ptr call) {
      if (!authenticate(*call)) return;
      call->out->begin_stream(http_response::text(200, ""));
      call->out->stream(call->request.query_value("num_lines").value_or("") + call->param("x"));
      call->out->end_stream();
    });
    // As subscribe_route: protocol, then query parameters, then credentials.
    r.add_websocket("/v1/database/:x/subscribe", [](call_ptr call, std::shared_ptr<websocket_upgrade> upgrade) {
      const http_request& req = call->request;
      std::string offered = req.header("sec-websocket-protocol").value_or("");
      if (offered.find("v2.bsatn.spacetimedb") == std::string::npos) return call->reply(400, "no valid protocol selected");
      if (auto hex = req.query_value("connection_id"); hex && !connection_id::from_hex(*hex))
        return call->reply(400, "connection_id must be 32 hex digits");
      if (req.header("authorization")) {
        if (!authenticate(*call)) return;
      } else if (auto token = req.query_value("token")) {
        if (!issuer().verify(*token).token) return call->reply(401, "invalid token");
      }
      upgrade->accept("v2.bsatn.spacetimedb", websocket_frames::binary, {});
    });
    return r;
  }();
  return r;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const router& r = routes();
  const http_limits limits;
  std::string_view input = fuzz::as_text(data, size);
  std::size_t offset = 0;
  // One connection: requests until the input ends, a request fails to
  // parse, the client does not keep the connection alive, or it upgrades.
  while (offset < input.size()) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(limits.body_bytes);
    beast::error_code ec;
    while (!parser.is_done() && offset < input.size()) {
      std::size_t used = parser.put(asio::buffer(input.data() + offset, input.size() - offset), ec);
      offset += used;
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (used == 0) offset = input.size();  // needs bytes the client never sends
        continue;
      }
      if (ec) break;
    }
    if (!ec && !parser.is_done()) parser.put_eof(ec);  // the client closed the connection
    if (ec == bhttp::error::body_limit) {
      recording_responder out;
      out.send(http_response::text(413, "request body is larger than the limit"));
      return 0;
    }
    if (ec || !parser.is_done()) return 0;

    auto raw = parser.release();
    bool keep_alive = raw.keep_alive();
    auto out = std::make_shared<recording_responder>();
    if (websocket::is_upgrade(raw)) {
      auto upgrade = std::make_shared<refusing_upgrade>();
      r.dispatch_upgrade(to_request(std::move(raw)), out, upgrade);
      ORRERY_FUZZ_CHECK(upgrade->accepted != (out->replies > 0), "an upgrade was both accepted and answered, or neither");
      return 0;
    }
    r.dispatch(to_request(std::move(raw)), out);
    ORRERY_FUZZ_CHECK(out->replies == 1, "a request was not answered exactly once");
    if (!keep_alive) return 0;
  }
  return 0;
}

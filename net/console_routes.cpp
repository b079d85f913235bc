// The web console: its pages at / and /console/<file> (built into the
// binary), and the one-time sign-in links `orrery console` prints. The
// console itself holds no privileges: it calls the same HTTP API, with the
// signed-in identity's token, as the CLI does.

#include "net/console_assets.hpp"
#include "net/host_api.hpp"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <chrono>
#include <map>
#include <mutex>

namespace orrery {
namespace {

constexpr auto link_lifetime = std::chrono::minutes(5);
constexpr std::size_t max_open_links = 1000;

/// Sign-in codes, each good once for a few minutes, standing for the token
/// of the identity that asked for it. Kept in memory: a restart voids them.
class sign_in_links {
public:
  std::string open(std::string token) {
    unsigned char bytes[24];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return {};
    static const char digits[] = "0123456789abcdef";
    std::string code;
    for (unsigned char b : bytes) (code += digits[b >> 4]) += digits[b & 15];
    std::lock_guard<std::mutex> lock(mutex_);
    drop_expired();
    if (links_.size() >= max_open_links) return {};
    links_[code] = {std::move(token), std::chrono::steady_clock::now() + link_lifetime};
    return code;
  }

  /// The token behind `code`, which is used up; nullopt for an unknown, used or expired code.
  std::optional<std::string> redeem(const std::string& code) {
    std::lock_guard<std::mutex> lock(mutex_);
    drop_expired();
    auto it = links_.find(code);
    if (it == links_.end()) return std::nullopt;
    std::string token = std::move(it->second.token);
    links_.erase(it);
    return token;
  }

private:
  struct link {
    std::string token;
    std::chrono::steady_clock::time_point expires;
  };
  void drop_expired() {
    auto now = std::chrono::steady_clock::now();
    for (auto it = links_.begin(); it != links_.end();)
      it = it->second.expires <= now ? links_.erase(it) : std::next(it);
  }
  std::mutex mutex_;
  std::map<std::string, link> links_;
};

std::string content_type_of(const std::string& name) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

void serve_asset(const call_ptr& call, const std::string& name) {
  auto body = console_asset(name);
  if (!body) return call->reply(404, "the console has no file `" + name + "`");
  http_response r;
  r.content_type = content_type_of(name);
  r.body = std::string(*body);
  r.headers = {{"Cache-Control", "no-cache"},
               {"X-Content-Type-Options", "nosniff"},
               {"Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"}};
  call->reply(std::move(r));
}

} // namespace

void add_console_routes(router& routes, host_services& host) {
  routes.add("GET", "/", [](call_ptr call) { serve_asset(call, "index.html"); });
  routes.add("GET", "/console/:file", [](call_ptr call) { serve_asset(call, call->param("file")); });

  auto links = std::make_shared<sign_in_links>();
  // A one-time code for the caller's own token (`orrery console`).
  routes.add("POST", "/v1/console/link", [&host, links](call_ptr call) {
    if (!authenticate(host, *call, false)) return;
    std::string token = call->request.header("authorization")->substr(std::string_view("Bearer ").size());
    std::string code = links->open(std::move(token));
    if (code.empty()) return call->reply(503, "too many sign-in links are open; try again in a few minutes");
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(link_lifetime).count();
    call->reply(http_response::json(200, nlohmann::json{{"code", code}, {"expires_in_seconds", seconds}}.dump()));
  });
  // The token behind a code (the body), once.
  routes.add("POST", "/v1/console/redeem", [links](call_ptr call) {
    auto token = links->redeem(call->request.body);
    if (!token) return call->reply(401, "this sign-in link was used or has expired; run `orrery console` for a new one");
    call->reply(http_response::json(200, nlohmann::json{{"token", *token}}.dump()));
  });
}

} // namespace orrery

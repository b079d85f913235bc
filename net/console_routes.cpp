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
constexpr std::int64_t console_token_seconds = 12 * 3600;  // a console session lasts a working day
constexpr std::size_t max_links_per_identity = 5;
constexpr std::size_t max_open_links = 10000;

/// Sign-in codes, each good once for a few minutes, standing for a token of
/// the identity that asked for it. Kept in memory: a restart voids them. An
/// identity keeps its newest few, and the host its newest many, so nobody can
/// use up the links of others. Routes run on several threads: hence the mutex.
class sign_in_links {
public:
  std::string open(const identity& owner, std::string token) {
    unsigned char bytes[24];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return {};
    static const char digits[] = "0123456789abcdef";
    std::string code;
    for (unsigned char b : bytes) (code += digits[b >> 4]) += digits[b & 15];
    std::lock_guard<std::mutex> lock(mutex_);
    drop_expired();
    drop_oldest_while([&](const link& l) { return l.owner == owner; }, max_links_per_identity - 1);
    drop_oldest_while([](const link&) { return true; }, max_open_links - 1);
    links_[code] = {owner, std::move(token), std::chrono::steady_clock::now() + link_lifetime};
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
    identity owner;
    std::string token;
    std::chrono::steady_clock::time_point expires;
  };
  void drop_expired() {
    auto now = std::chrono::steady_clock::now();
    for (auto it = links_.begin(); it != links_.end();)
      it = it->second.expires <= now ? links_.erase(it) : std::next(it);
  }
  /// Drops the oldest of the links `counted` picks until at most `keep` remain.
  template <class Counted>
  void drop_oldest_while(Counted counted, std::size_t keep) {
    for (;;) {
      auto oldest = links_.end();
      std::size_t n = 0;
      for (auto it = links_.begin(); it != links_.end(); ++it)
        if (counted(it->second)) {
          ++n;
          if (oldest == links_.end() || it->second.expires < oldest->second.expires) oldest = it;
        }
      if (n <= keep) return;
      links_.erase(oldest);
    }
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
  // A one-time code for a token of the caller's (`orrery console`).
  routes.add("POST", "/v1/console/link", [&host, links](call_ptr call) {
    auto caller = authenticate(host, *call, false);
    if (!caller) return;
    // The console gets a token of its own that expires, not the CLI's.
    std::string code = links->open(caller->id, host.tokens.resign(*caller, console_token_seconds));
    if (code.empty()) return call->reply(503, "the host could not make a sign-in code; try again");
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

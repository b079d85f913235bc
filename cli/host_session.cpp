#include "cli/host_session.hpp"

#include "cli/commands.hpp"
#include "cli/config.hpp"
#include "cli/login.hpp"

#include <nlohmann/json.hpp>

namespace orrery::cli {

http_client connect(const server_option& server, bool anonymous) {
  config cfg = config::load();
  auto& entry = cfg.resolve(server.get());
  return http_client(entry.url, anonymous ? "" : token_for(cfg, entry));
}

void fail(const std::string& what, const http_reply& reply) {
  std::string body = reply.body;
  if (auto j = nlohmann::json::parse(body, nullptr, false); !j.is_discarded() && j.contains("PermissionDenied"))
    body = "the name `" + j["PermissionDenied"].value("name", "") + "` belongs to another identity";
  throw cli_error(what + " (HTTP " + std::to_string(reply.status) + "): " + body);
}

} // namespace orrery::cli

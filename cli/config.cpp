#include "cli/config.hpp"

#include "cli/commands.hpp"
#include "runtime/storage/durable_file.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace orrery::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string config::path() {
  if (const char* dir = std::getenv("ORRERY_CONFIG_DIR")) return (fs::path(dir) / "config.json").string();
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return (fs::path(xdg) / "orrery" / "config.json").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home ? home : ".") / ".config" / "orrery" / "config.json").string();
}

config config::load() {
  config c;
  std::ifstream in(path());
  if (in) {
    try {
      json j = json::parse(in);
      c.default_server = j.value("default_server", "");
      for (auto& s : j.value("servers", json::array()))
        c.servers.push_back({s.value("nickname", ""), s.value("url", ""), s.value("token", ""),
                             s.value("identity", "")});
    } catch (const json::exception& e) {
      throw cli_error("cannot read " + path() + ": " + e.what());
    }
  }
  if (c.servers.empty()) {
    c.servers.push_back({"local", "http://127.0.0.1:3000", "", ""});
    c.default_server = "local";
  }
  return c;
}

void config::save() const {
  json servers_json = json::array();
  for (auto& s : servers)
    servers_json.push_back({{"nickname", s.nickname}, {"url", s.url}, {"token", s.token},
                            {"identity", s.identity}});
  fs::path p = path();
  fs::create_directories(p.parent_path());
  // It holds tokens: readable by its owner only, and never left half-written.
  std::string text = json{{"default_server", default_server}, {"servers", servers_json}}.dump(2) + "\n";
  if (auto s = write_file_durably(p.string(), text, 0600); !s.ok()) throw cli_error(s.error);
}

std::string normalize_url(std::string url) {
  if (url.find("://") == std::string::npos) url = "http://" + url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

server_entry* config::find(const std::string& name) {
  for (auto& s : servers)
    if (s.nickname == name) return &s;
  std::string url = normalize_url(name);
  for (auto& s : servers)
    if (s.url == url) return &s;
  return nullptr;
}

server_entry& config::resolve(const std::optional<std::string>& server) {
  std::string wanted = server ? *server : default_server;
  if (auto s = find(wanted)) return *s;
  if (!server) throw cli_error("the default server `" + wanted + "` is not configured; see `orrery server list`");
  if (server->find(':') == std::string::npos)
    throw cli_error("unknown server `" + *server + "`: give a nickname from `orrery server list` or a URL");
  servers.push_back({"", normalize_url(*server), "", ""});
  return servers.back();
}

} // namespace orrery::cli

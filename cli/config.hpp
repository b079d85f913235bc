#pragma once
// The CLI's configuration file: known servers, the default one, and the token
// saved for each. Lives at $ORRERY_CONFIG_DIR/config.json, else
// $XDG_CONFIG_HOME/orrery/config.json, else ~/.config/orrery/config.json.

#include <optional>
#include <string>
#include <vector>

namespace orrery::cli {

struct server_entry {
  std::string nickname;
  std::string url;       // http://host:port
  std::string token;     // empty when logged out
  std::string identity;  // hex identity of `token`
};

struct config {
  std::string default_server;
  std::vector<server_entry> servers;

  static config load();
  void save() const;
  static std::string path();

  server_entry* find(const std::string& nickname_or_url);
  /// `-s` value (nickname, URL or host:port) or the default server; a bare URL
  /// not in the file is added without a nickname.
  server_entry& resolve(const std::optional<std::string>& server);
};

/// "127.0.0.1:3000" -> "http://127.0.0.1:3000"; trailing slashes dropped.
std::string normalize_url(std::string url);

} // namespace orrery::cli

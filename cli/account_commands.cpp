// login, logout, console and server: who the CLI is and which hosts it knows.

#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/login.hpp"
#include "cli/table_printer.hpp"

#include <nlohmann/json.hpp>

#include <iostream>

namespace orrery::cli {

using json = nlohmann::json;

void login(config& cfg, server_entry& server) {
  http_reply reply = http_client(server.url, "").request("POST", "/v1/identity");
  if (!reply.ok()) throw cli_error("login failed (" + std::to_string(reply.status) + "): " + reply.body);
  json j = json::parse(reply.body);
  server.token = j.at("token").get<std::string>();
  server.identity = j.at("identity").get<std::string>();
  cfg.save();
  std::cerr << "Logged in to " << server.url << " as " << server.identity << "\n";
}

const std::string& token_for(config& cfg, server_entry& server) {
  if (server.token.empty()) login(cfg, server);
  return server.token;
}

void add_account_commands(CLI::App& app) {
  auto server_opt = std::make_shared<std::string>();

  auto login_cmd = app.add_subcommand("login", "Get a server-issued identity and save its token");
  login_cmd->add_option("-s,--server", *server_opt, "Server nickname or URL");
  login_cmd->add_flag("--server-issued-login", "Accepted for compatibility; always the case");
  login_cmd->callback([server_opt] {
    config cfg = config::load();
    auto& server = cfg.resolve(server_opt->empty() ? std::nullopt : std::optional(*server_opt));
    login(cfg, server);
    std::cout << "Identity: " << server.identity << "\n";
  });

  auto logout_cmd = app.add_subcommand("logout", "Forget the saved token");
  logout_cmd->add_option("-s,--server", *server_opt, "Server nickname or URL (default: all)");
  logout_cmd->callback([server_opt] {
    config cfg = config::load();
    for (auto& s : cfg.servers)
      if (server_opt->empty() || &s == cfg.find(*server_opt)) s.token.clear(), s.identity.clear();
    cfg.save();
    std::cout << "Logged out\n";
  });

  auto console_cmd =
    app.add_subcommand("console", "Print a one-time link that signs the web console in as this CLI's identity");
  console_cmd->add_option("-s,--server", *server_opt, "Server nickname or URL");
  console_cmd->callback([server_opt] {
    config cfg = config::load();
    auto& server = cfg.resolve(server_opt->empty() ? std::nullopt : std::optional(*server_opt));
    http_reply reply = http_client(server.url, token_for(cfg, server)).request("POST", "/v1/console/link");
    if (!reply.ok())
      throw cli_error("the host gave no sign-in link (" + std::to_string(reply.status) + "): " + reply.body);
    json j = json::parse(reply.body);
    std::cout << server.url << "/#code=" << j.at("code").get<std::string>() << "\n";
    std::cerr << "Open it within " << j.at("expires_in_seconds").get<int>() / 60
              << " minutes; it signs in once, as " << server.identity << "\n";
  });

  auto server_cmd = app.add_subcommand("server", "Manage the servers the CLI knows");
  server_cmd->require_subcommand(1);

  auto add = server_cmd->add_subcommand("add", "Add a server");
  auto url = std::make_shared<std::string>();
  auto nickname = std::make_shared<std::string>();
  auto make_default = std::make_shared<bool>(false);
  add->add_option("url", *url, "http://host:port")->required();
  add->add_option("--name", *nickname, "Nickname")->required();
  add->add_flag("-d,--default", *make_default, "Make it the default server");
  add->callback([url, nickname, make_default] {
    config cfg = config::load();
    if (cfg.find(*nickname)) throw cli_error("a server named `" + *nickname + "` exists already");
    cfg.servers.push_back({*nickname, normalize_url(*url), "", ""});
    if (*make_default) cfg.default_server = *nickname;
    cfg.save();
    std::cout << "Added server " << *nickname << " at " << normalize_url(*url) << "\n";
  });

  auto list = server_cmd->add_subcommand("list", "List servers");
  list->callback([] {
    config cfg = config::load();
    std::vector<std::vector<std::string>> rows;
    for (auto& s : cfg.servers)
      rows.push_back({s.nickname == cfg.default_server ? "***" : "", s.nickname, s.url,
                      s.identity.empty() ? "(logged out)" : s.identity});
    print_table(std::cout, {"DEFAULT", "NICKNAME", "URL", "IDENTITY"}, rows);
  });

  auto ping = server_cmd->add_subcommand("ping", "Check that a server answers");
  auto ping_server = std::make_shared<std::string>();
  ping->add_option("server", *ping_server, "Server nickname or URL");
  ping->callback([ping_server] {
    config cfg = config::load();
    auto& server = cfg.resolve(ping_server->empty() ? std::nullopt : std::optional(*ping_server));
    http_reply reply = http_client(server.url, "").request("GET", "/v1/ping");
    if (!reply.ok()) throw cli_error(server.url + " answered " + std::to_string(reply.status));
    std::cout << "Server is online: " << server.url << "\n";
  });

  auto set_default = server_cmd->add_subcommand("set-default", "Choose the default server");
  auto default_name = std::make_shared<std::string>();
  set_default->add_option("server", *default_name, "Server nickname")->required();
  set_default->callback([default_name] {
    config cfg = config::load();
    auto s = cfg.find(*default_name);
    if (!s || s->nickname.empty()) throw cli_error("no server named `" + *default_name + "`");
    cfg.default_server = s->nickname;
    cfg.save();
    std::cout << "Default server: " << s->nickname << "\n";
  });

  auto remove = server_cmd->add_subcommand("remove", "Forget a server");
  auto remove_name = std::make_shared<std::string>();
  remove->add_option("server", *remove_name, "Server nickname")->required();
  remove->callback([remove_name] {
    config cfg = config::load();
    auto s = cfg.find(*remove_name);
    if (!s) throw cli_error("no server named `" + *remove_name + "`");
    cfg.servers.erase(cfg.servers.begin() + (s - cfg.servers.data()));
    cfg.save();
    std::cout << "Removed server " << *remove_name << "\n";
  });
}

} // namespace orrery::cli

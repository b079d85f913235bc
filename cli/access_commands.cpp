// project, team and access: sharing databases. Roles (viewer, developer,
// admin) are granted to an identity or a team, on a database or on a
// project (and so on each of its databases); the host decides who may.

#include "cli/commands.hpp"
#include "cli/host_session.hpp"
#include "cli/table_printer.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace orrery::cli {
namespace {

using json = nlohmann::json;

/// The host's JSON answer to a request that must succeed.
json ask(const server_option& server, const std::string& method, const std::string& path, const std::string& what,
         const std::string& body = "") {
  http_reply reply = connect(server).request(method, path, body);
  if (!reply.ok()) fail("cannot " + what, reply);
  return json::parse(reply.body);
}

std::string text_or_dash(const json& j) { return j.is_string() ? j.get<std::string>() : "-"; }

void print_grants(const json& view) {
  std::vector<std::vector<std::string>> rows{{view.at("owner").get<std::string>(), "owner", "-"}};
  for (auto& g : view.at("grants"))
    rows.push_back({g.at("grantee").get<std::string>(), g.at("role").get<std::string>(), g.at("on").get<std::string>()});
  print_table(std::cout, {"Grantee", "Role", "Granted on"}, rows);
}

void print_project(const json& p) {
  std::string dbs;
  for (auto& d : p.at("databases")) dbs += (dbs.empty() ? "" : ", ") + d.get<std::string>();
  std::cout << "Project " << p.at("name").get<std::string>() << " (your role: " << p.at("your_role").get<std::string>()
            << ")\nDatabases: " << (dbs.empty() ? "none" : dbs) << "\n\n";
  print_grants(p);
}

void print_team(const json& t) {
  std::vector<std::vector<std::string>> rows;
  for (auto& m : t.at("members")) rows.push_back({m.get<std::string>()});
  std::cout << "Team " << t.at("name").get<std::string>() << ", owned by " << t.at("owner").get<std::string>() << "\n";
  print_table(std::cout, {"Member"}, rows);
}

void add_project_commands(CLI::App& app) {
  auto project = app.add_subcommand("project", "Group databases into projects, whose grants reach each of them");
  project->require_subcommand(1);
  auto server = std::make_shared<server_option>();
  auto name = std::make_shared<std::string>();
  auto database = std::make_shared<std::string>();

  auto create = project->add_subcommand("create", "Create a project you own");
  create->add_option("name", *name, "The project's name")->required();
  server->add_to(create);
  create->callback([server, name] {
    ask(*server, "POST", "/v1/projects", "create project `" + *name + "`", *name);
    std::cout << "Created project " << *name << "\n";
  });

  auto list = project->add_subcommand("list", "List your projects, or one project's databases and grants");
  list->add_option("name", *name, "A project");
  server->add_to(list);
  list->callback([server, name] {
    if (!name->empty()) return print_project(ask(*server, "GET", "/v1/projects/" + url_encode(*name), "read the project"));
    std::vector<std::vector<std::string>> rows;
    const json listed = ask(*server, "GET", "/v1/projects", "list projects");  // the loop reads into it
    for (auto& p : listed.at("projects"))
      rows.push_back({p.at("name").get<std::string>(), p.at("your_role").get<std::string>(),
                      std::to_string(p.at("databases").size())});
    print_table(std::cout, {"Project", "Your role", "Databases"}, rows);
  });

  for (bool adding : {true, false}) {
    auto cmd = project->add_subcommand(adding ? "add" : "remove",
                                       adding ? "Put a database in a project (a database is in at most one)"
                                              : "Take a database out of a project");
    cmd->add_option("project", *name, "The project")->required();
    cmd->add_option("database", *database, "The database's name or identity")->required();
    server->add_to(cmd);
    cmd->callback([server, name, database, adding] {
      std::string path = "/v1/projects/" + url_encode(*name) + "/databases";
      if (adding) ask(*server, "POST", path, "add the database", *database);
      else ask(*server, "DELETE", path + "/" + url_encode(*database), "remove the database");
      std::cout << (adding ? "Added " : "Removed ") << *database << (adding ? " to project " : " from project ") << *name
                << "\n";
    });
  }
}

void add_team_commands(CLI::App& app) {
  auto team = app.add_subcommand("team", "Name sets of identities, to grant roles to all of them at once");
  team->require_subcommand(1);
  auto server = std::make_shared<server_option>();
  auto name = std::make_shared<std::string>();
  auto member = std::make_shared<std::string>();

  auto create = team->add_subcommand("create", "Create a team you own");
  create->add_option("name", *name, "The team's name")->required();
  server->add_to(create);
  create->callback([server, name] {
    ask(*server, "POST", "/v1/teams", "create team `" + *name + "`", *name);
    std::cout << "Created team " << *name << "\n";
  });

  for (bool adding : {true, false}) {
    auto cmd = team->add_subcommand(adding ? "add" : "remove", adding ? "Add a member" : "Remove a member");
    cmd->add_option("team", *name, "The team")->required();
    cmd->add_option("identity", *member, "The member's hex identity")->required();
    server->add_to(cmd);
    cmd->callback([server, name, member, adding] {
      std::string path = "/v1/teams/" + url_encode(*name) + "/members";
      print_team(adding ? ask(*server, "POST", path, "add the member", *member)
                        : ask(*server, "DELETE", path + "/" + url_encode(*member), "remove the member"));
    });
  }

  auto list = team->add_subcommand("list", "List the teams you own or belong to");
  server->add_to(list);
  list->callback([server] {
    const json listed = ask(*server, "GET", "/v1/teams", "list teams");  // the loop reads into it
    for (auto& t : listed.at("teams")) print_team(t);
  });
}

void add_grant_commands(CLI::App& app) {
  auto access = app.add_subcommand("access", "Grant, revoke and list roles on a database or a project");
  access->require_subcommand(1);
  struct options {
    server_option server;
    std::string level, to, team, database, project;
    /// The route of the database's or project's access, checked.
    std::string base() const {
      if (database.empty() == project.empty()) throw cli_error("name one of --database or --project");
      return database.empty() ? "/v1/projects/" + url_encode(project) : "/v1/database/" + url_encode(database);
    }
    std::string grantee() const {
      if (to.empty() == team.empty()) throw cli_error("name one of --to IDENTITY or --team TEAM");
      return to.empty() ? "team:" + team : to;
    }
  };
  auto o = std::make_shared<options>();
  auto scope = [o](CLI::App* cmd) {
    cmd->add_option("--database", o->database, "On a database (name or identity)");
    cmd->add_option("--project", o->project, "On a project, and so on each of its databases");
    o->server.add_to(cmd);
  };
  auto whom = [o](CLI::App* cmd) {
    cmd->add_option("--to", o->to, "To an identity (hex)");
    cmd->add_option("--team", o->team, "To every member of a team");
  };

  auto grant = access->add_subcommand("grant", "Grant a role: viewer, developer or admin (see the README's roles table)");
  grant->add_option("role", o->level, "viewer, developer or admin")->required();
  whom(grant);
  scope(grant);
  grant->callback([o] {
    json body = {{"grantee", o->grantee()}, {"role", o->level}};
    print_grants(ask(o->server, "POST", o->base() + "/access", "grant the role", body.dump()));
  });

  auto revoke = access->add_subcommand("revoke", "Revoke the role granted to an identity or team");
  whom(revoke);
  scope(revoke);
  revoke->callback([o] {
    print_grants(ask(o->server, "DELETE", o->base() + "/access/" + url_encode(o->grantee()), "revoke the role"));
  });

  auto list = access->add_subcommand("list", "List who holds which role");
  scope(list);
  list->callback([o] {
    json view = ask(o->server, "GET", o->base() + "/access", "list access");
    if (view.contains("project") && !o->database.empty()) std::cout << "Project: " << text_or_dash(view.at("project")) << "\n";
    print_grants(view);
  });

  auto transfer = access->add_subcommand("transfer", "Make another identity the owner of a database (owner only)");
  transfer->add_option("--to", o->to, "The new owner (hex identity)")->required();
  scope(transfer);
  transfer->callback([o] {
    if (o->database.empty()) throw cli_error("transfer a database: name it with --database");
    ask(o->server, "POST", o->base() + "/transfer", "transfer the database", o->to);
    std::cout << "Database " << o->database << " is now owned by " << o->to << "\n";
  });
}

} // namespace

void add_access_commands(CLI::App& app) {
  add_project_commands(app);
  add_team_commands(app);
  add_grant_commands(app);
}

} // namespace orrery::cli

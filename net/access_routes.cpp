// Routes of access control: roles granted on databases and projects,
// projects and their databases, teams and their members, ownership
// transfers, and the databases shared with the caller. The registry decides
// each (actors/access_book.hpp); these routes only read requests and pass
// its JSON answers on.

#include "net/host_api.hpp"

#include <nlohmann/json.hpp>

namespace orrery {
namespace {

using json = nlohmann::json;

/// Sends the caller's access request (see access_request) to the registry and
/// answers with its JSON.
void ask_access(host_services& host, const call_ptr& call, std::string scope, std::string verb,
                std::string target = "", std::string subject = "", std::string level = "") {
  auto caller = authenticate(host, *call, false);
  if (!caller) return;
  access_request req;
  req.caller = caller->id;
  req.scope = std::move(scope);
  req.verb = std::move(verb);
  req.target = std::move(target);
  req.subject = std::move(subject);
  req.level = std::move(level);
  ask(host, call, host.registry, [call](const std::string& answer) { call->reply(http_response::json(200, answer)); },
      access_atom::value, std::move(req));
}

} // namespace

void add_access_routes(router& routes, host_services& host) {
  for (auto [base, scope] : {std::pair{"/v1/database/:x", "database"}, std::pair{"/v1/projects/:x", "project"}}) {
    std::string prefix = base;
    std::string kind = scope;
    routes.add("GET", prefix + "/access", [&host, kind](call_ptr call) {
      ask_access(host, call, kind, "list", call->param("x"));
    });
    // The body: {"grantee": "<hex identity or team:name>", "role": "viewer|developer|admin"}.
    routes.add("POST", prefix + "/access", [&host, kind](call_ptr call) {
      std::string grantee, level;
      try {
        json body = json::parse(call->request.body);
        grantee = body.at("grantee").get<std::string>();
        level = body.at("role").get<std::string>();
      } catch (const json::exception&) {
        return call->reply(400, R"(the body is {"grantee": "<hex identity or team:name>", "role": "viewer|developer|admin"})");
      }
      ask_access(host, call, kind, "grant", call->param("x"), grantee, level);
    });
    routes.add("DELETE", prefix + "/access/:grantee", [&host, kind](call_ptr call) {
      ask_access(host, call, kind, "revoke", call->param("x"), call->param("grantee"));
    });
  }
  // The body is the new owner's hex identity.
  routes.add("POST", "/v1/database/:x/transfer", [&host](call_ptr call) {
    ask_access(host, call, "database", "transfer", call->param("x"), call->request.body);
  });
  routes.add("GET", "/v1/access/databases", [&host](call_ptr call) { ask_access(host, call, "mine", "databases"); });

  routes.add("POST", "/v1/projects", [&host](call_ptr call) {
    ask_access(host, call, "project", "create", call->request.body);
  });
  routes.add("GET", "/v1/projects", [&host](call_ptr call) { ask_access(host, call, "project", "list"); });
  routes.add("GET", "/v1/projects/:x", [&host](call_ptr call) {
    ask_access(host, call, "project", "list", call->param("x"));
  });
  routes.add("POST", "/v1/projects/:x/databases", [&host](call_ptr call) {
    ask_access(host, call, "project", "add", call->param("x"), call->request.body);
  });
  routes.add("DELETE", "/v1/projects/:x/databases/:database", [&host](call_ptr call) {
    ask_access(host, call, "project", "remove", call->param("x"), call->param("database"));
  });

  routes.add("POST", "/v1/teams", [&host](call_ptr call) { ask_access(host, call, "team", "create", call->request.body); });
  routes.add("GET", "/v1/teams", [&host](call_ptr call) { ask_access(host, call, "team", "list"); });
  routes.add("POST", "/v1/teams/:x/members", [&host](call_ptr call) {
    ask_access(host, call, "team", "add", call->param("x"), call->request.body);
  });
  routes.add("DELETE", "/v1/teams/:x/members/:member", [&host](call_ptr call) {
    ask_access(host, call, "team", "remove", call->param("x"), call->param("member"));
  });
}

} // namespace orrery

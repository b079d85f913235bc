#include "actors/access_book.hpp"

#include "runtime/types/names.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace orrery {
namespace {

using json = nlohmann::json;

constexpr const char* team_prefix = "team:";

json grants_json(const std::vector<grant>& grants) {
  json out = json::array();
  for (auto& g : grants) out.push_back({{"grantee", g.grantee}, {"role", role_name(g.level)}});
  return out;
}

std::vector<grant> grants_from(const json& list) {
  std::vector<grant> out;
  for (auto& g : list) {
    auto level = grantable_role(g.at("role").get<std::string>());
    if (level) out.push_back({g.at("grantee").get<std::string>(), *level});
  }
  return out;
}

identity identity_at(const json& j) {
  auto id = identity::from_hex(j.get<std::string>());
  if (!id) throw std::runtime_error("`" + j.dump() + "` is not a 64-digit hex identity");
  return *id;
}

json members_json(const team& t) {
  json members = json::array();
  for (auto& m : t.members) members.push_back(m.to_hex());
  return members;
}

/// Sets `grantee`'s role in `grants` (replacing an earlier one); role::none
/// revokes. Answers whether anything changed.
bool set_grant(std::vector<grant>& grants, const std::string& grantee, role level) {
  auto it = std::find_if(grants.begin(), grants.end(), [&](const grant& g) { return g.grantee == grantee; });
  if (level == role::none) {
    if (it == grants.end()) return false;
    grants.erase(it);
    return true;
  }
  if (it != grants.end()) {
    if (it->level == level) return false;
    it->level = level;
    return true;
  }
  grants.push_back({grantee, level});
  return true;
}

} // namespace

std::set<identity> readers_lost(const access_book& before, const access_book& after, const database_record& r_before,
                                const database_record& r_after) {
  // Who held a role on it before: its owner, and whom its own and its project's grants named.
  std::set<identity> named{r_before.owner};
  auto add_grantees = [&](const std::vector<grant>& grants) {
    for (auto& g : grants) {
      if (auto id = identity::from_hex(g.grantee)) named.insert(*id);
      else if (auto t = before.teams.find(g.grantee.substr(std::char_traits<char>::length(team_prefix)));
               t != before.teams.end())
        named.insert(t->second.members.begin(), t->second.members.end());
    }
  };
  if (auto* grants = before.database_grants(r_before.id)) add_grantees(*grants);
  if (auto* in = before.project_of(r_before.id)) add_grantees(before.projects.at(*in).grants);
  std::set<identity> lost;
  for (auto& id : named)
    if (permits(before.role_of(id, r_before), action::read_private) &&
        !permits(after.role_of(id, r_after), action::read_private))
      lost.insert(id);
  return lost;
}


role access_book::granted(const identity& caller, const std::string& hex, const std::vector<grant>& grants) const {
  role best = role::none;
  for (auto& g : grants) {
    bool applies = g.grantee == hex;
    if (!applies && g.grantee.rfind(team_prefix, 0) == 0) {
      auto t = teams.find(g.grantee.substr(std::char_traits<char>::length(team_prefix)));
      applies = t != teams.end() && t->second.members.count(caller);
    }
    if (applies) best = std::max(best, g.level);
  }
  return best;
}

role access_book::role_of(const identity& caller, const database_record& r) const {
  if (caller == r.owner) return role::owner;
  role best = role::none;
  const std::string hex = caller.to_hex();
  if (auto* grants = database_grants(r.id)) best = granted(caller, hex, *grants);
  if (auto* name = project_of(r.id)) best = std::max(best, granted(caller, hex, projects.at(*name).grants));
  return best;
}

role access_book::role_on_project(const identity& caller, const std::string& name) const {
  auto p = projects.find(name);
  if (p == projects.end()) return role::none;
  if (caller == p->second.owner) return role::owner;
  return granted(caller, caller.to_hex(), p->second.grants);
}

const std::vector<grant>* access_book::database_grants(std::uint64_t id) const {
  auto it = database_grants_.find(id);
  return it == database_grants_.end() ? nullptr : &it->second;
}

const std::string* access_book::project_of(std::uint64_t id) const {
  auto it = project_by_database_.find(id);
  return it == project_by_database_.end() ? nullptr : &it->second;
}

void access_book::forget_database(std::uint64_t id) {
  database_grants_.erase(id);
  if (auto in = project_by_database_.find(id); in != project_by_database_.end()) {
    projects.at(in->second).databases.erase(id);
    project_by_database_.erase(in);
  }
}

bool access_book::drop_database_grant(std::uint64_t id, const std::string& grantee) {
  auto it = database_grants_.find(id);
  return it != database_grants_.end() && set_grant(it->second, grantee, role::none);
}

std::string access_book::to_json() const {
  json dbs = json::object(), ps = json::object(), ts = json::object();
  for (auto& [id, grants] : database_grants_)
    if (!grants.empty()) dbs[std::to_string(id)] = grants_json(grants);
  for (auto& [name, p] : projects)
    ps[name] = {{"owner", p.owner.to_hex()}, {"databases", p.databases}, {"grants", grants_json(p.grants)}};
  for (auto& [name, t] : teams) {
    ts[name] = {{"owner", t.owner.to_hex()}, {"members", members_json(t)}};
  }
  return json{{"databases", dbs}, {"projects", ps}, {"teams", ts}}.dump();
}

access_book access_book::parse(const std::string& text, std::string& error) {
  access_book book;
  try {
    json j = json::parse(text);
    for (auto& [id, grants] : j.at("databases").items()) book.database_grants_[std::stoull(id)] = grants_from(grants);
    for (auto& [name, p] : j.at("projects").items()) {
      project& out = book.projects[name];
      out.owner = identity_at(p.at("owner"));
      out.databases = p.at("databases").get<std::set<std::uint64_t>>();
      for (auto id : out.databases) book.project_by_database_[id] = name;
      out.grants = grants_from(p.at("grants"));
    }
    for (auto& [name, t] : j.at("teams").items()) {
      team& out = book.teams[name];
      out.owner = identity_at(t.at("owner"));
      for (auto& m : t.at("members")) out.members.insert(identity_at(m));
    }
  } catch (const std::exception& e) {
    error = e.what();
    return {};
  }
  return book;
}

namespace {

json grant_list(const std::vector<grant>* grants, const std::string& on) {
  json out = json::array();
  if (grants)
    for (auto& g : *grants) out.push_back({{"grantee", g.grantee}, {"role", role_name(g.level)}, {"on", on}});
  return out;
}

caf::error refused(std::string message) { return make_error(host_errc::not_owner, std::move(message)); }
caf::error bad(std::string message) { return make_error(host_errc::invalid_argument, std::move(message)); }

std::optional<std::string> group_name_error(const std::string& kind, const std::string& name) {
  if (!database_name_error(name)) return std::nullopt;
  return kind + " names are lowercase letters and digits, in words joined by single hyphens, like `my-" + kind +
         "`; `" + name + "` is not one";
}

} // namespace

caf::error access_book::apply(const access_request& req, const database_finder& find,
                              const std::map<std::uint64_t, database_record>& records, access_outcome& out) {
  const identity& caller = req.caller;
  const std::string who = caller.to_hex();

  // A grantee as written, checked: an identity, or a team that exists.
  // A grant to a team trusts its owner, who decides its members: only the
  // team's owner and members may make one.
  auto checked_grantee = [&](std::string& grantee) -> caf::error {
    if (grantee.rfind(team_prefix, 0) == 0) {
      auto t = teams.find(grantee.substr(std::char_traits<char>::length(team_prefix)));
      if (t == teams.end()) return make_error(host_errc::no_such_database, "no such team: `" + grantee + "`");
      if (req.verb == "grant" && t->second.owner != caller && !t->second.members.count(caller))
        return refused("identity " + who + " may not grant to " + grantee +
                       ": only the team's owner and members may, as its owner decides who is in it");
      return caf::none;
    }
    auto id = identity::from_hex(grantee);
    if (!id) return bad("grant to a 64-digit hex identity or to team:<name>, not `" + grantee + "`");
    grantee = id->to_hex();
    return caf::none;
  };
  auto level_of = [&](role& level) -> caf::error {
    if (req.verb == "revoke") {
      level = role::none;
      return caf::none;
    }
    auto r = grantable_role(req.level);
    if (!r) return bad("the role is viewer, developer or admin, not `" + req.level + "` (ownership is transferred)");
    level = *r;
    return caf::none;
  };
  // Grants to teams show who is in them: their members hold the role.
  auto with_members = [&](json grants) {
    for (auto& g : grants) {
      const std::string grantee = g.at("grantee").get<std::string>();
      if (grantee.rfind(team_prefix, 0) != 0) continue;
      auto t = teams.find(grantee.substr(std::char_traits<char>::length(team_prefix)));
      if (t == teams.end()) continue;
      g["team_owner"] = t->second.owner.to_hex();
      g["members"] = members_json(t->second);
    }
    return grants;
  };
  auto project_view = [&](const std::string& name, const project& p) {
    json dbs = json::array();
    for (auto id : p.databases)
      if (auto r = records.find(id); r != records.end()) dbs.push_back(r->second.display_name());
    return json{{"name", name}, {"owner", p.owner.to_hex()}, {"your_role", role_name(role_on_project(caller, name))},
                {"databases", dbs}, {"grants", with_members(grant_list(&p.grants, "project:" + name))}};
  };
  auto team_view = [&](const std::string& name, const team& t) {
    return json{{"name", name}, {"owner", t.owner.to_hex()}, {"members", members_json(t)}};
  };

  if (req.scope == "database") {
    const database_record* r = find(req.target);
    if (!r) return make_error(host_errc::no_such_database, "no such database: `" + req.target + "`");
    const role held = role_of(caller, *r);
    auto view = [&] {
      const std::string* in = project_of(r->id);
      json grants = grant_list(database_grants(r->id), "database");
      if (in)
        for (auto& g : grant_list(&projects.at(*in).grants, "project:" + *in)) grants.push_back(g);
      return json{{"database", r->display_name()}, {"owner", r->owner.to_hex()}, {"your_role", role_name(held)},
                  {"project", in ? json(*in) : json(nullptr)}, {"grants", with_members(grants)}};
    };
    if (req.verb == "list") {
      if (!permits(held, action::observe)) return refused(refusal(who, held, action::observe, req.target));
      out.reply = view().dump();
      return caf::none;
    }
    if (req.verb != "grant" && req.verb != "revoke") return bad("a database's access is granted, revoked or listed");
    if (!permits(held, action::manage_access)) return refused(refusal(who, held, action::manage_access, req.target));
    std::string grantee = req.subject;
    role level;
    if (auto err = checked_grantee(grantee)) return err;
    if (auto err = level_of(level)) return err;
    if (grantee == r->owner.to_hex()) return bad("identity " + grantee + " owns the database; it holds every role");
    out.changed = set_grant(database_grants_[r->id], grantee, level);
    if (out.changed)
      out.log_lines.emplace_back(r->id, level == role::none ? "Access: " + who + " revoked the role of " + grantee
                                                            : "Access: " + who + " granted " + role_name(level) + " to " +
                                                                grantee);
    out.reply = view().dump();
    return caf::none;
  }

  if (req.scope == "project") {
    if (req.verb == "create") {
      if (auto problem = group_name_error("project", req.target)) return bad(*problem);
      if (projects.count(req.target)) return bad("a project named `" + req.target + "` exists; choose another name");
      projects[req.target].owner = caller;
      out.changed = true;
      out.reply = project_view(req.target, projects.at(req.target)).dump();
      return caf::none;
    }
    if (req.verb == "list" && req.target.empty()) {
      json list = json::array();
      for (auto& [name, p] : projects)
        if (role_on_project(caller, name) != role::none) list.push_back(project_view(name, p));
      out.reply = json{{"projects", list}}.dump();
      return caf::none;
    }
    auto p = projects.find(req.target);
    if (p == projects.end()) return make_error(host_errc::no_such_database, "no such project: `" + req.target + "`");
    const role held = role_on_project(caller, req.target);
    auto refuse = [&](action a) {
      return refused("identity " + who + " (" + (held == role::none ? "no role" : role_name(held)) + ") may not " +
                     action_name(a) + " project `" + req.target + "`: that takes the " + role_name(least_role(a)) +
                     " role or above");
    };
    if (req.verb == "list") {
      if (!permits(held, action::observe)) return refuse(action::observe);
      out.reply = project_view(p->first, p->second).dump();
      return caf::none;
    }
    if (req.verb == "add" || req.verb == "remove") {
      // A project's grants reach its databases, so only a database's owner puts
      // it in one; its owner may always take it out again, as may the project's admins.
      const database_record* r = find(req.subject);
      if (!r) return make_error(host_errc::no_such_database, "no such database: `" + req.subject + "`");
      const bool owns = r->owner == caller;
      if (req.verb == "add" && !owns)
        return refused("identity " + who + " may not add database `" + req.subject +
                       "` to a project: only its owner may, as the project's grants then reach it");
      if (!(owns && req.verb == "remove") && !permits(held, action::manage_access)) return refuse(action::manage_access);
      auto in = project_by_database_.find(r->id);
      if (req.verb == "add") {
        if (in != project_by_database_.end() && in->second != p->first)
          return bad("database `" + req.subject + "` is in project " + in->second + "; remove it from there first");
        out.changed = p->second.databases.insert(r->id).second;
        project_by_database_[r->id] = p->first;
      } else {
        out.changed = p->second.databases.erase(r->id) > 0;
        if (out.changed) project_by_database_.erase(r->id);
      }
      if (out.changed)
        out.log_lines.emplace_back(r->id, "Access: " + who + (req.verb == "add" ? " added the database to project "
                                                                                  : " removed the database from project ") +
                                            p->first);
      out.reply = project_view(p->first, p->second).dump();
      return caf::none;
    }
    if (!permits(held, action::manage_access)) return refuse(action::manage_access);
    if (req.verb == "grant" || req.verb == "revoke") {
      std::string grantee = req.subject;
      role level;
      if (auto err = checked_grantee(grantee)) return err;
      if (auto err = level_of(level)) return err;
      out.changed = set_grant(p->second.grants, grantee, level);
      if (out.changed)
        for (auto id : p->second.databases)
          out.log_lines.emplace_back(id, level == role::none
                                           ? "Access: " + who + " revoked the role of " + grantee + " on project " + p->first
                                           : "Access: " + who + " granted " + role_name(level) + " to " + grantee +
                                               " on project " + p->first);
    } else {
      return bad("a project is created, listed, granted, revoked, or has databases added or removed");
    }
    out.reply = project_view(p->first, p->second).dump();
    return caf::none;
  }

  if (req.scope == "team") {
    if (req.verb == "create") {
      if (auto problem = group_name_error("team", req.target)) return bad(*problem);
      if (teams.count(req.target)) return bad("a team named `" + req.target + "` exists; choose another name");
      teams[req.target].owner = caller;
      out.changed = true;
      out.reply = team_view(req.target, teams.at(req.target)).dump();
      return caf::none;
    }
    if (req.verb == "list") {
      json list = json::array();
      for (auto& [name, t] : teams)
        if (t.owner == caller || t.members.count(caller)) list.push_back(team_view(name, t));
      out.reply = json{{"teams", list}}.dump();
      return caf::none;
    }
    if (req.verb != "add" && req.verb != "remove") return bad("a team is created, listed, or has members added or removed");
    auto t = teams.find(req.target);
    if (t == teams.end()) return make_error(host_errc::no_such_database, "no such team: `" + req.target + "`");
    if (t->second.owner != caller)
      return refused("identity " + who + " may not change the members of team `" + req.target + "`: only its owner may");
    auto member = identity::from_hex(req.subject);
    if (!member) return bad("a team member is a 64-digit hex identity, not `" + req.subject + "`");
    out.changed = req.verb == "add" ? t->second.members.insert(*member).second : t->second.members.erase(*member) > 0;
    if (out.changed) {
      // Every database the team's grants reach logs the change, as it logs a grant.
      const std::string grantee = team_prefix + t->first;
      const std::string line = "Access: " + who + (req.verb == "add" ? " added " : " removed ") + member->to_hex() +
                               (req.verb == "add" ? " to team " : " from team ") + t->first;
      auto names = [&](const std::vector<grant>& grants) {
        return std::any_of(grants.begin(), grants.end(), [&](const grant& g) { return g.grantee == grantee; });
      };
      for (auto& [id, grants] : database_grants_)
        if (names(grants)) out.log_lines.emplace_back(id, line);
      for (auto& [name, p] : projects)
        if (names(p.grants))
          for (auto id : p.databases) out.log_lines.emplace_back(id, line + " (on project " + name + ")");
    }
    out.reply = team_view(t->first, t->second).dump();
    return caf::none;
  }

  if (req.scope == "mine" && req.verb == "databases") {
    json list = json::array();
    for (auto& [id, r] : records) {
      role held = role_of(caller, r);
      if (held == role::none) continue;
      const std::string* in = project_of(id);
      list.push_back({{"name", r.names.empty() ? json(nullptr) : json(r.names.front())}, {"names", r.names},
                      {"identity", r.database_identity.to_hex()}, {"owner", r.owner.to_hex()},
                      {"role", role_name(held)}, {"project", in ? json(*in) : json(nullptr)}});
    }
    out.reply = json{{"databases", list}}.dump();
    return caf::none;
  }
  return bad("unknown access request: " + req.verb + " on " + req.scope);
}

} // namespace orrery

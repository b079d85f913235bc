#pragma once
// Who holds which role on which database: grants on databases and projects,
// projects (named groups of databases) and teams (named sets of identities).
// `role_of` with `permits` (roles.hpp) is the host's one authorization
// decision: every route, WebSocket connection and SQL statement goes through
// them. The registry actor owns the book, keeps it in its store (one JSON
// document) and is its only caller; not thread-safe.

#include "actors/messages.hpp"
#include "actors/roles.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace orrery {

/// Whom a grant names: an identity (64 hex digits) or a team ("team:<name>").
struct grant {
  std::string grantee;
  role level = role::none;
};

struct project {
  identity owner;
  std::set<std::uint64_t> databases;  // database ids
  std::vector<grant> grants;
};

struct team {
  identity owner;
  std::set<identity> members;
};

/// What an access request (access_request) did: the reply (JSON), whether
/// the book changed, and the lines for databases' logs (database id, line).
struct access_outcome {
  std::string reply;
  bool changed = false;
  std::vector<std::pair<std::uint64_t, std::string>> log_lines;
};

class access_book {
public:
  /// A database by name or identity; null when there is none.
  using database_finder = std::function<const database_record*(const std::string&)>;

  /// Carries out `req` (see access_request) if the caller may: grants and
  /// revokes on databases and projects, projects and their databases, teams
  /// and their members, and the lists of each. Transfers are the registry's.
  caf::error apply(const access_request& req, const database_finder& find,
                   const std::map<std::uint64_t, database_record>& records, access_outcome& out);

  /// The book stored as `json`, or an empty book with `error` set.
  static access_book parse(const std::string& json, std::string& error);
  std::string to_json() const;

  /// The caller's role on database `r`: owner, else the highest granted on the
  /// database or its project, to the caller or a team the caller is in.
  role role_of(const identity& caller, const database_record& r) const;
  /// The caller's role on a project: owner, else the highest granted on it.
  role role_on_project(const identity& caller, const std::string& name) const;

  /// Database `id`'s own grants (not its project's); null for none.
  const std::vector<grant>* database_grants(std::uint64_t id) const;
  /// The project database `id` belongs to, if any.
  const std::string* project_of(std::uint64_t id) const;
  /// Drops what the book holds of a deleted database.
  void forget_database(std::uint64_t id);
  /// Drops `grantee`'s own grant on database `id` (it becomes the owner); whether there was one.
  bool drop_database_grant(std::uint64_t id, const std::string& grantee);

  /// Read-only outside the book: `apply` keeps them and their index in step.
  std::map<std::string, project> projects;
  std::map<std::string, team> teams;

private:
  /// The highest role `grants` give `caller` (whose hex is `caller_hex`, made once per decision).
  role granted(const identity& caller, const std::string& caller_hex, const std::vector<grant>& grants) const;
  std::map<std::uint64_t, std::vector<grant>> database_grants_;
  std::map<std::uint64_t, std::string> project_by_database_;  // the project each database is in
};

/// The identities that could read database `r`'s private data and logs under
/// `before` and cannot under `after` (its owner, grantees and team members
/// before; both rights come with the viewer role, so they are lost together).
std::set<identity> readers_lost(const access_book& before, const access_book& after, const database_record& r_before,
                                const database_record& r_after);

} // namespace orrery

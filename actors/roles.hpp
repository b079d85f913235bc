#pragma once
// The roles a caller may hold on a database, and what each permits: the
// roles table of the README, in code. Pure functions; callable from any thread.

#include <cstdint>
#include <optional>
#include <string>

namespace orrery {

/// Ordered: each role may do all that the roles below it may.
enum class role : std::uint8_t { none, viewer, developer, admin, owner };

/// What a caller may be allowed to do with a database, beyond what anyone may
/// (read public tables within row-level security, call reducers).
enum class action : std::uint8_t {
  read_private,        // private tables, subscriptions to them, rows past row-level security
  observe,             // logs, metrics, the query monitor, memory usage, access list
  write_rows,          // SQL INSERT, UPDATE, DELETE and SET
  publish,             // a new module (and its migration plan)
  manage_access,       // grant and revoke roles
  rename,              // names
  lock,                // lock and unlock
  delete_database,
  transfer_ownership,
};

/// The least role allowed `a` (the roles table in the README).
role least_role(action a);
bool permits(role r, action a);

const char* role_name(role r);
/// A grantable role by name (viewer, developer, admin); owner is transferred, not granted.
std::optional<role> grantable_role(const std::string& name);
const char* action_name(action a);
/// Why `who` (holding `held`) may not do `a` to database `target`.
std::string refusal(const std::string& who, role held, action a, const std::string& target);

} // namespace orrery

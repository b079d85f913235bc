#include "actors/roles.hpp"

namespace orrery {

role least_role(action a) {
  switch (a) {
    case action::read_private:
    case action::observe: return role::viewer;
    case action::write_rows:
    case action::publish: return role::developer;
    case action::manage_access:
    case action::rename:
    case action::lock: return role::admin;
    case action::delete_database:
    case action::transfer_ownership: return role::owner;
  }
  return role::owner;
}

bool permits(role r, action a) { return r >= least_role(a); }

const char* role_name(role r) {
  switch (r) {
    case role::none: return "none";
    case role::viewer: return "viewer";
    case role::developer: return "developer";
    case role::admin: return "admin";
    case role::owner: return "owner";
  }
  return "none";
}

std::optional<role> grantable_role(const std::string& name) {
  for (role r : {role::viewer, role::developer, role::admin})
    if (name == role_name(r)) return r;
  return std::nullopt;
}

const char* action_name(action a) {
  switch (a) {
    case action::read_private: return "read private tables of";
    case action::observe: return "read the logs and figures of";
    case action::write_rows: return "change rows of";
    case action::publish: return "publish to";
    case action::manage_access: return "manage access to";
    case action::rename: return "rename";
    case action::lock: return "lock or unlock";
    case action::delete_database: return "delete";
    case action::transfer_ownership: return "transfer the ownership of";
  }
  return "use";
}

std::string refusal(const std::string& who, role held, action a, const std::string& target) {
  return "identity " + who + " (" + (held == role::none ? std::string("no role") : role_name(held)) + ") may not " +
         action_name(a) + " database `" + target + "`: that takes " +
         (least_role(a) == role::owner ? std::string("its owner") : std::string("the ") + role_name(least_role(a)) + " role or above");
}

} // namespace orrery

// The access book: how a caller's role on a database comes from its grants,
// its project's grants and teams, and what each request may change.

#include "actors/access_book.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace orrery;

namespace {

identity person(const char* name) { return identity::from_claims("test", name); }

database_record database(std::uint64_t id, const char* name, const identity& owner) {
  database_record r;
  r.id = id;
  r.owner = owner;
  r.names = {name};
  r.database_identity = identity::from_claims("db", name);
  return r;
}

struct fixture {
  identity owner = person("owner"), ada = person("ada"), bo = person("bo");
  std::map<std::uint64_t, database_record> records{{1, database(1, "one", owner)}, {2, database(2, "two", owner)}};
  access_book book;

  caf::error as(const identity& who, std::string scope, std::string verb, std::string target = "",
                std::string subject = "", std::string level = "") {
    access_outcome out;
    auto find = [&](const std::string& name) -> const database_record* {
      for (auto& [id, r] : records)
        if (r.names.front() == name) return &r;
      return nullptr;
    };
    return book.apply({who, scope, verb, target, subject, level}, find, records, out);
  }
  role of(const identity& who, std::uint64_t id) { return book.role_of(who, records.at(id)); }
};

} // namespace

TEST_CASE("roles come from database grants, project grants and teams, the highest winning", "[actors]") {
  fixture f;
  CHECK(f.of(f.owner, 1) == role::owner);
  CHECK(f.of(f.ada, 1) == role::none);

  REQUIRE_FALSE(f.as(f.owner, "database", "grant", "one", f.ada.to_hex(), "viewer"));
  CHECK(f.of(f.ada, 1) == role::viewer);
  CHECK(f.of(f.ada, 2) == role::none);

  REQUIRE_FALSE(f.as(f.owner, "project", "create", "shop"));
  REQUIRE_FALSE(f.as(f.owner, "project", "add", "shop", "one"));
  REQUIRE_FALSE(f.as(f.owner, "project", "add", "shop", "two"));
  REQUIRE_FALSE(f.as(f.owner, "team", "create", "ops"));
  REQUIRE_FALSE(f.as(f.owner, "team", "add", "ops", f.ada.to_hex()));
  REQUIRE_FALSE(f.as(f.owner, "project", "grant", "shop", "team:ops", "developer"));
  CHECK(f.of(f.ada, 1) == role::developer);  // the project's grant is higher than the database's
  CHECK(f.of(f.ada, 2) == role::developer);

  REQUIRE_FALSE(f.as(f.owner, "team", "remove", "ops", f.ada.to_hex()));
  CHECK(f.of(f.ada, 1) == role::viewer);
  CHECK(f.of(f.ada, 2) == role::none);

  REQUIRE_FALSE(f.as(f.owner, "database", "revoke", "one", f.ada.to_hex()));
  CHECK(f.of(f.ada, 1) == role::none);
}

TEST_CASE("only those whose role permits it change access", "[actors]") {
  fixture f;
  REQUIRE_FALSE(f.as(f.owner, "database", "grant", "one", f.ada.to_hex(), "developer"));
  // A developer may not grant; an admin may, and an admin may make admins.
  CHECK(error_message(f.as(f.ada, "database", "grant", "one", f.bo.to_hex(), "viewer")) ==
        "identity " + f.ada.to_hex() +
          " (developer) may not manage access to database `one`: that takes the admin role or above");
  REQUIRE_FALSE(f.as(f.owner, "database", "grant", "one", f.ada.to_hex(), "admin"));
  REQUIRE_FALSE(f.as(f.ada, "database", "grant", "one", f.bo.to_hex(), "admin"));
  CHECK(f.of(f.bo, 1) == role::admin);
  // Nobody grants ownership, nor grants to a team that does not exist.
  CHECK(f.as(f.owner, "database", "grant", "one", f.bo.to_hex(), "owner"));
  CHECK(f.as(f.owner, "database", "grant", "one", "team:nobody", "viewer"));
  CHECK(f.as(f.owner, "database", "grant", "one", "not-hex", "viewer"));
  // Only a database's owner puts it in a project (whose grants then reach it), and in one at most.
  REQUIRE_FALSE(f.as(f.bo, "project", "create", "bos"));
  CHECK(f.as(f.bo, "project", "add", "bos", "one"));  // bo is an admin of one, not its owner
  REQUIRE_FALSE(f.as(f.bo, "project", "grant", "bos", f.owner.to_hex(), "admin"));
  REQUIRE_FALSE(f.as(f.owner, "project", "add", "bos", "one"));
  REQUIRE_FALSE(f.as(f.owner, "project", "create", "owners"));
  CHECK(f.as(f.owner, "project", "add", "owners", "one"));  // in bos already
  // Its owner may always take it out again, whatever the project's grants say.
  REQUIRE_FALSE(f.as(f.bo, "project", "revoke", "bos", f.owner.to_hex()));
  REQUIRE_FALSE(f.as(f.owner, "project", "remove", "bos", "one"));
  CHECK(f.book.project_of(1) == nullptr);
  // A team's members are its owner's to change, and only its owner and members grant to it.
  REQUIRE_FALSE(f.as(f.owner, "team", "create", "ops"));
  CHECK(f.as(f.ada, "team", "add", "ops", f.ada.to_hex()));
  REQUIRE_FALSE(f.as(f.ada, "team", "create", "squat"));
  CHECK(f.as(f.owner, "database", "grant", "one", "team:squat", "viewer"));
  REQUIRE_FALSE(f.as(f.owner, "database", "grant", "one", "team:ops", "viewer"));
}

TEST_CASE("the access book survives its JSON, and forgets a deleted database", "[actors]") {
  fixture f;
  REQUIRE_FALSE(f.as(f.owner, "team", "create", "ops"));
  REQUIRE_FALSE(f.as(f.owner, "team", "add", "ops", f.ada.to_hex()));
  REQUIRE_FALSE(f.as(f.owner, "project", "create", "shop"));
  REQUIRE_FALSE(f.as(f.owner, "project", "add", "shop", "two"));
  REQUIRE_FALSE(f.as(f.owner, "project", "grant", "shop", "team:ops", "viewer"));
  REQUIRE_FALSE(f.as(f.owner, "database", "grant", "one", f.bo.to_hex(), "admin"));

  std::string error;
  access_book again = access_book::parse(f.book.to_json(), error);
  REQUIRE(error.empty());
  CHECK(again.role_of(f.ada, f.records.at(2)) == role::viewer);
  CHECK(again.role_of(f.bo, f.records.at(1)) == role::admin);
  CHECK(again.to_json() == f.book.to_json());

  again.forget_database(2);
  CHECK(again.role_of(f.ada, f.records.at(2)) == role::none);
  CHECK(again.project_of(2) == nullptr);

  access_book broken = access_book::parse("{\"teams\": 3}", error);
  CHECK_FALSE(error.empty());
}

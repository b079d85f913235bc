#include "runtime/types/names.hpp"

#include <catch2/catch.hpp>

using namespace orrery;

TEST_CASE("valid database names", "[runtime]") {
  for (const char* name : {"chat", "a", "my-db", "db-2", "0", "a-b-c-d", "quickstart-chat-42"}) {
    INFO(name);
    CHECK_FALSE(database_name_error(name));
  }
}

TEST_CASE("invalid database names say what is wrong", "[runtime]") {
  CHECK(*database_name_error("") == "database name is empty");
  CHECK(database_name_error("My-DB")->find("lowercase") != std::string::npos);
  CHECK(database_name_error("my_db")->find("lowercase") != std::string::npos);
  CHECK(database_name_error("my db")->find("lowercase") != std::string::npos);
  CHECK(database_name_error("-db")->find("start with a hyphen") != std::string::npos);
  CHECK(database_name_error("db-")->find("end with a hyphen") != std::string::npos);
  CHECK(database_name_error("my--db")->find("two in a row") != std::string::npos);
  CHECK(database_name_error("caf\xc3\xa9")->find("lowercase") != std::string::npos);
  CHECK(database_name_error(std::string(65, 'a'))->find("longer than 64") != std::string::npos);
  CHECK(database_name_error(std::string(64, 'a'))->find("identity") != std::string::npos);
}

TEST_CASE("identities are told apart from names", "[runtime]") {
  CHECK(looks_like_identity(std::string(64, 'c')));
  CHECK_FALSE(looks_like_identity(std::string(63, 'c')));
  CHECK_FALSE(looks_like_identity("chat"));
}

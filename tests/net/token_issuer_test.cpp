#include "net/auth/base64url.hpp"
#include "net/auth/token_issuer.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>

using namespace orrery;

namespace {
struct key_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("orrery-keys-" + random_uuid());
  key_dir() { std::filesystem::create_directories(path); }
  ~key_dir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<token_issuer> open_issuer(const key_dir& dir) {
  std::string error;
  auto issuer = token_issuer::open(dir.path.string(), error);
  REQUIRE(issuer);
  return issuer;
}

std::string part(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  return token.substr(start, token.find('.', start) - start);
}
} // namespace

TEST_CASE("base64url round-trips every length", "[net]") {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    CHECK(base64url_decode(base64url_encode(bytes)) == bytes);
    bytes.push_back(char(n * 37));
  }
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK_FALSE(base64url_decode("a+b/"));
  CHECK_FALSE(base64url_decode("abcde"));
}

TEST_CASE("minted tokens verify and name the minted identity", "[net]") {
  key_dir dir;
  auto issuer = open_issuer(dir);
  identity minted;
  std::string token = issuer->mint(minted);
  auto check = issuer->verify(token);
  REQUIRE(check.token);
  CHECK(check.token->id == minted);
  CHECK(check.token->issuer == token_issuer::issuer);
  CHECK(minted.to_hex().substr(0, 4) == "c200");

  auto claims = nlohmann::json::parse(*base64url_decode(part(token, 1)));
  CHECK(claims["hex_identity"] == minted.to_hex());
  CHECK(claims["aud"] == nlohmann::json::array({"spacetimedb"}));
  CHECK(claims["exp"].is_null());
  auto header = nlohmann::json::parse(*base64url_decode(part(token, 0)));
  CHECK(header["alg"] == "ES256");
}

TEST_CASE("the signing key persists across restarts", "[net]") {
  key_dir dir;
  identity minted;
  std::string token = open_issuer(dir)->mint(minted);
  auto reopened = open_issuer(dir);
  auto check = reopened->verify(token);
  REQUIRE(check.token);
  CHECK(check.token->id == minted);
}

TEST_CASE("tokens from another key, tampered or malformed are refused", "[net]") {
  key_dir dir, other_dir;
  auto issuer = open_issuer(dir);
  auto other = open_issuer(other_dir);
  identity minted;
  std::string token = issuer->mint(minted);

  auto foreign = other->verify(token);
  CHECK_FALSE(foreign.token);
  CHECK(foreign.problem == token_problem::bad_signature);

  // Same signature, different claims.
  auto claims = nlohmann::json::parse(*base64url_decode(part(token, 1)));
  claims["sub"] = "someone-else";
  std::string forged = part(token, 0) + "." + base64url_encode(claims.dump()) + "." + part(token, 2);
  auto tampered = issuer->verify(forged);
  CHECK_FALSE(tampered.token);
  CHECK(tampered.problem == token_problem::bad_signature);

  for (const char* bad : {"", "abc", "a.b", "a.b.c.d", "!!.??.##"}) {
    INFO(bad);
    auto check = issuer->verify(bad);
    CHECK_FALSE(check.token);
    CHECK(check.problem == token_problem::malformed);
    CHECK_FALSE(check.message.empty());
  }
}

TEST_CASE("re-signed tokens keep the identity and expire", "[net]") {
  key_dir dir;
  auto issuer = open_issuer(dir);
  identity minted;
  auto original = issuer->verify(issuer->mint(minted));
  REQUIRE(original.token);

  std::string short_lived = issuer->resign(*original.token, 60);
  auto check = issuer->verify(short_lived);
  REQUIRE(check.token);
  CHECK(check.token->id == minted);

  auto expired = issuer->verify(issuer->resign(*original.token, -10));
  CHECK_FALSE(expired.token);
  CHECK(expired.message.find("expired") != std::string::npos);
}

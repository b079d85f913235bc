#include "net/auth/base64url.hpp"
#include "net/auth/token_issuer.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

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

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
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

TEST_CASE("the signing key file is created owner-only and nothing is left half-written", "[net]") {
  key_dir dir;
  auto issuer = open_issuer(dir);
  auto private_path = dir.path / "jwt-private-key.pem";
  auto public_path = dir.path / "jwt-public-key.pem";
  mode_t mode = mode_of(private_path);
  CHECK((mode & 0600) == 0600);  // the owner reads and writes it
  CHECK((mode & 0177) == 0);     // nobody else, and never executable
  CHECK(read_text(private_path).find("PRIVATE KEY") != std::string::npos);
  CHECK(read_text(public_path) == issuer->public_key_pem());
  std::size_t files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir.path)) {
    INFO(entry.path().string());
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("reopening keeps both key files as they are", "[net]") {
  key_dir dir;
  auto first = open_issuer(dir);
  std::string private_pem = read_text(dir.path / "jwt-private-key.pem");
  auto reopened = open_issuer(dir);
  CHECK(reopened->public_key_pem() == first->public_key_pem());
  CHECK(read_text(dir.path / "jwt-private-key.pem") == private_pem);
  CHECK(read_text(dir.path / "jwt-public-key.pem") == first->public_key_pem());
}

TEST_CASE("an empty or damaged signing key file is an error naming the file and the way out", "[net]") {
  key_dir dir;
  auto private_path = dir.path / "jwt-private-key.pem";
  std::string contents = GENERATE(std::string(), std::string("\n"), std::string("-----BEGIN PRIVATE KEY-----\nAAAA"));
  INFO("key file holds: " << contents);
  {
    std::ofstream out(private_path, std::ios::binary);
    out << contents;
  }
  std::ofstream(dir.path / "jwt-public-key.pem", std::ios::binary);  // empty too
  std::string error;
  auto issuer = token_issuer::open(dir.path.string(), error);
  CHECK_FALSE(issuer);
  CHECK(error.find(private_path.string()) != std::string::npos);
  CHECK(error.find(contents.size() > 1 ? "damaged" : "empty") != std::string::npos);
  CHECK(error.find("delete") != std::string::npos);
  CHECK(error.find("backup") != std::string::npos);
  // The broken key is left for the operator, not silently replaced.
  CHECK(read_text(private_path) == contents);
}

TEST_CASE("a missing or stale public key file is rewritten from the signing key", "[net]") {
  key_dir dir;
  std::string public_pem = open_issuer(dir)->public_key_pem();
  auto public_path = dir.path / "jwt-public-key.pem";
  SECTION("missing") { std::filesystem::remove(public_path); }
  SECTION("empty") { std::ofstream(public_path, std::ios::binary); }
  auto reopened = open_issuer(dir);
  CHECK(reopened->public_key_pem() == public_pem);
  CHECK(read_text(public_path) == public_pem);
}

TEST_CASE("temporary key files a crash left behind are removed", "[net]") {
  key_dir dir;
  auto leftover = dir.path / "jwt-private-key.pem.tmp-0a1b";
  std::ofstream(leftover, std::ios::binary) << "half a key";
  open_issuer(dir);
  CHECK_FALSE(std::filesystem::exists(leftover));
}

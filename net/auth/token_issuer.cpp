#include "net/auth/token_issuer.hpp"

#include "net/auth/base64url.hpp"
#include "runtime/storage/durable_file.hpp"

#include <nlohmann/json.hpp>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace orrery {
namespace {

using json = nlohmann::json;
constexpr const char* private_key_file = "jwt-private-key.pem";
constexpr const char* public_key_file = "jwt-public-key.pem";

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The whole of `path` in `out`; false (errno set) when it cannot be opened or read.
bool read_file(const std::filesystem::path& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return false;
    }
    if (n == 0) break;
    out.append(buffer, std::size_t(n));
  }
  ::close(fd);
  return true;
}

/// True for an elliptic-curve key on P-256, the only curve ES256 signs with.
bool is_p256(EVP_PKEY* pkey) {
  char group[64] = {};
  std::size_t length = 0;
  return EVP_PKEY_is_a(pkey, "EC") &&
         EVP_PKEY_get_group_name(pkey, group, sizeof group, &length) == 1 &&
         std::string(group, length) == "prime256v1";
}

/// Removes temporary key files a crash left behind mid-write; the keys
/// themselves are always whole (see write_file_durably).
void remove_stale_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    for (const char* file : {private_key_file, public_key_file})
      if (name.rfind(std::string(file) + ".tmp-", 0) == 0) {
        std::error_code ignored;  // a leftover we cannot remove does no harm
        fs::remove(it->path(), ignored);
      }
  }
}

std::string pem_of(EVP_PKEY* pkey, bool private_key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_key) PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  else PEM_write_bio_PUBKEY(bio, pkey);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, std::size_t(len));
  BIO_free(bio);
  return pem;
}

// ES256 signatures in a JWT are r || s, 32 bytes each; OpenSSL speaks DER.
std::string der_to_raw(const std::string& der) {
  auto p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, long(der.size()));
  if (!sig) return {};
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(&raw[0]), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(&raw[32]), 32);
  ECDSA_SIG_free(sig);
  return raw;
}

std::string raw_to_der(const std::string& raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  auto bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), std::size_t(len > 0 ? len : 0));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

token_check refuse(token_problem problem, std::string message) {
  return {std::nullopt, problem, std::move(message)};
}

} // namespace

struct token_issuer::key {
  EVP_PKEY* pkey = nullptr;
  ~key() { EVP_PKEY_free(pkey); }
};

token_issuer::token_issuer(std::unique_ptr<key> k, std::string public_pem)
    : key_(std::move(k)), public_pem_(std::move(public_pem)) {}
token_issuer::~token_issuer() = default;

std::unique_ptr<token_issuer> token_issuer::open(const std::string& dir, std::string& error) {
  namespace fs = std::filesystem;
  const fs::path private_path = fs::path(dir) / private_key_file;
  const fs::path public_path = fs::path(dir) / public_key_file;
  // What to do when the key on disk is unusable: tokens it signed cannot be
  // verified without it, so only a backup restores them.
  const std::string remedy = ". Restore " + private_path.string() + " from a backup, or delete " +
                             private_path.string() + " and " + public_path.string() +
                             " to have the host create a new key on its next start (every client must then "
                             "log in again: tokens signed with the lost key are refused).";
  remove_stale_temporaries(dir);

  auto k = std::make_unique<key>();
  std::error_code ec;
  bool have_private = fs::exists(private_path, ec);
  if (ec) {
    error = "cannot check for the token signing key file " + private_path.string() + ": " + ec.message();
    return nullptr;
  }
  if (have_private) {
    std::string pem;
    if (!read_file(private_path, pem)) {
      error = "cannot read the token signing key file " + private_path.string() + ": " + std::strerror(errno) +
              ". Check that the host runs as the user who owns its data directory.";
      return nullptr;
    }
    if (pem.find_first_not_of(" \t\r\n") == std::string::npos) {
      error = "the token signing key file " + private_path.string() +
              " is empty: it was most likely cut short by a power loss or crash while the host first "
              "started" + remedy;
      return nullptr;
    }
    BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
    k->pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!k->pkey || !is_p256(k->pkey)) {
      error = "the token signing key file " + private_path.string() +
              " is damaged: it does not hold a PEM-encoded P-256 private key" + remedy;
      return nullptr;
    }
  } else {
    k->pkey = EVP_EC_gen("P-256");
    if (!k->pkey) {
      error = "cannot create a P-256 token signing key";
      return nullptr;
    }
    // The private key first: it is the one that matters, and the public file is
    // rewritten from it below whenever the two disagree.
    if (auto s = write_file_durably(private_path.string(), pem_of(k->pkey, true), 0600); !s.ok()) {
      error = "cannot save the token signing key: " + s.error;
      return nullptr;
    }
  }
  std::string public_pem = pem_of(k->pkey, false);
  std::string on_disk;
  if (!read_file(public_path, on_disk) || on_disk != public_pem) {
    if (auto s = write_file_durably(public_path.string(), public_pem, 0644); !s.ok()) {
      error = "cannot save the token verification key: " + s.error;
      return nullptr;
    }
  }
  return std::unique_ptr<token_issuer>(new token_issuer(std::move(k), std::move(public_pem)));
}

std::string token_issuer::sign(const std::string& claims_json) const {
  std::string input = base64url_encode(R"({"typ":"JWT","alg":"ES256"})") + "." +
                      base64url_encode(claims_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  std::string der;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) == 1) {
    der.resize(len);
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(&der[0]), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    der.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  return input + "." + base64url_encode(der_to_raw(der));
}

std::string token_issuer::mint(identity& minted) {
  std::string subject = random_uuid();
  minted = identity::from_claims(issuer, subject);
  json claims = {{"hex_identity", minted.to_hex()}, {"sub", subject},   {"iss", issuer},
                 {"aud", {"spacetimedb"}},           {"iat", now_seconds()}, {"exp", nullptr}};
  return sign(claims.dump());
}

std::string token_issuer::resign(const verified_token& token, std::int64_t lifetime_seconds) {
  json claims = json::parse(token.claims_json);
  claims["iat"] = now_seconds();
  claims["exp"] = now_seconds() + lifetime_seconds;
  return sign(claims.dump());
}

std::string token_issuer::reissue(const verified_token& token) {
  json claims = json::parse(token.claims_json);
  claims["iat"] = now_seconds();
  claims["exp"] = nullptr;
  return sign(claims.dump());
}

token_check token_issuer::verify(const std::string& token) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = verified_.find(token);
    if (it != verified_.end() && (it->second.second == 0 || it->second.second >= now_seconds()))
      return {it->second.first, token_problem::malformed, {}};
  }
  token_check check = verify_signed(token);
  if (check.token) {
    auto claims = nlohmann::json::parse(check.token->claims_json, nullptr, false);
    std::int64_t expires = claims.is_object() && claims.contains("exp") && claims["exp"].is_number()
                             ? claims["exp"].get<std::int64_t>() : 0;
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (verified_.size() >= 10000) verified_.clear();  // bounded: start over rather than grow
    verified_[token] = {*check.token, expires};
  }
  return check;
}

token_check token_issuer::verify_signed(const std::string& token) const {
  auto first = token.find('.');
  auto second = first == std::string::npos ? first : token.find('.', first + 1);
  if (second == std::string::npos || token.find('.', second + 1) != std::string::npos)
    return refuse(token_problem::malformed, "token is not a JWT (expected three dot-separated parts)");
  auto header = base64url_decode(std::string_view(token).substr(0, first));
  auto payload = base64url_decode(std::string_view(token).substr(first + 1, second - first - 1));
  auto signature = base64url_decode(std::string_view(token).substr(second + 1));
  if (!header || !payload || !signature)
    return refuse(token_problem::malformed, "token is not valid base64url");
  json head, claims;
  try {
    head = json::parse(*header);
    claims = json::parse(*payload);
  } catch (const json::exception&) {
    return refuse(token_problem::malformed, "token header or claims are not JSON");
  }
  if (!head.is_object() || !claims.is_object())
    return refuse(token_problem::malformed, "token header or claims are not JSON objects");
  if (head.value("alg", "") != "ES256")
    return refuse(token_problem::bad_signature, "token is not signed with ES256 by this host");
  if (signature->size() != 64)
    return refuse(token_problem::bad_signature, "token signature has the wrong length");

  std::string der = raw_to_der(*signature);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string_view input = std::string_view(token).substr(0, second);
  bool good = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                               reinterpret_cast<const unsigned char*>(input.data()),
                               input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!good) return refuse(token_problem::bad_signature, "token signature does not verify");

  auto text = [&](const char* field) -> std::string {
    auto it = claims.find(field);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string iss = text("iss"), sub = text("sub");
  if (iss.empty() || sub.empty() || iss.size() > 128 || sub.size() > 128)
    return refuse(token_problem::bad_signature, "token needs non-empty `iss` and `sub` claims");
  if (auto exp = claims.find("exp"); exp != claims.end() && exp->is_number() &&
                                     exp->get<std::int64_t>() < now_seconds())
    return refuse(token_problem::bad_signature, "token has expired");
  identity id = identity::from_claims(iss, sub);
  if (auto hex = text("hex_identity"); !hex.empty() && identity::from_hex(hex) != id)
    return refuse(token_problem::bad_signature, "token's `hex_identity` does not match its claims");
  return {verified_token{id, iss, sub, *payload}, token_problem::malformed, {}};
}

} // namespace orrery

#pragma once
// Signs and verifies the host's ES256 JSON Web Tokens. The P-256 key is created
// on first start and kept in the data directory (jwt-private-key.pem, mode 0600,
// and jwt-public-key.pem), each written whole and synced to disk before use, so
// a power loss never leaves a half-written key. Thread-safe after construction.

#include "runtime/types/identity.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>

namespace orrery {

struct verified_token {
  identity id;
  std::string issuer;
  std::string subject;
  std::string claims_json;  // the payload as sent, for modules that read their caller's JWT
};

enum class token_problem {
  malformed,      // not a JWT we can read: HTTP 400
  bad_signature,  // well-formed but not ours, expired or inconsistent: HTTP 401
};

struct token_check {
  std::optional<verified_token> token;
  token_problem problem = token_problem::malformed;
  std::string message;  // why the token was refused
};

class token_issuer {
public:
  /// Loads the key pair from `dir`, creating it on first use; nullptr and `error` on
  /// failure. An empty or damaged key file is an error naming the file and what to
  /// do; a missing or stale public key file is rewritten from the private key.
  static std::unique_ptr<token_issuer> open(const std::string& dir, std::string& error);
  ~token_issuer();

  /// A long-lived token for a brand-new identity (random subject).
  std::string mint(identity& minted);
  /// A token for the same claims that never expires.
  std::string reissue(const verified_token& token);
  /// A token for the same claims that expires in `lifetime_seconds`.
  std::string resign(const verified_token& token, std::int64_t lifetime_seconds);
  token_check verify(const std::string& token) const;

  const std::string& public_key_pem() const { return public_pem_; }
  static constexpr const char* issuer = "orrery";

private:
  struct key;
  token_issuer(std::unique_ptr<key> k, std::string public_pem);
  std::string sign(const std::string& claims_json) const;
  token_check verify_signed(const std::string& token) const;

  std::unique_ptr<key> key_;
  std::string public_pem_;
  // Tokens already verified, so a client's next request skips the signature check.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::pair<verified_token, std::int64_t>> verified_;  // -> expiry (0: none)
};

} // namespace orrery

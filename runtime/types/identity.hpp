#pragma once
// Identities (256-bit, shown as 64 hex digits, big-endian) and connection ids
// (128-bit). Value types, safe to copy across threads.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orrery {

struct identity {
  /// Big-endian: bytes[0] is the first byte of the hex form ("c2" for derived ids).
  std::array<std::uint8_t, 32> bytes{};

  /// The identity a token with these claims stands for: blake3("{iss}|{sub}")
  /// truncated to 26 bytes, prefixed by 0xC2 0x00 and a 4-byte checksum.
  static identity from_claims(std::string_view issuer, std::string_view subject);
  /// Parses 64 hex digits (either case); nullopt for anything else.
  static std::optional<identity> from_hex(std::string_view hex);

  std::string to_hex() const;
  bool is_zero() const;

  friend bool operator==(const identity& a, const identity& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const identity& a, const identity& b) { return !(a == b); }
  friend bool operator<(const identity& a, const identity& b) { return a.bytes < b.bytes; }
};

struct connection_id {
  std::array<std::uint8_t, 16> bytes{};

  /// 16 bytes from the kernel's CSPRNG (`fill_secure_random`), never all zero.
  static connection_id random();
  static std::optional<connection_id> from_hex(std::string_view hex);
  std::string to_hex() const;
  bool is_zero() const;

  friend bool operator==(const connection_id& a, const connection_id& b) { return a.bytes == b.bytes; }
};

/// Lowercase hex of raw bytes.
std::string to_hex(const std::uint8_t* data, std::size_t size);
/// Decodes hex into `out` (exactly `size` bytes); false on a bad digit or length.
bool from_hex(std::string_view hex, std::uint8_t* out, std::size_t size);
/// Fills `out` with `size` bytes from the kernel's CSPRNG (getrandom(2)). Blocks
/// only until the kernel's pool is first seeded at boot; aborts the process with
/// a message on stderr if the kernel cannot supply random bytes. Any thread.
void fill_secure_random(std::uint8_t* out, std::size_t size);
/// A random version-4 UUID in its usual text form (122 bits from `fill_secure_random`).
std::string random_uuid();

} // namespace orrery

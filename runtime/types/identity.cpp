#include "runtime/types/identity.hpp"

#include "runtime/types/blake3.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace orrery {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& out) { fill_secure_random(out.data(), out.size()); }

} // namespace

void fill_secure_random(std::uint8_t* out, std::size_t size) {
  std::size_t filled = 0;
  while (filled < size) {
    ssize_t got = getrandom(out + filled, size - filled, 0);
    if (got > 0) {
      filled += std::size_t(got);
    } else if (got < 0 && errno != EINTR) {
      // Without the kernel's CSPRNG no identity or connection id can be trusted
      // to be unguessable: stop rather than hand out predictable ones.
      std::fprintf(stderr, "orrery: the kernel's random number generator failed (getrandom: %s); stopping\n",
                   std::strerror(errno));
      std::abort();
    }
  }
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

bool from_hex(std::string_view hex, std::uint8_t* out, std::size_t size) {
  if (hex.size() != size * 2) return false;
  for (std::size_t i = 0; i < size; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = std::uint8_t(hi << 4 | lo);
  }
  return true;
}

identity identity::from_claims(std::string_view issuer, std::string_view subject) {
  std::string input;
  input.append(issuer).append("|").append(subject);
  digest32 hash = blake3(input);
  std::string checked{"\xC2\x00", 2};
  checked.append(reinterpret_cast<const char*>(hash.data()), 26);
  digest32 checksum = blake3(checked);
  identity id;
  id.bytes[0] = 0xC2;
  id.bytes[1] = 0x00;
  std::copy_n(checksum.begin(), 4, id.bytes.begin() + 2);
  std::copy_n(hash.begin(), 26, id.bytes.begin() + 6);
  return id;
}

std::optional<identity> identity::from_hex(std::string_view hex) {
  identity id;
  if (!orrery::from_hex(hex, id.bytes.data(), id.bytes.size())) return std::nullopt;
  return id;
}

std::string identity::to_hex() const { return orrery::to_hex(bytes.data(), bytes.size()); }

bool identity::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](auto b) { return b == 0; });
}

connection_id connection_id::random() {
  connection_id id;
  do fill_random(id.bytes);
  while (id.is_zero());
  return id;
}

std::optional<connection_id> connection_id::from_hex(std::string_view hex) {
  connection_id id;
  if (!orrery::from_hex(hex, id.bytes.data(), id.bytes.size())) return std::nullopt;
  return id;
}

std::string connection_id::to_hex() const { return orrery::to_hex(bytes.data(), bytes.size()); }

bool connection_id::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](auto b) { return b == 0; });
}

std::string random_uuid() {
  std::array<std::uint8_t, 16> b;
  fill_random(b);
  b[6] = (b[6] & 0x0F) | 0x40;
  b[8] = (b[8] & 0x3F) | 0x80;
  std::string hex = to_hex(b.data(), b.size());
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

} // namespace orrery

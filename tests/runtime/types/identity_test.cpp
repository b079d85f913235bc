#include "runtime/types/blake3.hpp"
#include "runtime/types/identity.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <set>
#include <thread>
#include <vector>

using namespace orrery;

TEST_CASE("identities derived from claims carry the c200 prefix and a checksum", "[runtime]") {
  identity id = identity::from_claims("localhost", "3f1c0a2e-8b1d-4c3e-9f00-1234567890ab");
  std::string hex = id.to_hex();
  REQUIRE(hex.size() == 64);
  CHECK(hex.substr(0, 4) == "c200");

  digest32 hash = blake3("localhost|3f1c0a2e-8b1d-4c3e-9f00-1234567890ab");
  CHECK(std::equal(hash.begin(), hash.begin() + 26, id.bytes.begin() + 6));
  std::string checked{"\xC2\x00", 2};
  checked.append(reinterpret_cast<const char*>(hash.data()), 26);
  digest32 checksum = blake3(checked);
  CHECK(std::equal(checksum.begin(), checksum.begin() + 4, id.bytes.begin() + 2));

  CHECK(identity::from_claims("localhost", "a") == identity::from_claims("localhost", "a"));
  CHECK(identity::from_claims("localhost", "a") != identity::from_claims("localhost", "b"));
}

TEST_CASE("identity hex round-trips and rejects bad text", "[runtime]") {
  identity id = identity::from_claims("orrery", random_uuid());
  auto parsed = identity::from_hex(id.to_hex());
  REQUIRE(parsed);
  CHECK(*parsed == id);

  std::string upper = id.to_hex();
  for (auto& c : upper) c = char(std::toupper(c));
  CHECK(identity::from_hex(upper) == id);

  CHECK_FALSE(identity::from_hex(""));
  CHECK_FALSE(identity::from_hex(id.to_hex().substr(1)));
  CHECK_FALSE(identity::from_hex(id.to_hex() + "0"));
  CHECK_FALSE(identity::from_hex(std::string(63, '0') + "g"));
}

TEST_CASE("connection ids are random and never zero", "[runtime]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    connection_id c = connection_id::random();
    CHECK_FALSE(c.is_zero());
    seen.insert(c.to_hex());
  }
  CHECK(seen.size() == 1000);
  CHECK(connection_id::from_hex(std::string(32, '0'))->is_zero());
  CHECK_FALSE(connection_id::from_hex("zz"));
}

TEST_CASE("random UUIDs are version 4", "[runtime]") {
  std::string u = random_uuid();
  REQUIRE(u.size() == 36);
  CHECK(u[8] == '-');
  CHECK(u[14] == '4');
  CHECK(std::string("89ab").find(u[19]) != std::string::npos);
  CHECK(random_uuid() != u);
}

TEST_CASE("secure random bytes fill every length, differ each time and are not all zero", "[runtime]") {
  for (std::size_t size : {std::size_t(1), std::size_t(16), std::size_t(300), std::size_t(4096)}) {
    INFO(size);
    std::vector<std::uint8_t> a(size), b(size);
    fill_secure_random(a.data(), size);
    fill_secure_random(b.data(), size);
    if (size >= 16) {
      CHECK(a != b);
      CHECK(std::any_of(a.begin(), a.end(), [](std::uint8_t x) { return x != 0; }));
    }
  }
  // Every bit position takes both values across a thousand connection ids: no
  // byte is stuck, as it would be with a short or constant seed.
  std::array<std::uint8_t, 16> ones{}, zeros{};
  zeros.fill(0xFF);
  for (int i = 0; i < 1000; ++i) {
    connection_id c = connection_id::random();
    for (std::size_t j = 0; j < 16; ++j) {
      ones[j] |= c.bytes[j];
      zeros[j] &= c.bytes[j];
    }
  }
  for (std::size_t j = 0; j < 16; ++j) {
    INFO("byte " << j);
    CHECK(ones[j] == 0xFF);
    CHECK(zeros[j] == 0x00);
  }
}

TEST_CASE("connection ids differ across threads", "[runtime]") {
  std::vector<connection_id> ids(8);
  std::vector<std::thread> threads;
  for (auto& id : ids) threads.emplace_back([&id] { id = connection_id::random(); });
  for (auto& t : threads) t.join();
  std::set<std::string> seen;
  for (auto& id : ids) seen.insert(id.to_hex());
  CHECK(seen.size() == ids.size());
}

// BSATN and SATS-JSON round trips for every type, and malformed input.

#include "runtime/types/bsatn.hpp"
#include "runtime/types/sats_json.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace orrery;

namespace {
using T = algebraic_type;

struct sample {
  const char* what;
  algebraic_type type;
  value v;
};

i128 min_i128() { return i128(u128(1) << 127); }
u128 max_u128() { return ~u128(0); }

std::vector<sample> samples() {
  return {
    {"bool", T::primitive(type_kind::boolean), true},
    {"i8", T::primitive(type_kind::i8), std::int8_t(-128)},
    {"u8", T::primitive(type_kind::u8), std::uint8_t(255)},
    {"i16", T::primitive(type_kind::i16), std::int16_t(-32768)},
    {"u16", T::primitive(type_kind::u16), std::uint16_t(65535)},
    {"i32", T::primitive(type_kind::i32), std::int32_t(-2147483647 - 1)},
    {"u32", T::primitive(type_kind::u32), std::uint32_t(4294967295u)},
    {"i64", T::primitive(type_kind::i64), std::int64_t(INT64_MIN)},
    {"u64", T::primitive(type_kind::u64), std::uint64_t(UINT64_MAX)},
    {"i128", T::primitive(type_kind::i128), min_i128()},
    {"u128", T::primitive(type_kind::u128), max_u128()},
    {"i256", T::primitive(type_kind::i256), i256{0, i128(u128(1) << 127)}},
    {"u256", T::primitive(type_kind::u256), u256{max_u128(), max_u128()}},
    {"f32", T::primitive(type_kind::f32), 1.5f},
    {"f64", T::primitive(type_kind::f64), -2.25e300},
    {"string", T::primitive(type_kind::string), std::string("h\xc3\xa9llo \"q\" \\ \n")},
    {"bytes", T::array_of(T::primitive(type_kind::u8)), bytes_value{0, 1, 0xfe, 0xff}},
    {"array", T::array_of(T::primitive(type_kind::i32)), array_value{std::int32_t(1), std::int32_t(-2)}},
    {"empty array", T::array_of(T::primitive(type_kind::string)), array_value{}},
    {"product", T::product({{std::string("a"), T::primitive(type_kind::u8)}, {std::string("b"), T::primitive(type_kind::string)}}),
     product_value{{std::uint8_t(7), std::string("x")}}},
    {"unit", T::unit(), value::unit()},
    {"sum", T::sum({{std::string("A"), T::unit()}, {std::string("B"), T::primitive(type_kind::u16)}}),
     value::sum(1, std::uint16_t(9))},
    {"option some", T::option(T::primitive(type_kind::string)), value::some(std::string("s"))},
    {"option none", T::option(T::primitive(type_kind::string)), value::none()},
    {"identity", T::identity(), product_value{{u256{u128(0x1234), u128(0xc200) << 112}}}},
    {"connection id", T::connection_id(), product_value{{u128(0xabcdef)}}},
    {"timestamp", T::timestamp(), product_value{{std::int64_t(1700000000123456)}}},
    {"time duration", T::time_duration(), product_value{{std::int64_t(-5)}}},
    {"uuid", T::uuid(), product_value{{max_u128()}}},
    {"schedule at interval", T::schedule_at(), value::sum(0, product_value{{std::int64_t(1000000)}})},
    {"schedule at time", T::schedule_at(), value::sum(1, product_value{{std::int64_t(42)}})},
    {"nested", T::array_of(T::option(T::product({{std::string("p"), T::array_of(T::primitive(type_kind::u8))}}))),
     array_value{value::none(), value::some(product_value{{bytes_value{1, 2}}})}},
  };
}
} // namespace

TEST_CASE("every type round-trips through BSATN", "[runtime]") {
  for (auto& s : samples()) {
    INFO(s.what);
    std::string bytes = encode_value(s.v);
    auto back = decode_value(s.type, bytes);
    REQUIRE(back.ok());
    CHECK(*back == s.v);
    CHECK_FALSE(validate(s.type, bytes));
  }
}

TEST_CASE("every type round-trips through SATS-JSON", "[runtime]") {
  for (auto& s : samples()) {
    std::string json = to_sats_json(s.v, s.type);
    INFO(s.what << ": " << json);
    auto back = from_sats_json(s.type, json);
    REQUIRE(back.ok());
    CHECK(*back == s.v);
  }
}

TEST_CASE("SATS-JSON has the expected shapes", "[runtime]") {
  CHECK(to_sats_json(value(std::uint64_t(UINT64_MAX)), T::primitive(type_kind::u64)) == "18446744073709551615");
  CHECK(to_sats_json(value(max_u128()), T::primitive(type_kind::u128)) == "340282366920938463463374607431768211455");
  CHECK(to_sats_json(value(u256{max_u128(), max_u128()}), T::primitive(type_kind::u256)) ==
        "115792089237316195423570985008687907853269984665640564039457584007913129639935");
  CHECK(to_sats_json(value(i256{0, i128(u128(1) << 127)}), T::primitive(type_kind::i256)) ==
        "-57896044618658097711785492504343953926634992332820282019728792003956564819968");
  CHECK(to_sats_json(value::some(std::string("x")), T::option(T::primitive(type_kind::string))) == R"({"some":"x"})");
  CHECK(to_sats_json(value::none(), T::option(T::primitive(type_kind::string))) == R"({"none":[]})");
  CHECK(to_sats_json(product_value{{std::int64_t(5)}}, T::timestamp()) ==
        R"({"__timestamp_micros_since_unix_epoch__":5})");
  auto row = T::product({{std::string("id"), T::primitive(type_kind::u32)}, {std::string("name"), T::primitive(type_kind::string)}});
  CHECK(to_sats_json(product_value{{std::uint32_t(1), std::string("a")}}, row) == R"([1,"a"])");
  // Named fields are accepted on input too, in any order.
  auto named = from_sats_json(row, R"({"name":"a","id":1})");
  REQUIRE(named.ok());
  CHECK(*named == value(product_value{{std::uint32_t(1), std::string("a")}}));
  // Sums by tag number as well as by name.
  auto sum = T::sum({{std::string("A"), T::unit()}, {std::string("B"), T::primitive(type_kind::u16)}});
  CHECK(*from_sats_json(sum, R"({"1": 3})") == value::sum(1, std::uint16_t(3)));
  CHECK(std::isnan(std::get<double>(from_sats_json(T::primitive(type_kind::f64), "\"NaN\"")->v)));
}

TEST_CASE("malformed BSATN is refused with a reason", "[runtime]") {
  auto u32 = T::primitive(type_kind::u32);
  CHECK(decode_value(u32, std::string("\x01\x02", 2)).error().message.find("unexpected end") != std::string::npos);
  CHECK(decode_value(u32, std::string("\x01\x02\x03\x04\x05", 5)).error().message.find("left after") != std::string::npos);
  CHECK(decode_value(T::primitive(type_kind::boolean), std::string("\x02", 1)).error().message.find("invalid bool") != std::string::npos);
  auto str = T::primitive(type_kind::string);
  CHECK_FALSE(decode_value(str, std::string("\x05\x00\x00\x00" "ab", 6)).ok());
  CHECK(decode_value(str, std::string("\x02\x00\x00\x00\xff\xfe", 6)).error().message.find("UTF-8") != std::string::npos);
  auto sum = T::option(u32);
  CHECK(decode_value(sum, std::string("\x07", 1)).error().message.find("tag 7 out of range") != std::string::npos);
  // An array claiming four billion elements must fail fast, not allocate.
  auto arr = T::array_of(T::primitive(type_kind::u64));
  CHECK_FALSE(decode_value(arr, std::string("\xff\xff\xff\xff\x01", 5)).ok());
  CHECK(validate(arr, std::string("\xff\xff\xff\xff\x01", 5)));
  CHECK(decode_value(str, "").error().code == errc::bsatn_decode);
}

TEST_CASE("malformed SATS-JSON is refused with a reason", "[runtime]") {
  auto u8 = T::primitive(type_kind::u8);
  CHECK(from_sats_json(u8, "256").error().message == "256 is out of range for U8");
  CHECK(from_sats_json(u8, "-1").error().message == "-1 is out of range for U8");
  CHECK(from_sats_json(T::primitive(type_kind::i8), "-129").error().message == "-129 is out of range for I8");
  CHECK(from_sats_json(T::primitive(type_kind::i8), "-128").ok());
  CHECK(from_sats_json(u8, "1.5").error().message.find("expected U8") != std::string::npos);
  CHECK(from_sats_json(u8, "\"x\"").error().message.find("expected U8") != std::string::npos);
  CHECK(from_sats_json(T::primitive(type_kind::u256), "115792089237316195423570985008687907853269984665640564039457584007913129639936")
          .error().message.find("out of range") != std::string::npos);
  CHECK(from_sats_json(T::primitive(type_kind::string), "[1,").error().message.find("invalid JSON") != std::string::npos);
  auto row = T::product({{std::string("a"), u8}, {std::string("b"), u8}});
  CHECK(from_sats_json(row, "[1]").error().message.find("expected 2 elements") != std::string::npos);
  CHECK(from_sats_json(T::option(u8), R"({"maybe":1})").error().message.find("no variant `maybe`") != std::string::npos);
  CHECK_FALSE(from_sats_json(T::array_of(u8), "\"0xabc\"").ok());
}

TEST_CASE("types round-trip through their BSATN encoding", "[runtime]") {
  for (auto& s : samples()) {
    INFO(s.what);
    std::string bytes;
    encode_type(bytes, s.type);
    bsatn_reader in(bytes);
    CHECK(read_type(in) == s.type);
    CHECK(in.remaining() == 0);
  }
  CHECK(type_name(T::option(T::identity())) == "Option<Identity>");
}

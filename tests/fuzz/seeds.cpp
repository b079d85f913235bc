// Writes the seed corpora of the fuzz targets (but module_def's, which
// describe_bundles.mjs takes from real module bundles):
//   orrery_fuzz_seeds tests/fuzz/corpus
// Each seed is one valid input, written with the host's own encoders.

#include "tests/fuzz/fuzz.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/sats_json.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <cmath>

using namespace orrery;
namespace fs = std::filesystem;

namespace {

using T = algebraic_type;

fs::path out_dir;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::path dir = out_dir / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

u128 max_u128() { return ~u128(0); }
value identity_value(std::uint8_t last) { return product_value{{u256{u128(last), u128(0xc200) << 112}}}; }
value timestamp_value(std::int64_t micros) { return product_value{{micros}}; }

// ---- bsatn_value: a type, then one value of it ----

void bsatn_seed(const std::string& name, const algebraic_type& type, const value& v) {
  std::string bytes;
  encode_type(bytes, type);
  encode_value(bytes, v);
  write("bsatn_value", name, bytes);
}

void bsatn_values() {
  bsatn_seed("bool", T::primitive(type_kind::boolean), true);
  bsatn_seed("i64", T::primitive(type_kind::i64), std::int64_t(INT64_MIN));
  bsatn_seed("u128", T::primitive(type_kind::u128), max_u128());
  bsatn_seed("i256", T::primitive(type_kind::i256), i256{0, i128(u128(1) << 127)});
  bsatn_seed("f64", T::primitive(type_kind::f64), -2.25e300);
  // SATS-JSON once wrote -0.0 as `-0`, which read back as the integer 0.
  bsatn_seed("negative_zero", T::array_of(T::primitive(type_kind::f64)), array_value{-0.0, 0.0, -2.25e300});
  bsatn_seed("string", T::primitive(type_kind::string), std::string("h\xc3\xa9llo \xf0\x9f\x8c\x8d"));
  bsatn_seed("bytes", T::array_of(T::primitive(type_kind::u8)), bytes_value{0, 1, 0xfe, 0xff});
  bsatn_seed("array", T::array_of(T::primitive(type_kind::i32)), array_value{std::int32_t(1), std::int32_t(-2)});
  bsatn_seed("units", T::array_of(T::unit()), array_value{value::unit(), value::unit(), value::unit()});
  bsatn_seed("option", T::option(T::primitive(type_kind::string)), value::some(std::string("s")));
  bsatn_seed("identity", T::identity(), identity_value(1));
  bsatn_seed("schedule_at", T::schedule_at(), value::sum(0, product_value{{std::int64_t(1000000)}}));
  auto message = T::product({{std::string("sender"), T::identity()},
                             {std::string("sent"), T::timestamp()},
                             {std::string("text"), T::primitive(type_kind::string)}});
  bsatn_seed("message_row", message,
             product_value{{identity_value(7), timestamp_value(1700000000123456), std::string("Hello!")}});
  auto nested = T::array_of(T::option(T::product({{std::string("p"), T::array_of(T::primitive(type_kind::u8))}})));
  bsatn_seed("nested", nested, array_value{value::none(), value::some(product_value{{bytes_value{1, 2}}})});
  // Two variants named alike: SATS-JSON cannot say which one a value holds.
  auto twins = T::array_of(T::sum({{std::string("some"), T::product({{std::string("p"), T::array_of(T::primitive(type_kind::u8))}})},
                                   {std::string("some"), T::product({{std::string("none"), T::unit()}})}}));
  bsatn_seed("twin_variants", twins, array_value{value::sum(1, product_value{{value::unit()}}),
                                                 value::sum(0, product_value{{bytes_value{1, 2}}})});
  auto shape = fuzz::reducer_params().elements[26].type;
  bsatn_seed("sum", shape, value::sum(1, 2.5));
  // A type reference (as module typespaces hold them): no value of it decodes.
  std::string ref;
  T r;
  r.kind = type_kind::ref;
  r.ref = 3;
  encode_type(ref, T::array_of(r));
  encode_value(ref, array_value{});
  write("bsatn_value", "ref", ref);
}

// ---- json_args: SATS-JSON arguments of fuzz::reducer_params ----

void json_args() {
  auto params = fuzz::reducer_params();
  product_value p;
  p.fields = {
    true, std::int8_t(-128), std::uint8_t(255), std::int16_t(-32768), std::uint16_t(8080),
    std::int32_t(-7), std::uint32_t(42), std::int64_t(INT64_MIN), std::uint64_t(UINT64_MAX),
    i128(u128(1) << 127), max_u128(), i256{0, i128(u128(1) << 127)}, u256{max_u128(), max_u128()},
    1.5f, -2.25e300, std::string("h\xc3\xa9llo \"q\" \\ \n"), bytes_value{0, 1, 0xfe, 0xff},
    array_value{std::string("a"), std::string("")}, identity_value(1), product_value{{u128(0xabcdef)}},
    timestamp_value(1700000000123456), product_value{{std::int64_t(-5)}}, product_value{{max_u128()}},
    value::sum(1, timestamp_value(42)), value::some(std::string("ada")),
    product_value{{0.5f, -1.0f}},
    value::sum(2, array_value{product_value{{0.0f, 0.0f}}, product_value{{1.0f, 2.0f}}}),
    array_value{value::some(std::uint64_t(1)), value::none()},
  };
  write("json_args", "all_columns.json", to_sats_json(p, params));
  p.fields[14] = std::nan("");
  p.fields[13] = -std::numeric_limits<float>::infinity();
  p.fields[23] = value::sum(0, product_value{{std::int64_t(1000000)}});
  p.fields[24] = value::none();
  p.fields[26] = value::sum(0, value::unit());
  write("json_args", "special_floats.json", to_sats_json(p, params));
  // Named fields, in any order, and sums by tag number.
  write("json_args", "named.json",
        R"({"total":1,"flag":false,"small":0,"byte":0,"short":0,"port":0,"count":0,"id":0,"balance":0,)"
        R"("wide":"-1","uwide":2,"huge":3,"uhuge":"4","ratio":0.25,"score":1e-300,"name":"","blob":"0x",)"
        R"("tags":[],"who":{"__identity__":"0x00"},"connection":{"__connection_id__":"0x01"},)"
        R"("at":{"__timestamp_micros_since_unix_epoch__":0},"every":{"__time_duration_micros__":1},)"
        R"("key":{"__uuid__":"0x0123456789abcdef0123456789abcdef"},"when":{"1":{"__timestamp_micros_since_unix_epoch__":5}},)"
        R"("nickname":{"none":[]},"origin":{"y":1,"x":2},"shape":{"Circle":3},"history":[{"some":1}]})");
}

// ---- client_message: v2 client messages (actors/client_protocol.hpp) ----

void client_messages() {
  auto subscribe = [](std::uint32_t request, std::uint32_t set, const std::vector<std::string>& queries) {
    std::string out;
    bsatn_writer w(out);
    w.u8(0);
    w.u32(request);
    w.u32(set);
    w.u32(std::uint32_t(queries.size()));
    for (auto& q : queries) w.string(q);
    return out;
  };
  auto unsubscribe = [](std::uint32_t request, std::uint32_t set, std::uint8_t flags) {
    std::string out;
    bsatn_writer w(out);
    w.u8(1);
    w.u32(request);
    w.u32(set);
    w.u8(flags);
    return out;
  };
  auto one_off = [](std::uint32_t request, const std::string& query) {
    std::string out;
    bsatn_writer w(out);
    w.u8(2);
    w.u32(request);
    w.string(query);
    return out;
  };
  auto call = [](std::uint8_t tag, std::uint32_t request, const std::string& name, const std::string& args) {
    std::string out;
    bsatn_writer w(out);
    w.u8(tag);
    w.u32(request);
    w.u8(0);
    w.string(name);
    w.string(args);  // length-prefixed bytes
    return out;
  };
  std::string hello = encode_value(product_value{{std::string("Hello!")}});
  write("client_message", "subscribe",
        subscribe(1, 1, {"SELECT * FROM message", "SELECT * FROM user WHERE online = true"}));
  write("client_message", "subscribe_join",
        subscribe(2, 7, {"SELECT m.* FROM message m JOIN user u ON m.sender = u.identity WHERE u.name = 'ada'"}));
  write("client_message", "unsubscribe", unsubscribe(3, 1, 1));
  write("client_message", "one_off_query", one_off(4, "SELECT COUNT(*) AS n FROM message"));
  write("client_message", "call_reducer", call(3, 5, "send_message", hello));
  write("client_message", "call_procedure", call(4, 6, "ping", std::string()));
  // v3 frames carry several messages back to back.
  write("client_message", "frame_of_three",
        subscribe(8, 2, {"SELECT * FROM user"}) + call(3, 9, "set_name", encode_value(product_value{{std::string("ada")}})) +
          unsubscribe(10, 2, 0));
  // v1 JSON messages (actors/v1_json_protocol.hpp).
  write("client_message", "v1_subscribe", R"({"Subscribe":{"query_strings":["SELECT * FROM t"],"request_id":1}})");
  write("client_message", "v1_subscribe_multi",
        R"({"SubscribeMulti":{"query_strings":["SELECT * FROM t WHERE id = 1"],"request_id":2,"query_id":{"id":3}}})");
  write("client_message", "v1_call_reducer",
        R"({"CallReducer":{"reducer":"send_message","args":"[\"hello\"]","request_id":4,"flags":0}})");
  write("client_message", "v1_one_off", R"({"OneOffQuery":{"message_id":"0a0b","query_string":"SELECT COUNT(*) AS n FROM t"}})");
}

// ---- sql: statements against fuzz::sql_tables ----

void sql_statements() {
  const char* statements[] = {
    "SELECT * FROM person",
    "SELECT name, age FROM person WHERE city = 'London' AND age > 30 ORDER BY age DESC LIMIT 2",
    "SELECT p.name FROM person AS p WHERE p.id = 3 OR NOT (p.active = true)",
    "SELECT COUNT(*) AS n FROM person WHERE score >= 7.5",
    "SELECT \"name\" FROM \"person\" WHERE \"city\" = 'Paris' AND \"age\" = 25",
    "SELECT book.title, author.name FROM book JOIN author ON book.author_id = author.id ORDER BY book.title",
    "SELECT a.name, b.title FROM author a INNER JOIN book b ON a.id = b.author_id WHERE b.year < 1970",
    "SELECT b.* FROM book b JOIN person p ON b.author_id = p.age WHERE p.name = 'bob'",
    "SELECT * FROM book WHERE owner = 0xc200000000000000000000000000000000000000000000000000000000000001",
    "SELECT id FROM book WHERE added > '2000-01-01T00:00:00Z' AND note = 'classic' AND cover = X'00ff'",
    "SELECT id, rank FROM book WHERE isbn = 9780547773742 AND price < 10.5 AND rank <> -1",
    "SELECT * FROM book WHERE owner = :sender",
    "SELECT * FROM secret",
    "SELECT book.* FROM book JOIN author ON book.author_id = author.id WHERE author.name = 'Lem'",
    "SELECT author.* FROM book JOIN author ON book.author_id = author.id",
    "INSERT INTO person (name, age, city, score, active) VALUES ('fay', 30, 'Oslo', 1e3, false)",
    ("INSERT INTO book VALUES (15, 3, 'Kindred', 1979, 2, 1.5, 0x, "
     "0xc200000000000000000000000000000000000000000000000000000000000003, '2024-05-01T12:30:00Z', NULL, 5)"),
    "UPDATE person SET age = 37, city = 'Cambridge' WHERE name = 'ada'",
    "UPDATE book SET note = NULL WHERE id = 10",
    "DELETE FROM person WHERE age < 30 OR city = 'Rome'",
    "DELETE FROM book",
    "SET row_limit = 2",
    "SHOW row_limit",
    // Timestamps with out-of-range fields (a day this long once overflowed).
    "SELECT id FROM book WHERE added > '2000-01-0555555555551T00:00:00Z' OR added < '2024-02-30T24:00:00.1234567891+24:00'",
  };
  int i = 0;
  for (const char* s : statements) {
    char name[16];
    std::snprintf(name, sizeof name, "%02d.sql", i++);
    write("sql", name, s);
  }
}

// ---- http_request: raw requests as a client sends them ----

void http_requests() {
  write("http_request", "ping", "GET /v1/ping HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n");
  write("http_request", "call",
        "POST /v1/database/chat/call/send_message HTTP/1.1\r\nHost: localhost\r\n"
        "Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJvcnJlcnkiLCJzdWIiOiJ4In0.c2ln\r\n"
        "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n[\"Hello!\"]");
  write("http_request", "sql_chunked",
        "POST /v1/database/c200aa/sql HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        "8\r\nSELECT *\r\n13\r\n FROM message LIMIT\r\n2\r\n 5\r\n0\r\n\r\n");
  write("http_request", "publish",
        "PUT /v1/database/my-db?host_type=Js&clear=true HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/javascript\r\nContent-Length: 22\r\n\r\nexport default schema;");
  write("http_request", "logs_query",
        "GET /v1/database/my%2Ddb/logs?num_lines=10&follow=true&level=warn+up HTTP/1.1\r\nHost: localhost\r\n\r\n");
  write("http_request", "pipelined",
        "GET /v1/identity/public-key HTTP/1.1\r\nHost: a\r\n\r\n"
        "POST /v1/identity HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
        "DELETE /v1/database/chat HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  write("http_request", "options", "OPTIONS /v1/database/chat/sql HTTP/1.1\r\nHost: a\r\n\r\n");
  write("http_request", "subscribe",
        "GET /v1/database/chat/subscribe?compression=None&confirmed=false&connection_id=0123456789abcdef0123456789abcdef "
        "HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Protocol: v2.bsatn.spacetimedb\r\n\r\n");
  write("http_request", "http10", "GET /v1/database/chat/schema?version=9 HTTP/1.0\r\n\r\n");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: orrery_fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  out_dir = argv[1];
  bsatn_values();
  json_args();
  client_messages();
  sql_statements();
  http_requests();
  std::cout << "seeds written under " << out_dir.string() << "\n";
}

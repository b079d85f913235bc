// Hostile input to the value codecs and to module definitions: nesting,
// length prefixes and column ids are refused with a reason, never a crash or
// an allocation the input does not back.

#include "modules/module_def.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/row_codec.hpp"
#include "runtime/types/sats_json.hpp"

#include <catch2/catch.hpp>

using namespace orrery;

namespace {
using T = algebraic_type;

template <class R>
std::string error_of(const R& r) {
  return r.ok() ? std::string("(no error)") : r.error().message;
}

std::string u32_bytes(std::uint32_t n) {
  std::string out;
  bsatn_writer(out).u32(n);
  return out;
}

T nested_arrays(std::size_t levels, T inner) {
  for (std::size_t i = 0; i < levels; ++i) inner = T::array_of(std::move(inner));
  return inner;
}

// ---- RawModuleDef V10 bytes, written by hand ----

struct table_spec {
  std::string name = "item";
  std::uint32_t type_ref = 0;
  std::vector<std::uint16_t> primary_key;
  std::vector<std::vector<std::uint16_t>> indexes;  // btree
  std::vector<std::vector<std::uint16_t>> unique;
  std::vector<std::uint16_t> sequences;
  std::vector<std::pair<std::uint16_t, std::string>> defaults;
};

struct schedule_spec {
  std::string table;
  std::uint16_t column;
  std::string reducer;
};

struct module_spec {
  std::vector<T> typespace;
  std::string raw_typespace;  // written instead of `typespace` when not empty: count and types
  std::vector<table_spec> tables;
  std::vector<std::pair<std::string, T>> reducers;  // name, params product
  std::vector<schedule_spec> schedules;
};

void columns(bsatn_writer& w, const std::vector<std::uint16_t>& cols) {
  w.u32(std::uint32_t(cols.size()));
  for (auto c : cols) w.fixed(c);
}

std::string encode_module(const module_spec& m) {
  std::string out;
  bsatn_writer w(out);
  w.u8(2);  // V10
  w.u32(4);
  w.u8(0);  // Typespace
  if (!m.raw_typespace.empty()) {
    w.raw(m.raw_typespace);
  } else {
    w.u32(std::uint32_t(m.typespace.size()));
    for (auto& t : m.typespace) encode_type(out, t);
  }
  w.u8(2);  // Tables
  w.u32(std::uint32_t(m.tables.size()));
  for (auto& t : m.tables) {
    w.string(t.name);
    w.u32(t.type_ref);
    columns(w, t.primary_key);
    w.u32(std::uint32_t(t.indexes.size()));
    for (auto& ix : t.indexes) {
      w.u8(1);  // no source name
      w.u8(1);  // no accessor name
      w.u8(0);  // BTree
      columns(w, ix);
    }
    w.u32(std::uint32_t(t.unique.size()));
    for (auto& u : t.unique) {
      w.u8(1);  // no name
      w.u8(0);  // Unique
      columns(w, u);
    }
    w.u32(std::uint32_t(t.sequences.size()));
    for (auto c : t.sequences) {
      w.u8(1);  // no name
      w.fixed(c);
      w.u8(1), w.u8(1), w.u8(1);  // no start, min or max
      w.fixed(i128(1));
    }
    w.u8(1);  // User
    w.u8(0);  // Public
    w.u32(std::uint32_t(t.defaults.size()));
    for (auto& [col, bytes] : t.defaults) {
      w.fixed(col);
      w.string(bytes);
    }
    w.u8(0);  // not an event table
  }
  w.u8(3);  // Reducers
  w.u32(std::uint32_t(m.reducers.size()));
  for (auto& [name, params] : m.reducers) {
    w.string(name);
    w.u32(std::uint32_t(params.elements.size()));
    for (auto& e : params.elements) {
      w.u8(0);
      w.string(*e.name);
      encode_type(out, e.type);
    }
    w.u8(0);
    encode_type(out, T::unit());
    encode_type(out, T::unit());
  }
  w.u8(6);  // Schedules
  w.u32(std::uint32_t(m.schedules.size()));
  for (auto& s : m.schedules) {
    w.u8(1);  // no name
    w.string(s.table);
    w.fixed(s.column);
    w.string(s.reducer);
  }
  return out;
}

T ref(std::uint32_t index) {
  T t = T::primitive(type_kind::ref);
  t.ref = index;
  return t;
}

// id: u64 (auto-inc primary key), at: ScheduleAt, note: String.
module_spec tick_module() {
  module_spec m;
  m.typespace.push_back(T::product({{std::string("id"), T::primitive(type_kind::u64)},
                                    {std::string("at"), T::schedule_at()},
                                    {std::string("note"), T::primitive(type_kind::string)}}));
  table_spec t;
  t.name = "tick";
  t.primary_key = {0};
  t.indexes = {{0}};
  t.unique = {{0}};
  t.sequences = {0};
  m.tables.push_back(t);
  m.reducers.push_back({"onTick", T::product({{std::string("arg"), ref(0)}})});
  m.schedules.push_back({"tick", 1, "onTick"});
  return m;
}

std::string module_error(const module_spec& m) { return error_of(decode_module_def(encode_module(m))); }

} // namespace

// ---- JSON ----

TEST_CASE("JSON nested past the limit is refused, not a crash", "[runtime]") {
  const std::size_t deep = 500000;
  std::string json = std::string(deep, '[') + std::string(deep, ']');
  auto parsed = json_value::parse(json);
  REQUIRE_FALSE(parsed.ok());
  CHECK_THAT(parsed.error().message, Catch::Contains("deeper than " + std::to_string(json_max_depth)));

  // As the arguments of a reducer: the same refusal, as SATS-JSON.
  auto params = T::product({{std::string("a"), T::array_of(T::primitive(type_kind::u32))}});
  CHECK_THAT(error_of(from_sats_json(params, json)), Catch::Contains(std::to_string(json_max_depth)));
  std::string objects;
  for (std::size_t i = 0; i < deep; ++i) objects += "{\"a\":";
  objects += "1" + std::string(deep, '}');
  CHECK_THAT(error_of(from_sats_json(params, objects)), Catch::Contains(std::to_string(json_max_depth)));
}

TEST_CASE("JSON at the nesting limit still decodes", "[runtime]") {
  std::string json = std::string(json_max_depth, '[') + "7" + std::string(json_max_depth, ']');
  REQUIRE(json_value::parse(json).ok());
  auto type = nested_arrays(json_max_depth, T::primitive(type_kind::u32));
  auto v = from_sats_json(type, json);
  INFO(error_of(v));
  REQUIRE(v.ok());
  CHECK(to_sats_json(*v, type) == json);
  // One more level is refused.
  std::string deeper = "[" + json + "]";
  CHECK_THAT(error_of(json_value::parse(deeper)), Catch::Contains(std::to_string(json_max_depth)));
}

TEST_CASE("a deep json_value built by hand is destroyed without recursion", "[runtime]") {
  json_value deep;
  for (int i = 0; i < 500000; ++i) {
    json_value outer;
    if (i % 2) {
      outer.type = json_value::kind::array;
      outer.items.push_back(std::move(deep));
    } else {
      outer.type = json_value::kind::object;
      outer.fields.emplace_back("k", std::move(deep));
    }
    deep = std::move(outer);
  }
  CHECK(deep.type == json_value::kind::array);
  deep = json_value{};  // the whole chain goes here
  CHECK(deep.items.empty());
}

TEST_CASE("types read from SATS-JSON are bounded in depth", "[runtime]") {
  auto as_json = [](std::size_t levels) {
    std::string json;
    for (std::size_t i = 0; i < levels; ++i) json += "{\"Array\":";
    return json + "{\"U8\":[]}" + std::string(levels, '}');
  };
  auto ok = json_value::parse(as_json(max_type_depth));
  REQUIRE(ok.ok());
  CHECK(type_from_json(*ok).ok());
  auto too_deep = json_value::parse(as_json(max_type_depth + 1));
  REQUIRE(too_deep.ok());
  CHECK_THAT(error_of(type_from_json(*too_deep)), Catch::Contains("deeper than " + std::to_string(max_type_depth)));
  auto bad_ref = json_value::parse(R"({"Ref":"x"})");
  REQUIRE(bad_ref.ok());
  CHECK_THAT(error_of(type_from_json(*bad_ref)), Catch::Contains("typespace index"));
}

// ---- BSATN ----

TEST_CASE("values that take no bytes are bounded by the input", "[runtime]") {
  auto units = T::array_of(T::unit());
  auto huge = u32_bytes(0xFFFFFFFF);
  CHECK_THAT(error_of(decode_value(units, huge)), Catch::Contains(std::to_string(max_empty_values)));
  CHECK(validate(units, huge));
  auto empty_structs = T::array_of(T::product({{std::string("nothing"), T::unit()}}));
  CHECK_THAT(error_of(decode_value(empty_structs, huge)), Catch::Contains("take no bytes"));

  // At the allowance it decodes; well past it is refused.
  auto at_limit = decode_value(units, u32_bytes(max_empty_values));
  REQUIRE(at_limit.ok());
  CHECK(std::get<array_value>(at_limit->v).size() == max_empty_values);
  CHECK_FALSE(decode_value(units, u32_bytes(2 * max_empty_values)).ok());
  CHECK(validate(units, u32_bytes(2 * max_empty_values)));

  // The allowance covers the whole value, not each array: nested arrays of
  // units cannot multiply it.
  auto nested = T::array_of(units);
  std::string within = u32_bytes(2) + u32_bytes(30000) + u32_bytes(30000);
  CHECK(decode_value(nested, within).ok());
  CHECK_FALSE(validate(nested, within));
  std::string beyond = u32_bytes(2) + u32_bytes(40000) + u32_bytes(40000);
  CHECK_THAT(error_of(decode_value(nested, beyond)), Catch::Contains("take no bytes"));
  CHECK(validate(nested, beyond));

  // Nor can a wide product of units, one byte each.
  std::vector<type_element> fields{{std::string("tag"), T::primitive(type_kind::u8)}};
  for (int i = 0; i < 1000; ++i) fields.push_back({std::nullopt, T::unit()});
  auto wide = T::array_of(T::product(std::move(fields)));
  std::string hundred = u32_bytes(100) + std::string(100, '\x01');
  CHECK_THAT(error_of(decode_value(wide, hundred)), Catch::Contains("take no bytes"));
  CHECK(validate(wide, hundred));
  CHECK(decode_value(wide, u32_bytes(10) + std::string(10, '\x01')).ok());

  // Units backed by bytes, such as the `none` of an Option, are not limited.
  std::string nones = u32_bytes(200000) + std::string(200000, '\x01');
  CHECK(decode_value(T::array_of(T::option(T::primitive(type_kind::u8))), nones).ok());
}

TEST_CASE("length prefixes past the input are refused before allocating", "[runtime]") {
  std::string huge = u32_bytes(0xFFFFFFFF) + "abc";
  CHECK_THAT(error_of(decode_value(T::primitive(type_kind::string), huge)), Catch::Contains("unexpected end"));
  CHECK_THAT(error_of(decode_value(T::array_of(T::primitive(type_kind::u8)), huge)), Catch::Contains("longer than its input"));
  for (auto element : {T::primitive(type_kind::string), T::primitive(type_kind::boolean), T::option(T::primitive(type_kind::u8)),
                       T::array_of(T::primitive(type_kind::i32)), T::primitive(type_kind::u256)}) {
    INFO(type_name(element));
    auto arr = T::array_of(element);
    CHECK_THAT(error_of(decode_value(arr, huge)), Catch::Contains("longer than its input"));
    CHECK(validate(arr, huge));
  }
  // A product type claiming four billion fields.
  std::string type_bytes = std::string(1, char(type_kind::product)) + u32_bytes(0xFFFFFFFF);
  bsatn_reader in(type_bytes);
  CHECK_THROWS_AS(read_type(in), bsatn_error);
  // A stored row is converted with the same checks.
  table_schema schema;
  schema.name = "t";
  schema.columns.push_back({"units", T::array_of(T::unit()), {}});
  std::string out;
  CHECK_THROWS_AS(row_to_msgpack(schema, u32_bytes(0xFFFFFFFF), out), bsatn_error);
}

TEST_CASE("types read from BSATN are bounded in depth", "[runtime]") {
  std::string ok_bytes, deep_bytes;
  encode_type(ok_bytes, nested_arrays(max_type_depth, T::primitive(type_kind::u8)));
  encode_type(deep_bytes, nested_arrays(max_type_depth + 1, T::primitive(type_kind::u8)));
  bsatn_reader ok(ok_bytes);
  CHECK(read_type(ok) == nested_arrays(max_type_depth, T::primitive(type_kind::u8)));
  bsatn_reader deep(deep_bytes);
  CHECK_THROWS_WITH(read_type(deep), Catch::Contains("deeper than " + std::to_string(max_type_depth)));
  // Half a million levels: refused at the limit, not by the stack.
  std::string very_deep = std::string(500000, char(type_kind::array)) + char(type_kind::u8);
  bsatn_reader in(very_deep);
  CHECK_THROWS_AS(read_type(in), bsatn_error);
}

// ---- module definitions ----

TEST_CASE("a well-formed module definition decodes", "[modules]") {
  auto def = decode_module_def(encode_module(tick_module()));
  INFO(error_of(def));
  REQUIRE(def.ok());
  REQUIRE(def->tables.size() == 1);
  const table_schema& t = def->tables[0];
  CHECK(t.columns.size() == 3);
  CHECK(t.primary_key == std::optional<std::uint16_t>(0));
  REQUIRE(t.schedule);
  CHECK(t.schedule->at_column == 1);
  CHECK(t.schedule->reducer == "on_tick");
  REQUIRE(def->reducers.size() == 1);
  CHECK(def->reducers[0].params.elements[0].type == def->typespace[0]);
}

TEST_CASE("a deeply nested type in a module definition is refused", "[modules]") {
  auto m = tick_module();
  m.typespace.push_back(nested_arrays(200, T::primitive(type_kind::u8)));
  CHECK_THAT(module_error(m), Catch::Contains("deeper than " + std::to_string(max_type_depth)));

  // Half a million levels of Array, as raw bytes.
  m = tick_module();
  std::string types;
  bsatn_writer w(types);
  w.u32(2);
  encode_type(types, m.typespace[0]);
  w.raw(std::string(500000, char(type_kind::array)));
  w.u8(std::uint8_t(type_kind::u8));
  m.raw_typespace = types;
  CHECK_THAT(module_error(m), Catch::Contains("deeper than " + std::to_string(max_type_depth)));

  // A type that refers to itself.
  m = tick_module();
  m.typespace.push_back(T::product({{std::string("next"), ref(1)}}));
  m.tables[0].type_ref = 1;
  m.tables[0].sequences.clear();
  m.schedules.clear();
  CHECK_THAT(module_error(m), Catch::Contains("counting type references"));

  // References that double the type at every level.
  m = tick_module();
  m.typespace = {T::primitive(type_kind::u8)};
  for (std::uint32_t k = 1; k <= 24; ++k)
    m.typespace.push_back(T::product({{std::string("a"), ref(k - 1)}, {std::string("b"), ref(k - 1)}}));
  m.tables[0].type_ref = 24;
  m.tables[0].sequences.clear();
  m.reducers.clear();
  m.schedules.clear();
  CHECK_THAT(module_error(m), Catch::Contains(std::to_string(max_module_type_nodes)));
}

TEST_CASE("type references out of range are refused", "[modules]") {
  auto m = tick_module();
  m.tables[0].type_ref = 7;
  CHECK_THAT(module_error(m), Catch::Contains("table `tick` names row type 7, but the typespace has 1 types"));
  m = tick_module();
  m.reducers[0].second = T::product({{std::string("arg"), ref(9)}});
  CHECK_THAT(module_error(m), Catch::Contains("refers to type 9"));
}

TEST_CASE("column ids out of range are refused naming the table and column", "[modules]") {
  auto m = tick_module();
  m.tables[0].unique = {{0}, {5}};
  CHECK_THAT(module_error(m), Catch::Contains("table `tick`: a unique constraint names column 5"));

  m = tick_module();
  m.tables[0].indexes = {{0, 3}};
  CHECK_THAT(module_error(m), Catch::Contains("table `tick`: an index names column 3"));

  m = tick_module();
  m.tables[0].primary_key = {4};
  CHECK_THAT(module_error(m), Catch::Contains("table `tick`: the primary key names column 4"));

  m = tick_module();
  m.tables[0].sequences = {60000};
  CHECK_THAT(module_error(m), Catch::Contains("table `tick`: a sequence names column 60000"));
  m.tables[0].sequences = {2};
  CHECK_THAT(module_error(m), Catch::Contains("needs an integer column"));

  m = tick_module();
  m.tables[0].defaults = {{3, std::string("\x01", 1)}};
  CHECK_THAT(module_error(m), Catch::Contains("table `tick`: a default value names column 3"));
  m.tables[0].defaults = {{0, std::string("\x01", 1)}};
  CHECK_THAT(module_error(m), Catch::Contains("the default value of column 0"));

  m = tick_module();
  m.tables[0].indexes = {{}};
  CHECK_THAT(module_error(m), Catch::Contains("names no columns"));

  // A list of column ids longer than the bytes that follow it.
  m = tick_module();
  std::string bytes = encode_module(m);
  std::string table_start = u32_bytes(4) + "tick" + u32_bytes(0);
  auto at = bytes.find(table_start);
  REQUIRE(at != std::string::npos);
  std::string truncated = bytes.substr(0, at + table_start.size()) + u32_bytes(0xFFFFFFFF);
  CHECK_THAT(error_of(decode_module_def(truncated)), Catch::Contains("column ids is longer than its input"));
}

TEST_CASE("schedules must name a ScheduleAt column and a declared reducer", "[modules]") {
  auto m = tick_module();
  m.schedules[0].column = 9;
  CHECK_THAT(module_error(m), Catch::Contains("table `tick`: the schedule names column 9"));

  m = tick_module();
  m.schedules[0].column = 2;
  CHECK_THAT(module_error(m), Catch::Contains("not a ScheduleAt"));

  m = tick_module();
  m.schedules[0].reducer = "missing";
  CHECK_THAT(module_error(m), Catch::Contains("names reducer `missing`"));

  m = tick_module();
  m.schedules[0].table = "nowhere";
  CHECK_THAT(module_error(m), Catch::Contains("names table `nowhere`"));
}

TEST_CASE("negative zero keeps its sign through SATS-JSON", "[runtime]") {
  for (auto type : {T::primitive(type_kind::f64), T::primitive(type_kind::f32)}) {
    value zero = type.kind == type_kind::f64 ? value(-0.0) : value(-0.0f);
    std::string json = to_sats_json(zero, type);
    CHECK(json == "-0.0");
    auto back = from_sats_json(type, json);
    REQUIRE(back.ok());
    bool negative = type.kind == type_kind::f64 ? std::signbit(std::get<double>(back->v)) : std::signbit(std::get<float>(back->v));
    CHECK(negative);
  }
}

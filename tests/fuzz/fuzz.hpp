#pragma once
// What the fuzz targets and the seed generator share: the check that stops a
// run when a property does not hold (libFuzzer then keeps the input as a
// crash), the reducer parameters of the json_args and client_message targets,
// and the tables of the sql target's database.

#include "runtime/types/algebraic_type.hpp"
#include "runtime/types/schema.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define ORRERY_FUZZ_CHECK(condition, what)                                                  \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace orrery::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline algebraic_type prim(type_kind k) { return algebraic_type::primitive(k); }

/// Reducer parameters with a column of every kind SATS-JSON has a shape for.
inline algebraic_type reducer_params() {
  using T = algebraic_type;
  auto point = T::product({{std::string("x"), prim(type_kind::f32)}, {std::string("y"), prim(type_kind::f32)}});
  auto shape = T::sum({{std::string("Empty"), T::unit()},
                       {std::string("Circle"), prim(type_kind::f64)},
                       {std::string("Polygon"), T::array_of(point)}});
  return T::product({
    {std::string("flag"), prim(type_kind::boolean)},
    {std::string("small"), prim(type_kind::i8)},
    {std::string("byte"), prim(type_kind::u8)},
    {std::string("short"), prim(type_kind::i16)},
    {std::string("port"), prim(type_kind::u16)},
    {std::string("count"), prim(type_kind::i32)},
    {std::string("id"), prim(type_kind::u32)},
    {std::string("balance"), prim(type_kind::i64)},
    {std::string("total"), prim(type_kind::u64)},
    {std::string("wide"), prim(type_kind::i128)},
    {std::string("uwide"), prim(type_kind::u128)},
    {std::string("huge"), prim(type_kind::i256)},
    {std::string("uhuge"), prim(type_kind::u256)},
    {std::string("ratio"), prim(type_kind::f32)},
    {std::string("score"), prim(type_kind::f64)},
    {std::string("name"), prim(type_kind::string)},
    {std::string("blob"), T::array_of(prim(type_kind::u8))},
    {std::string("tags"), T::array_of(prim(type_kind::string))},
    {std::string("who"), T::identity()},
    {std::string("connection"), T::connection_id()},
    {std::string("at"), T::timestamp()},
    {std::string("every"), T::time_duration()},
    {std::string("key"), T::uuid()},
    {std::string("when"), T::schedule_at()},
    {std::string("nickname"), T::option(prim(type_kind::string))},
    {std::string("origin"), point},
    {std::string("shape"), shape},
    {std::string("history"), T::array_of(T::option(prim(type_kind::u64)))},
  });
}

/// A reducer of a chat module, whose arguments the client_message target decodes.
inline algebraic_type send_message_params() {
  return algebraic_type::product({{std::string("text"), prim(type_kind::string)}});
}

/// The sql target's tables: person (indexes of every algorithm, an
/// auto-increment key), author and book (for joins, with wide column types),
/// secret (private: hidden from strangers).
inline std::vector<table_schema> sql_tables() {
  using T = algebraic_type;
  auto column = [](const char* name, algebraic_type type) { return column_schema{name, std::move(type), {}}; };
  std::vector<table_schema> tables(4);

  table_schema& person = tables[0];
  person.name = "person";
  person.is_public = true;
  person.columns = {column("id", prim(type_kind::u64)),    column("name", prim(type_kind::string)),
                    column("age", prim(type_kind::u32)),   column("city", prim(type_kind::string)),
                    column("score", prim(type_kind::f64)), column("active", prim(type_kind::boolean))};
  person.primary_key = 0;
  person.indexes = {{0, "person_id_pk", index_algorithm::btree, {0}, true},
                    {0, "person_name_unique", index_algorithm::btree, {1}, true},
                    {0, "person_age_btree", index_algorithm::btree, {2}, false},
                    {0, "person_city_hash", index_algorithm::hash, {3}, false},
                    {0, "person_city_age_btree", index_algorithm::btree, {3, 2}, false}};
  person.sequences = {sequence_schema{0}};

  table_schema& author = tables[1];
  author.name = "author";
  author.is_public = true;
  author.columns = {column("id", prim(type_kind::u32)), column("name", prim(type_kind::string))};
  author.primary_key = 0;
  author.indexes = {{0, "author_id_pk", index_algorithm::btree, {0}, true}};

  table_schema& book = tables[2];
  book.name = "book";
  book.is_public = true;
  book.columns = {column("id", prim(type_kind::u32)),       column("author_id", prim(type_kind::u32)),
                  column("title", prim(type_kind::string)), column("year", prim(type_kind::i16)),
                  column("isbn", prim(type_kind::u128)),    column("price", prim(type_kind::f32)),
                  column("cover", T::array_of(prim(type_kind::u8))),
                  column("owner", T::identity()),           column("added", T::timestamp()),
                  column("note", T::option(prim(type_kind::string))),
                  column("rank", prim(type_kind::i256))};
  book.primary_key = 0;
  book.indexes = {{0, "book_id_pk", index_algorithm::btree, {0}, true},
                  {0, "book_author_id_btree", index_algorithm::btree, {1}, false},
                  {0, "book_owner_hash", index_algorithm::hash, {7}, false}};

  table_schema& secret = tables[3];
  secret.name = "secret";
  secret.is_public = false;
  secret.columns = {column("id", prim(type_kind::u32)), column("text", prim(type_kind::string))};
  secret.primary_key = 0;
  secret.indexes = {{0, "secret_id_pk", index_algorithm::btree, {0}, true}};
  return tables;
}

/// Rows the sql target's database starts with, as SQL (run by the owner).
inline std::vector<std::string> sql_rows() {
  return {
    "INSERT INTO person (name, age, city, score, active) VALUES ('ada', 36, 'London', 9.5, true), "
    "('bob', 25, 'Paris', 7.25, false), ('cy', 41, 'London', 8.0, true), ('dee', 25, 'Rome', 6.5, true), "
    "('eve', 52, 'Paris', 9.75, false)",
    "INSERT INTO author VALUES (1, 'Le Guin'), (2, 'Lem'), (3, 'Butler')",
    "INSERT INTO book VALUES "
    "(10, 1, 'Earthsea', 1968, 9780547773742, 9.99, 0x00ff, "
    "0xc200000000000000000000000000000000000000000000000000000000000001, '2024-05-01T12:30:00Z', 'classic', -1), "
    "(11, 1, 'Dispossessed', 1974, 0, 12.5, X'', "
    "0xc200000000000000000000000000000000000000000000000000000000000002, '2024-05-01T14:30:00+02:00', NULL, 0), "
    "(12, 2, 'Solaris', 1961, 1, -0.0, 0x01, "
    "0xc200000000000000000000000000000000000000000000000000000000000001, '1970-01-01T00:00:00Z', '', 7)",
    "INSERT INTO secret VALUES (1, 'the cake is a lie')",
  };
}

} // namespace orrery::fuzz

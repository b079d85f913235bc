// The store's keys, byte for byte: stores written by earlier versions are read
// with these keys, so none of them may change.

#include "runtime/storage/keys.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace orrery;

namespace {
// A key spelled out as a literal, its zero bytes included.
template <std::size_t N>
std::string bytes(const char (&text)[N]) {
  return std::string(text, N - 1);
}
} // namespace

TEST_CASE("registry, module and log keys keep their layout", "[runtime]") {
  CHECK(keys::next_database_id == "r/next_id");
  CHECK(keys::record(0x0102) == bytes("r/db/\0\0\0\0\0\0\x01\x02"));
  CHECK(keys::due_time(7) == bytes("r/due/\0\0\0\0\0\0\0\x07"));
  CHECK(keys::record(7).rfind(keys::records, 0) == 0);
  CHECK(keys::due_time(7).rfind(keys::due_times, 0) == 0);
  CHECK(keys::program("ab12") == "p/ab12");
  CHECK(keys::program_image("ab12") == "p/ab12/image");
  CHECK(keys::log(7) == bytes("l/\0\0\0\0\0\0\0\x07"));
  CHECK(keys::log_line(7, 0x0100) == bytes("l/\0\0\0\0\0\0\0\x07\0\0\0\0\0\0\x01\0"));
}

TEST_CASE("database keys keep their layout", "[runtime]") {
  CHECK(keys::database(7) == bytes("d/\0\0\0\0\0\0\0\x07"));
  CHECK(keys::table_schemas(7) == bytes("d/\0\0\0\0\0\0\0\x07/t/"));
  CHECK(keys::table_schema(7, 0x0102) == bytes("d/\0\0\0\0\0\0\0\x07/t/\0\0\x01\x02"));
  CHECK(keys::table_rows(7, 0x0102) == bytes("d/\0\0\0\0\0\0\0\x07/r/\0\0\x01\x02"));
  CHECK(keys::table_snapshot(7, 0x0102) == bytes("d/\0\0\0\0\0\0\0\x07/s/\0\0\x01\x02"));
  CHECK(keys::table_snapshot_chunk(7, 0x0102, 3) == bytes("d/\0\0\0\0\0\0\0\x07/s/\0\0\x01\x02\0\0\0\x03"));
  CHECK(keys::commit_log(7) == bytes("d/\0\0\0\0\0\0\0\x07/c/"));
  CHECK(keys::commit_record(7, 0x0102) == bytes("d/\0\0\0\0\0\0\0\x07/c/\0\0\0\0\0\0\x01\x02"));
  CHECK(keys::table_sequences(7, 0x0102) == bytes("d/\0\0\0\0\0\0\0\x07/q/\0\0\x01\x02"));
  std::uint16_t column = 3;
  std::string column_bytes(sizeof column, '\0');
  std::memcpy(column_bytes.data(), &column, sizeof column);  // host byte order
  CHECK(keys::sequence(7, 0x0102, column) == bytes("d/\0\0\0\0\0\0\0\x07/q/\0\0\x01\x02") + column_bytes);
  CHECK(keys::row_limit(7) == bytes("d/\0\0\0\0\0\0\0\x07/v/row_limit"));
  CHECK(keys::sleeping_schedules(7) == bytes("d/\0\0\0\0\0\0\0\x07/v/sleeping_schedules"));
}

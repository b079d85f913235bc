#include "runtime/storage/keys.hpp"

#include "runtime/storage/store.hpp"

#include <cstring>

namespace orrery::keys {
namespace {

std::string with_id(std::string_view prefix, std::uint64_t id) {
  std::string key(prefix);
  append_u64(key, id);
  return key;
}

void append_u32(std::string& key, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(char(value >> shift));
}

// d/<id>/<kind>/<table>
std::string of_table(std::uint64_t id, char kind, std::uint32_t table) {
  std::string key = database(id);
  key += '/';
  key += kind;
  key += '/';
  append_u32(key, table);
  return key;
}

} // namespace

std::string record(std::uint64_t id) { return with_id(records, id); }

std::string due_time(std::uint64_t id) { return with_id(due_times, id); }

std::string program(std::string_view hash) {
  std::string key = "p/";
  key += hash;
  return key;
}

std::string program_image(std::string_view hash) { return program(hash) + "/image"; }

std::string log(std::uint64_t id) { return with_id("l/", id); }

std::string log_line(std::uint64_t id, std::uint64_t sequence) {
  std::string key = log(id);
  append_u64(key, sequence);
  return key;
}

std::string database(std::uint64_t id) { return with_id("d/", id); }

std::string table_schemas(std::uint64_t id) { return database(id) + "/t/"; }

std::string table_schema(std::uint64_t id, std::uint32_t table) { return of_table(id, 't', table); }

std::string table_rows(std::uint64_t id, std::uint32_t table) { return of_table(id, 'r', table); }

std::string table_snapshot(std::uint64_t id, std::uint32_t table) { return of_table(id, 's', table); }
std::string table_snapshot_chunk(std::uint64_t id, std::uint32_t table, std::uint32_t chunk) {
  std::string key = table_snapshot(id, table);
  append_u32(key, chunk);
  return key;
}
std::string commit_log(std::uint64_t id) { return database(id) + "/c/"; }
std::string commit_record(std::uint64_t id, std::uint64_t sequence) {
  std::string key = commit_log(id);
  append_u64(key, sequence);
  return key;
}
std::string table_sequences(std::uint64_t id, std::uint32_t table) { return of_table(id, 'q', table); }

std::string sequence(std::uint64_t id, std::uint32_t table, std::uint16_t column) {
  std::string key = table_sequences(id, table);
  char bytes[sizeof column];
  std::memcpy(bytes, &column, sizeof column);  // host byte order, as stores have always held it
  key.append(bytes, sizeof bytes);
  return key;
}

std::string row_limit(std::uint64_t id) { return database(id) + "/v/row_limit"; }

std::string sleeping_schedules(std::uint64_t id) { return database(id) + "/v/sleeping_schedules"; }

std::string running_module(std::uint64_t id) { return database(id) + "/v/module"; }

} // namespace orrery::keys

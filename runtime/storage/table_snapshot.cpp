#include "runtime/storage/table_snapshot.hpp"

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/storage/table.hpp"
#include "runtime/types/row_codec.hpp"

#include <optional>

namespace orrery::table_snapshot {

// A chunk is a run of rows, each <length: u32 LE> <msgpack row>.
namespace {
constexpr std::size_t chunk_bytes = 64 << 10;

std::string chunk_key(std::uint64_t database_id, std::uint32_t table, std::uint32_t chunk) {
  std::string key = keys::table_snapshot(database_id, table);
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(char(chunk >> shift));
  return key;
}
} // namespace

std::size_t write(write_batch& batch, std::uint64_t database_id, const table& rows) {
  const table_schema& schema = rows.schema();
  erase(batch, database_id, schema.id);
  std::size_t written = 0;
  std::uint32_t next_chunk = 0;
  std::string chunk, row;
  auto flush = [&] {
    batch.put(chunk_key(database_id, schema.id, next_chunk++), chunk);
    written += chunk.size();
    chunk.clear();
  };
  rows.scan([&](row_id r) {
    row.clear();
    row_to_msgpack(schema, rows.row(r), row);
    auto n = std::uint32_t(row.size());
    for (int i = 0; i < 4; ++i) chunk.push_back(char(n >> (8 * i)));
    chunk += row;
    if (chunk.size() >= chunk_bytes) flush();
  });
  if (!chunk.empty()) flush();
  return written;
}

void erase(write_batch& batch, std::uint64_t database_id, std::uint32_t table) {
  batch.erase_prefix(keys::table_snapshot(database_id, table));
  batch.erase_prefix(keys::table_rows(database_id, table));
}

result<std::size_t> read(const store& db, std::uint64_t database_id, const table_schema& schema,
                         const std::function<void(std::string_view row)>& insert) {
  std::optional<failure> problem;
  std::size_t bytes = 0;
  auto add = [&](std::string_view stored) {
    auto row = row_from_msgpack(schema, stored);
    if (!row) {
      problem = row.error();
      return false;
    }
    insert(*row);
    return true;
  };
  db.scan(keys::table_rows(database_id, schema.id), [&](std::string_view, std::string_view stored) {
    bytes += stored.size();
    return add(stored);
  });
  if (problem) return *problem;
  db.scan(keys::table_snapshot(database_id, schema.id), [&](std::string_view, std::string_view chunk) {
    bytes += chunk.size();
    while (!chunk.empty()) {
      std::uint32_t n = 0;
      if (chunk.size() >= 4)
        for (int i = 0; i < 4; ++i) n |= std::uint32_t(std::uint8_t(chunk[std::size_t(i)])) << (8 * i);
      if (chunk.size() < 4 || chunk.size() - 4 < n) {
        problem = fail(errc::storage, "a stored snapshot of table `" + schema.name + "` is damaged");
        return false;
      }
      if (!add(chunk.substr(4, n))) return false;
      chunk.remove_prefix(4 + std::size_t(n));
    }
    return true;
  });
  if (problem) return *problem;
  return bytes;
}

} // namespace orrery::table_snapshot

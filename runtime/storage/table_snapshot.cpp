#include "runtime/storage/table_snapshot.hpp"

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/storage/table.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/row_codec.hpp"

#include <optional>

namespace orrery::table_snapshot {

// A chunk is a run of rows, each <length: u32 little-endian> <msgpack row>.
namespace {
constexpr std::size_t chunk_bytes = 64 << 10;
} // namespace

std::size_t write(write_batch& batch, std::uint64_t database_id, const table& rows) {
  const table_schema& schema = rows.schema();
  erase(batch, database_id, schema.id);
  std::size_t written = 0;
  std::uint32_t next_chunk = 0;
  std::string chunk, row;
  auto flush = [&] {
    batch.put(keys::table_snapshot_chunk(database_id, schema.id, next_chunk++), chunk);
    written += chunk.size();
    chunk.clear();
  };
  rows.scan([&](row_id r) {
    row.clear();
    row_to_msgpack(schema, rows.row(r), row);
    bsatn_writer(chunk).string(row);
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
    bsatn_reader in(chunk);
    try {
      while (in.remaining() != 0)
        if (!add(in.take(in.u32()))) return false;
    } catch (const bsatn_error&) {
      problem = fail(errc::storage, "a stored snapshot of table `" + schema.name + "` is damaged");
      return false;
    }
    return true;
  });
  if (problem) return *problem;
  return bytes;
}

} // namespace orrery::table_snapshot

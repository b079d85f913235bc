#pragma once
// A table's rows written whole, for checkpoints of the commit log: msgpack
// rows (row_codec) packed into chunks of about 64 KB under
// d/<id>/s/<table><chunk>. A few large values cost the store far less than a
// key per row, and load faster. Rows earlier versions stored one per key
// (d/<id>/r/<table><row key>) are read too, and replaced by the first
// snapshot of their table.

#include "runtime/result.hpp"
#include "runtime/types/schema.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace orrery {

class store;
class table;
class write_batch;

namespace table_snapshot {

/// Replaces the stored rows of `rows` with its current rows, in `batch`;
/// returns the bytes written.
std::size_t write(write_batch& batch, std::uint64_t database_id, const table& rows);

/// Erases every stored row of table `table`, in `batch`.
void erase(write_batch& batch, std::uint64_t database_id, std::uint32_t table);

/// Calls `insert` with each stored row of the table (BSATN of `schema`);
/// returns the bytes read.
result<std::size_t> read(const store& db, std::uint64_t database_id, const table_schema& schema,
                         const std::function<void(std::string_view row)>& insert);

} // namespace table_snapshot
} // namespace orrery

#pragma once
// A database's commit log: each commit's row changes as one record under
// d/<id>/c/<sequence>, instead of a store write per row. Records arrive in
// key order, which the store inserts cheaply; rows would land at random
// places among all the others.
//
// A record lists the rows a commit deleted, then those it inserted, as BSATN
// of the table's schema at the time. The log never spans a schema change: a
// checkpoint (table_snapshot) writes the changed tables whole and erases the
// log, in one batch, before any table is dropped or changed.
//
// Owned by one datastore; not thread-safe.

#include "runtime/result.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace orrery {

class store;
class write_batch;

class commit_log {
public:
  enum class change : char { deleted = 'd', inserted = 'i' };

  explicit commit_log(std::uint64_t database_id);

  /// Replays the records earlier runs left in `db`, oldest first, change by change.
  using visitor = std::function<result<done>(std::uint32_t table, change what, std::string_view row)>;
  result<done> recover(const store& db, const visitor& visit);

  /// Adds a row change to the record being built.
  void add(std::uint32_t table, change what, std::string_view row);
  /// Writes the record being built, if any, to `batch`.
  void append_record(write_batch& batch);
  /// Bytes of records written since the log was last erased.
  std::size_t logged_bytes() const { return logged_bytes_; }
  /// Erases every record in `batch` (a checkpoint wrote what they hold).
  void erase(write_batch& batch);

private:
  std::uint64_t database_id_;
  std::uint64_t next_sequence_ = 1;
  std::string record_;
  std::size_t logged_bytes_ = 0;
};

} // namespace orrery

#pragma once
// A database's data: its tables in memory and their rows in the host store
// under the key prefix "d/<database id>" (see keys.hpp). Changes happen in
// transactions, one at a time: a transaction sees its own writes, commits as a
// whole (one record of the database's commit log, made durable by the host's
// committer) or rolls back as a whole.
// Owned by one database actor; not thread-safe.

#include "runtime/result.hpp"
#include "runtime/storage/table.hpp"
#include "runtime/types/schema.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace orrery {

class store;
class committer;
class commit_log;
class write_batch;
class transaction;

/// What one commit changed in one table (BSATN rows).
struct table_update {
  table_id table = 0;
  std::string table_name;
  std::vector<std::string> inserts;
  std::vector<std::string> deletes;
};

struct commit_result {
  std::vector<table_update> updates;  // only tables that changed
};

/// One end of a range scan: BSATN of the bounded column's value.
struct bound {
  enum class kind : std::uint8_t { included = 0, excluded = 1, unbounded = 2 };
  kind type = kind::unbounded;
  std::string_view value;
};

/// A btree range: equal values for the first `prefix_columns` index columns,
/// then a range over the next one.
struct range_scan {
  std::string_view prefix;  // BSATN of the prefix columns' values
  std::uint32_t prefix_columns = 0;
  bound start, end;
};

class datastore {
public:
  /// Rebuilds database `database_id` from `db`; with `db == nullptr` the
  /// database lives in memory only. `durability` must be given with `db`.
  /// Commits go to the database's commit log; a checkpoint writes the
  /// changed tables whole once the log holds `checkpoint_bytes`, or as many
  /// bytes as those tables' last snapshot if that is more. Tests pass less.
  static result<std::unique_ptr<datastore>> open(store* db, committer* durability, std::uint64_t database_id,
                                                 std::size_t checkpoint_bytes = 4 << 20);
  ~datastore();

  /// Adds a table; a zero table or index id is assigned. Durable like a commit.
  result<table_id> create_table(table_schema schema, std::function<void()> on_durable = {});
  result<done> drop_table(table_id id, std::function<void()> on_durable = {});
  /// Renames a table's columns (one name per column). Durable like a commit.
  result<done> rename_columns(table_id id, const std::vector<std::string>& names, std::function<void()> on_durable = {});

  /// A republished module's table changes, applied together by `migrate`.
  struct schema_change {
    std::vector<table_schema> create;  // new tables
    std::vector<table_id> drop;        // tables the module no longer has
    /// Existing tables (by id) as they become: the same columns, then new
    /// ones with default values (stored rows get them), and their indexes
    /// (unique ones checked against the rows), auto-increments, access and
    /// primary key as the new module declares them.
    std::vector<table_schema> alter;
  };
  /// Applies `change` and writes it, with `extra` (the module it belongs to),
  /// in one batch: after a crash, the store holds all of it or none. Fails
  /// whole (a duplicate under a new unique index, a default that does not fit
  /// its column) and then changes nothing. Not inside a transaction; the
  /// tables it alters are new objects (pointers to the old ones dangle).
  result<done> migrate(const schema_change& change, write_batch extra, std::function<void()> on_durable = {});

  const table* find_table(table_id id) const;
  const table* find_table(std::string_view name) const;
  std::vector<const table*> tables() const;
  /// About how many bytes the tables hold in memory (table::memory_bytes).
  std::size_t memory_bytes() const;
  /// The table owning index `id` and the index, or nulls.
  std::pair<const table*, const table_index*> find_index(index_id id) const;

  /// Writes the tables changed since the last checkpoint whole and erases the
  /// commit log, so that the next load replays nothing (a database about to
  /// sleep). Not inside a transaction.
  void checkpoint_now(std::function<void()> on_durable = {});
  /// Starts the transaction; only one may be open at a time.
  transaction begin();

private:
  friend class transaction;
  struct sequence_state;
  struct table_state;
  struct undo_entry {
    table_state* table;
    row_id row;
    bool inserted;  // else deleted
  };

  datastore(store* db, committer* durability, std::uint64_t id, std::size_t checkpoint_bytes);
  result<done> load();
  /// Replays one change of the commit log over the loaded rows.
  result<done> replay(std::uint32_t table, bool inserted, std::string_view row);
  /// Writes every table changed since the last checkpoint whole, and erases the log, in `batch`.
  void checkpoint(write_batch& batch);
  table_state* state_of(table_id id);
  void submit(write_batch batch, std::function<void()> on_durable);

  store* db_;
  committer* durability_;
  std::uint64_t id_;
  std::size_t checkpoint_bytes_;
  std::unique_ptr<commit_log> log_;
  std::vector<std::unique_ptr<table_state>> tables_;
  table_id next_table_id_ = 1;
  index_id next_index_id_ = 1;

  bool in_tx_ = false;
  std::vector<undo_entry> undo_;
  // Rows the open transaction inserted, as row_tag(table, row).
  std::unordered_set<std::uint64_t> inserted_here_;
  static std::uint64_t row_tag(table_id table, row_id row) { return row ^ (std::uint64_t(table) << 48); }
  // Clearing a hash set zeroes all its buckets: after a large transaction,
  // start from a fresh set rather than clear a big one on every commit.
  void forget_inserted() {
    if (inserted_here_.bucket_count() > 64) std::unordered_set<std::uint64_t>().swap(inserted_here_);
    else if (!inserted_here_.empty()) inserted_here_.clear();
  }
};

/// The open transaction of a datastore. Destroying it uncommitted rolls it back.
class transaction {
public:
  transaction(transaction&& other) noexcept;
  transaction& operator=(transaction&&) = delete;
  ~transaction();

  /// Inserts a BSATN row; auto-increment columns holding 0 take their next
  /// value. Returns the BSATN of generated values (in column order). A row
  /// identical to one present is a no-op.
  result<std::string> insert(table_id table, std::string_view row);
  /// Replaces the row with the same value in unique index `index`.
  result<std::string> update(table_id table, index_id index, std::string_view row);
  /// Deletes the rows whose index columns equal `key` (BSATN of all of them).
  result<std::uint32_t> delete_point(index_id index, std::string_view key);
  result<std::uint32_t> delete_range(index_id index, const range_scan& range);
  /// Deletes the row equal to `row`; false when there is none.
  result<bool> delete_row(table_id table, std::string_view row);
  result<std::uint32_t> clear(table_id table);

  /// Rows as BSATN views, valid until the transaction ends.
  result<std::vector<std::string_view>> scan(table_id table) const;
  result<std::vector<std::string_view>> scan_point(index_id index, std::string_view key) const;
  result<std::vector<std::string_view>> scan_range(index_id index, const range_scan& range) const;
  result<std::uint64_t> row_count(table_id table) const;

  /// Applies the changes; `on_durable` runs (on the committer's thread, or
  /// at once in memory) when they are on disk.
  commit_result commit(std::function<void()> on_durable = {});
  void rollback();

private:
  friend class datastore;
  explicit transaction(datastore& ds) : ds_(&ds) {}
  /// Calls visit(table, row) for each row whose index columns equal `key`.
  template <class Visit>
  result<done> visit_point(index_id index, std::string_view key, Visit&& visit) const;
  result<std::vector<row_id>> rows_in_range(index_id index, const range_scan& range,
                                            const table** owner) const;
  void erase(datastore::table_state& t, row_id r);
  datastore* ds_;
};

} // namespace orrery

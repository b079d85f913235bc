#pragma once
// One table in memory: its rows (BSATN bytes in a row_arena) and its indexes.
// Knows nothing of transactions: the datastore decides what to insert,
// unlink, relink and release. Owned by one database actor; not thread-safe.

#include "runtime/storage/btree.hpp"
#include "runtime/storage/row_arena.hpp"
#include "runtime/types/schema.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace orrery {

/// A bound of a range scan over an index's encoded keys.
struct key_range {
  std::string lower;            // inclusive
  std::optional<std::string> upper;  // exclusive; nullopt = unbounded
};

class table_index {
public:
  table_index(index_schema schema, const algebraic_type& row_type);
  const index_schema& schema() const { return schema_; }

  /// The encoded key of `row`'s indexed columns (throws bsatn_error on bad bytes).
  void key_of_row(std::string_view row, std::string& out) const;
  /// The encoded key of BSATN values for the first `columns` indexed columns.
  void key_of_values(bsatn_reader& in, std::size_t columns, std::string& out) const;
  const algebraic_type& column_type(std::size_t i) const { return column_types_[i]; }

  void insert(row_id row, std::string_view bytes);
  void erase(row_id row, std::string_view bytes);
  /// The row whose indexed columns equal `key` (unique indexes).
  std::optional<row_id> find_unique(const std::string& key) const;
  /// Every row whose key starts with `prefix` (a whole-column prefix).
  void visit_prefix(const std::string& prefix, const std::function<void(row_id)>& visit) const;
  /// Every row with a key in `range` (btree indexes only).
  void visit_range(const key_range& range, const std::function<void(row_id)>& visit) const;
  bool ordered() const { return schema_.algorithm != index_algorithm::hash; }
  /// About how many bytes the index holds: its entries (key, row id and the
  /// container's share), not counting keys short enough to stay inline.
  std::size_t memory_bytes() const;

private:
  index_key entry_key(const std::string& key, row_id row) const;

  index_schema schema_;
  std::vector<algebraic_type> column_types_;
  const algebraic_type* row_type_;
  std::unique_ptr<btree> tree_;  // btree and direct indexes
  std::unordered_map<index_key, row_id, index_key_hash> unique_hash_;
  std::unordered_multimap<index_key, row_id, index_key_hash> multi_hash_;
};

class table {
public:
  explicit table(table_schema schema);
  table(const table&) = delete;
  table& operator=(const table&) = delete;

  const table_schema& schema() const { return schema_; }
  const algebraic_type& row_type() const { return row_type_; }
  /// Gives the columns new names, one per column; rows are untouched.
  void rename_columns(const std::vector<std::string>& names);
  std::size_t row_count() const { return rows_.live_count(); }
  /// About how many bytes the table holds in memory: its row blocks and indexes.
  std::size_t memory_bytes() const;
  std::string_view row(row_id r) const { return rows_.get(r); }

  /// A row already in the table that `bytes` collides with: the same row
  /// (`index` is null) or another row with equal columns in a unique index.
  struct conflict {
    row_id existing;
    const table_index* index;
  };
  std::optional<conflict> find_conflict(std::string_view bytes) const;

  row_id insert(std::string_view bytes);
  void unlink(row_id r);
  void relink(row_id r);
  void release(row_id r) { rows_.release(r); }
  bool live(row_id r) const { return rows_.live(r); }

  void scan(const std::function<void(row_id)>& visit) const;
  /// The BSATN of `columns`' values (back to back) that two rows share, if any.
  std::optional<std::string> shared_value(const std::vector<std::uint16_t>& columns) const;
  const table_index* index(index_id id) const;
  const std::vector<std::unique_ptr<table_index>>& indexes() const { return indexes_; }
  /// Offsets of every column in a row (throws bsatn_error on bad bytes).
  void column_offsets(std::string_view row, std::vector<std::uint32_t>& out) const;
  /// The key under which a row is kept in the store: its primary key's
  /// encoding, or the whole row when there is no primary key.
  std::string storage_key(std::string_view row) const;
  /// The row kept under storage key `key`, if any.
  std::optional<row_id> find_stored(std::string_view key) const;

private:
  static std::size_t hash_row(std::string_view bytes);
  void erase_from_row_set(row_id r, std::string_view bytes);

  table_schema schema_;
  algebraic_type row_type_;
  row_arena rows_;
  std::vector<std::unique_ptr<table_index>> indexes_;
  const table_index* primary_ = nullptr;
  const table_index* first_unique_ = nullptr;
  // Tables are sets: without a unique index, rows are found by their hash.
  std::unordered_multimap<std::size_t, row_id> row_set_;
};

} // namespace orrery

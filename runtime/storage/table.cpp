#include "runtime/storage/table.hpp"

#include <unordered_set>


namespace orrery {

// ---- table_index ----

table_index::table_index(index_schema schema, const algebraic_type& row_type)
    : schema_(std::move(schema)), row_type_(&row_type) {
  for (auto c : schema_.columns) column_types_.push_back(row_type.elements.at(c).type);
  if (schema_.algorithm != index_algorithm::hash) tree_ = std::make_unique<btree>();
}

void table_index::key_of_row(std::string_view row, std::string& out) const {
  out.clear();
  // Walk the row once, encoding the indexed columns as they pass.
  // Columns may be listed in any order, so collect per column first.
  if (schema_.columns.size() == 1) {
    bsatn_reader in(row);
    std::uint16_t target = schema_.columns[0];
    for (std::uint16_t c = 0; c < target; ++c) skip_value(row_type_->elements[c].type, in);
    append_key(out, column_types_[0], in);
    return;
  }
  std::vector<const char*> starts(row_type_->elements.size());
  bsatn_reader in(row);
  for (std::size_t c = 0; c < starts.size(); ++c) {
    starts[c] = in.position();
    skip_value(row_type_->elements[c].type, in);
  }
  const char* end = row.data() + row.size();
  for (std::size_t i = 0; i < schema_.columns.size(); ++i) {
    const char* start = starts[schema_.columns[i]];
    bsatn_reader column(std::string_view(start, std::size_t(end - start)));
    append_key(out, column_types_[i], column);
  }
}

void table_index::key_of_values(bsatn_reader& in, std::size_t columns, std::string& out) const {
  for (std::size_t i = 0; i < columns && i < column_types_.size(); ++i)
    append_key(out, column_types_[i], in);
}

index_key table_index::entry_key(const std::string& key, row_id row) const {
  if (schema_.unique) return index_key(key);
  // Non-unique entries end with the row id, which keeps them distinct.
  std::string k = key;
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(char(row >> shift));
  return index_key(k);
}

void table_index::insert(row_id row, std::string_view bytes) {
  std::string key;
  key_of_row(bytes, key);
  if (tree_) {
    tree_->insert(entry_key(key, row), row);
  } else if (schema_.unique) {
    unique_hash_.emplace(index_key(key), row);
  } else {
    multi_hash_.emplace(index_key(key), row);
  }
}

void table_index::erase(row_id row, std::string_view bytes) {
  std::string key;
  key_of_row(bytes, key);
  if (tree_) {
    tree_->erase(entry_key(key, row));
  } else if (schema_.unique) {
    unique_hash_.erase(index_key(key));
  } else {
    auto [first, last] = multi_hash_.equal_range(index_key(key));
    for (auto it = first; it != last; ++it)
      if (it->second == row) {
        multi_hash_.erase(it);
        break;
      }
  }
}

std::optional<row_id> table_index::find_unique(const std::string& key) const {
  if (tree_) return tree_->find(index_key(key));
  auto it = unique_hash_.find(index_key(key));
  if (it == unique_hash_.end()) return std::nullopt;
  return it->second;
}

void table_index::visit_prefix(const std::string& prefix, const std::function<void(row_id)>& visit) const {
  if (tree_) {
    if (schema_.unique && prefix.size() > 0) {
      // A full key of a unique index is a point lookup.
      if (auto r = tree_->find(index_key(prefix))) return visit(*r);
    }
    for (auto c = tree_->lower_bound(index_key(prefix)); c.valid(); c.next()) {
      if (c.key().view().substr(0, prefix.size()) != prefix) break;
      visit(c.row());
    }
    return;
  }
  if (schema_.unique) {
    auto it = unique_hash_.find(index_key(prefix));
    if (it != unique_hash_.end()) visit(it->second);
    return;
  }
  auto [first, last] = multi_hash_.equal_range(index_key(prefix));
  for (auto it = first; it != last; ++it) visit(it->second);
}

void table_index::visit_range(const key_range& range, const std::function<void(row_id)>& visit) const {
  for (auto c = tree_->lower_bound(index_key(range.lower)); c.valid(); c.next()) {
    if (range.upper && !(c.key().view() < std::string_view(*range.upper))) break;
    visit(c.row());
  }
}

// ---- table ----

table::table(table_schema schema) : schema_(std::move(schema)), row_type_(schema_.row_type()) {
  for (auto& ix : schema_.indexes) {
    indexes_.push_back(std::make_unique<table_index>(ix, row_type_));
    const table_index* added = indexes_.back().get();
    if (ix.unique && !first_unique_) first_unique_ = added;
    if (ix.unique && schema_.primary_key && ix.columns.size() == 1 && ix.columns[0] == *schema_.primary_key)
      primary_ = added;
  }
}

void table::rename_columns(const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < names.size() && i < schema_.columns.size(); ++i) {
    schema_.columns[i].name = names[i];
    row_type_.elements[i].name = names[i];  // in place: indexes hold the row type by reference
  }
}

std::size_t table::hash_row(std::string_view bytes) { return std::hash<std::string_view>()(bytes); }

void table::erase_from_row_set(row_id r, std::string_view bytes) {
  auto [first, last] = row_set_.equal_range(hash_row(bytes));
  for (auto it = first; it != last; ++it)
    if (it->second == r) {
      row_set_.erase(it);
      return;
    }
}

std::optional<table::conflict> table::find_conflict(std::string_view bytes) const {
  std::string key;
  for (auto& ix : indexes_) {
    if (!ix->schema().unique) continue;
    ix->key_of_row(bytes, key);
    if (auto existing = ix->find_unique(key)) {
      if (rows_.get(*existing) == bytes) return conflict{*existing, nullptr};
      return conflict{*existing, ix.get()};
    }
  }
  if (!first_unique_) {
    auto [first, last] = row_set_.equal_range(hash_row(bytes));
    for (auto it = first; it != last; ++it)
      if (rows_.get(it->second) == bytes) return conflict{it->second, nullptr};
  }
  return std::nullopt;
}

row_id table::insert(std::string_view bytes) {
  row_id r = rows_.add(bytes);
  for (auto& ix : indexes_) ix->insert(r, bytes);
  if (!first_unique_) row_set_.emplace(hash_row(bytes), r);
  return r;
}

void table::unlink(row_id r) {
  std::string_view bytes = rows_.get(r);
  for (auto& ix : indexes_) ix->erase(r, bytes);
  if (!first_unique_) erase_from_row_set(r, bytes);
  rows_.set_live(r, false);
}

void table::relink(row_id r) {
  rows_.set_live(r, true);
  std::string_view bytes = rows_.get(r);
  for (auto& ix : indexes_) ix->insert(r, bytes);
  if (!first_unique_) row_set_.emplace(hash_row(bytes), r);
}

void table::scan(const std::function<void(row_id)>& visit) const { rows_.scan(visit); }

const table_index* table::index(index_id id) const {
  for (auto& ix : indexes_)
    if (ix->schema().id == id) return ix.get();
  return nullptr;
}

std::optional<std::string> table::shared_value(const std::vector<std::uint16_t>& columns) const {
  for (auto c : columns)
    if (c >= schema_.columns.size()) return std::nullopt;
  std::unordered_set<std::string> seen;
  std::optional<std::string> shared;
  std::vector<std::uint32_t> offsets;
  rows_.scan([&](row_id r) {
    if (shared) return;
    std::string_view row = rows_.get(r);
    column_offsets(row, offsets);
    std::string values;
    for (auto c : columns) {
      std::uint32_t end = std::size_t(c) + 1 < offsets.size() ? offsets[c + 1] : std::uint32_t(row.size());
      values.append(row.substr(offsets[c], end - offsets[c]));
    }
    if (!seen.insert(values).second) shared = std::move(values);
  });
  return shared;
}

void table::column_offsets(std::string_view row, std::vector<std::uint32_t>& out) const {
  out.clear();
  bsatn_reader in(row);
  for (auto& e : row_type_.elements) {
    out.push_back(std::uint32_t(in.position() - row.data()));
    skip_value(e.type, in);
  }
}

std::string table::storage_key(std::string_view row) const {
  if (!primary_) return std::string(row);
  std::string key;
  primary_->key_of_row(row, key);
  return key;
}

std::optional<row_id> table::find_stored(std::string_view key) const {
  if (primary_) return primary_->find_unique(std::string(key));
  auto same = find_conflict(key);  // the key is the whole row
  if (same && !same->index) return same->existing;
  return std::nullopt;
}

std::size_t table_index::memory_bytes() const {
  // A B+tree entry is its key and row id in a node that is at least half
  // full; a hash entry is a node with its key, row id, hash and link.
  constexpr std::size_t entry = sizeof(index_key) + sizeof(row_id);
  const std::size_t tree = tree_ ? tree_->size() * entry * 3 / 2 : 0;
  const std::size_t hashed = (unique_hash_.size() + multi_hash_.size()) * (entry + 2 * sizeof(void*)) +
                             (unique_hash_.bucket_count() + multi_hash_.bucket_count()) * sizeof(void*);
  return tree + hashed;
}

std::size_t table::memory_bytes() const {
  std::size_t bytes = rows_.bytes_used() + row_set_.size() * (sizeof(std::size_t) + sizeof(row_id) + 2 * sizeof(void*)) +
                      row_set_.bucket_count() * sizeof(void*);
  for (auto& index : indexes_) bytes += index->memory_bytes();
  return bytes;
}

} // namespace orrery

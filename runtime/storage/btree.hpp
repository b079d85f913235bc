#pragma once
// An in-memory B+tree from index keys to row ids: the ordered map behind
// btree indexes. Leaves are linked for range scans. Not thread-safe; owned by
// one table. Erasing never rebalances; empty nodes are unlinked instead.

#include "runtime/storage/row_arena.hpp"
#include "runtime/types/index_key.hpp"

#include <cstdint>
#include <optional>

namespace orrery {

class btree {
  struct leaf;

public:
  btree();
  ~btree();
  btree(const btree&) = delete;
  btree& operator=(const btree&) = delete;

  /// False (and no change) when `key` is present already.
  bool insert(const index_key& key, row_id row);
  bool erase(const index_key& key);
  std::optional<row_id> find(const index_key& key) const;
  std::size_t size() const { return size_; }

  /// A position in key order; valid until the tree changes.
  class cursor {
  public:
    bool valid() const { return leaf_ != nullptr; }
    const index_key& key() const;
    row_id row() const;
    void next();

  private:
    friend class btree;
    cursor(const leaf* l, std::uint16_t pos) : leaf_(l), pos_(pos) {}
    const leaf* leaf_;
    std::uint16_t pos_;
  };

  /// The first entry whose key is not less than `key`.
  cursor lower_bound(const index_key& key) const;
  cursor begin() const;

private:
  struct node;
  struct inner;

  const leaf* find_leaf(const index_key& key) const;
  /// The leaf for `key`, recording the inner nodes and child slots on the way.
  leaf* descend(const index_key& key, inner** path, std::uint16_t* slots, int& depth);
  void insert_into_parent(inner** path, std::uint16_t* slots, int depth, index_key separator, node* right);
  void remove_from_parent(inner** path, std::uint16_t* slots, int depth);
  void free_node(node* n);

  node* root_;
  std::size_t size_ = 0;
};

} // namespace orrery
